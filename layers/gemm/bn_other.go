//go:build !amd64 || purego

package gemm

func bnSumsKernel(s []float64, x []float32, rows, w, ld int) bool { return false }

func bnSquaresKernel(v []float64, x []float32, mean []float64, rows, w, ld int) bool { return false }

func bnNormalizeKernel(y, x []float32, mean, rstd, gamma, beta []float32, rows, w, ld int) bool {
	return false
}

func bnGradSumsKernel(sdy, sdyx []float64, dy, x []float32, mean, rstd []float32, rows, w, ld int) bool {
	return false
}

func bnGradInputKernel(dx, dy, x []float32, mean, rstd, gamma []float32, sdy, sdyx []float64, nf float64, rows, w, ld int) bool {
	return false
}
