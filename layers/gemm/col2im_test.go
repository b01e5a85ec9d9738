package gemm

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestCol2Im checks Col2Im against clearing dx and adding each tap's window
// with Add in the order (ch, r, q), bit for bit (NaN payloads included, so
// the operands' order must be Add's): shapes of both
// convolutions of the seed's CNN, filters that are not square, rows of 1,
// 16, 17 and 32 elements, and values whose sums depend on their order
// (including -0, which the clear's +0 turns into +0).
func TestCol2Im(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 5))
	for _, sh := range []struct{ c, h, w, r, s int }{
		{1, 28, 28, 3, 3}, {32, 26, 26, 3, 3}, {3, 5, 5, 5, 5}, {2, 7, 16, 2, 4},
		{2, 6, 17, 3, 1}, {2, 9, 32, 1, 5}, {1, 4, 1, 2, 1}, {2, 33, 33, 3, 3},
	} {
		oh, ow := sh.h-sh.r+1, sh.w-sh.s+1
		col := vecInput(r, sh.c*sh.r*sh.s*oh*ow)
		for i := range col {
			col[i] *= float32(1 + i%7*100)
			if i%11 == 0 {
				col[i] = float32(math.Copysign(0, -1))
			}
		}
		want := make([]float32, sh.c*sh.h*sh.w)
		for ch := 0; ch < sh.c; ch++ {
			for ri := 0; ri < sh.r; ri++ {
				for q := 0; q < sh.s; q++ {
					Add(oh, ow, col[((ch*sh.r+ri)*sh.s+q)*oh*ow:], ow, want[(ch*sh.h+ri)*sh.w+q:], sh.w)
				}
			}
		}
		got := vecInput(r, len(want)+5) // stale values: Col2Im must overwrite them
		tail := append([]float32(nil), got[len(want):]...)
		Col2Im(got, col, sh.c, sh.h, sh.w, sh.r, sh.s)
		sameBits(t, "Col2Im", got[:len(want)], want)
		sameBits(t, "Col2Im past dx", got[len(want):], tail)
	}
}
