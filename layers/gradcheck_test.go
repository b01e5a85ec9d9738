package layers

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/vatgpu/vatgpu/layers/gemm"
)

// Finite-difference gradient checks of the CPU backend. Each op's forward
// is re-implemented naively in float64 here; the backend's forward is
// compared with it, and the backend's backward with central differences of
// the float64 forward (step 1e-4; truncation error O(h²) ≈ 1e-8, so the
// tolerance is set by float32 arithmetic in the backend).

func randSlice(r *rand.Rand, n int, scale float64) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.NormFloat64() * scale)
	}
	return v
}

func to64(v []float32) []float64 {
	o := make([]float64, len(v))
	for i, x := range v {
		o[i] = float64(x)
	}
	return o
}

func dot64(a []float64, b []float32) float64 {
	var s float64
	for i := range a {
		s += a[i] * float64(b[i])
	}
	return s
}

// fdCheck compares grad (the backend's ∂L/∂v) with central differences of
// L at v, over every coordinate of v.
func fdCheck(t *testing.T, name string, v []float32, grad []float32, L func([]float64) float64, tol float64) {
	t.Helper()
	const h = 1e-4
	x := to64(v)
	var worst, scale float64
	for i := range x {
		old := x[i]
		x[i] = old + h
		lp := L(x)
		x[i] = old - h
		lm := L(x)
		x[i] = old
		fd := (lp - lm) / (2 * h)
		worst = math.Max(worst, math.Abs(fd-float64(grad[i])))
		scale = math.Max(scale, math.Abs(fd))
	}
	if worst > tol*math.Max(scale, 1) {
		t.Errorf("%s: max |fd - analytic| = %.3g (max |grad| %.3g), tolerance %.3g", name, worst, scale, tol)
	}
}

func checkClose(t *testing.T, name string, got []float32, want []float64, tol float64) {
	t.Helper()
	var worst float64
	for i := range want {
		worst = math.Max(worst, math.Abs(float64(got[i])-want[i])/math.Max(1, math.Abs(want[i])))
	}
	if worst > tol {
		t.Errorf("%s: max error %.3g, tolerance %.3g", name, worst, tol)
	}
}

func buf(c *CPU, v []float32) Buf {
	b := c.Alloc(len(v))
	c.Upload(b, v)
	return b
}

func TestConvGradients(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	c := NewCPU(2)
	// The first two read the patches in place (C·R·S > K), the third copies
	// them out (im2col): see ConvForward.
	for _, s := range []ConvShape{{N: 2, C: 1, H: 6, W: 5, K: 3, R: 3, S: 3}, {N: 5, C: 3, H: 5, W: 6, K: 2, R: 3, S: 2}, {N: 2, C: 1, H: 5, W: 6, K: 9, R: 3, S: 3}} {
		t.Run(fmt.Sprint(s), func(t *testing.T) {
			x, w, b := randSlice(r, s.InLen(), 1), randSlice(r, s.WLen(), 1), randSlice(r, s.K, 1)
			g := randSlice(r, s.OutLen(), 1)
			y := c.Alloc(s.OutLen())
			c.ConvForward(y, buf(c, x), buf(c, w), buf(c, b), s)
			checkClose(t, "forward", Floats(y), Conv64(to64(x), to64(w), to64(b), s), 1e-5)
			dx, dw, db := c.Alloc(s.InLen()), c.Alloc(s.WLen()), c.Alloc(s.K)
			c.ConvBackward(dx, dw, db, buf(c, g), buf(c, x), buf(c, w), s)
			fdCheck(t, "dx", x, Floats(dx), func(v []float64) float64 { return dot64(Conv64(v, to64(w), to64(b), s), g) }, 1e-5)
			fdCheck(t, "dw", w, Floats(dw), func(v []float64) float64 { return dot64(Conv64(to64(x), v, to64(b), s), g) }, 1e-5)
			fdCheck(t, "db", b, Floats(db), func(v []float64) float64 { return dot64(Conv64(to64(x), to64(w), v, s), g) }, 1e-5)
		})
	}
}

// TestConvForwardBits checks that both ways ConvForward computes (patches
// read in place, or copied out) give the bits of the im2col product: bias
// filled, then gemm.Sgemm on the patch matrix.
func TestConvForwardBits(t *testing.T) {
	if !gemm.RowsBInPlace() {
		t.Skip("no row-offset kernel here: every convolution takes the im2col path")
	}
	r := rand.New(rand.NewPCG(1, 4))
	c := NewCPU(2)
	for _, s := range []ConvShape{{N: 3, C: 32, H: 26, W: 26, K: 32, R: 3, S: 3}, {N: 3, C: 1, H: 28, W: 28, K: 32, R: 3, S: 3}, {N: 2, C: 3, H: 7, W: 9, K: 5, R: 2, S: 3}} {
		x, w, b := randSlice(r, s.InLen(), 1), randSlice(r, s.WLen(), 1), randSlice(r, s.K, 1)
		y := c.Alloc(s.OutLen())
		c.ConvForward(y, buf(c, x), buf(c, w), buf(c, b), s)
		crs, ohw, in := s.C*s.R*s.S, s.OH()*s.OW(), s.C*s.H*s.W
		col, want := make([]float32, crs*ohw), make([]float32, s.OutLen())
		for i := 0; i < s.N; i++ {
			im2col(col, x[i*in:], s)
			yi := want[i*s.K*ohw : (i+1)*s.K*ohw]
			gemm.FillRows(s.K, ohw, b, yi, ohw)
			gemm.Sgemm(false, false, s.K, ohw, crs, 1, w, crs, col, ohw, 1, yi, ohw)
		}
		for i, v := range Floats(y)[:s.OutLen()] {
			if math.Float32bits(v) != math.Float32bits(want[i]) {
				t.Fatalf("%+v: element %d = %v, want %v", s, i, v, want[i])
			}
		}
	}
}

func TestDenseGradients(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	c := NewCPU(2)
	n, in, out := 3, 7, 4
	x, w, b, g := randSlice(r, n*in, 1), randSlice(r, in*out, 1), randSlice(r, out, 1), randSlice(r, n*out, 1)
	y := c.Alloc(n * out)
	c.DenseForward(y, buf(c, x), buf(c, w), buf(c, b), n, in, out)
	checkClose(t, "forward", Floats(y), Dense64(to64(x), to64(w), to64(b), n, in, out), 1e-5)
	dx, dw, db := c.Alloc(n*in), c.Alloc(in*out), c.Alloc(out)
	c.DenseBackward(dx, dw, db, buf(c, g), buf(c, x), buf(c, w), n, in, out)
	fdCheck(t, "dx", x, Floats(dx), func(v []float64) float64 { return dot64(Dense64(v, to64(w), to64(b), n, in, out), g) }, 1e-5)
	fdCheck(t, "dw", w, Floats(dw), func(v []float64) float64 { return dot64(Dense64(to64(x), v, to64(b), n, in, out), g) }, 1e-5)
	fdCheck(t, "db", b, Floats(db), func(v []float64) float64 { return dot64(Dense64(to64(x), to64(w), v, n, in, out), g) }, 1e-5)
}

func TestPoolAndReLUGradients(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 3))
	c := NewCPU(2)
	s := PoolShape{N: 2, C: 3, H: 4, W: 6}
	x, g := randSlice(r, s.InLen(), 1), randSlice(r, s.OutLen(), 1)
	y := c.Alloc(s.OutLen())
	c.MaxPoolForward(y, buf(c, x), s)
	checkClose(t, "pool forward", Floats(y), Pool64(to64(x), s), 0)
	dx := c.Alloc(s.InLen())
	c.MaxPoolBackward(dx, buf(c, g), buf(c, x), y, s)
	fdCheck(t, "pool dx", x, Floats(dx), func(v []float64) float64 { return dot64(Pool64(v, s), g) }, 1e-5)

	n := 50
	x, g = randSlice(r, n, 1), randSlice(r, n, 1)
	ry, rdx := c.Alloc(n), c.Alloc(n)
	c.ReLUForward(ry, buf(c, x), n)
	c.ReLUBackward(rdx, buf(c, g), ry, n)
	relu := func(v []float64) float64 {
		var s float64
		for i := range v {
			s += math.Max(v[i], 0) * float64(g[i])
		}
		return s
	}
	fdCheck(t, "relu dx", x, Floats(rdx), relu, 1e-5)
}

func TestDropout(t *testing.T) {
	c := NewCPU(2)
	n := 4001
	ones := make([]float32, n)
	for i := range ones {
		ones[i] = 1
	}
	rnd := Rand{Seed: 9, Tensor: TensorDropout}
	c.SetStep(3)
	y, dx := c.Alloc(n), c.Alloc(n)
	c.DropoutForward(y, buf(c, ones), n, 0.25, rnd)
	c.DropoutBackward(dx, buf(c, ones), n, 0.25, rnd)
	kept := 0
	for i, v := range Floats(y) {
		if v != 0 && v != 1/0.75 {
			t.Fatalf("y[%d] = %v", i, v)
		}
		if Floats(dx)[i] != v {
			t.Fatalf("backward mask differs from forward at %d", i)
		}
		if v != 0 {
			kept++
		}
	}
	// Binomial(4001, 0.75): sd ≈ 27.
	if f := float64(kept) / float64(n); math.Abs(f-0.75) > 0.03 {
		t.Errorf("kept fraction %v", f)
	}
	c.SetStep(4)
	y2 := c.Alloc(n)
	c.DropoutForward(y2, buf(c, ones), n, 0.25, rnd)
	same := 0
	for i := range Floats(y) {
		if Floats(y)[i] == Floats(y2)[i] {
			same++
		}
	}
	if same == n {
		t.Error("the mask does not change with the step")
	}
}

func TestLossGradients(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 4))
	c := NewCPU(2)
	n, k := 4, 10
	logits, lq := randSlice(r, n*k, 2), randSlice(r, n*k, 2)
	labels := []int32{3, 0, 9, 5}
	lb := c.AllocInt(n)
	c.UploadInt(lb, labels)
	loss, dl := c.Alloc(n), c.Alloc(n*k)
	const scale = 0.25
	c.SoftmaxXent(loss, dl, buf(c, logits), lb, n, k, scale)
	xent := func(v []float64) float64 {
		var s float64
		for i := 0; i < n; i++ {
			s -= LogSoftmax64(v[i*k : (i+1)*k])[labels[i]]
		}
		return s * scale
	}
	var want float64
	for _, v := range Floats(loss) {
		want += float64(v)
	}
	if got := xent(to64(logits)) / scale; math.Abs(got-want) > 1e-5*got {
		t.Errorf("xent loss %v, want %v", want, got)
	}
	fdCheck(t, "xent dlogits", logits, Floats(dl), xent, 1e-5)

	kl, dq := c.Alloc(n), c.Alloc(n*k)
	c.KLDiv(kl, dq, buf(c, logits), buf(c, lq), n, k, scale)
	kl64 := func(v []float64) float64 {
		var s float64
		for i := 0; i < n; i++ {
			lp, lqq := LogSoftmax64(to64(logits[i*k:(i+1)*k])), LogSoftmax64(v[i*k:(i+1)*k])
			for j := range lp {
				s += math.Exp(lp[j]) * (lp[j] - lqq[j])
			}
		}
		return s * scale
	}
	var sum float64
	for _, v := range Floats(kl) {
		sum += float64(v)
	}
	if want := kl64(to64(lq)) / scale; math.Abs(sum-want) > 1e-5*math.Max(want, 1) {
		t.Errorf("kl %v, want %v", sum, want)
	}
	fdCheck(t, "kl dlogitsQ", lq, Floats(dq), kl64, 1e-5)
}

func TestEntropyGradient(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 8))
	c := NewCPU(2)
	n, k := 5, 10
	logits := randSlice(r, n*k, 2)
	h, dl := c.Alloc(n), c.Alloc(n*k)
	const scale = 0.5
	c.Entropy(h, dl, buf(c, logits), n, k, scale)
	ent := func(v []float64) float64 {
		var s float64
		for i := 0; i < n; i++ {
			for _, l := range LogSoftmax64(v[i*k : (i+1)*k]) {
				s -= math.Exp(l) * l
			}
		}
		return s * scale
	}
	var sum float64
	for _, v := range Floats(h) {
		sum += float64(v)
	}
	if want := ent(to64(logits)) / scale; math.Abs(sum-want) > 1e-5*want {
		t.Errorf("entropy %v, want %v", sum, want)
	}
	fdCheck(t, "entropy dlogits", logits, Floats(dl), ent, 1e-5)
}

// TestAdam checks three Adam steps against the formula in float64.
func TestAdam(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 9))
	c := NewCPU(2)
	const n = 100
	p0 := randSlice(r, n, 1)
	p, m, v := buf(c, p0), c.Alloc(n), c.Alloc(n)
	want, wm, wv := to64(p0), make([]float64, n), make([]float64, n)
	const lr, b1, b2, eps = 0.002, 0.9, 0.999, 1e-8
	for step := uint64(0); step < 3; step++ {
		g := randSlice(r, n, 1)
		c.SetStep(step)
		c.Adam(p, buf(c, g), m, v, lr, b1, b2, eps)
		tt := float64(step + 1)
		for i := range want {
			wm[i] = b1*wm[i] + (1-b1)*float64(g[i])
			wv[i] = b2*wv[i] + (1-b2)*float64(g[i])*float64(g[i])
			want[i] -= lr * math.Sqrt(1-math.Pow(b2, tt)) / (1 - math.Pow(b1, tt)) * wm[i] / (math.Sqrt(wv[i]) + eps)
		}
	}
	checkClose(t, "adam params", Floats(p), want, 1e-6)
}

// TestAdadelta checks three Adadelta steps against Keras 1.2.2's update in
// float64 (keras/optimizers.py, Adadelta.get_updates):
//
//	new_a  = rho*a + (1-rho)*g²
//	update = g*sqrt(d_a + eps)/sqrt(new_a + eps)
//	p      = p - lr*update
//	d_a    = rho*d_a + (1-rho)*update²
func TestAdadelta(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 10))
	c := NewCPU(2)
	const n = 100
	p0 := randSlice(r, n, 1)
	p, a, d := buf(c, p0), c.Alloc(n), c.Alloc(n)
	want, wa, wd := to64(p0), make([]float64, n), make([]float64, n)
	const lr, rho, eps = 1.0, 0.95, 1e-8
	for step := 0; step < 3; step++ {
		g := randSlice(r, n, 1)
		c.Adadelta(p, buf(c, g), a, d, lr, rho, eps)
		for i := range want {
			gi := float64(g[i])
			wa[i] = rho*wa[i] + (1-rho)*gi*gi
			u := gi * math.Sqrt(wd[i]+eps) / math.Sqrt(wa[i]+eps)
			want[i] -= lr * u
			wd[i] = rho*wd[i] + (1-rho)*u*u
		}
	}
	checkClose(t, "adadelta params", Floats(p), want, 1e-6)
	checkClose(t, "adadelta accumulated g²", Floats(a), wa, 1e-6)
	checkClose(t, "adadelta accumulated update²", Floats(d), wd, 1e-6)
}

func TestPerturbGradients(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 5))
	c := NewCPU(2)
	n, dim := 3, 11
	x, d, g := randSlice(r, n*dim, 1), randSlice(r, n*dim, 1), randSlice(r, n*dim, 1)
	const scale = 2.5
	norm64 := func(v []float64, norm Norm) []float64 {
		o := make([]float64, len(v))
		for i := 0; i < n; i++ {
			row := v[i*dim : (i+1)*dim]
			var f float64
			switch norm {
			case NormL2:
				var s float64
				for _, e := range row {
					s += e * e
				}
				f = 1 / (math.Sqrt(s) + 1e-7)
			case NormMaxAbsL2:
				var m, s float64
				for _, e := range row {
					m = math.Max(m, math.Abs(e))
				}
				for _, e := range row {
					s += (e / (1e-12 + m)) * (e / (1e-12 + m))
				}
				f = 1 / (1e-12 + m) / math.Sqrt(1e-6+s)
			}
			for j, e := range row {
				o[i*dim+j] = float64(x[i*dim+j]) + scale*f*e
			}
		}
		return o
	}
	for _, norm := range []Norm{NormL2, NormMaxAbsL2} {
		xr := c.Alloc(n * dim)
		c.Perturb(xr, buf(c, x), buf(c, d), n, dim, scale, norm)
		checkClose(t, norm.String()+" perturb", Floats(xr), norm64(to64(d), norm), 1e-6)
	}
	dd := c.Alloc(n * dim)
	c.PerturbBackward(dd, buf(c, g), buf(c, d), n, dim, scale, NormL2)
	fdCheck(t, "l2 perturb dd", d, Floats(dd), func(v []float64) float64 { return dot64(norm64(v, NormL2), g) }, 1e-5)
	c.PerturbBackward(dd, buf(c, g), buf(c, d), n, dim, scale, NormMaxAbsL2)
	checkClose(t, "maxabs-l2 perturb backward is the gradient wrt r", Floats(dd), to64(g), 0)
}

// TestModelGradients checks the whole model's backward (every parameter
// tensor and the input) against central differences of its float64
// forward, on two images, dropout off.
func TestModelGradients(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 6))
	c := NewCPU(2)
	const n = 2
	params := InitParams(5)
	// Non-zero biases so that the check covers them.
	for _, p := range Params() {
		if p.FanIn == 0 {
			copy(params[p.Off:p.Off+p.Len], randSlice(r, p.Len, 0.05))
		}
	}
	x := make([]float32, n*ImageLen)
	for i := range x {
		x[i] = r.Float32()
	}
	labels := []int32{7, 2}
	m := NewModel(c, n, false, 5, params)
	xb, lb := buf(c, x), c.AllocInt(n)
	c.UploadInt(lb, labels)
	logits := m.Forward(xb, n, true, 0)
	loss := c.Alloc(n)
	c.SoftmaxXent(loss, m.DLogits(), logits, lb, n, Classes, 1.0/n)
	dx := c.Alloc(n * ImageLen)
	m.Backward(m.DLogits(), xb, n, 0, true, dx)

	ps := Params()
	forward := func(p, xin []float64) float64 {
		y := Forward64(p, xin, n)
		var s float64
		for i := 0; i < n; i++ {
			s -= LogSoftmax64(y[i*Classes : (i+1)*Classes])[labels[i]]
		}
		return s / n
	}
	p64, x64 := to64(params), to64(x)
	var sum float64
	for _, v := range Floats(loss) {
		sum += float64(v)
	}
	if want := forward(p64, x64); math.Abs(sum/n-want) > 1e-5 {
		t.Fatalf("loss %v, float64 forward %v", sum/n, want)
	}
	grads := Floats(m.Grads)
	// A sample of coordinates of every tensor: the full model has 600k.
	// A small step: float64 makes it exact enough, and a larger one (1e-3)
	// crosses ReLU and max-pool kinks of the 600k-parameter model.
	const h = 1e-6
	for _, p := range ps {
		for k := 0; k < 12; k++ {
			i := p.Off + r.IntN(p.Len)
			old := p64[i]
			p64[i] = old + h
			lp := forward(p64, x64)
			p64[i] = old - h
			lm := forward(p64, x64)
			p64[i] = old
			fd := (lp - lm) / (2 * h)
			if math.Abs(fd-float64(grads[i])) > 1e-4+1e-3*math.Abs(fd) {
				t.Errorf("%s[%d]: analytic %g, central difference %g", p.Name, i-p.Off, grads[i], fd)
			}
		}
	}
	for k := 0; k < 20; k++ {
		i := r.IntN(len(x64))
		old := x64[i]
		x64[i] = old + h
		lp := forward(p64, x64)
		x64[i] = old - h
		lm := forward(p64, x64)
		x64[i] = old
		fd := (lp - lm) / (2 * h)
		if g := Floats(dx)[i]; math.Abs(fd-float64(g)) > 1e-4+1e-3*math.Abs(fd) {
			t.Errorf("x[%d]: analytic %g, central difference %g", i, g, fd)
		}
	}
}

// TestAccumulationRule checks the rule every backend keeps: parameter
// gradients accumulate over backward passes, activations and input
// gradients are assigned.
func TestAccumulationRule(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 7))
	c := NewCPU(2)
	const n = 3
	m := NewModel(c, n, true, 5, InitParams(5))
	x := buf(c, randSlice(r, n*ImageLen, 1))
	dl := buf(c, randSlice(r, n*Classes, 1))
	dx := c.Alloc(n * ImageLen)
	m.Forward(x, n, true, 0)
	m.Backward(dl, x, n, 0, true, dx)
	g1 := append([]float32(nil), Floats(m.Grads)...)
	dx1 := append([]float32(nil), Floats(dx)...)
	m.Forward(x, n, true, 0)
	m.Backward(dl, x, n, 0, true, dx)
	for i, v := range Floats(m.Grads) {
		if math.Abs(float64(v-2*g1[i])) > 1e-5*math.Max(1, math.Abs(float64(v))) {
			t.Fatalf("gradient %d: %v after two passes, %v after one", i, v, g1[i])
		}
	}
	for i, v := range Floats(dx) {
		if v != dx1[i] {
			t.Fatalf("input gradient %d changed: %v then %v", i, dx1[i], v)
		}
	}
}

// TestReLUBackwardSpecialValues checks the branch-free ReLU backward on
// the values where a bit trick could go wrong.
func TestReLUBackwardSpecialValues(t *testing.T) {
	c := NewCPU(1)
	inf, nan := float32(math.Inf(1)), float32(math.NaN())
	y := []float32{0, float32(math.Copysign(0, -1)), 1e-45, 1, inf, -inf, nan, -nan, -1, 3.4e38, -1e-45}
	dy := make([]float32, len(y))
	for i := range dy {
		dy[i] = float32(i + 1)
	}
	dx := c.Alloc(len(y))
	c.ReLUBackward(dx, buf(c, dy), buf(c, y), len(y))
	for i, v := range Floats(dx) {
		want := float32(0)
		if y[i] > 0 {
			want = dy[i]
		}
		if math.Float32bits(v) != math.Float32bits(want) {
			t.Errorf("y=%v: dx %v, want %v", y[i], v, want)
		}
	}
}

// TestSumRows: sumRows gives the one-row-at-a-time loop's sums bit for bit
// (each row summed from zero in index order, then added), for row counts
// with and without a remainder of eight, on values whose sums depend on the
// order of the additions.
func TestSumRows(t *testing.T) {
	for _, rows := range []int{1, 7, 8, 9, 32, 35} {
		n := 577
		src := make([]float32, rows*n)
		r := Rand{Seed: uint64(rows), Tensor: 99}
		r.Normal(src, 0)
		for i := range src {
			src[i] *= float32(1 + i%13*1000) // magnitudes apart, so order shows
		}
		want := make([]float32, rows)
		got := make([]float32, rows)
		for k := range want {
			want[k] = 1000.37 * float32(k+1) / 3 // a partial sum, not a round number
			got[k] = want[k]
			var s float32
			for _, v := range src[k*n : (k+1)*n] {
				s += v
			}
			want[k] += s
		}
		sumRows(got, src, rows, n)
		for k := range want {
			if math.Float32bits(got[k]) != math.Float32bits(want[k]) {
				t.Errorf("rows %d: row %d: got %v, want %v", rows, k, got[k], want[k])
			}
		}
	}
}
