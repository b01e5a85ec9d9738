// Package vat trains an MNIST network (layers.Nets: the seed's CNN, the VAT
// papers' MLPs with batch normalisation) with Virtual Adversarial Training
// (Miyato et al., arXiv 1507.00677, 1704.03976) on any layers.Backend.
//
// The VAT term of a step, as the seed computes it: with p = p(y|x) from the
// step's clean forward pass, held constant,
//
//	d ~ N(0, I)
//	repeat ip times:  d <- ∇_d Σ_batch KL(p || p(y | x + xi·normalise(d)))
//	r_adv = eps·normalise(d)
//	loss_vat = mean_batch KL(p || p(y | x + r_adv))
//
// normalise is per sample (layers.NormL2 or layers.NormMaxAbsL2). With
// dropout on, every forward pass draws its own masks (pass 0 the clean
// pass, 1..ip the power iterations, ip+1 the adversarial pass), as Keras
// does when the model is called again in the training phase; so does
// Gaussian noise. Batch normalisation normalises every training pass with
// its own batch's statistics; only the clean pass of the labelled batch
// (pass 0) moves the running averages (layers.UpdatePass), as the papers'
// official code does.
//
// Configuration errors (Config.Validate) are errors; misuse of the API
// (buffers of the wrong size) panics.
package vat

import (
	"github.com/vatgpu/vatgpu/layers"
)

// Perturber holds the scratch buffers of the VAT term for batches of up to
// batch images.
type Perturber struct {
	Xi, Eps float32
	IP      int
	Norm    layers.Norm
	Seed    uint64

	d, dd, xr, dxr, logitsP, kl Buf
}

// Buf is short for layers.Buf.
type Buf = layers.Buf

// NewPerturber allocates VAT's scratch on the model's backend.
func NewPerturber(m *layers.Model, xi, eps float32, ip int, norm layers.Norm, seed uint64) *Perturber {
	b, n := m.B, m.Batch
	return &Perturber{Xi: xi, Eps: eps, IP: ip, Norm: norm, Seed: seed,
		d: b.Alloc(n * layers.ImageLen), dd: b.Alloc(n * layers.ImageLen),
		xr: b.Alloc(n * layers.ImageLen), dxr: b.Alloc(n * layers.ImageLen),
		logitsP: b.Alloc(n * layers.Classes), kl: b.Alloc(n)}
}

// Free releases the scratch buffers.
func (p *Perturber) Free(b layers.Backend) {
	for _, x := range []Buf{p.d, p.dd, p.xr, p.dxr, p.logitsP, p.kl} {
		b.Free(x)
	}
}

// Adversarial computes r_adv's perturbed input x + r_adv into p's scratch
// (returned) by ip power iterations from a random start, against the
// target logits logitsP (n×10, held constant). train selects dropout in the
// passes, numbered base+1 .. base+ip.
func (p *Perturber) Adversarial(m *layers.Model, x, logitsP Buf, n, base int, train bool) Buf {
	b := m.B
	b.RandNormal(p.d, n*layers.ImageLen, layers.Rand{Seed: p.Seed, Tensor: layers.TensorDirection})
	for k := base + 1; k <= base+p.IP; k++ {
		b.Perturb(p.xr, x, p.d, n, layers.ImageLen, p.Xi, p.Norm)
		lq := m.Forward(p.xr, n, train, k)
		b.KLDiv(p.kl, m.DLogits(), logitsP, lq, n, layers.Classes, 1)
		m.Backward(m.DLogits(), p.xr, n, k, false, p.dxr)
		b.PerturbBackward(p.dd, p.dxr, p.d, n, layers.ImageLen, p.Xi, p.Norm)
		p.d, p.dd = p.dd, p.d
	}
	b.Perturb(p.xr, x, p.d, n, layers.ImageLen, p.Eps, p.Norm)
	return p.xr
}

// Loss adds the VAT term for the n images x to the model's gradients,
// scaled by weight: it computes r_adv, then loss_vat = mean KL(p || p(x +
// r_adv)) against the logits of the step's clean pass (which it copies
// first, so they may be m.Logits), and backpropagates weight·loss_vat. The
// forward passes are numbered base+1 .. base+ip+1 (for their dropout
// masks). The per-sample KL values are left in KL() for the caller to sum.
func (p *Perturber) Loss(m *layers.Model, x, logitsClean Buf, n, base int, weight float32) {
	b := m.B
	lp := b.Slice(p.logitsP, 0, n*layers.Classes)
	b.Copy(lp, b.Slice(logitsClean, 0, n*layers.Classes))
	xr := p.Adversarial(m, x, p.logitsP, n, base, true)
	pass := base + p.IP + 1
	lq := m.Forward(xr, n, true, pass)
	b.KLDiv(p.kl, m.DLogits(), p.logitsP, lq, n, layers.Classes, weight/float32(n))
	m.Backward(m.DLogits(), xr, n, pass, true, nil)
}

// KL returns the per-sample KL values of the last Loss.
func (p *Perturber) KL() Buf { return p.kl }
