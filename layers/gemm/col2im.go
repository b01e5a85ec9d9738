package gemm

import "fmt"

// Col2Im sets dx, the gradient of one C×H×W image, from the patch matrix
// col of a convolution with R×S filters (valid, stride 1): row (ch, r, q)
// of col, OH×OW with OH = H-R+1 and OW = W-S+1, holds the gradient of
// the window of channel ch at offset (r, q). So
//
//	dx[ch, y, x] = Σ col[ch, r, q, y-r, x-q]
//
// over the taps (r, q) whose window covers (y, x), added from +0 in the
// order r, then q. That is, bit for bit, clearing dx and then adding the
// windows with Add in the order (ch, r, q).
//
// The AVX-512 path (W ≤ 32, S ≤ 16) keeps each row of dx in two registers
// while all its taps are added, and stores it once. Adding the windows one
// after the other instead loads each row of dx right after the previous
// tap stored it, shifted by one element, which the processor cannot
// forward from its store buffer.
func Col2Im(dx, col []float32, c, h, w, r, s int) {
	if c < 0 || r < 1 || s < 1 || h < r || w < s {
		panic(fmt.Sprintf("gemm: Col2Im: %d channels of %d×%d, filters %d×%d", c, h, w, r, s))
	}
	oh, ow := h-r+1, w-s+1
	if len(dx) < c*h*w || len(col) < c*r*s*oh*ow {
		panic(fmt.Sprintf("gemm: Col2Im: slices of %d and %d, need %d and %d", len(dx), len(col), c*h*w, c*r*s*oh*ow))
	}
	if c == 0 || col2imKernel(dx, col, c, h, w, r, s) {
		return
	}
	clear(dx[:c*h*w])
	for ch := 0; ch < c; ch++ {
		for ri := 0; ri < r; ri++ {
			for q := 0; q < s; q++ {
				Add(oh, ow, col[((ch*r+ri)*s+q)*oh*ow:], ow, dx[(ch*h+ri)*w+q:], w)
			}
		}
	}
}
