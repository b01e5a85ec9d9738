package gemm

// Add computes C += A for m×n matrices stored row-major with row strides
// lda and ldc. Each element is one float32 addition, so the result is the
// same on every code path.
func Add(m, n int, a []float32, lda int, c []float32, ldc int) {
	checkStrided("Add", m, n, a, lda, c, ldc)
	if m == 0 || n == 0 {
		return
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
