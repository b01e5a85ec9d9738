//go:build amd64 && !purego

package gemm

// The optimisers' updates of opt.go in AVX-512 (opt_amd64.s): 16 elements
// at a time, the last n%16 under a mask, with the Go loop's operations in
// its order and no fused multiply-add, so results are bit-identical.

//go:noescape
func adadeltaAVX512(n int, p, grad, a, d *float32, lr, rho, rest, eps float32)

//go:noescape
func adamAVX512(n int, p, grad, m, v *float32, lrT, beta1, beta2, rest1, rest2, eps float32)

func adadeltaKernel(p, g, a, d []float32, lr, rho, rest, eps float32) bool {
	if !hasAddAVX512 {
		return false
	}
	adadeltaAVX512(len(p), &p[0], &g[0], &a[0], &d[0], lr, rho, rest, eps)
	return true
}

func adamKernel(p, g, m, v []float32, lrT, beta1, beta2, rest1, rest2, eps float32) bool {
	if !hasAddAVX512 {
		return false
	}
	adamAVX512(len(p), &p[0], &g[0], &m[0], &v[0], lrT, beta1, beta2, rest1, rest2, eps)
	return true
}
