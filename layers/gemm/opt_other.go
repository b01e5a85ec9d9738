//go:build !amd64 || purego

package gemm

func adadeltaKernel(p, g, a, d []float32, lr, rho, rest, eps float32) bool { return false }

func adamKernel(p, g, m, v []float32, lrT, beta1, beta2, rest1, rest2, eps float32) bool {
	return false
}
