package gemm

import (
	"fmt"
	"sync"
)

// SgemmRowsB computes C += A·B for an m×k row-major A (row stride lda) and
// a k×n B whose row p is n values of b starting at off[p]:
//
//	C[i][j] += Σ_p A[i][p]·b[off[p]+j]
//
// with the arithmetic of Sgemm(false, false, m, n, k, 1, A, lda, B, n, 1,
// C, ldc) on B gathered (each element summed over p in order, in the same k
// blocks, then added to C), so the two give the same bits. Rows of B may
// overlap. This is a valid convolution without im2col: with the output
// computed as wide as the input, the patch matrix's row for channel ch and
// tap (r, q) is the image itself from ch·H·W + r·W + q.
//
// Where the row-offset kernels run (RowsBInPlace), SgemmRowsB computes on
// the calling goroutine and allocates nothing in steady state; elsewhere,
// and for the rows that no whole 8-row panel covers, it gathers B and calls
// Sgemm, which splits products of 2²³ multiply-adds or more over
// goroutines. It panics on negative sizes, bad strides, short slices and
// offsets outside b.
func SgemmRowsB(m, n, k int, a []float32, lda int, b []float32, off []int, c []float32, ldc int) {
	if m < 0 || n < 0 || k < 0 || lda < max(1, k) || ldc < max(1, n) || len(off) < k {
		panic(fmt.Sprintf("gemm: SgemmRowsB: %d×%d×%d, lda %d, ldc %d, %d offsets", m, n, k, lda, ldc, len(off)))
	}
	if m == 0 || n == 0 || k == 0 {
		return
	}
	if len(a) < (m-1)*lda+k || len(c) < (m-1)*ldc+n {
		panic("gemm: SgemmRowsB: short A or C")
	}
	for _, o := range off[:k] {
		if o < 0 || o > len(b)-n {
			panic(fmt.Sprintf("gemm: SgemmRowsB: row offset %d outside B's %d values (rows of %d)", o, len(b), n))
		}
	}
	ws := rowsBScratch.Get().(*[]float32)
	defer rowsBScratch.Put(ws)
	tile := rowsBKernel()
	full := 0
	if tile != nil {
		full = m / maxMR * maxMR
	}
	if full > 0 {
		rowsBTiles(tile, full, n, k, a, lda, b, off, c, ldc, ws)
	}
	if full < m {
		// The rows no whole panel covers, or every row without the
		// kernel: B gathered, then Sgemm.
		g := grow(ws, k*n)
		for p := 0; p < k; p++ {
			copy(g[p*n:(p+1)*n], b[off[p]:off[p]+n])
		}
		Sgemm(false, false, m-full, n, k, 1, a[full*lda:], lda, g, n, 1, c[full*ldc:], ldc)
	}
}

// rowsBTiles computes rows [0, m) of SgemmRowsB (m a multiple of maxMR) tile
// by tile, in Sgemm's k blocks: strips of 48 columns read B in place; a
// last strip narrower than whole vectors is packed first (zero-filled) and
// goes through the ordinary row-major kernel.
func rowsBTiles(tile func(k int, a *float32, lda int, b *float32, offs *int, c *float32, ldc int, mr, nr int), m, n, k int, a []float32, lda int, b []float32, off []int, c []float32, ldc int, ws *[]float32) {
	const nr, step = 48, 16
	kc := kBlock(k)
	for pc := 0; pc < k; pc += kc {
		kb := min(kc, k-pc)
		for jr := 0; jr < n; jr += nr {
			w := min(nr, n-jr)
			if w%step == 0 {
				for ir := 0; ir < m; ir += maxMR {
					tile(kb, &a[ir*lda+pc], lda, &b[jr], &off[pc], &c[ir*ldc+jr], ldc, maxMR, w)
				}
				continue
			}
			ld := roundUp(w, step)
			g := grow(ws, kb*ld)
			for p := 0; p < kb; p++ {
				row := g[p*ld : (p+1)*ld]
				copy(row, b[off[pc+p]+jr:off[pc+p]+jr+w])
				clear(row[w:])
			}
			for ir := 0; ir < m; ir += maxMR {
				active.fnRowA(kb, &a[ir*lda+pc], lda, &g[0], ld, &c[ir*ldc+jr], ldc, 1, 1, maxMR, w)
			}
		}
	}
}

// RowsBInPlace reports whether SgemmRowsB reads B's rows in place on this
// machine (AVX-512); without it, it gathers them, which costs what im2col
// does.
func RowsBInPlace() bool { return rowsBKernel() != nil }

var rowsBScratch = sync.Pool{New: func() any { return new([]float32) }}

// grow returns (*s)[:n], reallocating when it is too short.
func grow(s *[]float32, n int) []float32 {
	if cap(*s) < n {
		*s = make([]float32, n)
	}
	return (*s)[:n]
}
