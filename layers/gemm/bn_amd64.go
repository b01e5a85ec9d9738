//go:build amd64 && !purego

package gemm

// The batch normalisation loops of bn.go in AVX-512 (bn_amd64.s): 16
// features at a time (the last w%16 under a mask), the rows in order for
// each, with the Go loops' operations in their order and no fused
// multiply-add, so results are bit-identical. Sums in float64 take the 16
// features as two vectors of 8.

//go:noescape
func bnSumsAVX512(s *float64, x *float32, rows, w, ld int)

//go:noescape
func bnSquaresAVX512(v *float64, x *float32, mean *float64, rows, w, ld int)

//go:noescape
func bnNormalizeAVX512(y, x, mean, rstd, gamma, beta *float32, rows, w, ld int)

//go:noescape
func bnGradSumsAVX512(sdy, sdyx *float64, dy, x, mean, rstd *float32, rows, w, ld int)

//go:noescape
func bnGradInputAVX512(dx, dy, x, mean, rstd, gamma *float32, sdy, sdyx *float64, nf float64, rows, w, ld int)

func bnSumsKernel(s []float64, x []float32, rows, w, ld int) bool {
	if !hasAddAVX512 {
		return false
	}
	if w > 0 {
		bnSumsAVX512(&s[0], &x[0], rows, w, ld)
	}
	return true
}

func bnSquaresKernel(v []float64, x []float32, mean []float64, rows, w, ld int) bool {
	if !hasAddAVX512 {
		return false
	}
	if w > 0 {
		bnSquaresAVX512(&v[0], &x[0], &mean[0], rows, w, ld)
	}
	return true
}

func bnNormalizeKernel(y, x []float32, mean, rstd, gamma, beta []float32, rows, w, ld int) bool {
	if !hasAddAVX512 {
		return false
	}
	if w > 0 {
		bnNormalizeAVX512(&y[0], &x[0], &mean[0], &rstd[0], &gamma[0], &beta[0], rows, w, ld)
	}
	return true
}

func bnGradSumsKernel(sdy, sdyx []float64, dy, x []float32, mean, rstd []float32, rows, w, ld int) bool {
	if !hasAddAVX512 {
		return false
	}
	if w > 0 {
		bnGradSumsAVX512(&sdy[0], &sdyx[0], &dy[0], &x[0], &mean[0], &rstd[0], rows, w, ld)
	}
	return true
}

func bnGradInputKernel(dx, dy, x []float32, mean, rstd, gamma []float32, sdy, sdyx []float64, nf float64, rows, w, ld int) bool {
	if !hasAddAVX512 {
		return false
	}
	if w > 0 {
		bnGradInputAVX512(&dx[0], &dy[0], &x[0], &mean[0], &rstd[0], &gamma[0], &sdy[0], &sdyx[0], nf, rows, w, ld)
	}
	return true
}
