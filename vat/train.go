package vat

import (
	"errors"
	"fmt"
	"math"
	"sync/atomic"
	"time"

	"github.com/vatgpu/vatgpu/layers"
	"github.com/vatgpu/vatgpu/mnist"
)

// Config is a training run's configuration. Every field that changes the
// arithmetic is part of a checkpoint's identity.
type Config struct {
	Epochs  int
	Batch   int
	Dropout bool
	VAT     bool
	Eps     float32 // length of r_adv
	Xi      float32 // finite-difference step of the power iteration
	IP      int     // power iterations
	Weight  float32 // weight of the VAT term in the loss
	Norm    layers.Norm
	Seed    uint64
	// Adadelta (Keras 1.2.2 defaults: 1.0, 0.95, 1e-8).
	LR, Rho, AdaEps float32
}

// DefaultConfig returns the seed's settings: 12 epochs of batch 128,
// Adadelta(1.0, 0.95, 1e-8), eps 1, xi 10, ip 1, seed 1337.
func DefaultConfig() Config {
	return Config{Epochs: 12, Batch: 128, Eps: 1, Xi: 10, IP: 1, Weight: 1,
		Norm: layers.NormL2, Seed: 1337, LR: 1, Rho: 0.95, AdaEps: 1e-8}
}

// Validate reports the first invalid field, naming it as the command line does.
func (c Config) Validate() error {
	switch {
	case c.Epochs <= 0:
		return fmt.Errorf("--epochs must be positive, got %d", c.Epochs)
	case c.Batch <= 0:
		return fmt.Errorf("--batch must be positive, got %d", c.Batch)
	case c.Batch > 65536:
		return fmt.Errorf("--batch must be at most 65536, got %d", c.Batch)
	case !(c.Eps >= 0) || math.IsInf(float64(c.Eps), 0):
		return fmt.Errorf("--eps must be finite and non-negative, got %v", c.Eps)
	case !(c.Xi > 0) || math.IsInf(float64(c.Xi), 0):
		return fmt.Errorf("--xi must be finite and positive, got %v", c.Xi)
	case c.IP < 0 || c.IP > 100:
		return fmt.Errorf("--ip must be between 0 and 100, got %d", c.IP)
	case !(c.Weight >= 0) || math.IsInf(float64(c.Weight), 0):
		return fmt.Errorf("--vat-weight must be finite and non-negative, got %v", c.Weight)
	case !(c.LR > 0) || !(c.Rho > 0 && c.Rho < 1) || !(c.AdaEps > 0):
		return fmt.Errorf("adadelta needs lr > 0, 0 < rho < 1, epsilon > 0; got %v, %v, %v", c.LR, c.Rho, c.AdaEps)
	case c.Norm != layers.NormL2 && c.Norm != layers.NormMaxAbsL2:
		return fmt.Errorf("unknown normalisation %d", c.Norm)
	}
	return nil
}

// Stats slots on the device.
const (
	slotCE = iota
	slotKL
	slotTrainCorrect
	slotEvalLoss
	slotEvalCorrect
	numSlots
)

// Trainer trains the seed model on one backend with the whole data set
// resident there.
type Trainer struct {
	Cfg Config
	B   layers.Backend
	M   *layers.Model
	P   *Perturber // nil without VAT

	accG, accD     Buf
	trainX, trainY Buf
	testX, testY   Buf
	nTrain, nTest  int
	perm, x, y     Buf
	loss, stats    Buf

	// Step counts the training steps done; Epoch the epochs done.
	Step  uint64
	Epoch int
	// ProgressEvery is how many steps pass between progress reports (and
	// the device reads they need); 0 means 20.
	ProgressEvery int
	// Stop, when set, makes RunEpoch return ErrInterrupted before its next
	// step, leaving a state that Restore resumes exactly.
	Stop atomic.Bool
}

// NewTrainer puts the data and a model initialised from params (nil for
// InitParams(cfg.Seed)) on backend b.
func NewTrainer(b layers.Backend, cfg Config, train, test *mnist.Set, params []float32) (*Trainer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if train == nil || train.N == 0 {
		return nil, errors.New("no training images")
	}
	if params == nil {
		params = layers.InitParams(cfg.Seed)
	}
	t := &Trainer{Cfg: cfg, B: b}
	t.M = layers.NewModel(b, cfg.Batch, cfg.Dropout, cfg.Seed, params)
	if cfg.VAT {
		t.P = NewPerturber(t.M, cfg.Xi, cfg.Eps, cfg.IP, cfg.Norm, cfg.Seed)
	}
	n := layers.NumParams()
	t.accG, t.accD = b.Alloc(n), b.Alloc(n)
	t.trainX, t.trainY, t.nTrain = upload(b, train)
	if test != nil && test.N > 0 {
		t.testX, t.testY, t.nTest = upload(b, test)
	}
	t.perm = b.AllocInt(train.N)
	t.x = b.Alloc(cfg.Batch * layers.ImageLen)
	t.y = b.AllocInt(cfg.Batch)
	t.loss = b.Alloc(cfg.Batch)
	t.stats = b.Alloc(numSlots)
	if err := b.Sync(); err != nil {
		t.Free()
		return nil, err
	}
	return t, nil
}

func upload(b layers.Backend, s *mnist.Set) (x, y Buf, n int) {
	x, y = b.Alloc(s.N*layers.ImageLen), b.AllocInt(s.N)
	b.Upload(x, s.Images[:s.N*layers.ImageLen])
	b.UploadInt(y, s.Labels[:s.N])
	return x, y, s.N
}

// Free releases everything the trainer allocated on its backend.
func (t *Trainer) Free() {
	t.M.Free()
	if t.P != nil {
		t.P.Free(t.B)
	}
	for _, x := range []Buf{t.accG, t.accD, t.trainX, t.trainY, t.testX, t.testY, t.perm, t.x, t.y, t.loss, t.stats} {
		if x != nil {
			t.B.Free(x)
		}
	}
}

// StepsPerEpoch returns the number of batches in an epoch (the last one
// may be short, as in Keras).
func (t *Trainer) StepsPerEpoch() int { return (t.nTrain + t.Cfg.Batch - 1) / t.Cfg.Batch }

// TrainStep queues one training step on the n images at perm[off:off+n]
// (the epoch's shuffled order; the identity before the first epoch).
func (t *Trainer) TrainStep(off, n int) {
	b, m := t.B, t.M
	b.SetStep(t.Step)
	b.Gather(t.x, t.trainX, t.perm, off, n, layers.ImageLen)
	b.GatherInt(t.y, t.trainY, t.perm, off, n)
	body := func() {
		b.Zero(m.Grads)
		logits := m.Forward(t.x, n, true, 0)
		b.SoftmaxXent(t.loss, m.DLogits(), logits, t.y, n, layers.Classes, 1/float32(n))
		b.SumInto(t.stats, slotCE, t.loss, n)
		b.CountCorrect(t.stats, slotTrainCorrect, logits, t.y, n, layers.Classes)
		m.Backward(m.DLogits(), t.x, n, 0, true, nil)
		if t.P != nil {
			t.P.Loss(m, t.x, logits, n, t.Cfg.Weight)
			b.SumInto(t.stats, slotKL, t.P.KL(), n)
		}
		b.Adadelta(m.Params, m.Grads, t.accG, t.accD, t.Cfg.LR, t.Cfg.Rho, t.Cfg.AdaEps)
	}
	if c, ok := b.(layers.Capturer); ok {
		if err := c.Capture(fmt.Sprintf("train-step-%d", n), body); err != nil {
			return // the backend records the error; Sync reports it
		}
	} else {
		body()
	}
	t.Step++
}

// Progress is a report during an epoch.
type Progress struct {
	Epoch         int // 1-based
	Done, Total   int // images
	Loss, CE, VAT float64
	Elapsed       time.Duration
}

// EpochStats summarises one epoch.
type EpochStats struct {
	Epoch             int // 1-based
	Steps             int
	Loss, CE, VAT     float64 // means per image of the training loss and its parts
	TrainAcc          float64 // on the training batches, as trained (dropout on)
	TestLoss, TestAcc float64 // NaN without a test set
	Seconds           float64 // training time, evaluation excluded
	EvalSeconds       float64
	ImagesPerSec      float64
}

// ErrNonFinite is wrapped by the error a run stops with when a loss
// becomes NaN or infinite.
var ErrNonFinite = errors.New("non-finite loss")

// ErrInterrupted is returned by RunEpoch when Stop was set.
var ErrInterrupted = errors.New("interrupted")

// RunEpoch trains one epoch, then evaluates on the test set. progress, if
// not nil, is called every ProgressEvery steps and at the end.
func (t *Trainer) RunEpoch(progress func(Progress)) (EpochStats, error) {
	b := t.B
	epoch := t.Epoch + 1
	steps := t.StepsPerEpoch()
	// A run restored mid-epoch starts where it stopped; its epoch's
	// training loss then covers the remaining steps only.
	first := int(t.Step - uint64(t.Epoch)*uint64(steps))
	if first < 0 || first >= steps {
		first = 0
	}
	b.UploadInt(t.perm, layers.Rand{Seed: t.Cfg.Seed, Tensor: layers.TensorShuffle}.Permutation(t.nTrain, uint64(t.Epoch)))
	b.Zero(t.stats)
	every := t.ProgressEvery
	if every <= 0 {
		every = 20
	}
	st := make([]float32, numSlots)
	start := time.Now()
	done := 0 // images trained on in this call
	read := func() error {
		b.Download(st, t.stats)
		if err := b.Sync(); err != nil {
			return err
		}
		ce, kl := float64(st[slotCE])/float64(done), float64(st[slotKL])/float64(done)
		loss := ce + float64(t.Cfg.Weight)*kl
		if math.IsNaN(loss) || math.IsInf(loss, 0) {
			return fmt.Errorf("step %d (epoch %d): %w: cross-entropy %v, vat %v", t.Step, epoch, ErrNonFinite, ce, kl)
		}
		if progress != nil {
			progress(Progress{Epoch: epoch, Done: first*t.Cfg.Batch + done, Total: t.nTrain, Loss: loss, CE: ce, VAT: kl, Elapsed: time.Since(start)})
		}
		return nil
	}
	for s := first; s < steps; s++ {
		if t.Stop.Load() {
			if err := b.Sync(); err != nil {
				return EpochStats{}, err
			}
			return EpochStats{}, ErrInterrupted
		}
		off := s * t.Cfg.Batch
		n := min(t.Cfg.Batch, t.nTrain-off)
		t.TrainStep(off, n)
		done += n
		if (s+1)%every == 0 || s == steps-1 {
			if err := read(); err != nil {
				return EpochStats{}, err
			}
		}
	}
	secs := time.Since(start).Seconds()
	t.Epoch++
	es := EpochStats{Epoch: epoch, Steps: steps - first, Seconds: secs, ImagesPerSec: float64(done) / secs}
	es.CE = float64(st[slotCE]) / float64(done)
	es.VAT = float64(st[slotKL]) / float64(done)
	es.Loss = es.CE + float64(t.Cfg.Weight)*es.VAT
	es.TrainAcc = float64(st[slotTrainCorrect]) / float64(done)
	es.TestLoss, es.TestAcc = math.NaN(), math.NaN()
	if t.nTest > 0 {
		e0 := time.Now()
		l, a, err := t.Evaluate()
		if err != nil {
			return es, err
		}
		es.TestLoss, es.TestAcc, es.EvalSeconds = l, a, time.Since(e0).Seconds()
	}
	return es, nil
}

// Evaluate returns the mean cross-entropy and the accuracy on the test set,
// dropout off.
func (t *Trainer) Evaluate() (loss, acc float64, err error) {
	if t.nTest == 0 {
		return math.NaN(), math.NaN(), errors.New("no test images")
	}
	return evaluate(t.B, t.M, t.testX, t.testY, t.nTest, t.loss, t.stats)
}

// evaluate runs the model over n images of x with labels y in batches of
// m.Batch, using loss (m.Batch) and stats (numSlots) as scratch.
func evaluate(b layers.Backend, m *layers.Model, x, y Buf, n int, loss, stats Buf) (float64, float64, error) {
	acc := b.Slice(stats, slotEvalLoss, 2)
	b.Zero(acc)
	for off := 0; off < n; off += m.Batch {
		k := min(m.Batch, n-off)
		xs := b.Slice(x, off*layers.ImageLen, k*layers.ImageLen)
		ys := b.Slice(y, off, k)
		logits := m.Forward(xs, k, false, 0)
		b.SoftmaxXent(loss, nil, logits, ys, k, layers.Classes, 0)
		b.SumInto(stats, slotEvalLoss, loss, k)
		b.CountCorrect(stats, slotEvalCorrect, logits, ys, k, layers.Classes)
	}
	st := make([]float32, numSlots)
	b.Download(st, stats)
	if err := b.Sync(); err != nil {
		return 0, 0, err
	}
	return float64(st[slotEvalLoss]) / float64(n), float64(st[slotEvalCorrect]) / float64(n), nil
}

// Params downloads the current parameters.
func (t *Trainer) Params() []float32 {
	p := make([]float32, layers.NumParams())
	t.B.Download(p, t.M.Params)
	return p
}

// EvaluateParams returns the mean cross-entropy and accuracy of the model
// with the given parameters on set, on backend b.
func EvaluateParams(b layers.Backend, params []float32, set *mnist.Set) (loss, acc float64, err error) {
	if set == nil || set.N == 0 {
		return 0, 0, errors.New("no test images")
	}
	const batch = 500
	m := layers.NewModel(b, batch, false, 0, params)
	defer m.Free()
	x, y, n := upload(b, set)
	defer b.Free(x)
	defer b.Free(y)
	lossBuf, stats := b.Alloc(batch), b.Alloc(numSlots)
	defer b.Free(lossBuf)
	defer b.Free(stats)
	return evaluate(b, m, x, y, n, lossBuf, stats)
}

// Perm returns the buffer of the epoch's image order (int32, one per
// training image), for benchmarks that set their own.
func (t *Trainer) Perm() Buf { return t.perm }
