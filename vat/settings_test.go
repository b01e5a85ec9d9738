package vat

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/vatgpu/vatgpu/layers"
)

// TestSettingsCoverConfig checks that every Config field is one setting's:
// a field without an entry would have no flag, no check and no resume
// check.
func TestSettingsCoverConfig(t *testing.T) {
	fields := map[string]bool{}
	for i := range Settings {
		fields[Settings[i].Field] = true
	}
	ct := reflect.TypeOf(Config{})
	for i := range ct.NumField() {
		if name := ct.Field(i).Name; !fields[name] {
			t.Errorf("Config.%s has no entry in Settings", name)
		}
	}
}

// TestPresets checks the presets against the values the seed and the
// papers' code use (README, VAT-PAPERS.md), written out here once more on
// purpose: a change to the table must be a change to this test too.
func TestPresets(t *testing.T) {
	d := DefaultConfig()
	seed := Config{Net: "seed-cnn", Epochs: 12, Batch: 128, Eps: 1, Xi: 10, IP: 1, Weight: 1, Norm: layers.NormL2, Seed: 1337,
		Optimizer: "adadelta", LR: 1, Rho: 0.95, Beta1: 0.9, Beta2: 0.999, AdaEps: 1e-8, LRDecay: 1, ULBatch: 128, TeacherMin: 0.95}
	if d != seed {
		t.Errorf("DefaultConfig\n%+v, want\n%+v", d, seed)
	}
	paper := seed
	paper.VAT, paper.Xi, paper.Eps, paper.Norm = true, 1e-6, 0.3, layers.NormMaxAbsL2
	paper.Optimizer, paper.LR, paper.LRDecay = "adam", 0.002, 0.9
	paper.Labeled, paper.Batch = 100, 32
	if p := PaperConfig(); p != paper {
		t.Errorf("PaperConfig\n%+v, want\n%+v", p, paper)
	}
	// The VAT papers' protocols with their MLPs (takerum/vat,
	// train_mnist_semisup.py and train_mnist_sup.py; VAT-PAPERS.md).
	semi := seed
	semi.Net, semi.Epochs, semi.StepsPerEpoch, semi.Validation = "mlp-semi", 100, 500, 1000
	semi.VAT, semi.Eps, semi.Xi, semi.Norm = true, 0.3, 1e-6, layers.NormMaxAbsL2
	semi.Optimizer, semi.LR, semi.LRDecay = "adam", 0.002, 0.9
	semi.Labeled, semi.Batch, semi.ULBatch = 100, 100, 250
	sup := seed
	sup.Net, sup.Epochs, sup.StepsPerEpoch, sup.Validation = "mlp-sup", 100, 600, 1000
	sup.VAT, sup.Eps, sup.Xi, sup.Norm = true, 2.1, 1e-6, layers.NormMaxAbsL2
	sup.Optimizer, sup.LR, sup.LRDecay, sup.Batch = "adam", 0.002, 0.9, 100
	tpami := semi
	tpami.Net, tpami.Eps = "mlp-tpami", 5
	for name, want := range map[string]Config{"vat-mnist-100": semi, "vat-mnist-sup": sup, "vat-mnist-100-tpami": tpami} {
		if got, err := PresetConfig(name); err != nil || got != want {
			t.Errorf("preset %s\n%+v (%v), want\n%+v", name, got, err, want)
		}
		if got, _ := PresetConfig(name); got.Validate() != nil {
			t.Errorf("preset %s: %v", name, got.Validate())
		}
	}
	// Given settings keep their value; the others take the preset's.
	c := DefaultConfig()
	c.Batch, c.Eps = 64, 2
	if err := c.ApplyPreset("paper", func(s string) bool { return s == "batch" }); err != nil {
		t.Fatal(err)
	}
	if c.Batch != 64 || c.Eps != 0.3 || c.Optimizer != "adam" {
		t.Errorf("ApplyPreset: batch %d, eps %v, optimizer %s", c.Batch, c.Eps, c.Optimizer)
	}
	if err := c.ApplyPreset("nope", func(string) bool { return false }); err == nil || !strings.Contains(err.Error(), "seed, paper") {
		t.Errorf("unknown preset: %v", err)
	}
	if got := PresetSummary("paper"); !strings.Contains(got, "--batch 32") || !strings.Contains(got, "--norm maxabs-l2") || !strings.Contains(got, "--vat") {
		t.Errorf("PresetSummary(paper) = %q", got)
	}
}

// TestSameMath changes each setting in turn: a Math one must be named by
// SameMath, another must pass.
func TestSameMath(t *testing.T) {
	base := DefaultConfig()
	base.Teacher = "/t.safetensors" // so that teacher-min counts
	// so that epochs and decay-beta1 count
	base.LRDecayStart, base.LRDecay, base.Optimizer = 2, 1, "adam"
	for i := range Settings {
		s := &Settings[i]
		c := base
		switch p := s.Ptr(&c).(type) {
		case *int:
			*p += 10
		case *uint64:
			*p++
		case *bool:
			*p = !*p
		case *string:
			*p += "x"
		case *float32:
			*p = *p/2 + 0.25
		case *layers.Norm:
			*p = layers.NormMaxAbsL2
		default:
			t.Fatalf("%s: untested type %T", s.Name, p)
		}
		err := c.SameMath(base)
		switch {
		case s.Math && (err == nil || !strings.Contains(err.Error(), "has "+s.Name+" ")):
			t.Errorf("%s changed: SameMath = %v, want an error naming it", s.Name, err)
		case !s.Math && err != nil:
			t.Errorf("%s changed: SameMath = %v, want nil", s.Name, err)
		}
	}
	a, b := DefaultConfig(), DefaultConfig()
	b.TeacherMin = 0.5
	if err := a.SameMath(b); err != nil {
		t.Errorf("teacher-min without a teacher: %v", err)
	}
	// More epochs change no step without the linear decay, which they do
	// with it.
	a, b = DefaultConfig(), DefaultConfig()
	b.Epochs, b.DecayBeta1 = 40, 0.5
	if err := a.SameMath(b); err != nil {
		t.Errorf("epochs and decay-beta1 without --lr-decay-start: %v", err)
	}
}

func TestResumeConfig(t *testing.T) {
	saved := DefaultConfig()
	saved.Epochs = 3
	flags := DefaultConfig()
	flags.Epochs, flags.Batch = 5, 64
	none := func(string) bool { return false }
	got, err := ResumeConfig(flags, saved, none)
	if err != nil || got != saved {
		t.Errorf("nothing given: %+v, %v", got, err)
	}
	got, err = ResumeConfig(flags, saved, func(s string) bool { return s == "epochs" })
	if err != nil || got.Epochs != 5 || got.Batch != 128 {
		t.Errorf("--epochs given: %+v, %v", got, err)
	}
	if _, err = ResumeConfig(flags, saved, func(s string) bool { return s == "batch" }); err == nil || !strings.Contains(err.Error(), "batch") {
		t.Errorf("--batch given: %v", err)
	}
}

func TestValidateNamesFlag(t *testing.T) {
	for _, tc := range []struct {
		set  func(*Config)
		want string
	}{
		{func(c *Config) { c.Batch = 0 }, "--batch must be positive"},
		{func(c *Config) { c.Batch = 70000 }, "--batch must be between 1 and 65536"},
		{func(c *Config) { c.Rho = 1 }, "--rho"},
		{func(c *Config) { c.Optimizer, c.Beta2 = "adam", 1 }, "--beta2"},
		{func(c *Config) { c.Rho = 1; c.Optimizer = "adam" }, ""}, // rho is Adadelta's
		{func(c *Config) { c.VATLabeled, c.Labeled = true, 100 }, "--vat-labeled needs --vat"},
		{func(c *Config) { c.LRDecayStart, c.LRDecay = 3, 0.9 }, "give --lr-decay 1"},
		{func(c *Config) { c.LRDecayStart = 12 }, "--lr-decay-start must be 0 (off) or in [1, 12)"},
		{func(c *Config) { c.LRDecayStart = -1 }, "--lr-decay-start"},
		{func(c *Config) { c.LRDecayStart = 11 }, ""},
		{func(c *Config) { c.DecayBeta1 = 1 }, "--decay-beta1 must be in [0, 1)"},
		{func(c *Config) { c.DecayBeta1 = 0.5 }, "--decay-beta1 needs --lr-decay-start and --optimizer adam"},
		{func(c *Config) { c.DecayBeta1, c.LRDecayStart = 0.5, 3 }, "--decay-beta1 needs"}, // Adadelta
		{func(c *Config) { c.DecayBeta1, c.LRDecayStart, c.Optimizer = 0.5, 3, "adam" }, ""},
	} {
		c := DefaultConfig()
		tc.set(&c)
		err := c.Validate()
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%+v: Validate = %v, want %q", c, err, tc.want)
		}
	}
}

func TestRunChecksBeforeTraining(t *testing.T) {
	dir := t.TempDir()
	cfg := DefaultConfig()
	cfg.Epochs, cfg.Batch = 1, 32
	opened := false
	open := func() (layers.Backend, error) { opened = true; return layers.NewCPU(1), nil }
	train, test := randomSet(64, 1), randomSet(32, 2)
	_, err := OpenRun(RunOptions{Config: cfg, Out: dir, TrainSet: train, TestSet: test, Open: open})
	if err == nil || !strings.Contains(err.Error(), "is a folder") || opened {
		t.Errorf("--out a folder: %v (backend opened: %v)", err, opened)
	}
	_, err = OpenRun(RunOptions{Config: cfg, Out: filepath.Join(dir, "no", "m.st"), TrainSet: train, TestSet: test, Open: open})
	if err == nil || !strings.Contains(err.Error(), "does not exist") || opened {
		t.Errorf("--out in a missing folder: %v", err)
	}
	bad := cfg
	bad.Batch = -1
	if _, err = OpenRun(RunOptions{Config: bad, TrainSet: train, TestSet: test, Open: open}); !errors.Is(err, ErrUsage) {
		t.Errorf("bad config: %v, want ErrUsage", err)
	}
}

// TestResumeOtherData checks that a checkpoint remembers its data: a
// resume with another limit, or other images, is refused by name.
func TestResumeOtherData(t *testing.T) {
	out := filepath.Join(t.TempDir(), "m.safetensors")
	cfg := DefaultConfig()
	cfg.Epochs, cfg.Batch = 1, 32
	cpu := layers.NewCPU(1)
	train, test := randomSet(64, 1), randomSet(32, 2)
	r, err := OpenRun(RunOptions{Config: cfg, Out: out, TrainSet: train, TestSet: test, Backend: cpu})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.Train(nil, nil); err != nil {
		t.Fatal(err)
	}
	r.Close()
	s, err := Load(out)
	if err != nil {
		t.Fatal(err)
	}
	if s.Data.Train != train.Sum() || s.Data.Test != test.Sum() {
		t.Fatalf("saved data %+v", s.Data)
	}
	cfg.Epochs = 2
	resume := func(train, test *RunOptions) error {
		o := *train
		o.Config, o.Resume, o.Backend = cfg, out, cpu
		r, err := OpenRun(o)
		if err == nil {
			r.Close()
		}
		return err
	}
	if err := resume(&RunOptions{TrainSet: train, TestSet: test}, nil); err != nil {
		t.Errorf("resume on the same data: %v", err)
	}
	other := randomSet(64, 1)
	other.Images[5] += 0.5
	if err := resume(&RunOptions{TrainSet: other, TestSet: test}, nil); err == nil || !strings.Contains(err.Error(), "training images") {
		t.Errorf("resume on other training images: %v", err)
	}
	if err := resume(&RunOptions{TrainSet: train, TestSet: randomSet(32, 9)}, nil); err == nil || !strings.Contains(err.Error(), "test images") {
		t.Errorf("resume on other test images: %v", err)
	}
	if err := resume(&RunOptions{TrainSet: train, TestSet: test, Limit: 64}, nil); err == nil || !strings.Contains(err.Error(), "--limit 0, this run has --limit 64") {
		t.Errorf("resume with another --limit: %v", err)
	}
}

// TestMemoryNeeded checks the estimate against the peak resident memory
// measured for VAT runs on the CPU (375 KB per image of batch, from 0.51
// GB at batch 1,024 and 1.66 GB at 4,096), and the refusal's line.
func TestMemoryNeeded(t *testing.T) {
	train, test := randomSet(256, 1), randomSet(64, 2)
	cfg := DefaultConfig()
	cfg.VAT = true
	need := func(batch int) float64 {
		c := cfg
		c.Batch = batch
		n, err := MemoryNeeded(c, train, test)
		if err != nil {
			t.Fatal(err)
		}
		return float64(n)
	}
	perImage := (need(4096) - need(1024)) / 3072
	if perImage < 0.85*375e3 || perImage > 1.15*375e3 {
		t.Errorf("estimate %.0f bytes per image of batch, measured about 375,000", perImage)
	}
	old := availableMemory
	defer func() { availableMemory = old }()
	availableMemory = func() (uint64, string) { return 1 << 30, "the test's limit" }
	cfg.Batch = 65536
	err := CheckMemory(layers.NewCPU(1), cfg, train, test)
	if err == nil || !strings.Contains(err.Error(), "--batch 65536") || !strings.Contains(err.Error(), "the test's limit allows 1.00 GiB") {
		t.Errorf("batch 65536 with 1 GiB: %v", err)
	}
	// OpenRun refuses it too, and closes the backend it opened.
	closed := false
	open := func() (layers.Backend, error) { return closeSpy{layers.NewCPU(1), &closed}, nil }
	if _, err := OpenRun(RunOptions{Config: cfg, TrainSet: train, TestSet: test, Open: open}); err == nil || !closed {
		t.Errorf("OpenRun with batch 65536 and 1 GiB: %v (backend closed: %v)", err, closed)
	}
	cfg.Batch = 128
	if err := CheckMemory(layers.NewCPU(1), cfg, train, test); err != nil {
		t.Errorf("batch 128 with 1 GiB: %v", err)
	}
}

func TestProcBytes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meminfo")
	os.WriteFile(path, []byte("MemTotal:       24000000 kB\nMemFree:         1000 kB\nMemAvailable:   2000 kB\n"), 0o644)
	if v, ok := memInfoAvailable(path); !ok || v != 2000*1024 {
		t.Errorf("MemAvailable = %d, %v", v, ok)
	}
	if v := procStatusBytes(path, "Nope:"); v != 0 {
		t.Errorf("absent key: %d", v)
	}
	if avail, source := hostMemoryAvailable(); avail == 0 || source == "" {
		t.Errorf("this machine: %d bytes from %q", avail, source)
	}
}

type closeSpy struct {
	layers.Backend
	closed *bool
}

func (c closeSpy) Close() error { *c.closed = true; return c.Backend.Close() }
