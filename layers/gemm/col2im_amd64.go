//go:build amd64 && !purego

package gemm

// col2imChanAVX512 is Col2Im for one channel (col2im_amd64.s): for each
// row y of dx, the taps (r, q) with 0 <= y-r < oh are added, in order, to
// two registers of 16 lanes starting from +0, lane x taking col[r, q, y-r,
// x-q] under masks[2q] (lanes 0-15) and masks[2q+1] (16-31); the row is
// stored under masks[2s] and masks[2s+1].
//
//go:noescape
func col2imChanAVX512(dx, col *float32, h, w, oh, ow, r, s int, masks *uint32)

func col2imKernel(dx, col []float32, c, h, w, r, s int) bool {
	if !hasAddAVX512 || w > 32 || s > 16 {
		return false
	}
	oh, ow := h-r+1, w-s+1
	var masks [2*16 + 2]uint32
	lanes := func(lo, hi int) (m0, m1 uint32) { // lanes x with lo <= x < hi
		for x := max(lo, 0); x < min(hi, 32); x++ {
			if x < 16 {
				m0 |= 1 << x
			} else {
				m1 |= 1 << (x - 16)
			}
		}
		return m0, m1
	}
	for q := 0; q < s; q++ {
		masks[2*q], masks[2*q+1] = lanes(q, min(q+ow, w))
	}
	masks[2*s], masks[2*s+1] = lanes(0, w)
	for ch := 0; ch < c; ch++ {
		col2imChanAVX512(&dx[ch*h*w], &col[ch*r*s*oh*ow], h, w, oh, ow, r, s, &masks[0])
	}
	return true
}
