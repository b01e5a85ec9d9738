package gemm

import "unsafe"

// genericKernel is the pure-Go kernel: a 4x4 tile held in local variables.
var genericKernel = kernel{name: "generic", mr: 4, nr: 4, nrStep: 4, fn: tileGeneric, fnRowA: tileGenericRowA}

// tileGeneric computes the tile from a k-major A panel, A(p, r) = a[p*lda+r].
func tileGeneric(k int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int, alpha, beta float32, mr, nr int) {
	var as []float32
	if k > 0 {
		as = unsafe.Slice(a, (k-1)*lda+4)
	}
	genericTile(k, as, lda, 1, b, ldb, c, ldc, alpha, beta, mr, nr)
}

// tileGenericRowA computes the tile from a row-major A panel, A(p, r) = a[r*lda+p].
func tileGenericRowA(k int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int, alpha, beta float32, mr, nr int) {
	var as []float32
	if k > 0 {
		as = unsafe.Slice(a, 3*lda+k)
	}
	genericTile(k, as, 1, lda, b, ldb, c, ldc, alpha, beta, mr, nr)
}

// genericTile computes the 4x4 tile C = alpha*A*B + beta*C (first mr rows
// and nr columns) with A(p, r) = a[p*sp+r*sr] and B(p, j) = b[p*ldb+j],
// summing over p in order.
func genericTile(k int, a []float32, sp, sr int, b *float32, ldb int, c *float32, ldc int, alpha, beta float32, mr, nr int) {
	var c00, c01, c02, c03, c10, c11, c12, c13, c20, c21, c22, c23, c30, c31, c32, c33 float32
	if k > 0 {
		bs := unsafe.Slice(b, (k-1)*ldb+4)
		for p := 0; p < k; p++ {
			bp := bs[p*ldb : p*ldb+4 : p*ldb+4]
			a0, a1, a2, a3 := a[p*sp], a[p*sp+sr], a[p*sp+2*sr], a[p*sp+3*sr]
			b0, b1, b2, b3 := bp[0], bp[1], bp[2], bp[3]
			c00 += a0 * b0
			c01 += a0 * b1
			c02 += a0 * b2
			c03 += a0 * b3
			c10 += a1 * b0
			c11 += a1 * b1
			c12 += a1 * b2
			c13 += a1 * b3
			c20 += a2 * b0
			c21 += a2 * b1
			c22 += a2 * b2
			c23 += a2 * b3
			c30 += a3 * b0
			c31 += a3 * b1
			c32 += a3 * b2
			c33 += a3 * b3
		}
	}
	acc := [4][4]float32{
		{c00, c01, c02, c03},
		{c10, c11, c12, c13},
		{c20, c21, c22, c23},
		{c30, c31, c32, c33},
	}
	cs := unsafe.Slice(c, (mr-1)*ldc+nr)
	for r := 0; r < mr; r++ {
		row := cs[r*ldc : r*ldc+nr]
		for j := range row {
			if beta == 0 {
				row[j] = alpha * acc[r][j]
			} else {
				row[j] = alpha*acc[r][j] + beta*row[j]
			}
		}
	}
}
