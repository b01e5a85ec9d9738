package layers

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestNormalBlocks checks the AVX-512 normals against Rand.Normal's Go
// loop (Philox, then boxMuller) bit for bit, over seeds, tensors, steps
// with both halves set and block offsets that wrap the 32-bit counter.
func TestNormalBlocks(t *testing.T) {
	z := make([]float32, 4*1024)
	if !normalBlocks(z[:32], Rand{}, 0, 0) {
		t.Skip("no AVX-512 on this machine: Rand.Normal runs its Go loop")
	}
	r := rand.New(rand.NewPCG(11, 11))
	for trial := 0; trial < 200; trial++ {
		rs := Rand{Seed: r.Uint64(), Tensor: r.Uint32()}
		step := r.Uint64()
		b0 := r.Uint32()
		if trial%4 == 0 {
			b0 = math.MaxUint32 - uint32(r.IntN(600)) // the block counter wraps
		}
		nb := 8 * (1 + r.IntN(len(z)/32))
		normalBlocks(z[:4*nb], rs, b0, step)
		for b := 0; b < nb; b++ {
			w := rs.block(b0+uint32(b), step)
			z0, z1 := boxMuller(w[0], w[1])
			z2, z3 := boxMuller(w[2], w[3])
			for j, want := range [4]float32{z0, z1, z2, z3} {
				if got := z[4*b+j]; math.Float32bits(got) != math.Float32bits(want) {
					t.Fatalf("stream %+v step %d block %d word %d: %v, want %v", rs, step, b0+uint32(b), j, got, want)
				}
			}
		}
	}
}

// TestRandNormalChunks checks the CPU backend's RandNormal, which draws in
// chunks on several goroutines, against the stream drawn block by block
// (Philox, then boxMuller), over several chunks and a partial last block.
func TestRandNormalChunks(t *testing.T) {
	c := NewCPU(2)
	c.SetStep(77)
	rs := Rand{Seed: 5, Tensor: TensorDirection}
	n := 3*4*4096 + 4003
	d := c.Alloc(n)
	c.RandNormal(d, n, rs)
	for i, got := range Floats(d)[:n] {
		w := rs.block(uint32(i/4), 77)
		z0, z1 := boxMuller(w[0], w[1])
		z2, z3 := boxMuller(w[2], w[3])
		if want := [4]float32{z0, z1, z2, z3}[i%4]; math.Float32bits(got) != math.Float32bits(want) {
			t.Fatalf("element %d: %v, want %v", i, got, want)
		}
	}
}
