package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
)

// A gemmCase is one call of Sgemm; the padding of each stored row (ld minus
// the stored width) is filled with NaN, which must never reach C.
type gemmCase struct {
	transA, transB bool
	m, n, k        int
	padA, padB     int
	padC           int
	alpha, beta    float32
}

func (tc gemmCase) String() string {
	t := func(b bool) string {
		if b {
			return "T"
		}
		return "N"
	}
	return fmt.Sprintf("%s%s/m=%d,n=%d,k=%d/pad=%d,%d,%d/alpha=%g,beta=%g",
		t(tc.transA), t(tc.transB), tc.m, tc.n, tc.k, tc.padA, tc.padB, tc.padC, tc.alpha, tc.beta)
}

// operands holds the stored matrices of a case.
type operands struct {
	a, b, c       []float32
	lda, ldb, ldc int
}

// stored returns rows×cols stored with row stride cols+pad: seeded values
// in [-1, 1), NaN in the padding.
func stored(rnd *rand.Rand, rows, cols, pad int) ([]float32, int) {
	ld := max(1, cols+pad)
	s := make([]float32, max(0, (rows-1)*ld+cols))
	nan := float32(math.NaN())
	for i := range s {
		if i%ld < cols {
			s[i] = 2*rnd.Float32() - 1
		} else {
			s[i] = nan
		}
	}
	return s, ld
}

func (tc gemmCase) operands(rnd *rand.Rand) operands {
	var o operands
	ar, ac := tc.m, tc.k
	if tc.transA {
		ar, ac = tc.k, tc.m
	}
	br, bc := tc.k, tc.n
	if tc.transB {
		br, bc = tc.n, tc.k
	}
	o.a, o.lda = stored(rnd, ar, ac, tc.padA)
	o.b, o.ldb = stored(rnd, br, bc, tc.padB)
	o.c, o.ldc = stored(rnd, tc.m, tc.n, tc.padC)
	if tc.alpha == 0 {
		// alpha == 0 means A and B are not read: NaN in them must not show.
		for _, s := range [][]float32{o.a, o.b} {
			for i := range s {
				s[i] = float32(math.NaN())
			}
		}
	}
	if tc.beta == 0 {
		// beta == 0 overwrites C: NaN in it must not show.
		for i := range o.c {
			o.c[i] = float32(math.NaN())
		}
	}
	return o
}

// opA and opB read op(A)[i][p] and op(B)[p][j].
func (tc gemmCase) opA(o operands, i, p int) float32 {
	if tc.transA {
		return o.a[p*o.lda+i]
	}
	return o.a[i*o.lda+p]
}

func (tc gemmCase) opB(o operands, p, j int) float32 {
	if tc.transB {
		return o.b[j*o.ldb+p]
	}
	return o.b[p*o.ldb+j]
}

// check compares got (C after the call) with the product accumulated in
// float64 from o (C before it).
//
// Tolerance: summing k products in float32 in any order has error at most
// about k·u·Σ|a·b| (u = 2⁻²⁴, the float32 unit roundoff); scaling by alpha,
// adding beta·C and the k-block partial sums add a few u more, so an element
// may differ from the exact value by (k+4)·u·(|alpha|·Σ|a·b| + |beta·c|).
func (tc gemmCase) check(t *testing.T, name string, o operands, got []float32) {
	t.Helper()
	const u = 1.0 / (1 << 24)
	bad := 0
	for i := 0; i < tc.m; i++ {
		for j := 0; j < tc.n; j++ {
			var sum, mag float64
			for p := 0; p < tc.k && tc.alpha != 0; p++ {
				x := float64(tc.opA(o, i, p)) * float64(tc.opB(o, p, j))
				sum += x
				mag += math.Abs(x)
			}
			want := float64(tc.alpha) * sum
			mag *= math.Abs(float64(tc.alpha))
			if tc.beta != 0 {
				c := float64(o.c[i*o.ldc+j])
				want += float64(tc.beta) * c
				mag += math.Abs(float64(tc.beta) * c)
			}
			tol := float64(tc.k+4) * u * mag
			g := float64(got[i*o.ldc+j])
			if !(math.Abs(g-want) <= tol) {
				if bad < 5 {
					t.Errorf("%s: C[%d][%d] = %v, want %v (tol %.3g)", name, i, j, g, want, tol)
				}
				bad++
			}
		}
	}
	// The padding of C is not part of C.
	for i, v := range got {
		if i%o.ldc >= tc.n && !math.IsNaN(float64(v)) {
			t.Fatalf("%s: padding of C at %d written: %v", name, i, v)
		}
	}
	if bad > 0 {
		t.Errorf("%s: %d of %d elements wrong", name, bad, tc.m*tc.n)
	}
}

func equalBits(x, y []float32) bool {
	if len(x) != len(y) {
		return false
	}
	for i := range x {
		if math.Float32bits(x[i]) != math.Float32bits(y[i]) {
			return false
		}
	}
	return true
}

// run calls sgemmWith on a copy of C and checks that A and B are unchanged.
func (tc gemmCase) run(t *testing.T, kern *kernel, o operands) []float32 {
	t.Helper()
	a, b := append([]float32(nil), o.a...), append([]float32(nil), o.b...)
	c := append([]float32(nil), o.c...)
	sgemmWith(kern, tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, a, o.lda, b, o.ldb, tc.beta, c, o.ldc)
	if !equalBits(a, o.a) || !equalBits(b, o.b) {
		t.Fatalf("%v: %s modified A or B", tc, kern.name)
	}
	return c
}

// conformanceCases are the cases every kernel must pass: all transposes,
// sizes around the tile sizes (8x48, 6x16, 4x4) and the cache blocks, wide
// strides, alpha and beta values including beta == 0 over NaN, k == 0.
func conformanceCases() []gemmCase {
	rnd := rand.New(rand.NewPCG(1, 1))
	alphas := []float32{1, -0.5, 2.5, 0}
	betas := []float32{0, 1, -1.5, 0.25}
	var cases []gemmCase
	for _, tA := range []bool{false, true} {
		for _, tB := range []bool{false, true} {
			add := func(m, n, k int) {
				cases = append(cases, gemmCase{
					transA: tA, transB: tB, m: m, n: n, k: k,
					padA: rnd.IntN(3) * rnd.IntN(6), padB: rnd.IntN(3) * rnd.IntN(6), padC: rnd.IntN(3) * rnd.IntN(6),
					alpha: alphas[rnd.IntN(len(alphas)-1)], beta: betas[rnd.IntN(len(betas))],
				})
			}
			for range 40 {
				add(1+rnd.IntN(70), 1+rnd.IntN(70), 1+rnd.IntN(70))
			}
			for _, s := range [][3]int{
				{1, 1, 1}, {8, 48, 1}, {6, 16, 3}, {7, 47, 9}, {9, 49, 17}, {16, 96, 64},
				{32, 9, 70}, {3, 10, 2}, {70, 70, 70}, {5, 5, 0}, {4, 33, 0},
				{300, 20, 30},  // more than one block of tile rows (mcMax)
				{10, 800, 12},  // more than one block of tile columns (ncMax)
				{300, 260, 20}, // both, with Bᵀ packed when transB
				{17, 33, 1000}, // several k blocks (kcMax)
			} {
				add(s[0], s[1], s[2])
			}
			// alpha == 0 must not read A or B (operands fills them with
			// NaN, which would show).
			cases = append(cases, gemmCase{transA: tA, transB: tB, m: 5, n: 7, k: 3, alpha: 0, beta: 0.5})
		}
	}
	return cases
}

func TestSgemm(t *testing.T) {
	for _, kern := range kernels() {
		t.Run(kern.name, func(t *testing.T) {
			rnd := rand.New(rand.NewPCG(2, 2))
			for _, tc := range conformanceCases() {
				o := tc.operands(rnd)
				tc.check(t, fmt.Sprintf("%v %s", tc, kern.name), o, tc.run(t, kern, o))
			}
		})
	}
}

// problem is newProblem for the case, writing into c.
func (tc gemmCase) problem(o operands, c []float32, transC bool) problem {
	return newProblem(tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, o.a, o.lda, o.b, o.ldb, tc.beta, c, o.ldc, transC)
}

// TestSgemmTransC checks that computing C = op(A)·Bᵀ as Cᵀ gives the same
// bits as computing it directly, for the kernels that can.
func TestSgemmTransC(t *testing.T) {
	for _, kern := range kernels() {
		if kern.fnT == nil {
			continue
		}
		rnd := rand.New(rand.NewPCG(9, 9))
		for _, tc := range conformanceCases() {
			if !tc.transB || tc.k == 0 || tc.alpha == 0 {
				continue
			}
			o := tc.operands(rnd)
			var got [2][]float32
			for i, transC := range []bool{false, true} {
				got[i] = append([]float32(nil), o.c...)
				pr := tc.problem(o, got[i], transC)
				parallel(kern, &pr, 1)
			}
			tc.check(t, fmt.Sprintf("%v %s transC", tc, kern.name), o, got[1])
			if !equalBits(got[0], got[1]) {
				t.Errorf("%v %s: C and Cᵀ products differ", tc, kern.name)
			}
		}
	}
}

// TestSgemmRef holds the reference to the same standard.
func TestSgemmRef(t *testing.T) {
	rnd := rand.New(rand.NewPCG(3, 3))
	for _, tc := range conformanceCases() {
		if tc.alpha == 0 {
			continue // sgemmRef reads A and B (NaN here) whatever alpha is
		}
		o := tc.operands(rnd)
		c := append([]float32(nil), o.c...)
		sgemmRef(tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, o.a, o.lda, o.b, o.ldb, tc.beta, c, o.ldc)
		tc.check(t, fmt.Sprintf("%v ref", tc), o, c)
	}
}

// TestSgemmPublic runs Sgemm itself (the active kernel) on a few cases.
func TestSgemmPublic(t *testing.T) {
	t.Logf("active kernel: %s", active.name)
	rnd := rand.New(rand.NewPCG(4, 4))
	for _, tc := range conformanceCases()[:20] {
		o := tc.operands(rnd)
		c := append([]float32(nil), o.c...)
		Sgemm(tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, o.a, o.lda, o.b, o.ldb, tc.beta, c, o.ldc)
		tc.check(t, tc.String(), o, c)
	}
}

func TestSgemmPanics(t *testing.T) {
	a := make([]float32, 6) // 2x3
	b := make([]float32, 12)
	c := make([]float32, 8)
	for _, tt := range []struct {
		name string
		call func()
		msg  string
	}{
		{"negative m", func() { Sgemm(false, false, -1, 2, 3, 1, a, 3, b, 4, 0, c, 4) }, "gemm: negative dimension"},
		{"negative k", func() { Sgemm(false, false, 2, 2, -3, 1, a, 3, b, 4, 0, c, 4) }, "gemm: negative dimension"},
		{"short A", func() { Sgemm(false, false, 3, 4, 3, 1, a, 3, b, 4, 0, make([]float32, 12), 4) }, "gemm: short A"},
		{"short A trans", func() { Sgemm(true, false, 3, 4, 3, 1, a, 3, b, 4, 0, make([]float32, 12), 4) }, "gemm: short A"},
		{"short B", func() { Sgemm(false, false, 2, 4, 3, 1, a, 3, b[:11], 4, 0, c, 4) }, "gemm: short B"},
		{"short B trans", func() { Sgemm(false, true, 2, 4, 3, 1, a, 3, b[:11], 3, 0, c, 4) }, "gemm: short B"},
		{"short C", func() { Sgemm(false, false, 2, 4, 3, 1, a, 3, b, 4, 0, c[:7], 4) }, "gemm: short C"},
		{"short C stride", func() { Sgemm(false, false, 2, 4, 3, 1, a, 3, b, 4, 0, c, 5) }, "gemm: short C"},
		{"bad lda", func() { Sgemm(false, false, 2, 4, 3, 1, a, 2, b, 4, 0, c, 4) }, "gemm: bad lda"},
		{"bad ldb", func() { Sgemm(false, false, 2, 4, 3, 1, a, 3, b, 3, 0, c, 4) }, "gemm: bad ldb"},
		{"bad ldc", func() { Sgemm(false, false, 2, 4, 3, 1, a, 3, b, 4, 0, c, 3) }, "gemm: bad ldc"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				r := recover()
				if s, ok := r.(string); !ok || s != tt.msg {
					t.Errorf("panic %v, want %q", r, tt.msg)
				}
			}()
			tt.call()
		})
	}
	// Zero sizes with empty slices are fine.
	Sgemm(false, false, 0, 0, 0, 1, nil, 1, nil, 1, 0, nil, 1)
	Sgemm(true, true, 0, 5, 3, 1, nil, 1, make([]float32, 15), 3, 0, nil, 5)
}

// parallelShapes are products big enough to be split over goroutines.
var parallelShapes = []gemmCase{
	{m: 128, n: 128, k: 4608, alpha: 1, beta: 1},
	{transA: true, m: 4608, n: 128, k: 128, alpha: 1, beta: 1},
	{transB: true, m: 128, n: 4608, k: 128, alpha: 1, beta: 0},
	{transA: true, transB: true, m: 333, n: 517, k: 700, padA: 3, padB: 1, padC: 2, alpha: -0.5, beta: 0.25},
}

// TestSgemmDeterministic checks that the result is bit-identical whatever the
// number of goroutines: GOMAXPROCS 1 and 2 through Sgemm, and 1 to 7 blocks
// through parallel directly.
func TestSgemmDeterministic(t *testing.T) {
	rnd := rand.New(rand.NewPCG(5, 5))
	for _, tc := range parallelShapes {
		if tc.m*tc.n*tc.k < parMin {
			t.Fatalf("%v is below parMin", tc)
		}
		o := tc.operands(rnd)
		call := func() []float32 {
			c := append([]float32(nil), o.c...)
			Sgemm(tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, o.a, o.lda, o.b, o.ldb, tc.beta, c, o.ldc)
			return c
		}
		old := runtime.GOMAXPROCS(1)
		c1 := call()
		runtime.GOMAXPROCS(2)
		c2 := call()
		runtime.GOMAXPROCS(old)
		if !equalBits(c1, c2) {
			t.Errorf("%v: GOMAXPROCS 1 and 2 differ", tc)
		}
		for _, kern := range kernels() {
			var first []float32
			for workers := 1; workers <= 7; workers += 2 {
				c := append([]float32(nil), o.c...)
				pr := tc.problem(o, c, useTransC(kern, tc.transA, tc.transB, tc.m, tc.n))
				parallel(kern, &pr, workers)
				if first == nil {
					first = c
				} else if !equalBits(c, first) {
					t.Errorf("%v: %s with %d workers differs from 1 worker", tc, kern.name, workers)
				}
				if kern == active && !equalBits(c, c1) {
					t.Errorf("%v: %s with %d workers differs from Sgemm", tc, kern.name, workers)
				}
			}
		}
		tc.check(t, tc.String(), o, c1)
	}
}

// TestSgemmConcurrent runs different products from several goroutines at
// once (as the convolution layers do, one image per goroutine) and compares
// them with the same products run one at a time.
func TestSgemmConcurrent(t *testing.T) {
	rnd := rand.New(rand.NewPCG(6, 6))
	cases := []gemmCase{
		{m: 32, n: 576, k: 288, alpha: 1, beta: 1},
		{transB: true, m: 32, n: 288, k: 576, alpha: 1, beta: 1},
		{transA: true, m: 288, n: 576, k: 32, alpha: 1, beta: 0},
		{m: 128, n: 128, k: 4608, alpha: 1, beta: 1},
		{m: 32, n: 676, k: 9, alpha: 1, beta: 1},
		{transB: true, m: 128, n: 4608, k: 128, alpha: 1, beta: 0},
	}
	type call struct {
		tc   gemmCase
		o    operands
		want []float32
	}
	var calls []call
	for i := range 12 {
		tc := cases[i%len(cases)]
		o := tc.operands(rnd)
		want := append([]float32(nil), o.c...)
		Sgemm(tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, o.a, o.lda, o.b, o.ldb, tc.beta, want, o.ldc)
		calls = append(calls, call{tc, o, want})
	}
	var wg sync.WaitGroup
	errs := make([]string, len(calls))
	for i, cl := range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 3 {
				c := append([]float32(nil), cl.o.c...)
				tc := cl.tc
				Sgemm(tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, cl.o.a, cl.o.lda, cl.o.b, cl.o.ldb, tc.beta, c, cl.o.ldc)
				if !equalBits(c, cl.want) {
					errs[i] = fmt.Sprintf("%v: concurrent result differs", tc)
				}
			}
		}()
	}
	wg.Wait()
	if msg := strings.TrimSpace(strings.Join(errs, "\n")); msg != "" {
		t.Error(msg)
	}
}

// mallocs returns the heap allocations of n calls of f after 20 calls to
// warm up. The collector is off from the warm-up to the count: a collection
// (forced by the runtime after two idle minutes, or set off by another
// goroutine's allocations, both likelier on a loaded machine) empties
// sync.Pool, and the next Get would allocate a workspace that the code
// under test does not otherwise need. With it off, the pools keep what the
// warm-up put there, so the count is the code's own.
func mallocs(n int, f func()) uint64 {
	runtime.GC()
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	for range 20 {
		f()
	}
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	for range n {
		f()
	}
	runtime.ReadMemStats(&m1)
	return m1.Mallocs - m0.Mallocs
}

// TestSgemmAllocs checks that steady-state calls do not allocate. Calls on
// one goroutine run at GOMAXPROCS 1, where they must allocate nothing. A
// split call runs on several Ps, and sync.Pool keeps buffers per P, so a
// goroutine that finds none on its P may allocate now and then.
func TestSgemmAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items under the race detector")
	}
	rnd := rand.New(rand.NewPCG(7, 7))
	for _, tc := range []gemmCase{
		{m: 32, n: 576, k: 288, alpha: 1, beta: 1},
		{transB: true, m: 32, n: 288, k: 576, alpha: 1, beta: 1},
		{transA: true, transB: true, m: 37, n: 41, k: 43, alpha: 1, beta: 1},
		{transB: true, m: 128, n: 4608, k: 128, alpha: 1, beta: 0},
	} {
		o := tc.operands(rnd)
		c := append([]float32(nil), o.c...)
		if tc.m*tc.n*tc.k < parMin {
			old := runtime.GOMAXPROCS(1)
			n := mallocs(100, func() {
				Sgemm(tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, o.a, o.lda, o.b, o.ldb, tc.beta, c, o.ldc)
			})
			runtime.GOMAXPROCS(old)
			if n > 0 {
				t.Errorf("%v: %d allocations in 100 calls", tc, n)
			}
			continue
		}
		for _, workers := range []int{1, 2} {
			n := mallocs(100, func() {
				pr := tc.problem(o, c, useTransC(active, tc.transA, tc.transB, tc.m, tc.n))
				parallel(active, &pr, workers)
			})
			if n > 10 {
				t.Errorf("%v: %d allocations in 100 calls on %d goroutines", tc, n, workers)
			}
		}
	}
}

// benchShapes are the products of the MNIST CNN (batch 128, convolutions by
// im2col per image) and of the papers' MLP, named after the layer and pass.
var benchShapes = []struct {
	name string
	tc   gemmCase
}{
	{"conv2_fwd_NN_32x576x288", gemmCase{m: 32, n: 576, k: 288, alpha: 1, beta: 1}},
	{"conv2_dW_NT_32x288x576", gemmCase{transB: true, m: 32, n: 288, k: 576, alpha: 1, beta: 1}},
	{"conv2_dcol_TN_288x576x32", gemmCase{transA: true, m: 288, n: 576, k: 32, alpha: 1, beta: 0}},
	{"conv1_fwd_NN_32x676x9", gemmCase{m: 32, n: 676, k: 9, alpha: 1, beta: 1}},
	{"conv1_dW_NT_32x9x676", gemmCase{transB: true, m: 32, n: 9, k: 676, alpha: 1, beta: 1}},
	{"dense1_fwd_NN_128x128x4608", gemmCase{m: 128, n: 128, k: 4608, alpha: 1, beta: 1}},
	{"dense1_dW_TN_4608x128x128", gemmCase{transA: true, m: 4608, n: 128, k: 128, alpha: 1, beta: 1}},
	{"dense1_dx_NT_128x4608x128", gemmCase{transB: true, m: 128, n: 4608, k: 128, alpha: 1, beta: 0}},
	{"dense2_fwd_NN_128x10x128", gemmCase{m: 128, n: 10, k: 128, alpha: 1, beta: 1}},
	{"dense2_dW_TN_128x10x128", gemmCase{transA: true, m: 128, n: 10, k: 128, alpha: 1, beta: 1}},
	{"dense2_dx_NT_128x128x10", gemmCase{transB: true, m: 128, n: 128, k: 10, alpha: 1, beta: 0}},
	// The papers' MLPs (mlp-semi: 784-1200-1200-10) at batch 128.
	{"mlp1_fwd_NN_128x1200x784", gemmCase{m: 128, n: 1200, k: 784, alpha: 1, beta: 1}},
	{"mlp1_dW_TN_784x1200x128", gemmCase{transA: true, m: 784, n: 1200, k: 128, alpha: 1, beta: 1}},
	{"mlp2_fwd_NN_128x1200x1200", gemmCase{m: 128, n: 1200, k: 1200, alpha: 1, beta: 1}},
	{"mlp2_dW_TN_1200x1200x128", gemmCase{transA: true, m: 1200, n: 1200, k: 128, alpha: 1, beta: 1}},
	{"mlp2_dx_NT_128x1200x1200", gemmCase{transB: true, m: 128, n: 1200, k: 1200, alpha: 1, beta: 0}},
}

// benchGemm times f on tc and reports GFLOP/s (2·m·n·k per call).
func benchGemm(b *testing.B, tc gemmCase, f func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int)) {
	o := tc.operands(rand.New(rand.NewPCG(8, 8)))
	for i, v := range o.c {
		if math.IsNaN(float64(v)) {
			o.c[i] = 0
		}
	}
	b.ResetTimer()
	for b.Loop() {
		f(tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, o.a, o.lda, o.b, o.ldb, tc.beta, o.c, o.ldc)
	}
	b.ReportMetric(2*float64(tc.m*tc.n*tc.k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

// BenchmarkSgemm times Sgemm on the model's shapes; run with -cpu 1,2 to see
// the single-goroutine and the parallel speed.
func BenchmarkSgemm(b *testing.B) {
	for _, s := range benchShapes {
		b.Run(s.name, func(b *testing.B) { benchGemm(b, s.tc, Sgemm) })
	}
}

// BenchmarkSgemmKernel times every kernel this machine runs, and the
// reference loop, on the model's shapes.
func BenchmarkSgemmKernel(b *testing.B) {
	for _, kern := range kernels() {
		for _, s := range benchShapes {
			b.Run(kern.name+"/"+s.name, func(b *testing.B) {
				benchGemm(b, s.tc, func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, bb []float32, ldb int, beta float32, c []float32, ldc int) {
					sgemmWith(kern, transA, transB, m, n, k, alpha, a, lda, bb, ldb, beta, c, ldc)
				})
			})
		}
	}
	for _, s := range benchShapes {
		b.Run("ref/"+s.name, func(b *testing.B) { benchGemm(b, s.tc, sgemmRef) })
	}
}
