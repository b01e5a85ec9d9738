package layers

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// Batch normalisation and Gaussian noise: forward against the float64
// reference, backward against central differences of it (fdCheck, as the
// other ops in gradcheck_test.go), the running averages against their
// formulas, and the network with them as a whole.

func TestBatchNormGradients(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 11))
	c := NewCPU(2)
	for _, sz := range [][2]int{{5, 7}, {40, 70}} { // the second spans two column chunks (bnChunk)
		n, k := sz[0], sz[1]
		t.Run(fmt.Sprintf("%dx%d", n, k), func(t *testing.T) {
			x := randSlice(r, n*k, 2)
			for i := range x {
				x[i] += 0.5 // a mean away from zero
			}
			gamma, beta, g := randSlice(r, k, 1), randSlice(r, k, 1), randSlice(r, n*k, 1)
			run0Mean, run0Var := randSlice(r, k, 1), randSlice(r, k, 1)
			for i := range run0Var {
				run0Var[i] = run0Var[i]*run0Var[i] + 0.1
			}
			const eps = 1e-6
			xb, gb, bb, gg := buf(c, x), buf(c, gamma), buf(c, beta), buf(c, g)
			y, mean, rstd := c.Alloc(n*k), c.Alloc(k), c.Alloc(k)
			bn64 := func(v, gm, bt []float64) []float64 { return BatchNorm64(v, gm, bt, n, k, eps) }

			// Batch statistics, running averages untouched.
			rm, rv := buf(c, run0Mean), buf(c, run0Var)
			c.BatchNormForward(y, xb, gb, bb, mean, rstd, rm, rv, n, k, eps, 0.9, BNBatch)
			checkClose(t, "batch forward", Floats(y), bn64(to64(x), to64(gamma), to64(beta)), 1e-5)
			checkClose(t, "BNBatch leaves the running mean", Floats(rm), to64(run0Mean), 0)
			checkClose(t, "BNBatch leaves the running variance", Floats(rv), to64(run0Var), 0)
			dg0, db0 := randSlice(r, k, 1), randSlice(r, k, 1)
			dx, dgam, dbet := c.Alloc(n*k), buf(c, dg0), buf(c, db0)
			c.BatchNormBackward(dx, dgam, dbet, gg, xb, gb, mean, rstd, n, k, true)
			for i := range dg0 { // backward accumulates onto the parameter gradients
				Floats(dgam)[i] -= dg0[i]
				Floats(dbet)[i] -= db0[i]
			}
			fdCheck(t, "batch dx", x, Floats(dx), func(v []float64) float64 { return dot64(bn64(v, to64(gamma), to64(beta)), g) }, 1e-5)
			fdCheck(t, "batch dgamma", gamma, Floats(dgam), func(v []float64) float64 { return dot64(bn64(to64(x), v, to64(beta)), g) }, 1e-5)
			fdCheck(t, "batch dbeta", beta, Floats(dbet), func(v []float64) float64 { return dot64(bn64(to64(x), to64(gamma), v), g) }, 1e-5)
			dx2 := buf(c, g) // dx may be dy
			c.BatchNormBackward(dx2, nil, nil, dx2, xb, gb, mean, rstd, n, k, true)
			checkClose(t, "batch dx in place", Floats(dx2), to64(Floats(dx)), 0)

			// Batch statistics, running averages moved (ratio 0.9, the
			// unbiased variance).
			c.BatchNormForward(y, xb, gb, bb, mean, rstd, rm, rv, n, k, eps, 0.9, BNBatchUpdate)
			checkClose(t, "update forward", Floats(y), bn64(to64(x), to64(gamma), to64(beta)), 1e-5)
			wm, wv := make([]float64, k), make([]float64, k)
			for j := 0; j < k; j++ {
				var s, q float64
				for i := 0; i < n; i++ {
					s += float64(x[i*k+j])
				}
				s /= float64(n)
				for i := 0; i < n; i++ {
					d := float64(x[i*k+j]) - s
					q += d * d
				}
				wm[j] = 0.9*float64(run0Mean[j]) + 0.1*s
				wv[j] = 0.9*float64(run0Var[j]) + 0.1*q/float64(n-1)
			}
			checkClose(t, "running mean", Floats(rm), wm, 1e-6)
			checkClose(t, "running variance", Floats(rv), wv, 1e-6)

			// Running statistics: the statistics are constants.
			run64 := func(v, gm, bt []float64) []float64 {
				return BatchNormRunning64(v, gm, bt, to64(Floats(rm)), to64(Floats(rv)), n, k, eps)
			}
			c.BatchNormForward(y, xb, gb, bb, mean, rstd, rm, rv, n, k, eps, 0.9, BNRunning)
			checkClose(t, "running forward", Floats(y), run64(to64(x), to64(gamma), to64(beta)), 1e-5)
			dgam, dbet = c.Alloc(k), c.Alloc(k)
			c.BatchNormBackward(dx, dgam, dbet, gg, xb, gb, mean, rstd, n, k, false)
			fdCheck(t, "running dx", x, Floats(dx), func(v []float64) float64 { return dot64(run64(v, to64(gamma), to64(beta)), g) }, 1e-5)
			fdCheck(t, "running dgamma", gamma, Floats(dgam), func(v []float64) float64 { return dot64(run64(to64(x), v, to64(beta)), g) }, 1e-5)
			fdCheck(t, "running dbeta", beta, Floats(dbet), func(v []float64) float64 { return dot64(run64(to64(x), to64(gamma), v), g) }, 1e-5)
		})
	}
}

// TestBatchNormOneRow: a batch of one has variance 0 (rstd 1/sqrt(eps),
// xhat 0) and moves the running variance towards 0, not infinity.
func TestBatchNormOneRow(t *testing.T) {
	c := NewCPU(1)
	y, mean, rstd := c.Alloc(3), c.Alloc(3), c.Alloc(3)
	rm, rv := buf(c, []float32{1, 1, 1}), buf(c, []float32{1, 1, 1})
	c.BatchNormForward(y, buf(c, []float32{2, -3, 0}), buf(c, []float32{1, 1, 1}), buf(c, []float32{0.5, 0.5, 0.5}), mean, rstd, rm, rv, 1, 3, 1e-6, 0.5, BNBatchUpdate)
	checkClose(t, "y", Floats(y), []float64{0.5, 0.5, 0.5}, 0)
	checkClose(t, "running mean", Floats(rm), []float64{1.5, -1, 0.5}, 0)
	checkClose(t, "running variance", Floats(rv), []float64{0.5, 0.5, 0.5}, 0)
}

func TestAddNoise(t *testing.T) {
	c := NewCPU(2)
	const n = 10001
	r := Rand{Seed: 9, Tensor: TensorNoise + 16 + 1}
	x := randSlice(rand.New(rand.NewPCG(1, 12)), n, 1)
	c.SetStep(7)
	y := c.Alloc(n)
	c.AddNoise(y, buf(c, x), n, 0.5, r)
	z := make([]float32, n)
	r.Normal(z, 7)
	var mean, sq float64
	for i, v := range Floats(y) {
		if want := x[i] + float32(0.5*z[i]); v != want {
			t.Fatalf("y[%d] = %v, want %v", i, v, want)
		}
		d := float64(v - x[i])
		mean, sq = mean+d/n, sq+d*d/n
	}
	// 0.5·N(0, 1): mean 0 (sd 0.005), variance 0.25 (sd 0.0035).
	if math.Abs(mean) > 0.025 || math.Abs(sq-0.25) > 0.02 {
		t.Errorf("noise mean %v, mean square %v; want 0, 0.25", mean, sq)
	}
	xb := buf(c, x) // y may be x
	c.AddNoise(xb, xb, n, 0.5, r)
	checkClose(t, "in place", Floats(xb), to64(Floats(y)), 0)
	c.SetStep(8)
	c.AddNoise(xb, buf(c, x), n, 0.5, r)
	if Floats(xb)[0] == Floats(y)[0] && Floats(xb)[1] == Floats(y)[1] {
		t.Error("the noise does not change with the step")
	}
}

// testMLP is a small network of the papers' kind for the whole-network
// checks: every layer kind of the MLPs, noise included.
var testMLP = MLP("test-mlp", "", []int{ImageLen, 12, 8, Classes}, 0.5)

// netGradCheck checks a network's backward (a sample of every parameter
// tensor's coordinates, and of the input's) against central differences of
// NetForward64 on n images: in a training pass (batch statistics, the
// noise the model drew) or, with train false, in evaluation.
func netGradCheck(t *testing.T, net *Net, n, samples int, train bool) {
	r := rand.New(rand.NewPCG(1, 13))
	c := NewCPU(2)
	params := net.InitParams(5)
	// Non-zero shifts, scales off 1 and running statistics off their
	// start, so that the check covers them.
	for _, p := range net.Params() {
		v := params[p.Off : p.Off+p.Len]
		switch {
		case p.Stat && p.Fill == 1:
			for i := range v {
				v[i] = 0.5 + r.Float32()
			}
		case p.FanIn == 0:
			for i, e := range randSlice(r, p.Len, 0.1) {
				v[i] += e
			}
		}
	}
	x := make([]float32, n*ImageLen)
	for i := range x {
		x[i] = r.Float32()
	}
	labels := make([]int32, n)
	for i := range labels {
		labels[i] = int32(r.IntN(Classes))
	}
	m := NewNet(net, c, n, false, 5, params)
	xb, lb := buf(c, x), c.AllocInt(n)
	c.UploadInt(lb, labels)
	const pass, step = 3, 11
	c.SetStep(step)
	logits := m.Forward(xb, n, train, pass)
	loss := c.Alloc(n)
	c.SoftmaxXent(loss, m.DLogits(), logits, lb, n, Classes, 1/float32(n))
	dx := c.Alloc(n * ImageLen)
	m.Backward(m.DLogits(), xb, n, pass, true, dx)

	// The noise the model drew, as the reference adds it.
	var noise [][]float64
	if train {
		shapes := net.Shapes()
		k := 0
		for i, l := range net.Layers {
			if l.Kind != Noise {
				continue
			}
			z := make([]float32, n*shapes[i].Len())
			m.noiseRand(pass, k).Normal(z, step)
			nz := make([]float64, len(z))
			for j, v := range z {
				nz[j] = float64(l.Std * v)
			}
			noise, k = append(noise, nz), k+1
		}
	}
	forward := func(p, xin []float64) float64 {
		y := NetForward64(net, p, xin, n, train, noise)
		var s float64
		for i := 0; i < n; i++ {
			s -= LogSoftmax64(y[i*Classes : (i+1)*Classes])[labels[i]]
		}
		return s / float64(n)
	}
	p64, x64 := to64(params), to64(x)
	var sum float64
	for _, v := range Floats(loss) {
		sum += float64(v)
	}
	if want := forward(p64, x64); math.Abs(sum/float64(n)-want) > 1e-5 {
		t.Fatalf("loss %v, float64 forward %v", sum/float64(n), want)
	}
	grads := Floats(m.Grads)
	const h = 1e-6
	check := func(what string, v []float64, i int, analytic float32) {
		old := v[i]
		v[i] = old + h
		lp := forward(p64, x64)
		v[i] = old - h
		lm := forward(p64, x64)
		v[i] = old
		fd := (lp - lm) / (2 * h)
		if math.Abs(fd-float64(analytic)) > 1e-4+1e-3*math.Abs(fd) {
			t.Errorf("%s: analytic %g, central difference %g", what, analytic, fd)
		}
	}
	for _, p := range net.Params() {
		for k := 0; k < samples; k++ {
			i := p.Off + r.IntN(p.Len)
			if p.Stat {
				if grads[i] != 0 {
					t.Errorf("%s[%d]: gradient %v of a running statistic", p.Name, i-p.Off, grads[i])
				}
				continue
			}
			check(fmt.Sprintf("%s[%d]", p.Name, i-p.Off), p64, i, grads[i])
		}
	}
	for k := 0; k < 2*samples; k++ {
		i := r.IntN(len(x64))
		check(fmt.Sprintf("x[%d]", i), x64, i, Floats(dx)[i])
	}
}

// TestNetGradients checks the papers' kind of network as a whole: the
// small test network fully, in a training pass and in evaluation; the
// TPAMI network (noise, five layers of batch normalisation) on a sample.
func TestNetGradients(t *testing.T) {
	t.Run("test-mlp/train", func(t *testing.T) { netGradCheck(t, testMLP, 6, 40, true) })
	t.Run("test-mlp/eval", func(t *testing.T) { netGradCheck(t, testMLP, 6, 40, false) })
	if testing.Short() {
		t.Skip("the TPAMI network in float64 (seconds); skipped in -short mode")
	}
	t.Run("mlp-tpami/train", func(t *testing.T) { netGradCheck(t, MLPTPAMI, 4, 4, true) })
}

// TestEstimateStats: after EstimateStats over k batches, each running
// average is the mean of the batches' means and unbiased variances.
func TestEstimateStats(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 14))
	c := NewCPU(2)
	const n, batches = 9, 3
	m := NewNet(testMLP, c, n, false, 5, testMLP.InitParams(5))
	x := make([]float32, batches*n*ImageLen)
	for i := range x {
		x[i] = r.Float32()
	}
	xb := buf(c, x)
	for k := 0; k < batches; k++ {
		m.EstimateStats(c.Slice(xb, k*n*ImageLen, n*ImageLen), n, k)
	}
	// The first layer's features: dense1 = x·w + b, whose statistics the
	// reference computes in float64.
	p := to64(Floats(m.Params))
	view := map[string][]float64{}
	for _, q := range testMLP.Params() {
		view[q.Name] = p[q.Off : q.Off+q.Len]
	}
	wm, wv := make([]float64, 12), make([]float64, 12)
	for k := 0; k < batches; k++ {
		h := Dense64(to64(x[k*n*ImageLen:(k+1)*n*ImageLen]), view["dense1.w"], view["dense1.b"], n, ImageLen, 12)
		for j := 0; j < 12; j++ {
			var s, q float64
			for i := 0; i < n; i++ {
				s += h[i*12+j] / n
			}
			for i := 0; i < n; i++ {
				q += (h[i*12+j] - s) * (h[i*12+j] - s) / (n - 1)
			}
			wm[j] += s / batches
			wv[j] += q / batches
		}
	}
	checkClose(t, "bn1.mean", Floats(m.W["bn1.mean"]), wm, 1e-5)
	checkClose(t, "bn1.var", Floats(m.W["bn1.var"]), wv, 1e-5)
}

// TestNetShapes: the networks' parameter counts, and the seed's list
// giving the seed's parameters.
func TestNetShapes(t *testing.T) {
	for _, c := range []struct {
		net  *Net
		want int
	}{
		{SeedCNN, 32*9 + 32 + 32*32*9 + 32 + Flat*Hidden + Hidden + Hidden*10 + 10},
		{MLPSemi, 784*1200 + 1200 + 1200*1200 + 1200 + 1200*10 + 10 + 4*(1200+1200+10)},
		{MLPSup, 784*1200 + 1200*600 + 600*300 + 300*150 + 150*10 + 5*(1200+600+300+150+10)},
		{MLPTPAMI, 784*1200 + 1200*600 + 600*300 + 300*150 + 150*10 + 5*(1200+600+300+150+10)},
	} {
		if got := c.net.NumParams(); got != c.want {
			t.Errorf("%s: %d parameters, want %d", c.net.Name, got, c.want)
		}
		if _, err := NetNamed(c.net.Name); err != nil {
			t.Error(err)
		}
	}
	if _, err := NetNamed("mlp"); err == nil {
		t.Error("NetNamed accepted an unknown name")
	}
	names := ""
	for _, p := range Params() {
		names += fmt.Sprint(p.Name, p.Shape, " ")
	}
	if want := "conv1.w[32 1 3 3] conv1.b[32] conv2.w[32 32 3 3] conv2.b[32] dense1.w[4608 128] dense1.b[128] dense2.w[128 10] dense2.b[10] "; names != want {
		t.Errorf("seed parameters %s, want %s", names, want)
	}
	for _, net := range []*Net{MLPSemi, MLPTPAMI} {
		var std float64
		ps := net.Params()
		w := net.InitParams(1)
		v := w[ps[0].Off : ps[0].Off+ps[0].Len]
		for _, e := range v {
			std += float64(e) * float64(e) / float64(len(v))
		}
		if std = math.Sqrt(std); math.Abs(std-1/28.0) > 0.001 { // N(0, 1/784)
			t.Errorf("%s: dense1.w has std %v, want 1/28", net.Name, std)
		}
		for _, p := range ps {
			if p.FanIn == 0 && (w[p.Off] != p.Fill || w[p.Off+p.Len-1] != p.Fill) {
				t.Errorf("%s: %s starts at %v, want %v", net.Name, p.Name, w[p.Off], p.Fill)
			}
		}
	}
}
