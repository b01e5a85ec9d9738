package vat

import (
	"github.com/vatgpu/vatgpu/layers"
)

// AdversarialResult holds, for n images, the perturbed images x + r_adv
// and the model's class probabilities before and after (n×10 each).
type AdversarialResult struct {
	Perturbed []float32
	Probs     []float32
	ProbsAdv  []float32
}

// Adversarial computes the virtual adversarial perturbation of n images x
// (n×784) for the model of cfg's network with the given parameters,
// dropout and noise off and batch normalisation with its running
// statistics (the prediction the model makes at test time), with cfg's xi,
// eps, ip, norm and seed (the random start is stream TensorDirection at
// step 0).
func Adversarial(b layers.Backend, params []float32, x []float32, n int, cfg Config) (*AdversarialResult, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	net, err := layers.NetNamed(cfg.Net)
	if err != nil {
		return nil, err
	}
	m := layers.NewNet(net, b, n, false, cfg.Seed, params)
	defer m.Free()
	p := NewPerturber(m, cfg.Xi, cfg.Eps, cfg.IP, cfg.Norm, cfg.Seed)
	defer p.Free(b)
	xb, probs := b.Alloc(n*layers.ImageLen), b.Alloc(n*layers.Classes)
	defer b.Free(xb)
	defer b.Free(probs)
	b.Upload(xb, x[:n*layers.ImageLen])
	b.SetStep(0)
	r := &AdversarialResult{Perturbed: make([]float32, n*layers.ImageLen), Probs: make([]float32, n*layers.Classes), ProbsAdv: make([]float32, n*layers.Classes)}
	logits := m.Forward(xb, n, false, 0)
	b.Softmax(probs, logits, n, layers.Classes)
	b.Download(r.Probs, probs)
	b.Copy(p.logitsP, logits)
	xr := p.Adversarial(m, xb, p.logitsP, n, 0, false)
	b.Download(r.Perturbed, xr)
	b.Softmax(probs, m.Forward(xr, n, false, 0), n, layers.Classes)
	b.Download(r.ProbsAdv, probs)
	return r, b.Sync()
}
