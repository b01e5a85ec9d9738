package gemm

// Sgemm computes C = alpha*op(A)*op(B) + beta*C, where op(X) is X or Xᵀ as
// transA and transB say, op(A) is m×k, op(B) is k×n and C is m×n. lda, ldb
// and ldc are the row strides of A, B and C as stored. When beta is zero C
// is overwritten, so NaNs in it are ignored; when alpha is zero or k is zero
// A and B are not read.
//
// The result does not depend on the number of goroutines used: every element
// of C is summed over k in the same order whatever the parallelism.
//
// Sgemm is safe for concurrent use on distinct C.
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	sgemmWith(active, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// sgemmWith is Sgemm on kernel kern.
func sgemmWith(kern *kernel, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	checkArgs(transA, transB, m, n, k, a, lda, b, ldb, c, ldc)
	if m == 0 || n == 0 {
		return
	}
	if k == 0 || alpha == 0 {
		scale(m, n, beta, c, ldc)
		return
	}
	sgemm(kern, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// checkArgs panics if the sizes, strides or slice lengths cannot describe
// the product Sgemm is asked for.
func checkArgs(transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	if m < 0 || n < 0 || k < 0 {
		panic("gemm: negative dimension")
	}
	// Rows and columns of A and B as stored.
	ar, ac := m, k
	if transA {
		ar, ac = k, m
	}
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	if lda < max(1, ac) {
		panic("gemm: bad lda")
	}
	if ldb < max(1, bc) {
		panic("gemm: bad ldb")
	}
	if ldc < max(1, n) {
		panic("gemm: bad ldc")
	}
	if ar > 0 && ac > 0 && len(a) < (ar-1)*lda+ac {
		panic("gemm: short A")
	}
	if br > 0 && bc > 0 && len(b) < (br-1)*ldb+bc {
		panic("gemm: short B")
	}
	if m > 0 && n > 0 && len(c) < (m-1)*ldc+n {
		panic("gemm: short C")
	}
}

// scale computes C = beta*C; beta == 0 zeroes C.
func scale(m, n int, beta float32, c []float32, ldc int) {
	for i := 0; i < m; i++ {
		ci := c[i*ldc : i*ldc+n]
		switch beta {
		case 0:
			clear(ci)
		case 1:
		default:
			for j := range ci {
				ci[j] *= beta
			}
		}
	}
}

// sgemmRef is the plain triple loop Sgemm replaced: C = alpha*op(A)*op(B) +
// beta*C, summing over k in order for each row. Tests check Sgemm against it.
func sgemmRef(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if m < 0 || n < 0 || k < 0 {
		panic("gemm: negative dimension")
	}
	if m == 0 || n == 0 {
		return
	}
	for i := 0; i < m; i++ {
		ci := c[i*ldc : i*ldc+n]
		if beta == 0 {
			for j := range ci {
				ci[j] = 0
			}
		} else if beta != 1 {
			for j := range ci {
				ci[j] *= beta
			}
		}
		for p := 0; p < k; p++ {
			var av float32
			if transA {
				av = a[p*lda+i]
			} else {
				av = a[i*lda+p]
			}
			av *= alpha
			if av == 0 {
				continue
			}
			if transB {
				for j := range ci {
					ci[j] += av * b[j*ldb+p]
				}
			} else {
				bp := b[p*ldb : p*ldb+n]
				for j := range ci {
					ci[j] += av * bp[j]
				}
			}
		}
	}
}
