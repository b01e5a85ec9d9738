package vat

import (
	"math"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"

	"github.com/vatgpu/vatgpu/layers"
)

// kl64 returns KL(p || q) of two logit rows in float64.
func kl64(lp, lq []float64) float64 {
	a, b := layers.LogSoftmax64(lp), layers.LogSoftmax64(lq)
	var s float64
	for j := range a {
		s += math.Exp(a[j]) * (a[j] - b[j])
	}
	return s
}

// normalise64 is layers.Perturb's normalisation of one row in float64.
func normalise64(d []float64, norm layers.Norm) []float64 {
	o := make([]float64, len(d))
	switch norm {
	case layers.NormL2:
		var s float64
		for _, v := range d {
			s += v * v
		}
		for i, v := range d {
			o[i] = v / (math.Sqrt(s) + 1e-7)
		}
	case layers.NormMaxAbsL2:
		var m, s float64
		for _, v := range d {
			m = math.Max(m, math.Abs(v))
		}
		for i, v := range d {
			o[i] = v / (1e-12 + m)
			s += o[i] * o[i]
		}
		for i := range o {
			o[i] /= math.Sqrt(1e-6 + s)
		}
	}
	return o
}

// centralDifferences returns the gradient of f at v by central differences
// of step h, the coordinates shared out over GOMAXPROCS goroutines.
func centralDifferences(f func([]float64) float64, v []float64, h float64) []float64 {
	g := make([]float64, len(v))
	workers := runtime.GOMAXPROCS(0)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			u := append([]float64(nil), v...)
			for i := w; i < len(u); i += workers {
				old := u[i]
				u[i] = old + h
				fp := f(u)
				u[i] = old - h
				fm := f(u)
				u[i] = old
				g[i] = (fp - fm) / (2 * h)
			}
		}()
	}
	wg.Wait()
	return g
}

// TestVATReference computes r_adv and loss_vat of one image by their
// definitions in float64 and compares the backend's: the power
// iteration's gradient by central differences of the float64 model (with
// respect to d through the normalisation for NormL2, to the perturbation
// r for NormMaxAbsL2, as package doc says), from the same random start.
// It also checks the property that makes r_adv adversarial: KL at x +
// r_adv exceeds KL at x + r for random r of the same length.
func TestVATReference(t *testing.T) {
	if testing.Short() {
		t.Skip("784 float64 forward passes per case; skipped in -short mode")
	}
	const seed = 11
	params := layers.InitParams(seed)
	p64 := make([]float64, len(params))
	for i, v := range params {
		p64[i] = float64(v)
	}
	img := randomSet(1, 5).Images[:layers.ImageLen]
	x := make([]float64, layers.ImageLen)
	for i, v := range img {
		x[i] = float64(v)
	}
	lp := layers.Forward64(p64, x, 1)
	klAt := func(r []float64) float64 {
		xr := make([]float64, len(x))
		for i := range x {
			xr[i] = x[i] + r[i]
		}
		return kl64(lp, layers.Forward64(p64, xr, 1))
	}
	for _, tc := range []struct {
		norm    layers.Norm
		xi, eps float32
	}{
		{layers.NormL2, 10, 1},           // the seed's
		{layers.NormMaxAbsL2, 1e-2, 0.3}, // the papers' normalisation; xi large enough for float32
	} {
		t.Run(tc.norm.String(), func(t *testing.T) {
			// The backend's r_adv and loss_vat.
			c := layers.NewCPU(1)
			m := layers.NewModel(c, 1, false, seed, params)
			xb := c.Alloc(layers.ImageLen)
			c.Upload(xb, img)
			logits := m.Forward(xb, 1, false, 0)
			p := NewPerturber(m, tc.xi, tc.eps, 1, tc.norm, seed)
			p.Loss(m, xb, logits, 1, 0, 1)
			xr, kl := layers.Floats(p.xr), layers.Floats(p.KL())

			// The reference: the same start d, one power iteration.
			d32 := make([]float32, layers.ImageLen)
			layers.Rand{Seed: seed, Tensor: layers.TensorDirection}.Normal(d32, 0)
			d := make([]float64, len(d32))
			for i, v := range d32 {
				d[i] = float64(v)
			}
			var f func(v []float64) float64 // the function whose gradient is the next direction
			at := d
			xi := float64(tc.xi)
			switch tc.norm {
			case layers.NormL2:
				f = func(v []float64) float64 {
					r := normalise64(v, tc.norm)
					for i := range r {
						r[i] *= xi
					}
					return klAt(r)
				}
			case layers.NormMaxAbsL2:
				at = normalise64(d, tc.norm)
				for i := range at {
					at[i] *= xi
				}
				f = klAt
			}
			h := 1e-5 * xi
			if tc.norm == layers.NormL2 {
				h = 1e-5
			}
			g := centralDifferences(f, at, h)
			rRef := normalise64(g, tc.norm)
			var dot, n1, n2 float64
			for i := range rRef {
				rRef[i] *= float64(tc.eps)
				rb := float64(xr[i]) - x[i]
				dot += rb * rRef[i]
				n1 += rb * rb
				n2 += rRef[i] * rRef[i]
			}
			cos := dot / math.Sqrt(n1*n2)
			if cos < 0.999 {
				t.Errorf("r_adv: cosine with the float64 reference %.6f, want > 0.999", cos)
			}
			if rel := math.Abs(math.Sqrt(n1)-math.Sqrt(n2)) / math.Sqrt(n2); rel > 1e-4 {
				t.Errorf("r_adv: length %.6g, reference %.6g", math.Sqrt(n1), math.Sqrt(n2))
			}
			want := klAt(rRef)
			if math.Abs(float64(kl[0])-want) > 1e-3*want+1e-7 {
				t.Errorf("loss_vat %.6g, float64 reference %.6g", kl[0], want)
			}
			// Adversarial: more than any of 20 random directions of the same length.
			rnd := rand.New(rand.NewPCG(seed, 1))
			for k := 0; k < 20; k++ {
				r := make([]float64, len(x))
				for i := range r {
					r[i] = rnd.NormFloat64()
				}
				var s float64
				for _, e := range r {
					s += e * e
				}
				for i := range r {
					r[i] *= math.Sqrt(n2 / s)
				}
				if kr := klAt(r); kr >= want {
					t.Errorf("KL at x + random r (%.4g) >= KL at x + r_adv (%.4g)", kr, want)
				}
			}
			t.Logf("%s: cosine %.6f, loss_vat %.6g (reference %.6g)", tc.norm, cos, kl[0], want)
		})
	}
}

// TestPowerIterationMLP measures what VAT-PAPERS.md asks of the papers'
// xi 1e-6 in float32: whether the power iteration's direction beats random
// ones. On the papers' semi-supervised MLP (initial weights, batch
// normalisation with the batch's statistics, as in training) and the first
// 100 MNIST test images, r_adv at eps 0.3 (max-abs-then-L2) must raise the
// KL divergence above the best of 20 random directions of the same length
// on at least 95 of them. (Measured at commit time, 250 images: 250 of 250
// at xi 1e-6, mean KL 0.197 against 0.0017 for random directions; with the
// weights after one epoch of vat-mnist-100 on 5,000 images, 250 of 250,
// 0.012 against 0.00004.)
func TestPowerIterationMLP(t *testing.T) {
	_, test, err := LoadData("", 100)
	if err != nil {
		t.Fatal(err)
	}
	const n = 100
	c := layers.NewCPU(0)
	m := layers.NewNet(layers.MLPSemi, c, n, false, 1, layers.MLPSemi.InitParams(1))
	x := c.Alloc(n * layers.ImageLen)
	c.Upload(x, test.Images[:n*layers.ImageLen])
	c.SetStep(3)
	lp := c.Alloc(n * layers.Classes)
	c.Copy(lp, c.Slice(m.Forward(x, n, true, 5), 0, n*layers.Classes))
	p := NewPerturber(m, 1e-6, 0.3, 1, layers.NormMaxAbsL2, 1)
	kl := func(xr Buf) []float32 {
		k := c.Alloc(n)
		c.KLDiv(k, nil, lp, m.Forward(xr, n, true, 9), n, layers.Classes, 1)
		return layers.Floats(k)
	}
	adv := kl(p.Adversarial(m, x, lp, n, 5, true))
	best := make([]float32, n)
	d, xr := c.Alloc(n*layers.ImageLen), c.Alloc(n*layers.ImageLen)
	for r := 0; r < 20; r++ {
		c.SetStep(uint64(100 + r))
		c.RandNormal(d, n*layers.ImageLen, layers.Rand{Seed: 5, Tensor: layers.TensorDirection})
		c.Perturb(xr, x, d, n, layers.ImageLen, 0.3, layers.NormMaxAbsL2)
		for i, v := range kl(xr) {
			best[i] = max(best[i], v)
		}
	}
	wins := 0
	for i := range adv {
		if adv[i] > best[i] {
			wins++
		}
	}
	t.Logf("r_adv beats the best of 20 random directions on %d of %d images", wins, n)
	if wins < 95 {
		t.Errorf("r_adv beats the best of 20 random directions on %d of %d images, want at least 95", wins, n)
	}
}
