//go:build amd64 && !purego

package layers

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestBoxMullerWords checks the AVX-512 Box-Muller against boxMuller bit
// for bit on the words that matter: the ends of both ranges (u1 = 1, where
// the logarithm is 0; u2 = 0, Sincos's special case), words next to powers
// of two and to the octant boundaries of 2π·u2, and random words.
func TestBoxMullerWords(t *testing.T) {
	var z [32]float32
	if !hasNormalAVX512 {
		t.Skip("no AVX-512 on this machine")
	}
	edges := []uint32{0, 1, 2, 3, math.MaxUint32, math.MaxUint32 - 1, 1 << 31, 1<<31 - 1, 1<<31 + 1, 1 << 30, 1 << 16}
	for o := uint32(1); o < 8; o++ { // u2 near o/8 of a turn: x near o·π/4
		edges = append(edges, o<<29-1, o<<29, o<<29+1)
	}
	r := rand.New(rand.NewPCG(12, 12))
	var words []uint32
	for _, a := range edges {
		for _, b := range edges {
			words = append(words, a, b)
		}
	}
	for len(words) < 1<<20 {
		words = append(words, r.Uint32())
	}
	for i := 0; i+32 <= len(words); i += 32 {
		// Blocks l = 0..7 of words[i+4l : i+4l+4]: pairs (w0, w1), (w2, w3).
		var w [32]uint32
		for l := 0; l < 8; l++ {
			for j := 0; j < 4; j++ {
				w[8*j+l] = words[i+4*l+j]
			}
		}
		boxMullerWordsAVX512(&z[0], &w[0])
		for l := 0; l < 8; l++ {
			z0, z1 := boxMuller(w[l], w[8+l])
			z2, z3 := boxMuller(w[16+l], w[24+l])
			for j, want := range [4]float32{z0, z1, z2, z3} {
				if got := z[4*l+j]; math.Float32bits(got) != math.Float32bits(want) {
					t.Fatalf("words %#x %#x %#x %#x, normal %d: %v (%#x), want %v (%#x)", w[l], w[8+l], w[16+l], w[24+l], j, got, math.Float32bits(got), want, math.Float32bits(want))
				}
			}
		}
	}
}
