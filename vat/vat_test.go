package vat

import (
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/vatgpu/vatgpu/layers"
	"github.com/vatgpu/vatgpu/mnist"
)

// randomSet makes n random images with random labels.
func randomSet(n int, seed uint64) *mnist.Set {
	r := rand.New(rand.NewPCG(seed, 3))
	s := &mnist.Set{N: n, Images: make([]float32, n*layers.ImageLen), Labels: make([]int32, n)}
	for i := range s.Images {
		s.Images[i] = r.Float32()
	}
	for i := range s.Labels {
		s.Labels[i] = int32(i % layers.Classes)
	}
	return s
}

func TestChooseLabeled(t *testing.T) {
	labels := randomSet(1000, 1).Labels
	l, u, err := ChooseLabeled(labels, 100, 1337)
	if err != nil {
		t.Fatal(err)
	}
	if len(l) != 100 || len(u) != 900 {
		t.Fatalf("%d labelled, %d unlabelled", len(l), len(u))
	}
	count := make([]int, 10)
	seen := map[int32]bool{}
	for _, i := range l {
		count[labels[i]]++
		seen[i] = true
	}
	for c, k := range count {
		if k != 10 {
			t.Errorf("class %d: %d labelled images, want 10", c, k)
		}
	}
	for _, i := range u {
		if seen[i] {
			t.Fatalf("image %d both labelled and unlabelled", i)
		}
	}
	l2, _, _ := ChooseLabeled(labels, 100, 1337)
	l3, _, _ := ChooseLabeled(labels, 100, 7)
	if !reflect.DeepEqual(l, l2) || reflect.DeepEqual(l, l3) {
		t.Error("the choice must depend on the seed alone")
	}
	if _, _, err := ChooseLabeled(labels, 1000, 1); err == nil {
		t.Error("--labeled as large as the training set accepted")
	}
}

func TestSemiSupervised(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Labeled, cfg.Batch, cfg.ULBatch, cfg.VAT, cfg.EntMin, cfg.Dropout = 20, 8, 32, true, true, true
	cfg.Optimizer, cfg.LR, cfg.LRDecay = "adam", 0.002, 0.9
	train, test := randomSet(180, 1), randomSet(40, 2)
	tr, err := NewTrainer(layers.NewCPU(0), cfg, train, test, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Free()
	if got := tr.StepsPerEpoch(); got != 5 { // 160 unlabelled / 32
		t.Fatalf("%d steps per epoch, want 5", got)
	}
	before := tr.Params()
	for e := 0; e < 2; e++ {
		es, err := tr.RunEpoch(nil)
		if err != nil {
			t.Fatal(err)
		}
		if math.IsNaN(es.Loss) || es.VAT <= 0 || es.Entropy <= 0 || es.CE <= 0 {
			t.Errorf("epoch %d: loss parts %+v", e+1, es)
		}
	}
	if tr.LR() != float32(0.002*0.9*0.9) {
		t.Errorf("learning rate after 2 epochs %v", tr.LR())
	}
	if reflect.DeepEqual(before, tr.Params()) {
		t.Error("parameters did not change")
	}
}

// TestResumeExact checks that a run saved mid-epoch and restored into a
// new trainer ends with the same parameters as an uninterrupted run.
// It runs plain, with translated batches and a weight average, and with
// the TPAMI network (batch normalisation, noise) semi-supervised with a
// validation split, epochs of a set number of steps and a weight average.
func TestResumeExact(t *testing.T) {
	for _, c := range []struct {
		shift int
		ema   float32
	}{{0, 0}, {2, 0.9}} {
		t.Run(fmt.Sprint("translate", c.shift, "_ema", c.ema), func(t *testing.T) {
			testResumeExact(t, func(cfg *Config) { cfg.Translate, cfg.EMA = c.shift, c.ema })
		})
	}
	t.Run("mlp-tpami", func(t *testing.T) {
		testResumeExact(t, func(cfg *Config) {
			cfg.Net, cfg.Dropout, cfg.EMA, cfg.Validation, cfg.StepsPerEpoch = "mlp-tpami", false, 0.9, 20, 3
			cfg.Labeled, cfg.Batch, cfg.ULBatch, cfg.Optimizer, cfg.LR = 20, 8, 16, "adam", 0.002
		})
	})
}

func testResumeExact(t *testing.T, change func(*Config)) {
	cfg := DefaultConfig()
	cfg.Batch, cfg.VAT, cfg.Dropout, cfg.Epochs = 16, true, true, 2
	change(&cfg)
	train := randomSet(96, 4)
	full, _ := NewTrainer(layers.NewCPU(0), cfg, train, nil, nil)
	defer full.Free()
	for full.Epoch < cfg.Epochs {
		if _, err := full.RunEpoch(nil); err != nil {
			t.Fatal(err)
		}
	}
	// The other run stops in the last epoch.
	part, _ := NewTrainer(layers.NewCPU(0), cfg, train, nil, nil)
	defer part.Free()
	for part.Epoch < cfg.Epochs-1 {
		if _, err := part.RunEpoch(nil); err != nil {
			t.Fatal(err)
		}
	}
	part.Stop.Store(true)
	part.ProgressEvery = 1
	_, err := part.RunEpoch(nil) // returns at once: stop is set
	if err != ErrInterrupted {
		t.Fatalf("got %v, want ErrInterrupted", err)
	}
	// Advance two steps by hand, then save and restore.
	part.Stop.Store(false)
	part.order()
	part.TrainStep(0)
	part.TrainStep(1)
	stopped := int(part.Step)
	path := filepath.Join(t.TempDir(), "ck.safetensors")
	if err := part.State().Save(path); err != nil {
		t.Fatal(err)
	}
	s, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	res, _ := NewTrainer(layers.NewCPU(0), cfg, train, nil, nil)
	defer res.Free()
	if err := res.Restore(s); err != nil {
		t.Fatal(err)
	}
	if int(res.Step) != stopped {
		t.Fatalf("restored at step %d, saved at %d", res.Step, stopped)
	}
	if _, err := res.RunEpoch(nil); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(res.Params(), full.Params()) {
		t.Error("resumed run ends with other parameters than the uninterrupted one")
	}
	if !reflect.DeepEqual(res.State().Average, full.State().Average) {
		t.Error("resumed run ends with another weight average than the uninterrupted one")
	}
	if cfg.Validation > 0 {
		l1, a1, _ := res.EvaluateValidation()
		l2, a2, _ := full.EvaluateValidation()
		if l1 != l2 || a1 != a2 {
			t.Errorf("validation loss and accuracy %v, %v after the resume, %v, %v without", l1, a1, l2, a2)
		}
	}
	other := cfg
	other.Xi = 5
	if err := other.SameMath(s.Config); err == nil {
		t.Error("a checkpoint with another xi accepted")
	}
	other = cfg
	other.Translate = 1
	if err := other.SameMath(s.Config); err == nil {
		t.Error("a checkpoint with another translate accepted")
	}
}

// TestTranslateBatches: with Translate the step trains on the gathered
// batch moved by the offsets of the step's words, labelled and unlabelled
// streams apart.
func TestTranslateBatches(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Labeled, cfg.Batch, cfg.ULBatch, cfg.VAT, cfg.Translate = 20, 8, 32, true, 3
	cfg.Optimizer, cfg.LR = "adam", 0.002
	train := randomSet(180, 1)
	b := layers.NewCPU(0)
	tr, err := NewTrainer(b, cfg, train, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Free()
	tr.order()
	tr.Step = 7
	tr.TrainStep(2)
	lp, up := layers.Ints(tr.lperm), layers.Ints(tr.perm)
	for _, c := range []struct {
		name  string
		got   Buf
		idx   []int32
		n     int
		shift uint32
	}{{"labelled", tr.x, lp[2*8 : 3*8], 8, 0}, {"unlabelled", tr.xu, up[2*32 : 3*32], 32, 1}} {
		raw := make([]float32, c.n*layers.ImageLen)
		for i, j := range c.idx {
			copy(raw[i*layers.ImageLen:], train.Images[int(j)*layers.ImageLen:(int(j)+1)*layers.ImageLen])
		}
		want := b.Alloc(len(raw))
		ref := layers.NewCPU(1)
		ref.SetStep(7)
		rb := ref.Alloc(len(raw))
		ref.Upload(rb, raw)
		ref.Translate(want, rb, c.n, layers.ImageSide, layers.ImageSide, 3, layers.Rand{Seed: cfg.Seed, Tensor: layers.TensorTranslate + c.shift})
		if !reflect.DeepEqual(layers.Floats(c.got)[:len(raw)], layers.Floats(want)) {
			t.Errorf("%s batch is not the gathered images translated at the step", c.name)
		}
		if reflect.DeepEqual(layers.Floats(c.got)[:len(raw)], raw) {
			t.Errorf("%s batch was not moved", c.name)
		}
	}
}

// TestLRSchedule: the exponential decay, and the linear one over the last
// epochs with Adam's beta1 switched, epoch by epoch; a run with the
// linear decay resumes exactly across its start.
func TestLRSchedule(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Optimizer, cfg.LR, cfg.Beta1, cfg.Epochs = "adam", 0.002, 0.9, 6
	tr := &Trainer{Cfg: cfg}
	tr.Cfg.LRDecay = 0.5
	for e, want := range []float32{0.002, 0.001, 0.0005} {
		if tr.Epoch = e; tr.LR() != want || tr.Beta1() != 0.9 {
			t.Errorf("exponential, epoch %d: lr %v, beta1 %v; want %v, 0.9", e, tr.LR(), tr.Beta1(), want)
		}
	}
	tr.Cfg.LRDecay, tr.Cfg.LRDecayStart, tr.Cfg.DecayBeta1 = 1, 3, 0.5
	for e, want := range []struct{ lr, beta1 float32 }{
		{0.002, 0.9}, {0.002, 0.9}, {0.002, 0.9}, {0.002, 0.5}, {float32(float64(float32(0.002)) * 2 / 3), 0.5}, {float32(float64(float32(0.002)) / 3), 0.5},
	} {
		if tr.Epoch = e; tr.LR() != want.lr || tr.Beta1() != want.beta1 {
			t.Errorf("linear from epoch 3, epoch %d: lr %v, beta1 %v; want %v, %v", e, tr.LR(), tr.Beta1(), want.lr, want.beta1)
		}
	}
	tr.Cfg.DecayBeta1 = 0
	if tr.Epoch = 4; tr.Beta1() != 0.9 {
		t.Errorf("--decay-beta1 0: beta1 %v, want --beta1's 0.9", tr.Beta1())
	}
	// Stopped in the third of 3 epochs, where the learning rate is half
	// and beta1 0.5.
	testResumeExact(t, func(cfg *Config) {
		cfg.Optimizer, cfg.LR, cfg.Epochs, cfg.LRDecayStart, cfg.DecayBeta1 = "adam", 0.002, 3, 1, 0.5
	})
}

// TestEMAValidation: with a weight average, an epoch reports the held-out
// images' error both of the average (ValAcc) and of the weights as trained
// (CurrentValAcc), the latter equal to a run without the average, so one
// run tells on validation whether the average helps.
func TestEMAValidation(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Net, cfg.Dropout, cfg.Validation, cfg.StepsPerEpoch = "mlp-tpami", false, 20, 4
	cfg.Labeled, cfg.Batch, cfg.ULBatch, cfg.Optimizer, cfg.LR, cfg.VAT, cfg.Epochs = 20, 8, 16, "adam", 0.002, true, 1
	train, test := randomSet(96, 4), randomSet(32, 5)
	plain, err := NewTrainer(layers.NewCPU(0), cfg, train, test, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Free()
	cfg.EMA = 0.5
	avg, err := NewTrainer(layers.NewCPU(0), cfg, train, test, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer avg.Free()
	p, err := plain.RunEpoch(nil)
	if err != nil {
		t.Fatal(err)
	}
	a, err := avg.RunEpoch(nil)
	if err != nil {
		t.Fatal(err)
	}
	if !math.IsNaN(p.CurrentValLoss) || !math.IsNaN(p.CurrentValAcc) {
		t.Errorf("a run without an average reports the weights as trained apart: %v, %v", p.CurrentValLoss, p.CurrentValAcc)
	}
	if a.CurrentValLoss != p.ValLoss || a.CurrentValAcc != p.ValAcc {
		t.Errorf("as trained: validation %v, %v; the run without the average %v, %v", a.CurrentValLoss, a.CurrentValAcc, p.ValLoss, p.ValAcc)
	}
	if a.ValLoss == p.ValLoss {
		t.Errorf("the averaged weights' validation loss %v is the trained weights'", a.ValLoss)
	}
	if a.CurrentTestLoss != p.TestLoss {
		t.Errorf("as trained: test loss %v; the run without the average %v", a.CurrentTestLoss, p.TestLoss)
	}
	if line := a.Line(1); !strings.Contains(line, fmt.Sprintf("val loss %.4f, acc %.4f (averaged weights; as trained: loss %.4f", a.ValLoss, a.ValAcc, a.CurrentValLoss)) {
		t.Errorf("epoch line %q does not show both validations", line)
	}
}

// TestEMA: the average follows avg = d·avg + (1-d)·params over the steps,
// from the initial parameters, without changing the training; the run's
// evaluation and saved model are the average's.
func TestEMA(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Batch, cfg.VAT, cfg.Epochs = 16, true, 1
	train, test := randomSet(64, 4), randomSet(32, 5)
	plain, _ := NewTrainer(layers.NewCPU(0), cfg, train, test, nil)
	defer plain.Free()
	cfg.EMA = 0.75
	avg, err := NewTrainer(layers.NewCPU(0), cfg, train, test, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer avg.Free()
	want := avg.Params()
	plain.order()
	avg.order()
	for s := range avg.StepsPerEpoch() {
		plain.TrainStep(s)
		avg.TrainStep(s)
		p := avg.Params()
		for i := range want {
			want[i] = float32(0.75*want[i]) + float32(0.25*p[i])
		}
	}
	if !reflect.DeepEqual(plain.Params(), avg.Params()) {
		t.Fatal("the average changed the training")
	}
	st := avg.State()
	if !reflect.DeepEqual(st.Average, want) {
		t.Fatal("average is not the recurrence over the steps")
	}
	if reflect.DeepEqual(st.ModelParams(), st.Params) {
		t.Fatal("the model is not the average")
	}
	l, a, err := avg.Evaluate()
	if err != nil {
		t.Fatal(err)
	}
	wl, wa, _ := EvaluateParams(layers.NewCPU(0), layers.SeedCNN, want, test)
	cl, _, _ := plain.Evaluate()
	if l != wl || a != wa {
		t.Errorf("Evaluate %v, %v; the average's %v, %v", l, a, wl, wa)
	}
	if l == cl {
		t.Errorf("Evaluate gives the trained weights' loss %v", cl)
	}
	if l2, _, _ := avg.Evaluate(); l2 != l {
		t.Errorf("a second Evaluate gives %v, first %v: the parameters were not put back", l2, l)
	}
	// A file whose config and tensors disagree about the average is refused.
	path := filepath.Join(t.TempDir(), "ck.safetensors")
	st.Average = nil
	if err := st.Save(path); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), "lacks a moving average") {
		t.Errorf("a file with ema in its config and no average: %v", err)
	}
}
