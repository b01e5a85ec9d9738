package cuda

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// colMajorSgemm emulates cublasSgemm on the host, with BLAS semantics:
// column-major storage, element (i, j) of an r×c matrix with leading
// dimension ld at index i + j*ld, op(A) m×k, op(B) k×n, and C not read
// when beta is 0.
func colMajorSgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int,
	b []float32, ldb int, beta float32, c []float32, ldc int) {
	for j := 0; j < n; j++ {
		for i := 0; i < m; i++ {
			var sum float32
			for p := 0; p < k; p++ {
				var av, bv float32
				if transA {
					av = a[p+i*lda]
				} else {
					av = a[i+p*lda]
				}
				if transB {
					bv = b[j+p*ldb]
				} else {
					bv = b[p+j*ldb]
				}
				sum += av * bv
			}
			if beta == 0 {
				c[i+j*ldc] = alpha * sum
			} else {
				c[i+j*ldc] = alpha*sum + beta*c[i+j*ldc]
			}
		}
	}
}

// rowMajorRef computes the row-major gemm directly, the meaning Sgemm
// promises, summing over k in the same order.
func rowMajorRef(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int,
	b []float32, ldb int, beta float32, c []float32, ldc int) {
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var sum float32
			for p := 0; p < k; p++ {
				var av, bv float32
				if transA {
					av = a[p*lda+i]
				} else {
					av = a[i*lda+p]
				}
				if transB {
					bv = b[j*ldb+p]
				} else {
					bv = b[p*ldb+j]
				}
				sum += av * bv
			}
			if beta == 0 {
				c[i*ldc+j] = alpha * sum
			} else {
				c[i*ldc+j] = alpha*sum + beta*c[i*ldc+j]
			}
		}
	}
}

// TestRowMajorGemmMapping checks the operand swap Sgemm hands to cuBLAS:
// the column-major call rowMajorGemm describes, emulated on the host,
// must compute the row-major product on the same buffers.
func TestRowMajorGemmMapping(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	randSlice := func(n int) []float32 {
		s := make([]float32, n)
		for i := range s {
			s[i] = float32(rng.IntN(17) - 8) // small integers: every sum is exact
		}
		return s
	}
	cases := 0
	for _, transA := range []bool{false, true} {
		for _, transB := range []bool{false, true} {
			for trial := 0; trial < 60; trial++ {
				m, n, k := rng.IntN(7), rng.IntN(7), rng.IntN(7)
				if trial == 0 {
					m, n, k = 5, 3, 4
				}
				rowsA, colsA := m, k
				if transA {
					rowsA, colsA = k, m
				}
				rowsB, colsB := k, n
				if transB {
					rowsB, colsB = n, k
				}
				lda := max(1, colsA) + rng.IntN(3)
				ldb := max(1, colsB) + rng.IntN(3)
				ldc := max(1, n) + rng.IntN(3)
				a, b := randSlice(rowsA*lda), randSlice(rowsB*ldb)
				c0 := randSlice(m * ldc)
				alpha := []float32{1, 2, -0.5}[rng.IntN(3)]
				beta := []float32{0, 1, 0.5}[rng.IntN(3)]
				if beta == 0 {
					for i := range c0 {
						c0[i] = float32(math.NaN()) // must not be read
					}
				}
				want := append([]float32(nil), c0...)
				rowMajorRef(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, want, ldc)

				g := rowMajorGemm(transA, transB, m, n, k, lda, ldb, ldc)
				got := append([]float32(nil), c0...)
				if m > 0 && n > 0 {
					// Sgemm passes B as the first operand and A as the second.
					colMajorSgemm(g.transA, g.transB, g.m, g.n, g.k, alpha, b, g.lda, a, g.ldb, beta, got, g.ldc)
				}
				name := fmt.Sprintf("transA=%v transB=%v m=%d n=%d k=%d lda=%d ldb=%d ldc=%d alpha=%v beta=%v",
					transA, transB, m, n, k, lda, ldb, ldc, alpha, beta)
				for i := range want {
					w, g := want[i], got[i]
					if w != g && !(math.IsNaN(float64(w)) && math.IsNaN(float64(g))) {
						t.Fatalf("%s: C[%d] = %v, want %v", name, i, g, w)
					}
				}
				cases++
			}
		}
	}
	t.Logf("%d cases", cases)
}

func TestRowMajorGemmArguments(t *testing.T) {
	// C (2×3) = A (2×4) · Bᵀ where B is stored 3×4: cuBLAS computes
	// Cᵀ (3×2) = B·Aᵀ, i.e. op(B) = T on B (3×4 row-major = 4×3
	// column-major), op(A) = N on A (2×4 row-major = 4×2 column-major).
	g := rowMajorGemm(false, true, 2, 3, 4, 4, 4, 3)
	want := colMajorGemm{transA: true, transB: false, m: 3, n: 2, k: 4, lda: 4, ldb: 4, ldc: 3}
	if g != want {
		t.Errorf("rowMajorGemm = %+v, want %+v", g, want)
	}
}

func TestRowMajorGemmPanics(t *testing.T) {
	for _, tc := range []struct {
		name           string
		transA, transB bool
		m, n, k        int
		lda, ldb, ldc  int
		want           string
	}{
		{"negative", false, false, -1, 2, 2, 2, 2, 2, "gpu: Sgemm: negative dimension m=-1 n=2 k=2"},
		{"lda", false, false, 2, 3, 4, 3, 3, 3, "gpu: Sgemm: lda 3 < 4"},
		{"lda transposed", true, false, 5, 3, 4, 4, 3, 3, "gpu: Sgemm: lda 4 < 5"},
		{"ldb", false, false, 2, 3, 4, 4, 2, 3, "gpu: Sgemm: ldb 2 < 3"},
		{"ldb transposed", false, true, 2, 3, 4, 4, 3, 3, "gpu: Sgemm: ldb 3 < 4"},
		{"ldc", false, false, 2, 3, 4, 4, 3, 2, "gpu: Sgemm: ldc 2 < 3"},
		{"ld zero", false, false, 0, 0, 0, 0, 1, 1, "gpu: Sgemm: lda 0 < 1"},
		{"too big", false, false, 1 << 31, 1, 1, 1, 1, 1, "gpu: Sgemm: size 2147483648 exceeds cuBLAS's int"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if r := recover(); r != tc.want {
					t.Errorf("panic %v, want %q", r, tc.want)
				}
			}()
			rowMajorGemm(tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.lda, tc.ldb, tc.ldc)
		})
	}
}
