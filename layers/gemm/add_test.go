package gemm

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestAdd checks Add against the plain loop, bit for bit, over widths
// around the 16-lane chunks, strides wider than the rows, and padding that
// must not change.
func TestAdd(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	for _, n := range []int{1, 7, 15, 16, 17, 24, 26, 31, 32, 33, 48, 70} {
		for _, m := range []int{1, 3, 24} {
			lda, ldc := n+r.IntN(5), n+r.IntN(5)
			a := make([]float32, (m-1)*lda+n)
			c := make([]float32, (m-1)*ldc+n+3)
			for i := range a {
				a[i] = float32(r.NormFloat64())
			}
			for i := range c {
				c[i] = float32(r.NormFloat64())
			}
			want := append([]float32(nil), c...)
			for i := 0; i < m; i++ {
				for j := 0; j < n; j++ {
					want[i*ldc+j] += a[i*lda+j]
				}
			}
			Add(m, n, a, lda, c, ldc)
			for i := range c {
				if math.Float32bits(c[i]) != math.Float32bits(want[i]) {
					t.Fatalf("m=%d n=%d lda=%d ldc=%d: c[%d] = %v, want %v", m, n, lda, ldc, i, c[i], want[i])
				}
			}
		}
	}
}

func TestAddPanics(t *testing.T) {
	for _, f := range []func(){
		func() { Add(-1, 2, nil, 2, nil, 2) },
		func() { Add(2, 3, make([]float32, 5), 3, make([]float32, 6), 3) },
		func() { Add(2, 3, make([]float32, 6), 2, make([]float32, 6), 3) },
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
