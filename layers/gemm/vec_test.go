package gemm

import (
	"math"
	"math/rand/v2"
	"testing"
)

// specials are the values whose handling differs between max and MAXPS:
// NaN, both zeros, infinities, a denormal.
var specials = []float32{float32(math.NaN()), float32(math.Copysign(0, -1)), 0, float32(math.Inf(1)), float32(math.Inf(-1)), math.SmallestNonzeroFloat32, -math.SmallestNonzeroFloat32}

func vecInput(r *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		if r.IntN(4) == 0 {
			v[i] = specials[r.IntN(len(specials))]
		} else {
			v[i] = float32(r.NormFloat64())
		}
	}
	return v
}

func sameBits(t *testing.T, what string, got, want []float32) {
	t.Helper()
	for i := range want {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("%s: element %d = %v (%#x), want %v (%#x)", what, i, got[i], math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
		}
	}
}

// TestReLU checks ReLU and ReLUMask against Go's loops bit for bit, over
// lengths around the 16-lane chunks, special values, and in place.
func TestReLU(t *testing.T) {
	r := rand.New(rand.NewPCG(2, 2))
	for _, n := range []int{1, 5, 15, 16, 17, 31, 32, 33, 100, 1000} {
		x, dy := vecInput(r, n+1), vecInput(r, n+1)
		want := make([]float32, n+1)
		wantDX := make([]float32, n+1)
		for i := 0; i < n; i++ {
			want[i] = max(x[i], 0)
			if x[i] > 0 {
				wantDX[i] = dy[i]
			}
		}
		want[n], wantDX[n] = 7, 7 // past the end: untouched
		y := make([]float32, n+1)
		y[n] = 7
		ReLU(y[:n], x[:n])
		sameBits(t, "ReLU", y, want)
		dx := make([]float32, n+1)
		dx[n] = 7
		ReLUMask(dx[:n], dy[:n], x[:n])
		sameBits(t, "ReLUMask", dx, wantDX)
		// In place.
		ReLU(x[:n], x[:n])
		sameBits(t, "ReLU in place", x[:n], want[:n])
		ReLUMask(dy[:n], dy[:n], y[:n]) // y > 0 where x > 0: the same mask
		sameBits(t, "ReLUMask in place", dy[:n], wantDX[:n])
	}
}

// TestCopy checks Copy against the plain loop over widths around the
// 16-lane chunks and strides wider than the rows, padding untouched.
func TestCopy(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	for _, n := range []int{1, 7, 15, 16, 17, 24, 26, 33, 70} {
		for _, m := range []int{1, 3, 24} {
			lda, ldc := n+r.IntN(5), n+r.IntN(5)
			a := vecInput(r, (m-1)*lda+n)
			c := vecInput(r, (m-1)*ldc+n+3)
			want := append([]float32(nil), c...)
			for i := 0; i < m; i++ {
				copy(want[i*ldc:i*ldc+n], a[i*lda:i*lda+n])
			}
			Copy(m, n, a, lda, c, ldc)
			sameBits(t, "Copy", c, want)
		}
	}
}

// TestFillRows checks FillRows against the plain loop over widths around
// the 16-lane chunks and strides wider than the rows, padding untouched.
func TestFillRows(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 4))
	for _, n := range []int{1, 7, 15, 16, 17, 33, 576, 676} {
		for _, m := range []int{1, 3, 32} {
			ldc := n + r.IntN(5)
			v := vecInput(r, m)
			c := vecInput(r, (m-1)*ldc+n+3)
			want := append([]float32(nil), c...)
			for i := 0; i < m; i++ {
				for j := 0; j < n; j++ {
					want[i*ldc+j] = v[i]
				}
			}
			FillRows(m, n, v, c, ldc)
			sameBits(t, "FillRows", c, want)
		}
	}
}

func TestVecPanics(t *testing.T) {
	for _, f := range []func(){
		func() { Copy(2, 3, make([]float32, 5), 3, make([]float32, 6), 3) },
		func() { ReLU(make([]float32, 3), make([]float32, 4)) },
		func() { FillRows(3, 2, make([]float32, 2), make([]float32, 6), 2) },
		func() { FillRows(2, 3, make([]float32, 2), make([]float32, 5), 3) },
		func() { ReLUMask(make([]float32, 3), make([]float32, 3), make([]float32, 4)) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			f()
		}()
	}
}
