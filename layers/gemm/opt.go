package gemm

import (
	"fmt"
	"math"
)

// Adadelta applies one Adadelta update to the parameters p with gradients
// g, squared-gradient average a and squared-update average d, element by
// element, with rest = 1-rho:
//
//	a = rho*a + rest*g*g
//	u = g * (sqrt(d+eps) / sqrt(a+eps))
//	p = p - lr*u
//	d = rho*d + rest*u*u
//
// Each operation is rounded to float32 on its own (no fused multiply-add),
// as kernels.cu's twin, built with -fmad=false, computes it. The slices
// have the same length.
func Adadelta(p, g, a, d []float32, lr, rho, rest, eps float32) {
	checkSame("Adadelta", len(p), len(g), len(a), len(d))
	if len(p) == 0 || adadeltaKernel(p, g, a, d, lr, rho, rest, eps) {
		return
	}
	adadeltaGo(p, g, a, d, lr, rho, rest, eps)
}

// Adam applies one Adam update to the parameters p with gradients g and
// moment averages m and v, element by element, with rest1 = 1-beta1, rest2
// = 1-beta2 and lrT the bias-corrected step size:
//
//	m = beta1*m + rest1*g
//	v = beta2*v + rest2*g*g
//	p = p - lrT*m / (sqrt(v) + eps)
//
// Each operation is rounded to float32 on its own, as in Adadelta. The
// slices have the same length.
func Adam(p, g, m, v []float32, lrT, beta1, beta2, rest1, rest2, eps float32) {
	checkSame("Adam", len(p), len(g), len(m), len(v))
	if len(p) == 0 || adamKernel(p, g, m, v, lrT, beta1, beta2, rest1, rest2, eps) {
		return
	}
	adamGo(p, g, m, v, lrT, beta1, beta2, rest1, rest2, eps)
}

// sqrt32 is the correctly rounded float32 square root (VSQRTPS, CUDA's
// sqrtf): rounding the float64 root to float32 gives it exactly.
func sqrt32(x float32) float32 { return float32(math.Sqrt(float64(x))) }

func checkSame(op string, n ...int) {
	for _, k := range n[1:] {
		if k != n[0] {
			panic(fmt.Sprintf("gemm: %s: slices of lengths %v", op, n))
		}
	}
}

// adadeltaGo is Adadelta in Go: the loop the AVX-512 path must match.
func adadeltaGo(p, g, a, d []float32, lr, rho, rest, eps float32) {
	for i := range p {
		gi := g[i]
		ai := float32(rho*a[i]) + float32(float32(rest*gi)*gi)
		u := gi * (sqrt32(d[i]+eps) / sqrt32(ai+eps))
		p[i] -= float32(lr * u)
		a[i] = ai
		d[i] = float32(rho*d[i]) + float32(float32(rest*u)*u)
	}
}

// adamGo is Adam in Go: the loop the AVX-512 path must match.
func adamGo(p, g, m, v []float32, lrT, beta1, beta2, rest1, rest2, eps float32) {
	for i := range p {
		gi := g[i]
		mi := float32(beta1*m[i]) + float32(rest1*gi)
		vi := float32(beta2*v[i]) + float32(float32(rest2*gi)*gi)
		p[i] -= float32(lrT*mi) / (sqrt32(vi) + eps)
		m[i], v[i] = mi, vi
	}
}
