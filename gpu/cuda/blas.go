package cuda

import (
	"fmt"
	"math"
)

// Sgemm computes C = alpha*op(A)*op(B) + beta*C on row-major float32
// matrices in device memory, with the meaning of layers/gemm.Sgemm: op(X)
// is X or Xᵀ as transA and transB say, op(A) is m×k, op(B) is k×n, C is
// m×n, and lda, ldb, ldc are the row strides of A, B and C as stored. When
// beta is 0, C is not read (NaNs in it do not propagate).
//
// cuBLAS is column-major, and a row-major matrix read as column-major is
// its transpose, so Sgemm asks cuBLAS for Cᵀ = op(B)ᵀ·op(A)ᵀ: see
// rowMajorGemm. The call runs on the device's stream in its MathMode.
//
// Sgemm panics on negative sizes, on a leading dimension smaller than the
// row it strides over, or on sizes beyond cuBLAS's 32-bit int.
func (d *Device) Sgemm(transA, transB bool, m, n, k int, alpha float32, a DevicePtr, lda int,
	b DevicePtr, ldb int, beta float32, c DevicePtr, ldc int) error {
	g := rowMajorGemm(transA, transB, m, n, k, lda, ldb, ldc)
	if d.closed.Load() {
		return errClosed
	}
	if m == 0 || n == 0 {
		return nil
	}
	// The column-major call's first operand is B, its second A.
	r := cublasSgemm(d.ctx, d.blas, g.transA, g.transB, g.m, g.n, g.k, alpha, b, g.lda, a, g.ldb, beta, c, g.ldc)
	if r != 0 {
		return blasCheck("cublasSgemm_v2", fmt.Sprintf("transa=%v transb=%v m=%d n=%d k=%d lda=%d ldb=%d ldc=%d",
			g.transA, g.transB, g.m, g.n, g.k, g.lda, g.ldb, g.ldc), r)
	}
	return nil
}

// colMajorGemm is the argument list of a column-major cuBLAS gemm call,
// C = alpha*op(A)*op(B) + beta*C with op(A) m×k, op(B) k×n and C m×n, whose
// A operand is the row-major call's B and whose B operand is its A.
type colMajorGemm struct {
	transA, transB bool
	m, n, k        int
	lda, ldb, ldc  int
}

// rowMajorGemm maps a row-major gemm onto a column-major one. A row-major
// r×c matrix with row stride ld is, read column-major, its c×r transpose
// with leading dimension ld. So row-major C (m×n) is column-major Cᵀ (n×m),
// and
//
//	Cᵀ = (op(A)·op(B))ᵀ = op(B)ᵀ·op(A)ᵀ
//
// The column-major call therefore takes B as its first operand and A as
// its second, with m and n exchanged and k unchanged. Stored row-major B
// reads column-major as Bᵀ; op(B)ᵀ is Bᵀ when transB is false (no
// transpose needed: CUBLAS_OP_N) and B when transB is true (CUBLAS_OP_T).
// Likewise for A. Leading dimensions stay those of the stored matrices.
//
// It panics on sizes cuBLAS would reject.
func rowMajorGemm(transA, transB bool, m, n, k, lda, ldb, ldc int) colMajorGemm {
	if m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf("gpu: Sgemm: negative dimension m=%d n=%d k=%d", m, n, k))
	}
	// Row lengths of A, B and C as stored (row-major).
	rowA, rowB := k, n
	if transA {
		rowA = m
	}
	if transB {
		rowB = k
	}
	for _, ld := range []struct {
		name   string
		ld, at int
	}{{"lda", lda, rowA}, {"ldb", ldb, rowB}, {"ldc", ldc, n}} {
		if ld.ld < max(1, ld.at) {
			panic(fmt.Sprintf("gpu: Sgemm: %s %d < %d", ld.name, ld.ld, max(1, ld.at)))
		}
	}
	for _, v := range []int{m, n, k, lda, ldb, ldc} {
		if v > math.MaxInt32 {
			panic(fmt.Sprintf("gpu: Sgemm: size %d exceeds cuBLAS's int", v))
		}
	}
	return colMajorGemm{
		transA: transB, transB: transA,
		m: n, n: m, k: k,
		lda: ldb, ldb: lda, ldc: ldc,
	}
}

// CheckGemm panics, as Stream.Sgemm would when issuing it, on sizes of a
// row-major C = op(A)·op(B) that cuBLAS would reject: for callers that
// issue the product later (a captured step) and want the panic now.
func CheckGemm(transA, transB bool, m, n, k, lda, ldb, ldc int) {
	rowMajorGemm(transA, transB, m, n, k, lda, ldb, ldc)
}
