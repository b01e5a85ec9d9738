package vat

import "github.com/vatgpu/vatgpu/layers"

// Flops returns the floating-point operations of one training step on n
// images, without and with VAT (ip power iterations), counted as 2·m·n·k
// for every convolution and matrix product (forward, backward-data and
// backward-filter); element-wise operations, softmax and the optimiser are
// not counted (they are under 1% here).
//
// With F one forward pass and c1 the first convolution's share of it:
//
//	plain = F + (2F - c1)                  forward; backward without conv1's input gradient
//	vat   = 2·plain + ip·(F + F)           + each power iteration: forward and an input-only backward
func Flops(n, ip int) (plain, withVAT int64) {
	const (
		s1 = layers.ImageSide - 2
		s2 = s1 - 2
	)
	c1 := int64(2 * layers.Filters * s1 * s1 * 9)
	c2 := int64(2 * layers.Filters * s2 * s2 * layers.Filters * 9)
	d := int64(2*layers.Flat*layers.Hidden + 2*layers.Hidden*layers.Classes)
	f := (c1 + c2 + d) * int64(n)
	plain = f + 2*f - c1*int64(n)
	return plain, 2*plain + int64(ip)*2*f
}
