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
	// Net names the network (layers.Nets): "seed-cnn" (the default), or
	// one of the VAT papers' MLPs.
	Net    string
	Epochs int
	// StepsPerEpoch, when positive, makes an epoch that many steps, the
	// images of each stream taken in turn from passes over them in a new
	// order each (the VAT papers' epochs of 500 or 600 updates); 0 makes
	// an epoch one pass over the training images (over the unlabelled ones
	// in a semi-supervised run).
	StepsPerEpoch int
	// Validation holds out that many labelled training images (as many
	// of each class, chosen by the seed before the labelled ones), never
	// trained on, whose error each epoch reports.
	Validation int
	Batch      int // labelled images per step
	Dropout    bool
	VAT        bool
	Eps        float32 // length of r_adv
	Xi         float32 // finite-difference step of the power iteration
	IP         int     // power iterations
	Weight     float32 // weight of the VAT term in the loss
	Norm       layers.Norm
	Seed       uint64

	// Semi-supervised training: with Labeled > 0, Labeled training images
	// (as many of each class) keep their labels and the rest serve as
	// unlabelled data, ULBatch of them per step; an epoch is one pass over
	// the unlabelled images. The VAT term is taken on the unlabelled batch
	// (and on the labelled one with VATLabeled); EntMin adds the mean
	// entropy of the predictions on the unlabelled batch to the loss.
	Labeled    int
	ULBatch    int
	VATLabeled bool
	EntMin     bool

	// EMA, when positive, keeps an exponential moving average of the
	// parameters (avg = EMA·avg + (1-EMA)·params after every step, starting
	// from the initial parameters); the run's model, evaluated and used by
	// eval, is then the average.
	EMA float32

	// Translate, when positive, moves every training image (labelled and
	// unlabelled) by a random offset of up to Translate pixels along each
	// axis before the step sees it (zero fill), drawn per image and step.
	Translate int

	// Teacher names a checkpoint of an earlier run on the same labelled
	// images whose model labels the unlabelled ones (self-training): every
	// unlabelled image it gives a probability of at least TeacherMin joins
	// the labelled stream with its predicted class. NewTrainer does not
	// read it: the caller loads it (LoadTeacher), passes its parameters to
	// NewTrainer as the starting point and to Trainer.PseudoLabel. The
	// unlabelled stream and its VAT term are unchanged.
	Teacher    string
	TeacherMin float32

	// Optimizer is "adadelta" (Keras 1.2.2: LR 1, Rho 0.95, AdaEps 1e-8)
	// or "adam" (LR, Beta1, Beta2, AdaEps). The learning rate of epoch e
	// (0-based) is LR·LRDecay^e; or, with LRDecayStart S > 0 (and LRDecay
	// 1), LR before epoch S and LR·(Epochs-e)/(Epochs-S) from it on, Adam's
	// beta1 then being DecayBeta1 if that is positive (takerum/vat_tf's
	// schedule: 0.001, then a linear decay over the last third, beta1 0.5).
	// Adam's bias correction takes the current beta1 (1-beta1^t), where
	// TensorFlow's keeps the product of the betas used; long after the
	// first steps both are 1.
	Optimizer    string
	LR, Rho      float32
	Beta1, Beta2 float32
	AdaEps       float32 // the optimiser's epsilon
	LRDecay      float32
	LRDecayStart int
	DecayBeta1   float32
}

// Stats slots on the device.
const (
	slotCE = iota
	slotKL
	slotTrainCorrect
	slotEvalLoss
	slotEvalCorrect
	slotEntropy
	numSlots
)

// Trainer trains a network (Config.Net) on one backend with the whole data
// set resident there.
type Trainer struct {
	Cfg Config
	B   layers.Backend
	Net *layers.Net
	M   *layers.Model
	P   *Perturber // nil without VAT

	// Labeled and Unlabeled are the training images used with and without
	// labels (indices into the training set); Unlabeled is nil in a
	// supervised run, where every image is labelled.
	Labeled, Unlabeled []int32
	// Validation holds the held-out images (Config.Validation), never
	// trained on; nil without.
	Validation []int32
	// supervised lists the images a supervised run trains on when some are
	// held out for validation (nil: all of them).
	supervised []int32

	accG, accD     Buf // optimiser state: Adadelta's accumulators or Adam's moments
	trainX, trainY Buf
	labels         []int32 // trainY's contents (with PseudoLabel's labels once it has run)
	teacherSum     string  // SHA-256 of the teacher's parameters, once PseudoLabel has run
	testX, testY   Buf
	valX, valY     Buf
	nTrain, nTest  int
	pool           Buf // the images batch normalisation's statistics are re-estimated over (int32 indices)
	nPool          int
	perm, lperm    Buf // the epoch's order of the (un)labelled stream; the labelled stream of a semi-supervised epoch
	x, y, xu       Buf
	raw            Buf // the gathered batch before translation (with Translate)
	avg, hold      Buf // the parameters' moving average, and the parameters while it is evaluated (with EMA)
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

	id uint64 // tells this trainer's captured steps from another's on the same backend
}

var trainerIDs atomic.Uint64

// ChooseLabeled picks n labelled images, n/10 of each class: the first of
// each class in the permutation of stream TensorLabeled (step 0) of the
// training set. It returns them in that order, and the others in index
// order.
func ChooseLabeled(labels []int32, n int, seed uint64) (labeled, unlabeled []int32, err error) {
	_, labeled, unlabeled, err = Split(labels, Config{Labeled: n, Seed: seed})
	return labeled, unlabeled, err
}

// Split divides the training set as cfg says. The validation images
// (cfg.Validation, as many of each class) are the first of each class in
// the permutation of stream TensorValidation (step 0); then, among the
// others, the labelled images of a semi-supervised run (cfg.Labeled, as
// many of each class) the first of each class in the permutation of stream
// TensorLabeled (step 0), both in the order found. The rest, in index
// order, are the unlabelled images (semi-supervised) or, in a supervised
// run, labeled (unlabeled nil); a supervised run without validation gets
// labeled and unlabeled nil: it trains on every image.
func Split(labels []int32, cfg Config) (validation, labeled, unlabeled []int32, err error) {
	taken := make([]bool, len(labels))
	choose := func(flag string, n int, tensor uint32) ([]int32, error) {
		per := n / layers.Classes
		perm := layers.Rand{Seed: cfg.Seed, Tensor: tensor}.Permutation(len(labels), 0)
		count := make([]int, layers.Classes)
		var chosen []int32
		for _, i := range perm {
			if c := labels[i]; !taken[i] && count[c] < per {
				count[c]++
				taken[i] = true
				chosen = append(chosen, i)
			}
		}
		if len(chosen) < n {
			return nil, fmt.Errorf("--%s %d: the training set has too few images of some class (%v)", flag, n, count)
		}
		return chosen, nil
	}
	rest := func() (r []int32) {
		for i := range labels {
			if !taken[i] {
				r = append(r, int32(i))
			}
		}
		return r
	}
	if cfg.Validation > 0 {
		if validation, err = choose("validation", cfg.Validation, layers.TensorValidation); err != nil {
			return nil, nil, nil, err
		}
	}
	if cfg.Labeled == 0 {
		if validation == nil {
			return nil, nil, nil, nil
		}
		if labeled = rest(); len(labeled) == 0 {
			return nil, nil, nil, fmt.Errorf("--validation %d leaves no training images of %d", cfg.Validation, len(labels))
		}
		return validation, labeled, nil, nil
	}
	if labeled, err = choose("labeled", cfg.Labeled, layers.TensorLabeled); err != nil {
		return nil, nil, nil, err
	}
	if unlabeled = rest(); len(unlabeled) == 0 {
		return nil, nil, nil, fmt.Errorf("--labeled %d leaves no unlabelled images of %d", cfg.Labeled, len(labels))
	}
	return validation, labeled, unlabeled, nil
}

// NewTrainer puts the data and a model initialised from params (nil for
// the network's InitParams(cfg.Seed)) on backend b.
func NewTrainer(b layers.Backend, cfg Config, train, test *mnist.Set, params []float32) (*Trainer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if train == nil || train.N == 0 {
		return nil, errors.New("no training images")
	}
	net, err := layers.NetNamed(cfg.Net)
	if err != nil {
		return nil, err
	}
	if params == nil {
		params = net.InitParams(cfg.Seed)
	}
	if len(params) != net.NumParams() {
		return nil, fmt.Errorf("%d parameters for the network %s, which has %d", len(params), net.Name, net.NumParams())
	}
	t := &Trainer{Cfg: cfg, B: b, Net: net, id: trainerIDs.Add(1)}
	batch := cfg.Batch
	var labeled []int32
	if t.Validation, labeled, t.Unlabeled, err = Split(train.Labels[:train.N], cfg); err != nil {
		return nil, err
	}
	if cfg.Labeled > 0 {
		t.Labeled = labeled
		batch = max(batch, cfg.ULBatch)
	} else {
		t.supervised = labeled
	}
	t.M = layers.NewNet(net, b, batch, cfg.Dropout, cfg.Seed, params)
	if cfg.VAT {
		t.P = NewPerturber(t.M, cfg.Xi, cfg.Eps, cfg.IP, cfg.Norm, cfg.Seed)
	}
	n := net.NumParams()
	t.accG, t.accD = b.Alloc(n), b.Alloc(n)
	t.trainX, t.trainY, t.nTrain = upload(b, train)
	t.labels = append([]int32(nil), train.Labels[:train.N]...)
	if test != nil && test.N > 0 {
		t.testX, t.testY, t.nTest = upload(b, test)
	}
	if t.Validation != nil {
		t.valX, t.valY, _ = upload(b, subset(train, t.Validation))
	}
	if net.HasKind(layers.BatchNorm) {
		pool := t.Unlabeled
		if pool == nil {
			pool = t.trainIDs()
		}
		t.pool, t.nPool = b.AllocInt(len(pool)), len(pool)
		b.UploadInt(t.pool, pool)
	}
	perStep := cfg.Batch
	if t.Unlabeled != nil {
		perStep = cfg.ULBatch
	}
	t.perm = b.AllocInt(max(train.N, cfg.StepsPerEpoch*perStep))
	t.x = b.Alloc(cfg.Batch * layers.ImageLen)
	t.y = b.AllocInt(cfg.Batch)
	if t.Unlabeled != nil {
		t.lperm = b.AllocInt(t.StepsPerEpoch() * cfg.Batch)
		t.xu = b.Alloc(cfg.ULBatch * layers.ImageLen)
	}
	if cfg.Translate > 0 {
		t.raw = b.Alloc(batch * layers.ImageLen)
	}
	if cfg.EMA > 0 {
		t.avg, t.hold = b.Alloc(n), b.Alloc(n)
		b.Copy(t.avg, t.M.Params)
	}
	t.loss = b.Alloc(batch)
	t.stats = b.Alloc(numSlots)
	if err := b.Sync(); err != nil {
		t.Free()
		return nil, err
	}
	return t, nil
}

// subset returns the images idx of s, in that order.
func subset(s *mnist.Set, idx []int32) *mnist.Set {
	o := &mnist.Set{N: len(idx), Images: make([]float32, 0, len(idx)*layers.ImageLen), Labels: make([]int32, len(idx))}
	for i, j := range idx {
		o.Images = append(o.Images, s.Images[int(j)*layers.ImageLen:(int(j)+1)*layers.ImageLen]...)
		o.Labels[i] = s.Labels[j]
	}
	return o
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
	for _, x := range []Buf{t.accG, t.accD, t.trainX, t.trainY, t.testX, t.testY, t.valX, t.valY, t.pool, t.perm, t.lperm, t.x, t.y, t.xu, t.raw, t.avg, t.hold, t.loss, t.stats} {
		if x != nil {
			t.B.Free(x)
		}
	}
}

// StepsPerEpoch returns the number of steps in an epoch: Config's
// StepsPerEpoch when set, else batches of the training set (the last one
// may be short, as in Keras), or of the unlabelled images in a
// semi-supervised run.
func (t *Trainer) StepsPerEpoch() int {
	switch {
	case t.Cfg.StepsPerEpoch > 0:
		return t.Cfg.StepsPerEpoch
	case t.Unlabeled != nil:
		return (len(t.Unlabeled) + t.Cfg.ULBatch - 1) / t.Cfg.ULBatch
	}
	return (t.nSupervised() + t.Cfg.Batch - 1) / t.Cfg.Batch
}

// nSupervised returns the number of images a supervised run trains on.
func (t *Trainer) nSupervised() int {
	if t.supervised != nil {
		return len(t.supervised)
	}
	return t.nTrain
}

// trainIDs returns the images a supervised run trains on.
func (t *Trainer) trainIDs() []int32 {
	if t.supervised != nil {
		return t.supervised
	}
	ids := make([]int32, t.nTrain)
	for i := range ids {
		ids[i] = int32(i)
	}
	return ids
}

// stream returns positions from .. from+k-1 of a stream that takes the
// images ids in turn, in a new order each pass over them (pass p: the
// permutation of stream (seed, tensor) at step p).
func stream(ids []int32, from, k int, seed uint64, tensor uint32) []int32 {
	out := make([]int32, k)
	pass, cur := -1, []int32(nil)
	for i := range out {
		pos := from + i
		if pos/len(ids) != pass {
			pass = pos / len(ids)
			cur = layers.Rand{Seed: seed, Tensor: tensor}.Permutation(len(ids), uint64(pass))
		}
		out[i] = ids[cur[pos%len(ids)]]
	}
	return out
}

// order uploads the epoch's image order. Without StepsPerEpoch it is a
// permutation of the training set (supervised; of the images not held out
// for validation) or of the unlabelled images (stream TensorShuffle, step
// = epoch); with it, the epoch's part of a stream over them (stream, with
// TensorShuffle). In a semi-supervised run the labelled stream cycles
// through the labelled images in a new order each pass (stream
// TensorLabeledShuffle, step = pass).
func (t *Trainer) order() {
	cfg := t.Cfg
	shuffle := layers.Rand{Seed: cfg.Seed, Tensor: layers.TensorShuffle}
	if t.Unlabeled == nil {
		switch {
		case cfg.StepsPerEpoch > 0:
			per := cfg.StepsPerEpoch * cfg.Batch
			t.B.UploadInt(t.perm, stream(t.trainIDs(), t.Epoch*per, per, cfg.Seed, layers.TensorShuffle))
		case t.supervised != nil:
			p := shuffle.Permutation(len(t.supervised), uint64(t.Epoch))
			for i, j := range p {
				p[i] = t.supervised[j]
			}
			t.B.UploadInt(t.perm, p)
		default:
			t.B.UploadInt(t.perm, shuffle.Permutation(t.nTrain, uint64(t.Epoch)))
		}
		return
	}
	if cfg.StepsPerEpoch > 0 {
		per := cfg.StepsPerEpoch * cfg.ULBatch
		t.B.UploadInt(t.perm, stream(t.Unlabeled, t.Epoch*per, per, cfg.Seed, layers.TensorShuffle))
	} else {
		p := shuffle.Permutation(len(t.Unlabeled), uint64(t.Epoch))
		for i, j := range p {
			p[i] = t.Unlabeled[j]
		}
		t.B.UploadInt(t.perm, p)
	}
	per := t.StepsPerEpoch() * cfg.Batch
	t.B.UploadInt(t.lperm, stream(t.Labeled, t.Epoch*per, per, cfg.Seed, layers.TensorLabeledShuffle))
}

// LR returns the learning rate of the current epoch (Config.Optimizer).
func (t *Trainer) LR() float32 {
	c := t.Cfg
	if c.LRDecayStart > 0 {
		if t.Epoch < c.LRDecayStart {
			return c.LR
		}
		return float32(float64(c.LR) * float64(c.Epochs-t.Epoch) / float64(c.Epochs-c.LRDecayStart))
	}
	return float32(float64(c.LR) * math.Pow(float64(c.LRDecay), float64(t.Epoch)))
}

// Beta1 returns Adam's beta1 for the current epoch (Config.Optimizer).
func (t *Trainer) Beta1() float32 {
	c := t.Cfg
	if c.LRDecayStart > 0 && c.DecayBeta1 > 0 && t.Epoch >= c.LRDecayStart {
		return c.DecayBeta1
	}
	return c.Beta1
}

// TrainStep queues training step s of the epoch (in order set for it; the
// identity before the first epoch).
func (t *Trainer) TrainStep(s int) {
	b, m, cfg := t.B, t.M, t.Cfg
	b.SetStep(t.Step)
	nl, nu := t.stepSizes(s)
	// load gathers n images of stream idx from off into dst; with Translate
	// it gathers them into t.raw and translates them into dst, with the
	// offsets of stream tensor at this step.
	load := func(dst, idx Buf, off, n int, tensor uint32) {
		if cfg.Translate == 0 {
			b.Gather(dst, t.trainX, idx, off, n, layers.ImageLen)
			return
		}
		b.Gather(t.raw, t.trainX, idx, off, n, layers.ImageLen)
		b.Translate(dst, t.raw, n, layers.ImageSide, layers.ImageSide, cfg.Translate, layers.Rand{Seed: cfg.Seed, Tensor: tensor})
	}
	if t.Unlabeled == nil {
		load(t.x, t.perm, s*cfg.Batch, nl, layers.TensorTranslate)
		b.GatherInt(t.y, t.trainY, t.perm, s*cfg.Batch, nl)
	} else {
		load(t.x, t.lperm, s*cfg.Batch, nl, layers.TensorTranslate)
		b.GatherInt(t.y, t.trainY, t.lperm, s*cfg.Batch, nl)
		load(t.xu, t.perm, s*cfg.ULBatch, nu, layers.TensorTranslate+1)
	}
	lr, beta1 := t.LR(), t.Beta1()
	body := func() {
		b.Zero(m.Grads)
		logits := m.Forward(t.x, nl, true, 0)
		b.SoftmaxXent(t.loss, m.DLogits(), logits, t.y, nl, layers.Classes, 1/float32(nl))
		b.SumInto(t.stats, slotCE, t.loss, nl)
		b.CountCorrect(t.stats, slotTrainCorrect, logits, t.y, nl, layers.Classes)
		m.Backward(m.DLogits(), t.x, nl, 0, true, nil)
		if t.P != nil && (t.Unlabeled == nil || cfg.VATLabeled) {
			t.P.Loss(m, t.x, logits, nl, 0, cfg.Weight)
			b.SumInto(t.stats, slotKL, t.P.KL(), nl)
		}
		if t.Unlabeled != nil && (t.P != nil || cfg.EntMin) {
			pass := cfg.IP + 2
			lu := m.Forward(t.xu, nu, true, pass)
			if cfg.EntMin {
				b.Entropy(t.loss, m.DLogits(), lu, nu, layers.Classes, 1/float32(nu))
				b.SumInto(t.stats, slotEntropy, t.loss, nu)
				m.Backward(m.DLogits(), t.xu, nu, pass, true, nil)
			}
			if t.P != nil {
				t.P.Loss(m, t.xu, lu, nu, pass, cfg.Weight)
				b.SumInto(t.stats, slotKL, t.P.KL(), nu)
			}
		}
		switch cfg.Optimizer {
		case "adam":
			b.Adam(m.Params, m.Grads, t.accG, t.accD, lr, beta1, cfg.Beta2, cfg.AdaEps)
		default:
			b.Adadelta(m.Params, m.Grads, t.accG, t.accD, lr, cfg.Rho, cfg.AdaEps)
		}
		if cfg.EMA > 0 {
			b.Average(t.avg, m.Params, cfg.EMA)
		}
	}
	if c, ok := b.(layers.Capturer); ok {
		if err := c.Capture(fmt.Sprintf("trainer-%d-step-%d-%d-%x-%x", t.id, nl, nu, math.Float32bits(lr), math.Float32bits(beta1)), body); err != nil {
			return // the backend records the error; Sync reports it
		}
	} else {
		body()
	}
	t.Step++
}

// stepSizes returns the labelled and unlabelled images of step s.
func (t *Trainer) stepSizes(s int) (nl, nu int) {
	switch {
	case t.Cfg.StepsPerEpoch > 0 && t.Unlabeled == nil:
		return t.Cfg.Batch, 0
	case t.Cfg.StepsPerEpoch > 0:
		return t.Cfg.Batch, t.Cfg.ULBatch
	case t.Unlabeled == nil:
		return min(t.Cfg.Batch, t.nSupervised()-s*t.Cfg.Batch), 0
	}
	return t.Cfg.Batch, min(t.Cfg.ULBatch, len(t.Unlabeled)-s*t.Cfg.ULBatch)
}

// Progress is a report during an epoch.
type Progress struct {
	Epoch         int    // 1-based
	Step          uint64 // steps done in the run
	Done, Total   int    // images
	Loss, CE, VAT float64
	Elapsed       time.Duration
}

// EpochStats summarises one epoch.
type EpochStats struct {
	Epoch             int // 1-based
	Steps             int
	Loss, CE, VAT     float64 // means per image of the training loss and its parts
	Entropy           float64 // mean entropy on the unlabelled batches (with EntMin)
	TrainAcc          float64 // on the training batches, as trained (dropout on)
	TestLoss, TestAcc float64 // NaN without a test set; of the averaged parameters with EMA
	ValLoss, ValAcc   float64 // on the images held out for validation, as the test's; NaN without
	// CurrentTestLoss, CurrentTestAcc, CurrentValLoss and CurrentValAcc are
	// those of the parameters as trained, not averaged: NaN without EMA (or
	// without the set). With both, one run tells on validation whether the
	// average helps.
	CurrentTestLoss, CurrentTestAcc float64
	CurrentValLoss, CurrentValAcc   float64
	Seconds                         float64 // training time, evaluation excluded
	EvalSeconds                     float64
	ImagesPerSec                    float64 // labelled and unlabelled images
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
	t.order()
	b.Zero(t.stats)
	every := t.ProgressEvery
	if every <= 0 {
		every = 20
	}
	st := make([]float32, numSlots)
	start := time.Now()
	var nl, nu int // labelled and unlabelled images trained on in this call
	means := func() (ce, kl, ent, loss float64) {
		ce = float64(st[slotCE]) / float64(nl)
		kl = float64(st[slotKL]) / float64(max(nl, 1))
		if t.Unlabeled != nil {
			kl = float64(st[slotKL]) / float64(max(nu, 1))
			if t.Cfg.VATLabeled {
				kl = float64(st[slotKL]) / float64(max(nu+nl, 1))
			}
			ent = float64(st[slotEntropy]) / float64(max(nu, 1))
		}
		return ce, kl, ent, ce + float64(t.Cfg.Weight)*kl + ent
	}
	read := func() error {
		b.Download(st, t.stats)
		if err := b.Sync(); err != nil {
			return err
		}
		ce, kl, ent, loss := means()
		if math.IsNaN(loss) || math.IsInf(loss, 0) {
			return fmt.Errorf("step %d (epoch %d): %w: cross-entropy %v, vat %v, entropy %v", t.Step, epoch, ErrNonFinite, ce, kl, ent)
		}
		if progress != nil {
			per, total, done := t.Cfg.Batch, t.nSupervised(), first*t.Cfg.Batch+nl
			if t.Unlabeled != nil {
				per, total, done = t.Cfg.ULBatch, len(t.Unlabeled), first*t.Cfg.ULBatch+nu
			}
			if t.Cfg.StepsPerEpoch > 0 {
				total = t.Cfg.StepsPerEpoch * per
			}
			progress(Progress{Epoch: epoch, Step: t.Step, Done: done, Total: total, Loss: loss, CE: ce, VAT: kl, Elapsed: time.Since(start)})
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
		t.TrainStep(s)
		a, c := t.stepSizes(s)
		nl, nu = nl+a, nu+c
		if (s+1)%every == 0 || s == steps-1 {
			if err := read(); err != nil {
				return EpochStats{}, err
			}
		}
	}
	secs := time.Since(start).Seconds()
	t.Epoch++
	es := EpochStats{Epoch: epoch, Steps: steps - first, Seconds: secs, ImagesPerSec: float64(nl+nu) / secs}
	es.CE, es.VAT, es.Entropy, es.Loss = means()
	es.TrainAcc = float64(st[slotTrainCorrect]) / float64(nl)
	es.TestLoss, es.TestAcc = math.NaN(), math.NaN()
	es.ValLoss, es.ValAcc = math.NaN(), math.NaN()
	es.CurrentTestLoss, es.CurrentTestAcc = math.NaN(), math.NaN()
	es.CurrentValLoss, es.CurrentValAcc = math.NaN(), math.NaN()
	e0 := time.Now()
	if err := t.EstimateStats(); err != nil {
		return es, err
	}
	if t.valX != nil {
		var err error
		if es.ValLoss, es.ValAcc, err = t.EvaluateValidation(); err != nil {
			return es, err
		}
		if t.avg != nil {
			if es.CurrentValLoss, es.CurrentValAcc, err = t.evaluateValidationCurrent(); err != nil {
				return es, err
			}
		}
	}
	es.EvalSeconds = time.Since(e0).Seconds()
	if t.nTest > 0 {
		e0 := time.Now()
		l, a, err := t.Evaluate()
		if err != nil {
			return es, err
		}
		es.TestLoss, es.TestAcc = l, a
		if t.avg != nil {
			if es.CurrentTestLoss, es.CurrentTestAcc, err = t.evaluateCurrent(); err != nil {
				return es, err
			}
		}
		es.EvalSeconds += time.Since(e0).Seconds()
	}
	return es, nil
}

// EstimateStats re-estimates the running statistics of batch
// normalisation, as the VAT papers' code does after training: a pass over
// the unlabelled images (semi-supervised) or the training images
// (supervised), without translations, in index order, in batches of
// --ul-batch (--batch when supervised), the remainder left out, each
// average the mean of the batches' statistics (Model.EstimateStats). With
// EMA the averaged parameters' statistics are re-estimated too. It runs
// after every epoch: the statistics are read by no training pass (the
// training passes normalise with the batch's own), so this changes the
// model evaluated and saved, never the training. A network without batch
// normalisation has nothing to re-estimate.
func (t *Trainer) EstimateStats() error {
	if t.pool == nil {
		return nil
	}
	b := t.B
	run := func() {
		bs, x := t.Cfg.Batch, t.x
		if t.Unlabeled != nil {
			bs, x = t.Cfg.ULBatch, t.xu
		}
		batches := t.nPool / bs
		if batches == 0 {
			batches, bs = 1, t.nPool
		}
		for k := range batches {
			b.Gather(x, t.trainX, t.pool, k*bs, bs, layers.ImageLen)
			t.M.EstimateStats(x, bs, k)
		}
	}
	run()
	if t.avg != nil {
		b.Copy(t.hold, t.M.Params)
		b.Copy(t.M.Params, t.avg)
		run()
		b.Copy(t.avg, t.M.Params)
		b.Copy(t.M.Params, t.hold)
	}
	return b.Sync()
}

// EvaluateValidation returns the mean cross-entropy and the accuracy on
// the images held out for validation, of the run's model (as Evaluate).
func (t *Trainer) EvaluateValidation() (loss, acc float64, err error) {
	if t.valX == nil {
		return math.NaN(), math.NaN(), errors.New("no validation images")
	}
	return t.withModel(t.evaluateValidationCurrent)
}

// evaluateValidationCurrent is EvaluateValidation of the parameters as
// trained.
func (t *Trainer) evaluateValidationCurrent() (loss, acc float64, err error) {
	return evaluate(t.B, t.M, t.valX, t.valY, len(t.Validation), t.loss, t.stats)
}

// Evaluate returns the mean cross-entropy and the accuracy on the test set,
// dropout off, of the run's model: the averaged parameters with EMA.
func (t *Trainer) Evaluate() (loss, acc float64, err error) {
	return t.withModel(t.evaluateCurrent)
}

// withModel runs f with the run's model in t.M.Params: the averaged
// parameters with EMA (the parameters as trained are put back after).
func (t *Trainer) withModel(f func() (float64, float64, error)) (loss, acc float64, err error) {
	if t.avg == nil {
		return f()
	}
	b := t.B
	b.Copy(t.hold, t.M.Params)
	b.Copy(t.M.Params, t.avg)
	loss, acc, err = f()
	b.Copy(t.M.Params, t.hold)
	return loss, acc, err
}

// evaluateCurrent is Evaluate of the parameters as trained.
func (t *Trainer) evaluateCurrent() (loss, acc float64, err error) {
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
	p := make([]float32, t.Net.NumParams())
	t.B.Download(p, t.M.Params)
	return p
}

// EvaluateParams returns the mean cross-entropy and accuracy of network
// net with the given parameters on set, on backend b.
func EvaluateParams(b layers.Backend, net *layers.Net, params []float32, set *mnist.Set) (loss, acc float64, err error) {
	if set == nil || set.N == 0 {
		return 0, 0, errors.New("no test images")
	}
	const batch = 500
	m := layers.NewNet(net, b, batch, false, 0, params)
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
