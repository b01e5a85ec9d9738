package main

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/vatgpu/vatgpu/layers"
	"github.com/vatgpu/vatgpu/mnist"
	"github.com/vatgpu/vatgpu/vat"
)

// TrainArgs are the flags of `vatgpu train`.
type TrainArgs struct {
	Device        string
	Deterministic bool
	Epochs        int
	Batch         int
	Dropout       bool
	VAT           bool
	Eps, Xi       float64
	IP            int
	Weight        float64
	Norm          string
	Seed          uint64
	Limit         int
	Data          string
	Out           string
	Resume        string
	Metrics       string
	MetricsEvery  int
	Quiet         bool
	Preset        string
	Labeled       int
	ULBatch       int
	VATLabeled    bool
	EntMin        bool
	Optimizer     string
	LR            float64
	LRDecay       float64
	Translate     int
	EMA           float64
	Teacher       string
	TeacherMin    float64

	// isSet tells which flags were given (urfave/cli's Context.IsSet);
	// nil when Train is called directly.
	isSet func(string) bool
}

func trainFlags(a *TrainArgs) []cli.Flag {
	d := vat.DefaultConfig()
	return []cli.Flag{
		&cli.StringFlag{Name: "device", Value: "auto", Usage: "cpu, a GPU index, or auto (GPU 0 when usable, else cpu)", Destination: &a.Device},
		&cli.BoolFlag{Name: "deterministic", Usage: "deterministic cuDNN algorithms on the GPU", Destination: &a.Deterministic},
		&cli.IntFlag{Name: "epochs", Value: d.Epochs, Usage: "epochs to train", Destination: &a.Epochs},
		&cli.IntFlag{Name: "batch", Value: d.Batch, Usage: "images per step", Destination: &a.Batch},
		&cli.BoolFlag{Name: "dropout", Usage: "dropout 0.25 after pooling and 0.5 after dense 128", Destination: &a.Dropout},
		&cli.BoolFlag{Name: "vat", Usage: "add the VAT term to the loss", Destination: &a.VAT},
		&cli.Float64Flag{Name: "eps", Value: float64(d.Eps), Usage: "length of the adversarial perturbation", Destination: &a.Eps},
		&cli.Float64Flag{Name: "xi", Value: float64(d.Xi), Usage: "power-iteration step", Destination: &a.Xi},
		&cli.IntFlag{Name: "ip", Value: d.IP, Usage: "power iterations", Destination: &a.IP},
		&cli.Float64Flag{Name: "vat-weight", Value: float64(d.Weight), Usage: "weight of the VAT term", Destination: &a.Weight},
		&cli.StringFlag{Name: "norm", Value: "l2", Usage: "perturbation normalisation: l2 (the seed's) or maxabs-l2 (the papers' code)", Destination: &a.Norm},
		&cli.Uint64Flag{Name: "seed", Value: d.Seed, Usage: "random seed", Destination: &a.Seed},
		&cli.IntFlag{Name: "limit", Usage: "use only the first N training and test images (0: all)", Destination: &a.Limit},
		&cli.StringFlag{Name: "data", Usage: "folder of the four MNIST IDX files (default: the GoMNIST module's data/)", Destination: &a.Data},
		&cli.StringFlag{Name: "out", Usage: "checkpoint file (safetensors), written after every epoch and on interrupt", Destination: &a.Out},
		&cli.StringFlag{Name: "resume", Usage: "continue the run saved in this checkpoint (and keep saving there unless --out says otherwise)", Destination: &a.Resume},
		&cli.StringFlag{Name: "metrics", Usage: "append one JSON object per epoch to this file", Destination: &a.Metrics},
		&cli.IntFlag{Name: "metrics-every", Usage: "also write a --metrics record every N steps", Destination: &a.MetricsEvery},
		&cli.BoolFlag{Name: "quiet", Usage: "no progress bar", Destination: &a.Quiet},
		&cli.StringFlag{Name: "preset", Value: "seed", Usage: "seed (the Keras article's settings) or paper (the VAT papers' semi-supervised MNIST settings: --labeled 100 --batch 32 --ul-batch 128 --xi 1e-6 --eps 0.3 --norm maxabs-l2 --optimizer adam --lr 0.002 --lr-decay 0.9); flags given override it", Destination: &a.Preset},
		&cli.IntFlag{Name: "labeled", Usage: "semi-supervised: keep the labels of N training images (N/10 per class, chosen by the seed), use the rest unlabelled", Destination: &a.Labeled},
		&cli.IntFlag{Name: "ul-batch", Value: d.ULBatch, Usage: "semi-supervised: unlabelled images per step", Destination: &a.ULBatch},
		&cli.BoolFlag{Name: "vat-labeled", Usage: "semi-supervised: take the VAT term on the labelled batch too", Destination: &a.VATLabeled},
		&cli.BoolFlag{Name: "entmin", Usage: "semi-supervised: add the entropy of the predictions on the unlabelled batch to the loss", Destination: &a.EntMin},
		&cli.StringFlag{Name: "optimizer", Value: d.Optimizer, Usage: "adadelta or adam", Destination: &a.Optimizer},
		&cli.Float64Flag{Name: "lr", Value: float64(d.LR), Usage: "learning rate", Destination: &a.LR},
		&cli.Float64Flag{Name: "lr-decay", Value: float64(d.LRDecay), Usage: "multiply the learning rate by this after each epoch", Destination: &a.LRDecay},
		&cli.Float64Flag{Name: "ema", Usage: "keep a moving average of the weights with this decay (e.g. 0.999) and make it the run's model (0: off)", Destination: &a.EMA},
		&cli.StringFlag{Name: "teacher", Usage: "semi-supervised self-training: label the unlabelled images the model of this checkpoint (a run on the same --labeled and --seed) is sure of, add them to the labelled ones, and start from its weights", Destination: &a.Teacher},
		&cli.Float64Flag{Name: "teacher-min", Value: float64(d.TeacherMin), Usage: "with --teacher, the probability the teacher must give an image's class for the image to take it as its label", Destination: &a.TeacherMin},
		&cli.IntFlag{Name: "translate", Usage: "move each training image by a random offset of up to N pixels per axis (0: off)", Destination: &a.Translate},
	}
}

// applyPreset replaces the values of the flags the user did not give by
// the preset's.
func (a *TrainArgs) applyPreset(isSet func(string) bool) error {
	switch a.Preset {
	case "seed", "":
		return nil
	case "paper":
	default:
		return usagef("--preset must be seed or paper, got %q", a.Preset)
	}
	p := vat.PaperConfig()
	for _, f := range []struct {
		name string
		set  func()
	}{
		{"vat", func() { a.VAT = p.VAT }},
		{"xi", func() { a.Xi = float64(p.Xi) }},
		{"eps", func() { a.Eps = float64(p.Eps) }},
		{"ip", func() { a.IP = p.IP }},
		{"norm", func() { a.Norm = p.Norm.String() }},
		{"optimizer", func() { a.Optimizer = p.Optimizer }},
		{"lr", func() { a.LR = float64(p.LR) }},
		{"lr-decay", func() { a.LRDecay = float64(p.LRDecay) }},
		{"labeled", func() { a.Labeled = p.Labeled }},
		{"batch", func() { a.Batch = p.Batch }},
		{"ul-batch", func() { a.ULBatch = p.ULBatch }},
	} {
		if !isSet(f.name) {
			f.set()
		}
	}
	return nil
}

func trainCommand(stdout, stderr io.Writer) *cli.Command {
	var a TrainArgs
	return &cli.Command{
		Name:  "train",
		Usage: "train the seed's CNN, with --vat and --dropout as the seed's four runs",
		Flags: trainFlags(&a),
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef("train takes no arguments, got %q", c.Args().First())
			}
			if err := a.applyPreset(c.IsSet); err != nil {
				return err
			}
			a.isSet = c.IsSet
			return Train(a, stdout, stderr)
		},
	}
}

// config turns the flags into a validated training configuration.
func (a TrainArgs) config() (vat.Config, error) {
	c := vat.DefaultConfig()
	c.Epochs, c.Batch, c.Dropout, c.VAT = a.Epochs, a.Batch, a.Dropout, a.VAT
	c.Eps, c.Xi, c.IP, c.Weight, c.Seed = float32(a.Eps), float32(a.Xi), a.IP, float32(a.Weight), a.Seed
	c.Labeled, c.ULBatch, c.VATLabeled, c.EntMin = a.Labeled, a.ULBatch, a.VATLabeled, a.EntMin
	c.Optimizer, c.LR, c.LRDecay = a.Optimizer, float32(a.LR), float32(a.LRDecay)
	c.Translate, c.EMA = a.Translate, float32(a.EMA)
	c.Teacher, c.TeacherMin = a.Teacher, float32(a.TeacherMin)
	if c.Teacher != "" {
		// Saved absolute, so that a resume from another folder finds it.
		abs, err := filepath.Abs(c.Teacher)
		if err != nil {
			return c, usagef("--teacher %s: %v", c.Teacher, err)
		}
		c.Teacher = abs
	}
	switch a.Norm {
	case "l2", "":
		c.Norm = layers.NormL2
	case "maxabs-l2":
		c.Norm = layers.NormMaxAbsL2
	default:
		return c, usagef("--norm must be l2 or maxabs-l2, got %q", a.Norm)
	}
	if a.Limit < 0 {
		return c, usagef("--limit must be 0 (all) or positive, got %d", a.Limit)
	}
	if a.MetricsEvery < 0 || (a.MetricsEvery > 0 && a.Metrics == "") {
		return c, usagef("--metrics-every needs --metrics and a positive step count, got %d", a.MetricsEvery)
	}
	if err := c.Validate(); err != nil {
		return c, usageError{err.Error()}
	}
	return c, nil
}

// mathFlags maps the flags that change a run's arithmetic to the
// configuration fields they set.
var mathFlags = []struct {
	name string
	copy func(dst *vat.Config, src vat.Config)
}{
	{"batch", func(d *vat.Config, s vat.Config) { d.Batch = s.Batch }},
	{"dropout", func(d *vat.Config, s vat.Config) { d.Dropout = s.Dropout }},
	{"vat", func(d *vat.Config, s vat.Config) { d.VAT = s.VAT }},
	{"eps", func(d *vat.Config, s vat.Config) { d.Eps = s.Eps }},
	{"xi", func(d *vat.Config, s vat.Config) { d.Xi = s.Xi }},
	{"ip", func(d *vat.Config, s vat.Config) { d.IP = s.IP }},
	{"vat-weight", func(d *vat.Config, s vat.Config) { d.Weight = s.Weight }},
	{"norm", func(d *vat.Config, s vat.Config) { d.Norm = s.Norm }},
	{"seed", func(d *vat.Config, s vat.Config) { d.Seed = s.Seed }},
	{"labeled", func(d *vat.Config, s vat.Config) { d.Labeled = s.Labeled }},
	{"ul-batch", func(d *vat.Config, s vat.Config) { d.ULBatch = s.ULBatch }},
	{"vat-labeled", func(d *vat.Config, s vat.Config) { d.VATLabeled = s.VATLabeled }},
	{"entmin", func(d *vat.Config, s vat.Config) { d.EntMin = s.EntMin }},
	{"optimizer", func(d *vat.Config, s vat.Config) { d.Optimizer = s.Optimizer }},
	{"lr", func(d *vat.Config, s vat.Config) { d.LR = s.LR }},
	{"lr-decay", func(d *vat.Config, s vat.Config) { d.LRDecay = s.LRDecay }},
	{"translate", func(d *vat.Config, s vat.Config) { d.Translate = s.Translate }},
	{"ema", func(d *vat.Config, s vat.Config) { d.EMA = s.EMA }},
	{"teacher", func(d *vat.Config, s vat.Config) { d.Teacher = s.Teacher }},
	{"teacher-min", func(d *vat.Config, s vat.Config) { d.TeacherMin = s.TeacherMin }},
}

// resumeConfig returns the configuration of a resumed run: the saved one,
// with --epochs from the command line when given. A flag given that would
// change the arithmetic is an error naming it.
func (a TrainArgs) resumeConfig(flags, saved vat.Config) (vat.Config, error) {
	isSet := a.isSet
	if isSet == nil { // called directly: every flag counts as given
		isSet = func(string) bool { return true }
	}
	given := saved
	for _, f := range mathFlags {
		if isSet(f.name) || (a.Preset == "paper" && isSet("preset")) {
			f.copy(&given, flags)
		}
	}
	if err := given.SameMath(saved); err != nil {
		return saved, err
	}
	cfg := saved
	if isSet("epochs") {
		cfg.Epochs = flags.Epochs
	}
	return cfg, nil
}

// loadData reads MNIST from dir (the GoMNIST module's data when empty).
func loadData(dir string, limit int) (train, test *mnist.Set, err error) {
	if dir == "" {
		if dir, err = mnist.DefaultDir(); err != nil {
			return nil, nil, err
		}
	}
	return mnist.Load(dir, limit)
}

// Train runs `vatgpu train`: it trains, prints one line per epoch and the
// seed's finish line, and writes checkpoints to a.Out.
func Train(a TrainArgs, stdout, stderr io.Writer) error {
	cfg, err := a.config()
	if err != nil {
		return err
	}
	var resume *vat.State
	if a.Resume != "" {
		if resume, err = vat.Load(a.Resume); err != nil {
			return err
		}
		if cfg, err = a.resumeConfig(cfg, resume.Config); err != nil {
			return fmt.Errorf("--resume %s: %v", a.Resume, err)
		}
		if resume.Epoch >= cfg.Epochs {
			return usagef("--resume %s: the run already did %d epochs; ask for more with --epochs", a.Resume, resume.Epoch)
		}
		if a.Out == "" {
			a.Out = a.Resume // a resumed run goes on saving where it was saved
		}
	}
	if cfg.Teacher != "" && a.Out != "" && sameFile(a.Out, cfg.Teacher) {
		return usagef("--teacher %s is also the run's checkpoint (--out or --resume): the run would overwrite its teacher", cfg.Teacher)
	}
	if a.Out != "" {
		// Fail now, not after the first epoch's work.
		if st, err := os.Stat(filepath.Dir(a.Out)); err != nil || !st.IsDir() {
			return fmt.Errorf("--out %s: folder %s does not exist", a.Out, filepath.Dir(a.Out))
		}
	}
	train, test, err := loadData(a.Data, a.Limit)
	if err != nil {
		return err
	}
	b, err := openBackend(a.Device, a.Deterministic, stdout)
	if err != nil {
		return err
	}
	defer b.Close()
	var teacher []float32 // the teacher's parameters, where the run starts
	if cfg.Teacher != "" {
		if teacher, err = vat.LoadTeacher(cfg, train); err != nil {
			return err
		}
	}
	t, err := vat.NewTrainer(b, cfg, train, test, teacher)
	if err != nil {
		return err
	}
	defer t.Free()
	if t.Labeled != nil {
		fmt.Fprintf(stdout, "semi-supervised: %d labelled images (%d per class), %d unlabelled; labelled indices: %v\n",
			len(t.Labeled), len(t.Labeled)/10, len(t.Unlabeled), t.Labeled)
	}
	if teacher != nil {
		idx, labels, err := t.PseudoLabel(teacher, cfg.TeacherMin)
		if err != nil {
			return err
		}
		right := 0
		for i, j := range idx {
			if labels[i] == train.Labels[j] {
				right++
			}
		}
		fmt.Fprintf(stdout, "teacher %s: labels %d of the %d unlabelled images (probability >= %v); %.2f%% of them right by the true labels, which training never reads\n",
			cfg.Teacher, len(idx), len(t.Unlabeled), cfg.TeacherMin, 100*float64(right)/float64(max(1, len(idx))))
	}
	if resume != nil {
		if err := t.Restore(resume); err != nil {
			return fmt.Errorf("--resume %s: %v", a.Resume, err)
		}
		fmt.Fprintf(stdout, "resumed %s at epoch %d, step %d\n", a.Resume, t.Epoch, t.Step)
	}
	var metrics *metricsFile
	if a.Metrics != "" {
		if metrics, err = openMetrics(a.Metrics, cfg, b.Name(), train.N, test.N); err != nil {
			return err
		}
		defer metrics.Close()
	}

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sig)
	go func() {
		if _, ok := <-sig; ok {
			t.Stop.Store(true)
			// A second Ctrl-C ends the process at once, unsaved.
			signal.Reset(os.Interrupt, syscall.SIGTERM)
		}
	}()

	bar := newProgressBar(stderr, cfg.Epochs)
	if a.Quiet {
		bar.tty = false
	}
	progress := bar.update
	var stepErr error
	if a.MetricsEvery > 0 {
		t.ProgressEvery = a.MetricsEvery
		progress = func(p vat.Progress) {
			bar.update(p)
			if err := metrics.step(p, b.Name()); err != nil && stepErr == nil {
				stepErr = err
			}
		}
	}
	for t.Epoch < cfg.Epochs {
		es, err := t.RunEpoch(progress)
		if err == nil {
			err = stepErr
		}
		bar.clear()
		if errors.Is(err, vat.ErrInterrupted) {
			if a.Out == "" {
				return fmt.Errorf("interrupted at epoch %d, step %d; nothing saved (no --out)", t.Epoch+1, t.Step)
			}
			if err := t.State().Save(a.Out); err != nil {
				return fmt.Errorf("interrupted, and saving failed: %v", err)
			}
			return fmt.Errorf("interrupted at epoch %d, step %d; saved %s (continue with --resume %s)", t.Epoch+1, t.Step, a.Out, a.Out)
		}
		if err != nil {
			return err
		}
		current := ""
		if !math.IsNaN(es.CurrentTestAcc) {
			current = fmt.Sprintf(" (averaged weights; as trained: loss %.4f, acc %.4f)", es.CurrentTestLoss, es.CurrentTestAcc)
		}
		fmt.Fprintf(stdout, "epoch %d/%d: loss %.4f (ce %.4f, vat %.4f) - train acc %.4f - test loss %.4f, acc %.4f%s - %.1f s (%.0f images/s)\n",
			es.Epoch, cfg.Epochs, es.Loss, es.CE, es.VAT, es.TrainAcc, es.TestLoss, es.TestAcc, current, es.Seconds, es.ImagesPerSec)
		if err := metrics.epoch(es, t.Step, b.Name()); err != nil {
			return err
		}
		if a.Out != "" {
			if err := t.State().Save(a.Out); err != nil {
				return err
			}
		}
	}
	loss, acc, err := t.Evaluate()
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "finish: use_dropout=%v, use_vat=%v: score=%g, accuracy=%g\n", cfg.Dropout, cfg.VAT, loss, acc)
	return nil
}

// sameFile reports whether paths a and b both exist and are the same file.
func sameFile(a, b string) bool {
	sa, err := os.Stat(a)
	if err != nil {
		return false
	}
	sb, err := os.Stat(b)
	return err == nil && os.SameFile(sa, sb)
}
