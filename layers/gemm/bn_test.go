package gemm

import (
	"math/rand/v2"
	"testing"
)

// TestBatchNorm checks the batch normalisation loops against their Go
// loops bit for bit: widths around the 16-feature groups, a stride wider
// than the block (whose other columns must stay untouched), one row and
// many, ordinary and special values.
func TestBatchNorm(t *testing.T) {
	if !vectorized() {
		t.Skip("no AVX-512 here: batch normalisation runs its Go loops only")
	}
	r := rand.New(rand.NewPCG(10, 10))
	in := func(n int) []float32 { return mostlyFinite(r, n) }
	f64 := func(n int) []float64 {
		v := make([]float64, n)
		for i, e := range in(n) {
			v[i] = float64(e) * (1 + r.Float64())
		}
		return v
	}
	finite := 0
	for _, w := range []int{1, 7, 8, 9, 15, 16, 17, 31, 32, 48, 63, 64} {
		for _, rows := range []int{1, 3, 100} {
			ld := w + r.IntN(3)*5
			m := (rows-1)*ld + w + 2
			x, dy := in(m), in(m)
			mean, rstd, gamma, beta := in(w+1), optInput(r, w+1, true), in(w+1), in(w+1)

			s, v, mean64 := f64(w+1), f64(w+1), f64(w+1)
			ws, wv := append([]float64(nil), s...), append([]float64(nil), v...)
			BNSums(s, x, rows, w, ld)
			bnSumsGo(ws, x, rows, w, ld)
			BNSquares(v, x, mean64, rows, w, ld)
			bnSquaresGo(wv, x, mean64, rows, w, ld)
			sameBits64(t, "BNSums", s, ws)
			sameBits64(t, "BNSquares", v, wv)

			y := vecInput(r, m)
			wy := append([]float32(nil), y...)
			BNNormalize(y, x, mean, rstd, gamma, beta, rows, w, ld)
			bnNormalizeGo(wy, x, mean, rstd, gamma, beta, rows, w, ld)
			sameBitsOrNaN(t, "BNNormalize", y, wy)

			sdy, sdyx := f64(w+1), f64(w+1)
			wsdy, wsdyx := append([]float64(nil), sdy...), append([]float64(nil), sdyx...)
			BNGradSums(sdy, sdyx, dy, x, mean, rstd, rows, w, ld)
			bnGradSumsGo(wsdy, wsdyx, dy, x, mean, rstd, rows, w, ld)
			sameBits64(t, "BNGradSums sdy", sdy, wsdy)
			sameBits64(t, "BNGradSums sdyx", sdyx, wsdyx)

			dx := vecInput(r, m)
			wdx := append([]float32(nil), dx...)
			BNGradInput(dx, dy, x, mean, rstd, gamma, sdy, sdyx, float64(rows), rows, w, ld)
			bnGradInputGo(wdx, dy, x, mean, rstd, gamma, sdy, sdyx, float64(rows), rows, w, ld)
			sameBitsOrNaN(t, "BNGradInput", dx, wdx)
			for _, e := range wdx[:w] {
				if e-e == 0 {
					finite++
				}
			}
		}
	}
	if finite < 100 {
		t.Fatalf("only %d finite input gradients compared", finite)
	}
}

// sameBits64 is sameBits for float64s, any NaN matching any NaN (see
// sameBitsOrNaN).
func sameBits64(t *testing.T, what string, got, want []float64) {
	t.Helper()
	for i := range want {
		g, w := got[i], want[i]
		if g != g && w != w {
			continue
		}
		if g != w || (g == 0 && 1/g != 1/w) {
			t.Fatalf("%s: element %d = %v, want %v", what, i, g, w)
		}
	}
}

// mostlyFinite returns n ordinary values with a special one now and then,
// so that most sums over hundreds of them stay finite and are compared.
func mostlyFinite(r *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.NormFloat64() * 3)
		if r.IntN(400) == 0 {
			v[i] = specials[r.IntN(len(specials))]
		}
	}
	return v
}
