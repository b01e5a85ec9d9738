package gemm

import (
	"fmt"
	"math"
)

// Copy sets C = A for m×n matrices stored row-major with row strides lda
// and ldc (im2col's rows of patches).
func Copy(m, n int, a []float32, lda int, c []float32, ldc int) {
	checkStrided("Copy", m, n, a, lda, c, ldc)
	if m == 0 || n == 0 {
		return
	}
	if copyKernel(m, n, a, lda, c, ldc) {
		return
	}
	for i := 0; i < m; i++ {
		copy(c[i*ldc:i*ldc+n], a[i*lda:i*lda+n])
	}
}

// FillRows sets every element of row i of the m×n matrix c (row stride
// ldc) to v[i], for i < m: a convolution's bias, one value per output
// channel, before the product is added to it.
func FillRows(m, n int, v []float32, c []float32, ldc int) {
	if m < 0 || n < 0 {
		panic("gemm: FillRows: negative dimension")
	}
	if m == 0 || n == 0 {
		return
	}
	if len(v) < m || ldc < n || len(c) < (m-1)*ldc+n {
		panic(fmt.Sprintf("gemm: FillRows: %d values, stride %d or slice of %d too short for %d×%d", len(v), ldc, len(c), m, n))
	}
	if fillKernel(m, n, v, c, ldc) {
		return
	}
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		for j := range row {
			row[j] = v[i]
		}
	}
}

// ReLU sets y[i] = max(x[i], 0) with Go's max: a NaN stays NaN and -0
// becomes +0. y and x have the same length and may be the same slice.
func ReLU(y, x []float32) {
	if len(y) != len(x) {
		panic(fmt.Sprintf("gemm: ReLU: lengths %d and %d", len(y), len(x)))
	}
	if len(x) == 0 || reluKernel(y, x) {
		return
	}
	for i, v := range x {
		y[i] = max(v, 0)
	}
}

// ReLUMask sets dx[i] = dy[i] where y[i] > 0 (+Inf included, NaN not) and
// +0 elsewhere: ReLU's backward from its output y. The slices have the same
// length; dx may be dy.
func ReLUMask(dx, dy, y []float32) {
	if len(dx) != len(dy) || len(dy) != len(y) {
		panic(fmt.Sprintf("gemm: ReLUMask: lengths %d, %d and %d", len(dx), len(dy), len(y)))
	}
	if len(y) == 0 || reluMaskKernel(dx, dy, y) {
		return
	}
	for i, v := range y {
		// Branch-free (a branch mispredicts on ReLU's random signs): with
		// s the bits of v, v > 0 exactly when 1 <= s <= 0x7f800000
		// (positive, finite or +Inf, not NaN), that is when s-1 <
		// 0x7f800000, which the top bit of the 64-bit difference tells.
		keep := (uint64(math.Float32bits(v)-1) - 0x7f800000) >> 63
		dx[i] = math.Float32frombits(math.Float32bits(dy[i]) & uint32(-keep))
	}
}

func checkStrided(op string, m, n int, a []float32, lda int, c []float32, ldc int) {
	if m < 0 || n < 0 {
		panic("gemm: " + op + ": negative dimension")
	}
	if m == 0 || n == 0 {
		return
	}
	if lda < n || ldc < n {
		panic(fmt.Sprintf("gemm: %s: stride %d or %d shorter than the width %d", op, lda, ldc, n))
	}
	if len(a) < (m-1)*lda+n || len(c) < (m-1)*ldc+n {
		panic("gemm: " + op + ": short slice")
	}
}
