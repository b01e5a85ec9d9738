package layers

import "fmt"

// Buf is a buffer of float32 (or, from AllocInt, int32) elements owned by a
// Backend. Only the backend that made a Buf may use it.
type Buf interface {
	// Len returns the number of elements.
	Len() int
}

// Norm selects how VAT normalises a perturbation direction d, per sample.
type Norm int

const (
	// NormL2 is the seed's normalisation, d/(‖d‖₂ + 1e-7) (Keras's
	// epsilon), and the power iteration differentiates through it: the
	// next direction is the gradient with respect to d itself.
	NormL2 Norm = iota
	// NormMaxAbsL2 is the VAT papers' official code: d/(1e-12 + max|d|),
	// then d/sqrt(1e-6 + ‖d‖₂²); the power iteration takes the gradient
	// with respect to the perturbation r = xi*normalise(d).
	NormMaxAbsL2
)

func (n Norm) String() string {
	switch n {
	case NormL2:
		return "l2"
	case NormMaxAbsL2:
		return "maxabs-l2"
	}
	return "unknown"
}

// BNMode selects the statistics batch normalisation normalises with (see
// Backend.BatchNormForward).
type BNMode int

const (
	// BNBatch normalises with the batch's mean and variance and leaves
	// the running averages alone: VAT's perturbed passes and the clean
	// pass of the unlabelled batch.
	BNBatch BNMode = iota
	// BNBatchUpdate normalises with the batch's statistics and moves the
	// running averages towards them: the clean pass of the labelled batch,
	// and the re-estimation of the statistics (with ratio k/(k+1) for the
	// k-th batch, an average of the batches' statistics).
	BNBatchUpdate
	// BNRunning normalises with the running averages: evaluation.
	BNRunning
)

// ConvShape is a valid (unpadded), stride-1 2-D convolution of an N×C×H×W
// input with K filters of C×R×S, giving N×K×(H-R+1)×(W-S+1).
type ConvShape struct{ N, C, H, W, K, R, S int }

// OH returns the output height H-R+1.
func (s ConvShape) OH() int { return s.H - s.R + 1 }

// OW returns the output width W-S+1.
func (s ConvShape) OW() int { return s.W - s.S + 1 }

// InLen, OutLen and WLen return the element counts of the input, output
// and filter tensors.
func (s ConvShape) InLen() int  { return s.N * s.C * s.H * s.W }
func (s ConvShape) OutLen() int { return s.N * s.K * s.OH() * s.OW() }
func (s ConvShape) WLen() int   { return s.K * s.C * s.R * s.S }

// PoolShape is a 2×2, stride-2 max pooling of an N×C×H×W input (H and W
// even), giving N×C×(H/2)×(W/2).
type PoolShape struct{ N, C, H, W int }

// InLen and OutLen return the element counts of the input and output.
func (s PoolShape) InLen() int  { return s.N * s.C * s.H * s.W }
func (s PoolShape) OutLen() int { return s.N * s.C * (s.H / 2) * (s.W / 2) }

// Backend runs every operation of a training step on one device. The
// trainer holds no device state of its own; a step is the same sequence of
// calls on every backend.
//
// Conventions, shared by all implementations:
//   - Shapes are explicit arguments; tensors are row-major (NCHW for
//     images). A Buf longer than a call needs is fine; a shorter one is a
//     programmer error and panics.
//   - Activations and input gradients are assigned (=); parameter
//     gradients accumulate (+=), so that a step's several backward passes
//     add up. Zero the gradient buffer once per step.
//   - Calls may run asynchronously. An operation that fails on the device
//     (a failed launch, memory exhausted) records the first error; later
//     calls do nothing and Sync or Err return it. Download synchronises.
//   - Random numbers come from Philox streams (see Rand): element i of a
//     stream at the step set by SetStep is the same on every backend.
type Backend interface {
	// Name describes the device, such as "cpu (2 threads)" or
	// "gpu 0: NVIDIA H200".
	Name() string

	// Alloc returns a zeroed buffer of n float32; AllocInt one of n int32.
	Alloc(n int) Buf
	AllocInt(n int) Buf
	// Slice returns the view of b's elements off..off+n-1.
	Slice(b Buf, off, n int) Buf
	// Free releases b; it must not be used afterwards.
	Free(b Buf)

	Upload(dst Buf, src []float32)
	UploadInt(dst Buf, src []int32)
	// Download copies src's first len(dst) elements to dst, waiting for
	// the work queued before; DownloadInt does the same for int32 buffers.
	Download(dst []float32, src Buf)
	DownloadInt(dst []int32, src Buf)
	// Zero sets b's elements to zero; Copy copies src into dst (same length).
	Zero(b Buf)
	Copy(dst, src Buf)

	// SetStep sets the step that completes the counters of the random
	// streams used by DropoutForward, DropoutBackward, RandNormal,
	// AddNoise and Translate.
	SetStep(step uint64)

	// Gather copies rows idx[off..off+n-1] of src (rows of row elements)
	// to dst. GatherInt does the same for int32 elements (row 1).
	Gather(dst, src, idx Buf, off, n, row int)
	GatherInt(dst, src, idx Buf, off, n int)
	// Translate copies n h×w images of src to dst, each moved by its own
	// random offset of at most shift pixels along each axis, filling the
	// uncovered pixels with zeros: image i takes word i of stream r (see
	// TranslateOffset). dst and src must not overlap.
	Translate(dst, src Buf, n, h, w, shift int, r Rand)

	// ConvForward computes y = conv(x, w) + bias (cross-correlation).
	ConvForward(y, x, w, bias Buf, s ConvShape)
	// ConvBackward computes dx = ∂/∂x (assigned; skipped when dx is nil),
	// and dw, dbias += ∂/∂w, ∂/∂bias (skipped when dw is nil).
	ConvBackward(dx, dw, dbias, dy, x, w Buf, s ConvShape)

	// ReLUForward computes y = max(x, 0) over n elements; y may be x.
	ReLUForward(y, x Buf, n int)
	// ReLUBackward computes dx = dy * [y > 0]; dx may be dy.
	ReLUBackward(dx, dy, y Buf, n int)

	// MaxPoolForward computes 2×2 stride-2 max pooling.
	MaxPoolForward(y, x Buf, s PoolShape)
	// MaxPoolBackward routes dy to the first maximum of each window of x
	// (row-major order), dx assigned.
	MaxPoolBackward(dx, dy, x, y Buf, s PoolShape)

	// DropoutForward computes y = x * [u >= p] / (1 - p) over n elements,
	// u the uniform stream r. DropoutBackward applies the same mask to dy.
	DropoutForward(y, x Buf, n int, p float32, r Rand)
	DropoutBackward(dx, dy Buf, n int, p float32, r Rand)

	// DenseForward computes y[n×out] = x[n×in]·w[in×out] + bias.
	DenseForward(y, x, w, bias Buf, n, in, out int)
	// DenseBackward computes dx = dy·wᵀ (assigned; skipped when nil) and
	// dw += xᵀ·dy, dbias += Σ dy (skipped when dw is nil).
	DenseBackward(dx, dw, dbias, dy, x, w Buf, n, in, out int)

	// SoftmaxXent computes, for each of n rows of c logits with integer
	// labels, loss[i] = -log softmax(logits)[i, labels[i]] and (unless
	// dlogits is nil) dlogits = scale * (softmax(logits) - onehot(labels)).
	SoftmaxXent(loss, dlogits, logits, labels Buf, n, c int, scale float32)
	// KLDiv computes kl[i] = KL(p_i || q_i) = Σ_j p log p - p log q with
	// p = softmax(logitsP), q = softmax(logitsQ), and (unless dlogitsQ is
	// nil) dlogitsQ = scale * (q - p), the gradient with p held constant.
	KLDiv(kl, dlogitsQ, logitsP, logitsQ Buf, n, c int, scale float32)
	// Softmax computes p = softmax(logits) row by row.
	Softmax(p, logits Buf, n, c int)
	// Entropy computes h[i] = -Σ_j p log p with p = softmax(logits) and
	// (unless dlogits is nil) its gradient dlogits = scale * (-p ⊙ (log p +
	// h)), for entropy minimisation.
	Entropy(h, dlogits, logits Buf, n, c int, scale float32)

	// RandNormal fills d's first n elements with the normal stream r.
	RandNormal(d Buf, n int, r Rand)
	// Perturb computes xr = x + scale * normalise(d), normalising each of n
	// rows of dim elements as norm says.
	Perturb(xr, x, d Buf, n, dim int, scale float32, norm Norm)
	// PerturbBackward computes dd, the gradient with respect to d (NormL2)
	// or to the perturbation (NormMaxAbsL2) given dxr = ∂L/∂xr; dd may not
	// alias d.
	PerturbBackward(dd, dxr, d Buf, n, dim int, scale float32, norm Norm)

	// BatchNormForward normalises each of the c features (columns) of
	// x[n×c]: y = gamma·(x - mean)·rstd + beta, with xhat = (x - mean)·rstd
	// and y = gamma·xhat + beta in float32, each operation rounded. In
	// modes BNBatch and BNBatchUpdate mean and var are the batch's, in
	// float64 over the rows in order (var biased: Σ(x - mean)²/n), rstd =
	// 1/sqrt(var + eps), each rounded to float32 once; BNBatchUpdate also
	// moves the running averages: runMean = ratio·runMean +
	// (1-ratio)·mean and runVar = ratio·runVar + (1-ratio)·var·n/(n-1)
	// (the unbiased variance; var itself when n = 1), in float32. In mode
	// BNRunning mean = runMean and rstd = 1/sqrt(runVar + eps). mean and
	// rstd (c each) are written in every mode: BatchNormBackward reads
	// them. runMean and runVar may be nil in mode BNBatch.
	BatchNormForward(y, x, gamma, beta, mean, rstd, runMean, runVar Buf, n, c int, eps, ratio float32, mode BNMode)
	// BatchNormBackward computes, with xhat = (x - mean)·rstd recomputed as
	// the forward pass computed it and sums over the rows in float64 in
	// order: dgamma += Σ dy·xhat and dbeta += Σ dy (skipped when dgamma is
	// nil), and dx (assigned; skipped when nil; dx may be dy) as
	//
	//	dx = gamma·rstd/n · (n·dy - Σ dy - xhat·Σ dy·xhat)   batch true: through the batch's mean and variance
	//	dx = gamma·rstd·dy                                     batch false: statistics held fixed (BNRunning)
	//
	// computed in float64 and rounded once.
	BatchNormBackward(dx, dgamma, dbeta, dy, x, gamma, mean, rstd Buf, n, c int, batch bool)

	// AddNoise computes y = x + std·z over n elements, z element i of the
	// normal stream r (as RandNormal draws it) and std·z rounded to
	// float32 before the sum; y may be x. Its gradient is the identity.
	AddNoise(y, x Buf, n int, std float32, r Rand)

	// SumInto adds Σ x[0..n-1] to acc[slot].
	SumInto(acc Buf, slot int, x Buf, n int)
	// CountCorrect adds to acc[slot] the number of the n rows whose
	// argmax (first maximum) equals the label.
	CountCorrect(acc Buf, slot int, logits, labels Buf, n, c int)

	// Adadelta updates params in place from grads (Keras 1.2.2, Zeiler
	// 2012): a = rho*a + (1-rho)*g²; u = g*sqrt(da + eps)/sqrt(a + eps);
	// p -= lr*u; da = rho*da + (1-rho)*u². accG is a, accD is da.
	Adadelta(params, grads, accG, accD Buf, lr, rho, eps float32)
	// Adam updates params in place (Kingma & Ba 2015) at t = step+1, the
	// step being the one set by SetStep: m = b1*m + (1-b1)*g; v = b2*v +
	// (1-b2)*g²; p -= lr * sqrt(1-b2^t)/(1-b1^t) * m/(sqrt(v) + eps), the
	// bias correction computed in float64 and rounded once.
	Adam(params, grads, m, v Buf, lr, beta1, beta2, eps float32)
	// Average updates the running average avg of params (same length):
	// avg = decay·avg + (1-decay)·params, each product rounded to float32
	// before the sum (no fused multiply-add).
	Average(avg, params Buf, decay float32)

	// Sync waits for all queued work and returns the first error recorded.
	Sync() error
	// Err returns the first error recorded, without waiting.
	Err() error
	// Close releases the device and everything allocated on it.
	Close() error
}

// Capturer is implemented by backends that can record a sequence of calls
// once and replay it cheaply (CUDA graphs). Capture runs f the first time
// it sees key, recording what it queues, and replays the recording on later
// calls with the same key without running f. f must queue the same calls
// with the same arguments every time; values that change between steps
// (the step itself) come from SetStep, which backends read on the device.
type Capturer interface {
	Capture(key string, f func()) error
}

// ParseNorm returns the normalisation String names.
func ParseNorm(s string) (Norm, error) {
	for _, n := range []Norm{NormL2, NormMaxAbsL2} {
		if s == n.String() {
			return n, nil
		}
	}
	return 0, fmt.Errorf("--norm must be l2 or maxabs-l2, got %q", s)
}
