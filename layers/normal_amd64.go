//go:build amd64 && !purego

package layers

import (
	"fmt"

	"golang.org/x/sys/cpu"
)

// normalsAVX512 writes the 4·nb normals of blocks b0 .. b0+nb-1 of the
// stream with the given tensor, step and key (nb > 0, a multiple of 8) to
// z, as Rand.Normal computes them (normal_amd64.s).
//
//go:noescape
func normalsAVX512(z *float32, nb int, b0, tensor uint32, step uint64, key0, key1 uint32)

// boxMullerWordsAVX512 is normalsAVX512's Box-Muller on given words, for
// tests: w[8j+l] is word j of block l, z[4l+i] its normal i.
//
//go:noescape
func boxMullerWordsAVX512(z *float32, w *uint32)

var hasNormalAVX512 = cpu.X86.HasAVX512F

// normalBlocks writes the normals of blocks b0, b0+1, ... of stream r at
// step to z, len(z) a multiple of 32, and reports whether it could.
func normalBlocks(z []float32, r Rand, b0 uint32, step uint64) bool {
	if !hasNormalAVX512 {
		return false
	}
	if len(z)%32 != 0 {
		panic(fmt.Sprintf("layers: normalBlocks: %d values, not whole groups of 8 blocks", len(z)))
	}
	if len(z) > 0 {
		k := r.key()
		normalsAVX512(&z[0], len(z)/4, b0, r.Tensor, step, k[0], k[1])
	}
	return true
}
