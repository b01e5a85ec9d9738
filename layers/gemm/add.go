package gemm

import "fmt"

// Add computes C += A for m×n matrices stored row-major with row strides
// lda and ldc. Each element is one float32 addition, so the result is the
// same on every code path.
func Add(m, n int, a []float32, lda int, c []float32, ldc int) {
	if m < 0 || n < 0 {
		panic("gemm: Add: negative dimension")
	}
	if m == 0 || n == 0 {
		return
	}
	if lda < n || ldc < n {
		panic(fmt.Sprintf("gemm: Add: stride %d or %d shorter than the width %d", lda, ldc, n))
	}
	if len(a) < (m-1)*lda+n || len(c) < (m-1)*ldc+n {
		panic("gemm: Add: short slice")
	}
	if addKernel(m, n, a, lda, c, ldc) {
		return
	}
	for i := 0; i < m; i++ {
		ci, ai := c[i*ldc:i*ldc+n], a[i*lda:i*lda+n]
		for j := range ci {
			ci[j] += ai[j]
		}
	}
}
