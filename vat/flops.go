package vat

import "github.com/vatgpu/vatgpu/layers"

// Flops returns the floating-point operations of one training step of
// network net on n images, without and with VAT (ip power iterations),
// counted as 2·m·n·k for every convolution and matrix product (forward,
// backward-data and backward-filter); element-wise operations, batch
// normalisation, softmax and the optimiser are not counted (they are under
// 1% here).
//
// With F one forward pass and c1 the first layer's share of it:
//
//	plain = F + (2F - c1)                  forward; backward without the first layer's input gradient
//	vat   = 2·plain + ip·(F + F)           + each power iteration: forward and an input-only backward
func Flops(net *layers.Net, n, ip int) (plain, withVAT int64) {
	f1, c1 := net.Flops()
	f := f1 * int64(n)
	plain = f + 2*f - c1*int64(n)
	return plain, 2*plain + int64(ip)*2*f
}
