package gemm

import "fmt"

// The batch normalisation loops of the CPU backend. Each works on a block
// of rows×w features (w <= 64 in the backend's use, any w here) with row
// stride ld; each feature's sums run over the rows in order, in float64.

// BNSums adds to s[j] the sum of column j of x, float64(x[i*ld+j]) for i
// < rows, in row order, for j < w.
func BNSums(s []float64, x []float32, rows, w, ld int) {
	checkBN("BNSums", rows, w, ld, len(x), len(s))
	if bnSumsKernel(s, x, rows, w, ld) {
		return
	}
	bnSumsGo(s, x, rows, w, ld)
}

// BNSquares adds to v[j] the sum of d*d, d = float64(x[i*ld+j]) - mean[j],
// each product rounded (no fused multiply-add), in row order, for j < w.
func BNSquares(v []float64, x []float32, mean []float64, rows, w, ld int) {
	checkBN("BNSquares", rows, w, ld, len(x), len(v), len(mean))
	if bnSquaresKernel(v, x, mean, rows, w, ld) {
		return
	}
	bnSquaresGo(v, x, mean, rows, w, ld)
}

// BNNormalize sets y = gamma*xh + beta with xh = (x - mean)*rstd, in
// float32, each operation rounded on its own, for the rows×w block.
func BNNormalize(y, x []float32, mean, rstd, gamma, beta []float32, rows, w, ld int) {
	checkBN("BNNormalize", rows, w, ld, min(len(x), len(y)), len(mean), len(rstd), len(gamma), len(beta))
	if bnNormalizeKernel(y, x, mean, rstd, gamma, beta, rows, w, ld) {
		return
	}
	bnNormalizeGo(y, x, mean, rstd, gamma, beta, rows, w, ld)
}

// BNGradSums adds to sdy[j] the sum of float64(dy) and to sdyx[j] the sum
// of float64(dy)*float64(xh) (exact: a product of two float32), xh = (x -
// mean)*rstd in float32, over the rows in order, for j < w.
func BNGradSums(sdy, sdyx []float64, dy, x []float32, mean, rstd []float32, rows, w, ld int) {
	checkBN("BNGradSums", rows, w, ld, min(len(dy), len(x)), len(sdy), len(sdyx), len(mean), len(rstd))
	if bnGradSumsKernel(sdy, sdyx, dy, x, mean, rstd, rows, w, ld) {
		return
	}
	bnGradSumsGo(sdy, sdyx, dy, x, mean, rstd, rows, w, ld)
}

// BNGradInput sets the input gradient of batch normalisation with batch
// statistics over nf rows:
//
//	dx = float32(gr/nf * (nf*g - sdy - xh*sdyx)),  gr = float64(gamma)*float64(rstd),  g = float64(dy)
//
// in float64, each operation rounded on its own, for the rows×w block.
func BNGradInput(dx, dy, x []float32, mean, rstd, gamma []float32, sdy, sdyx []float64, nf float64, rows, w, ld int) {
	checkBN("BNGradInput", rows, w, ld, min(len(dx), len(dy), len(x)), len(mean), len(rstd), len(gamma), len(sdy), len(sdyx))
	if bnGradInputKernel(dx, dy, x, mean, rstd, gamma, sdy, sdyx, nf, rows, w, ld) {
		return
	}
	bnGradInputGo(dx, dy, x, mean, rstd, gamma, sdy, sdyx, nf, rows, w, ld)
}

// checkBN panics unless a block of rows×w with stride ld fits in a matrix
// of length m and every per-feature slice has w values.
func checkBN(op string, rows, w, ld, m int, perFeature ...int) {
	if rows < 1 || w < 0 || ld < w {
		panic(fmt.Sprintf("gemm: %s: %d rows of %d features, stride %d", op, rows, w, ld))
	}
	if w > 0 && m < (rows-1)*ld+w {
		panic(fmt.Sprintf("gemm: %s: matrix of %d values, need %d", op, m, (rows-1)*ld+w))
	}
	for _, n := range perFeature {
		if n < w {
			panic(fmt.Sprintf("gemm: %s: %d per-feature values, need %d", op, n, w))
		}
	}
}

// bnSumsGo is BNSums in Go: the loop the AVX-512 path must match.
func bnSumsGo(s []float64, x []float32, rows, w, ld int) {
	for i := 0; i < rows; i++ {
		for j, e := range x[i*ld : i*ld+w] {
			s[j] += float64(e)
		}
	}
}

// bnSquaresGo is BNSquares in Go: the loop the AVX-512 path must match.
func bnSquaresGo(v []float64, x []float32, mean []float64, rows, w, ld int) {
	for i := 0; i < rows; i++ {
		for j, e := range x[i*ld : i*ld+w] {
			d := float64(e) - mean[j]
			v[j] += float64(d * d)
		}
	}
}

// bnNormalizeGo is BNNormalize in Go: the loop the AVX-512 path must match.
func bnNormalizeGo(y, x []float32, mean, rstd, gamma, beta []float32, rows, w, ld int) {
	for i := 0; i < rows; i++ {
		xr, yr := x[i*ld:i*ld+w], y[i*ld:i*ld+w]
		for j, e := range xr {
			xh := (e - mean[j]) * rstd[j]
			yr[j] = float32(gamma[j]*xh) + beta[j]
		}
	}
}

// bnGradSumsGo is BNGradSums in Go: the loop the AVX-512 path must match.
func bnGradSumsGo(sdy, sdyx []float64, dy, x []float32, mean, rstd []float32, rows, w, ld int) {
	for i := 0; i < rows; i++ {
		xr, dr := x[i*ld:i*ld+w], dy[i*ld:i*ld+w]
		for j, e := range xr {
			xh := (e - mean[j]) * rstd[j]
			g := float64(dr[j])
			sdy[j] += g
			sdyx[j] += g * float64(xh)
		}
	}
}

// bnGradInputGo is BNGradInput in Go: the loop the AVX-512 path must match.
func bnGradInputGo(dx, dy, x []float32, mean, rstd, gamma []float32, sdy, sdyx []float64, nf float64, rows, w, ld int) {
	for i := 0; i < rows; i++ {
		xr, dr, dxr := x[i*ld:i*ld+w], dy[i*ld:i*ld+w], dx[i*ld:i*ld+w]
		for j, e := range xr {
			gr := float64(gamma[j]) * float64(rstd[j])
			xh := (e - mean[j]) * rstd[j]
			t := nf*float64(dr[j]) - sdy[j] - float64(float64(xh)*sdyx[j])
			dxr[j] = float32(gr / nf * t)
		}
	}
}
