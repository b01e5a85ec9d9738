package gemm

import (
	"math/rand/v2"
	"runtime"
	"testing"
)

// TestSgemmRowsB checks SgemmRowsB against Sgemm on B gathered, bit for bit:
// rows of A around the 8-row panels, widths around the 16-column vectors
// and 48-column strips (a convolution's 622 among them), k in one block and
// in two (k > 512), offsets anywhere in b (overlapping rows), and C's other
// columns untouched.
func TestSgemmRowsB(t *testing.T) {
	if !RowsBInPlace() {
		t.Skip("no row-offset kernel here: SgemmRowsB gathers B and calls Sgemm")
	}
	r := rand.New(rand.NewPCG(13, 13))
	finite, total := 0, 0
	for _, m := range []int{1, 7, 8, 9, 32, 33} {
		for _, n := range []int{1, 15, 16, 17, 32, 47, 48, 50, 80, 96, 622} {
			for _, k := range []int{1, 9, 288, 600} {
				lda, ldc := k+r.IntN(3), n+r.IntN(3)
				a, c := mostlyFinite(r, (m-1)*lda+k), mostlyFinite(r, (m-1)*ldc+n)
				b := mostlyFinite(r, n+200+r.IntN(100))
				off := make([]int, k)
				for p := range off {
					off[p] = r.IntN(len(b) - n + 1)
				}
				g := make([]float32, k*n)
				for p := 0; p < k; p++ {
					copy(g[p*n:(p+1)*n], b[off[p]:off[p]+n])
				}
				want := append([]float32(nil), c...)
				Sgemm(false, false, m, n, k, 1, a, lda, g, n, 1, want, ldc)
				SgemmRowsB(m, n, k, a, lda, b, off, c, ldc)
				sameBitsOrNaN(t, "SgemmRowsB", c, want)
				for _, v := range want {
					total++
					if v-v == 0 {
						finite++
					}
				}
			}
		}
	}
	if finite < total/2 {
		t.Fatalf("only %d finite results compared", finite)
	}
}

// TestSgemmRowsBAllocs checks that SgemmRowsB allocates nothing in steady
// state on conv2's shape, a partial last strip included (622 columns).
func TestSgemmRowsBAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items under the race detector")
	}
	r := rand.New(rand.NewPCG(14, 14))
	a, c, b := mostlyFinite(r, 32*288), mostlyFinite(r, 32*624), mostlyFinite(r, 32*676)
	off := make([]int, 288)
	for p := range off {
		off[p] = (p/9)*676 + (p%9/3)*26 + p%3
	}
	old := runtime.GOMAXPROCS(1) // one P: the pool's item stays put
	n := mallocs(100, func() { SgemmRowsB(32, 622, 288, a, 288, b, off, c, 624) })
	runtime.GOMAXPROCS(old)
	if n > 0 {
		t.Errorf("%d allocations in 100 calls", n)
	}
}
