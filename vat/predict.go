package vat

import (
	"fmt"
	"math"

	"github.com/vatgpu/vatgpu/layers"
)

// evalBatch is the batch of EvaluateParams and Logits: the same images in
// the same order go through the same forward passes in both.
const evalBatch = 500

// Logits runs network net with the given parameters, dropout and noise
// off, on n images x (n×784, values in [0, 1] as package mnist reads them)
// in batches of 500, as EvaluateParams does, and returns the logits
// (n×10). An error is the backend's.
func Logits(b layers.Backend, net *layers.Net, params []float32, x []float32, n int) ([]float32, error) {
	if n == 0 {
		return nil, nil
	}
	if len(x) < n*layers.ImageLen {
		panic(fmt.Sprintf("vat: logits: %d values for %d images", len(x), n))
	}
	m := layers.NewNet(net, b, evalBatch, false, 0, params)
	defer m.Free()
	xb := b.Alloc(evalBatch * layers.ImageLen)
	defer b.Free(xb)
	out := make([]float32, n*layers.Classes)
	for off := 0; off < n; off += evalBatch {
		k := min(evalBatch, n-off)
		xs := b.Slice(xb, 0, k*layers.ImageLen)
		b.Upload(xs, x[off*layers.ImageLen:(off+k)*layers.ImageLen])
		b.Download(out[off*layers.Classes:(off+k)*layers.Classes], m.Forward(xs, k, false, 0))
		if err := b.Err(); err != nil {
			return nil, err
		}
	}
	return out, b.Sync()
}

// Top2 returns, for one image's logits (10 values), the class of the
// largest logit (the first on ties, as the accuracy counts it), the next
// class, and their softmax probabilities computed in float64.
func Top2(logits []float32) (first, second int, p1, p2 float64) {
	if len(logits) != layers.Classes {
		panic(fmt.Sprintf("vat: top2: %d logits", len(logits)))
	}
	first, second = 0, -1
	for j, v := range logits {
		if v > logits[first] {
			first = j
		}
	}
	for j, v := range logits {
		if j != first && (second < 0 || v > logits[second]) {
			second = j
		}
	}
	hi := float64(logits[first])
	var sum float64
	for _, v := range logits {
		sum += math.Exp(float64(v) - hi)
	}
	return first, second, 1 / sum, math.Exp(float64(logits[second])-hi) / sum
}

// CheckFinite returns an error when params (the flat parameters of network
// net) hold a NaN or an infinity, naming how many and the first tensor that
// holds one; nil when all are finite.
func CheckFinite(net *layers.Net, params []float32) error {
	if len(params) != net.NumParams() {
		panic(fmt.Sprintf("vat: check finite: %d parameters, want %d", len(params), net.NumParams()))
	}
	bad, first := 0, ""
	for _, p := range net.Params() {
		for _, v := range params[p.Off : p.Off+p.Len] {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				if bad == 0 {
					first = p.Name
				}
				bad++
			}
		}
	}
	if bad == 0 {
		return nil
	}
	return fmt.Errorf("%d NaN or infinite values of %d, the first in %s", bad, len(params), first)
}

// CheckModel returns an error when the run's model (ModelParams: the
// moving average when the run keeps one) holds a NaN or an infinity, as a
// run that diverged leaves it, saying which weights and where.
func (s *State) CheckModel() error {
	err := CheckFinite(s.Net(), s.ModelParams())
	if err == nil {
		return nil
	}
	which := "weights"
	if s.Average != nil {
		which = "averaged weights (--ema)"
	}
	return fmt.Errorf("the model's %s are not finite: %v", which, err)
}
