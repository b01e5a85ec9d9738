package gemm

import (
	"math"
	"math/rand/v2"
	"testing"
)

// optInput returns n values for an optimiser's state: mostly ordinary
// gradients and averages (averages of squares are >= 0), some tiny
// (subnormal results) or huge (overflow to Inf), some special.
func optInput(r *rand.Rand, n int, nonNegative bool) []float32 {
	v := vecInput(r, n)
	for i := range v {
		switch r.IntN(8) {
		case 0:
			v[i] *= 1e-20
		case 1:
			v[i] *= 1e19
		}
		if nonNegative && r.IntN(16) != 0 {
			v[i] = float32(math.Abs(float64(v[i])))
		}
	}
	return v
}

// sameBitsOrNaN is sameBits, except that any NaN matches any NaN: where two
// NaNs meet in one operation, which payload survives is the compiler's
// choice of operand order in the Go loop.
func sameBitsOrNaN(t *testing.T, what string, got, want []float32) {
	t.Helper()
	for i := range want {
		g, w := got[i], want[i]
		if g != g && w != w {
			continue
		}
		if math.Float32bits(g) != math.Float32bits(w) {
			t.Fatalf("%s: element %d = %v (%#x), want %v (%#x)", what, i, g, math.Float32bits(g), w, math.Float32bits(w))
		}
	}
}

// TestOptimisers checks Adadelta and Adam against their Go loops
// (adadeltaGo, adamGo) bit for
// bit, over lengths around the 16-lane chunks, ordinary, tiny, huge and
// special values; an element past the length must stay untouched.
func TestOptimisers(t *testing.T) {
	if !vectorized() {
		t.Skip("no AVX-512 here: Adadelta and Adam run their Go loops only")
	}
	r := rand.New(rand.NewPCG(9, 9))
	for _, n := range []int{1, 5, 15, 16, 17, 31, 32, 33, 100, 1000} {
		for _, hyper := range [][4]float32{{1, 0.95, 0.05, 1e-8}, {0.002, 0.9, 0.001, 1e-6}} {
			lr, rho, rest, eps := hyper[0], hyper[1], hyper[2], hyper[3]
			p, g := optInput(r, n+1, false), optInput(r, n+1, false)
			a, d := optInput(r, n+1, true), optInput(r, n+1, true)
			wp, wa, wd := append([]float32(nil), p...), append([]float32(nil), a...), append([]float32(nil), d...)
			adadeltaGo(wp[:n], g[:n], wa[:n], wd[:n], lr, rho, rest, eps)
			Adadelta(p[:n], g[:n], a[:n], d[:n], lr, rho, rest, eps)
			sameBitsOrNaN(t, "Adadelta p", p, wp)
			sameBitsOrNaN(t, "Adadelta a", a, wa)
			sameBitsOrNaN(t, "Adadelta d", d, wd)

			m, v := optInput(r, n+1, false), optInput(r, n+1, true)
			wp, wm, wv := append([]float32(nil), p...), append([]float32(nil), m...), append([]float32(nil), v...)
			adamGo(wp[:n], g[:n], wm[:n], wv[:n], lr, rho, 0.999, rest, 1-0.999, eps)
			Adam(p[:n], g[:n], m[:n], v[:n], lr, rho, 0.999, rest, 1-0.999, eps)
			sameBitsOrNaN(t, "Adam p", p, wp)
			sameBitsOrNaN(t, "Adam m", m, wm)
			sameBitsOrNaN(t, "Adam v", v, wv)
		}
	}
}
