package vat

import (
	"fmt"
	"math"
	"reflect"
	"strconv"

	"github.com/vatgpu/vatgpu/layers"
)

// A Setting is one setting of a training run, declared once in Settings:
// the flag that sets it, the Config field it fills, its default and its
// value under each preset, whether it changes the arithmetic, and its
// check. The command line's flags, the presets, Config.Validate,
// Config.SameMath (the resume check) and DefaultConfig are all derived
// from the table, so a new setting is a Config field and one entry.
type Setting struct {
	Name     string // the flag's name, without dashes; errors name the setting by it
	Field    string // the Config field
	Category string // the group the flag is listed under in `vatgpu train --help`
	Usage    string
	// Default is the seed's value, of the field's type exactly.
	Default any
	// Presets holds the setting's value under the presets that change it.
	Presets map[string]any
	// Math marks a setting that changes the arithmetic of training: a
	// resume refuses to change it. Matters, when non-nil, says whether it
	// does so in a configuration (teacher-min counts only with a teacher).
	Math    bool
	Matters func(c Config) bool
	// Check returns an error when the setting's value in c is invalid;
	// nil accepts any value.
	Check func(c Config) error
}

// Flag categories.
const (
	CatModel = "model and data"
	CatVAT   = "vat (virtual adversarial training)"
	CatOpt   = "optimiser"
	CatSemi  = "semi-supervised"
	CatRun   = "run and output"
)

// A Preset is a named set of values for the settings not given on the
// command line.
type Preset struct {
	Name, Usage string
}

// Presets are the presets, the seed's first (it changes nothing).
var Presets = []Preset{
	{"seed", "the Keras article's settings"},
	{"paper", "the ICLR'16 VAT code's optimiser and VAT settings (takerum/vat; 100 labels) on the seed's CNN, with batches of 32 labelled images (the code's are 100) and the default 128 unlabelled (the code's, 250)"},
	{"vat-mnist-100", "the VAT papers' semi-supervised protocol with their MLP (takerum/vat, train_mnist_semisup.py): 100 labels, 1,000 held out for validation, 100 epochs of 500 updates"},
	{"vat-mnist-sup", "the VAT papers' supervised protocol with their MLP (takerum/vat, train_mnist_sup.py): all labels but 1,000 held out for validation, 100 epochs of 600 updates"},
	{"vat-mnist-100-tpami", "the TPAMI paper's 100-label setting: vat-mnist-100 with the noisy 784-1200-600-300-150-10 MLP and eps 5"},
}

// The presets of the VAT papers' protocols with their MLPs share these
// values.
var (
	mlpPresets = []string{"vat-mnist-100", "vat-mnist-sup", "vat-mnist-100-tpami"}
	semiMLP    = []string{"vat-mnist-100", "vat-mnist-100-tpami"}
)

// each returns the map giving v under every preset of names, plus extra.
func each(names []string, v any, extra ...any) map[string]any {
	m := map[string]any{}
	for _, n := range names {
		m[n] = v
	}
	for i := 0; i < len(extra); i += 2 {
		m[extra[i].(string)] = extra[i+1]
	}
	return m
}

// Settings is the table of every setting of a training run.
var Settings = []Setting{
	{Name: "net", Field: "Net", Category: CatModel, Default: layers.SeedCNN.Name, Math: true,
		Presets: map[string]any{"vat-mnist-100": layers.MLPSemi.Name, "vat-mnist-sup": layers.MLPSup.Name, "vat-mnist-100-tpami": layers.MLPTPAMI.Name},
		Usage:   netUsage(),
		Check: func(c Config) error {
			net, err := layers.NetNamed(c.Net)
			if err != nil {
				return fmt.Errorf("--net: %v", err)
			}
			if c.Dropout && !net.HasKind(layers.Dropout) {
				return fmt.Errorf("--dropout: the network %s has no dropout layers", c.Net)
			}
			return nil
		}},
	{Name: "epochs", Field: "Epochs", Category: CatRun, Default: 12, Presets: each(mlpPresets, 100), Usage: "epochs to train",
		// The linear decay's slope depends on the last epoch.
		Math: true, Matters: func(c Config) bool { return c.LRDecayStart > 0 },
		Check: func(c Config) error { return positive("epochs", c.Epochs) }},
	{Name: "steps-per-epoch", Field: "StepsPerEpoch", Category: CatRun, Default: 0, Math: true,
		Presets: each(semiMLP, 500, "vat-mnist-sup", 600),
		Usage:   "training steps in an epoch (the VAT papers' epochs are 500 or 600 updates), the images taken in turn from passes over the data in a new order each (0: an epoch is one pass over the training images, or over the unlabelled ones in a semi-supervised run)",
		Check: func(c Config) error {
			if c.StepsPerEpoch < 0 {
				return fmt.Errorf("--steps-per-epoch must be 0 (one pass) or positive, got %d", c.StepsPerEpoch)
			}
			return nil
		}},
	{Name: "validation", Field: "Validation", Category: CatModel, Default: 0, Math: true, Presets: each(mlpPresets, 1000),
		Usage: "hold out N labelled training images (N/10 per class, chosen by the seed, never trained on) and report their error each epoch",
		Check: func(c Config) error {
			if c.Validation < 0 || c.Validation%layers.Classes != 0 {
				return fmt.Errorf("--validation must be 0 (none) or a positive multiple of 10, got %d", c.Validation)
			}
			return nil
		}},
	{Name: "batch", Field: "Batch", Category: CatModel, Default: 128, Math: true, Presets: each(mlpPresets, 100, "paper", 32),
		Usage: "labelled images per step",
		Check: func(c Config) error {
			if err := positive("batch", c.Batch); err != nil {
				return err
			}
			return between("batch", c.Batch, 1, 65536)
		}},
	{Name: "dropout", Field: "Dropout", Category: CatModel, Default: false, Math: true,
		Usage: "dropout 0.25 after pooling and 0.5 after dense 128"},
	{Name: "seed", Field: "Seed", Category: CatModel, Default: uint64(1337), Math: true,
		Usage: "random seed (initial weights, order, dropout, VAT's directions, labelled images)"},
	{Name: "translate", Field: "Translate", Category: CatModel, Default: 0, Math: true,
		Usage: "move each training image by a random offset of up to N pixels per axis (0: off)",
		Check: func(c Config) error { return between("translate", c.Translate, 0, 8) }},

	{Name: "vat", Field: "VAT", Category: CatVAT, Default: false, Math: true, Presets: each(mlpPresets, true, "paper", true),
		Usage: "add the VAT term to the loss"},
	{Name: "eps", Field: "Eps", Category: CatVAT, Default: float32(1), Math: true,
		Presets: map[string]any{"paper": float32(0.3), "vat-mnist-100": float32(0.3), "vat-mnist-sup": float32(2.1), "vat-mnist-100-tpami": float32(5)},
		Usage:   "length of the adversarial perturbation",
		Check:   func(c Config) error { return nonNegative("eps", c.Eps) }},
	{Name: "xi", Field: "Xi", Category: CatVAT, Default: float32(10), Math: true, Presets: each(mlpPresets, float32(1e-6), "paper", float32(1e-6)),
		Usage: "power-iteration step",
		Check: func(c Config) error { return finitePositive("xi", c.Xi) }},
	{Name: "ip", Field: "IP", Category: CatVAT, Default: 1, Math: true,
		Usage: "power iterations",
		Check: func(c Config) error { return between("ip", c.IP, 0, 100) }},
	{Name: "vat-weight", Field: "Weight", Category: CatVAT, Default: float32(1), Math: true,
		Usage: "weight of the VAT term",
		Check: func(c Config) error { return nonNegative("vat-weight", c.Weight) }},
	{Name: "norm", Field: "Norm", Category: CatVAT, Default: layers.NormL2, Math: true, Presets: each(mlpPresets, layers.NormMaxAbsL2, "paper", layers.NormMaxAbsL2),
		Usage: "perturbation normalisation: l2 (the seed's) or maxabs-l2 (the papers' code)",
		Check: func(c Config) error {
			if c.Norm != layers.NormL2 && c.Norm != layers.NormMaxAbsL2 {
				return fmt.Errorf("unknown normalisation %d", c.Norm)
			}
			return nil
		}},

	{Name: "labeled", Field: "Labeled", Category: CatSemi, Default: 0, Math: true, Presets: each(semiMLP, 100, "paper", 100),
		Usage: "keep the labels of N training images (N/10 per class, chosen by the seed), use the rest unlabelled (0: all labelled)",
		Check: func(c Config) error {
			if c.Labeled < 0 || c.Labeled%layers.Classes != 0 {
				return fmt.Errorf("--labeled must be 0 (all) or a positive multiple of 10, got %d", c.Labeled)
			}
			return nil
		}},
	{Name: "ul-batch", Field: "ULBatch", Category: CatSemi, Default: 128, Math: true, Presets: each(semiMLP, 250),
		Usage: "unlabelled images per step",
		Check: func(c Config) error {
			if c.Labeled == 0 {
				return nil
			}
			return between("ul-batch", c.ULBatch, 1, 65536)
		}},
	{Name: "vat-labeled", Field: "VATLabeled", Category: CatSemi, Default: false, Math: true,
		Usage: "take the VAT term on the labelled batch too",
		Check: func(c Config) error {
			switch {
			case c.VATLabeled && c.Labeled == 0:
				return fmt.Errorf("--vat-labeled needs --labeled")
			case c.VATLabeled && !c.VAT:
				return fmt.Errorf("--vat-labeled needs --vat")
			}
			return nil
		}},
	{Name: "entmin", Field: "EntMin", Category: CatSemi, Default: false, Math: true,
		Usage: "add the entropy of the predictions on the unlabelled batch to the loss",
		Check: func(c Config) error {
			if c.EntMin && c.Labeled == 0 {
				return fmt.Errorf("--entmin needs --labeled")
			}
			return nil
		}},
	{Name: "teacher", Field: "Teacher", Category: CatSemi, Default: "", Math: true,
		Usage: "self-training: label the unlabelled images the model of this checkpoint (a run on the same --labeled and --seed) is sure of, add them to the labelled ones, and start from its weights",
		Check: func(c Config) error {
			if c.Teacher != "" && c.Labeled == 0 {
				return fmt.Errorf("--teacher needs --labeled")
			}
			return nil
		}},
	{Name: "teacher-min", Field: "TeacherMin", Category: CatSemi, Default: float32(0.95), Math: true,
		Matters: func(c Config) bool { return c.Teacher != "" },
		Usage:   "with --teacher, the probability the teacher must give an image's class for the image to take it as its label",
		Check: func(c Config) error {
			if !(c.TeacherMin >= 0 && c.TeacherMin <= 1) {
				return fmt.Errorf("--teacher-min must be in [0, 1], got %v", c.TeacherMin)
			}
			return nil
		}},

	{Name: "optimizer", Field: "Optimizer", Category: CatOpt, Default: "adadelta", Math: true, Presets: each(mlpPresets, "adam", "paper", "adam"),
		Usage: "adadelta (Keras 1.2.2's) or adam",
		Check: func(c Config) error {
			if c.Optimizer != "adadelta" && c.Optimizer != "adam" {
				return fmt.Errorf("--optimizer must be adadelta or adam, got %q", c.Optimizer)
			}
			return nil
		}},
	{Name: "lr", Field: "LR", Category: CatOpt, Default: float32(1), Math: true, Presets: each(mlpPresets, float32(0.002), "paper", float32(0.002)),
		Usage: "learning rate",
		Check: func(c Config) error { return finitePositive("lr", c.LR) }},
	{Name: "lr-decay", Field: "LRDecay", Category: CatOpt, Default: float32(1), Math: true, Presets: each(mlpPresets, float32(0.9), "paper", float32(0.9)),
		Usage: "multiply the learning rate by this after each epoch",
		Check: func(c Config) error {
			if !(c.LRDecay > 0 && c.LRDecay <= 1) {
				return fmt.Errorf("--lr-decay must be in (0, 1], got %v", c.LRDecay)
			}
			return nil
		}},
	{Name: "lr-decay-start", Field: "LRDecayStart", Category: CatOpt, Default: 0, Math: true,
		Usage: "from this epoch on (0-based) the learning rate falls linearly, reaching lr/(epochs-N) in the last epoch, as in the TPAMI paper's code (takerum/vat_tf); with --lr-decay 1 (0: off)",
		Check: func(c Config) error {
			if c.LRDecayStart == 0 {
				return nil
			}
			if c.LRDecayStart < 0 || c.LRDecayStart >= c.Epochs {
				return fmt.Errorf("--lr-decay-start must be 0 (off) or in [1, %d) (--epochs), got %d", c.Epochs, c.LRDecayStart)
			}
			if c.LRDecay != 1 {
				return fmt.Errorf("--lr-decay-start replaces --lr-decay's exponential decay: give --lr-decay 1, not %v", c.LRDecay)
			}
			return nil
		}},
	{Name: "decay-beta1", Field: "DecayBeta1", Category: CatOpt, Default: float32(0), Math: true,
		Matters: func(c Config) bool { return c.LRDecayStart > 0 && c.Optimizer == "adam" },
		Usage:   "Adam's beta1 from --lr-decay-start on (the TPAMI paper's code: 0.5; 0: --beta1's)",
		Check: func(c Config) error {
			if !(c.DecayBeta1 >= 0 && c.DecayBeta1 < 1) {
				return fmt.Errorf("--decay-beta1 must be in [0, 1) (0: --beta1's), got %v", c.DecayBeta1)
			}
			if c.DecayBeta1 != 0 && (c.LRDecayStart == 0 || c.Optimizer != "adam") {
				return fmt.Errorf("--decay-beta1 needs --lr-decay-start and --optimizer adam")
			}
			return nil
		}},
	{Name: "rho", Field: "Rho", Category: CatOpt, Default: float32(0.95), Math: true,
		Usage: "Adadelta's decay of its running averages",
		Check: func(c Config) error {
			if c.Optimizer == "adadelta" && !(c.Rho > 0 && c.Rho < 1) {
				return fmt.Errorf("--rho must be in (0, 1), got %v", c.Rho)
			}
			return nil
		}},
	{Name: "beta1", Field: "Beta1", Category: CatOpt, Default: float32(0.9), Math: true,
		Usage: "Adam's decay of its first moment",
		Check: func(c Config) error {
			if c.Optimizer == "adam" && !(c.Beta1 >= 0 && c.Beta1 < 1) {
				return fmt.Errorf("--beta1 must be in [0, 1), got %v", c.Beta1)
			}
			return nil
		}},
	{Name: "beta2", Field: "Beta2", Category: CatOpt, Default: float32(0.999), Math: true,
		Usage: "Adam's decay of its second moment",
		Check: func(c Config) error {
			if c.Optimizer == "adam" && !(c.Beta2 > 0 && c.Beta2 < 1) {
				return fmt.Errorf("--beta2 must be in (0, 1), got %v", c.Beta2)
			}
			return nil
		}},
	{Name: "opt-eps", Field: "AdaEps", Category: CatOpt, Default: float32(1e-8), Math: true,
		Usage: "the optimiser's epsilon",
		Check: func(c Config) error { return finitePositive("opt-eps", c.AdaEps) }},
	{Name: "ema", Field: "EMA", Category: CatOpt, Default: float32(0), Math: true,
		Usage: "keep a moving average of the weights with this decay (e.g. 0.999) and make it the run's model (0: off)",
		Check: func(c Config) error {
			if !(c.EMA >= 0 && c.EMA < 1) {
				return fmt.Errorf("--ema must be in [0, 1) (as a float32), got %v", c.EMA)
			}
			return nil
		}},
}

// netUsage is --net's usage: the networks and what each is.
func netUsage() string {
	u := "the network:"
	for i, n := range layers.Nets {
		if i > 0 {
			u += ";"
		}
		u += " " + n.Name + " (" + n.Doc + ")"
	}
	return u
}

func positive(name string, v int) error {
	if v <= 0 {
		return fmt.Errorf("--%s must be positive, got %d", name, v)
	}
	return nil
}

func between(name string, v, lo, hi int) error {
	if v < lo || v > hi {
		return fmt.Errorf("--%s must be between %d and %d, got %d", name, lo, hi, v)
	}
	return nil
}

func nonNegative(name string, v float32) error {
	if !(v >= 0) || math.IsInf(float64(v), 0) {
		return fmt.Errorf("--%s must be finite and non-negative, got %v", name, v)
	}
	return nil
}

func finitePositive(name string, v float32) error {
	if !(v > 0) || math.IsInf(float64(v), 0) {
		return fmt.Errorf("--%s must be finite and positive, got %v", name, v)
	}
	return nil
}

// Setting returns the setting of that name; it panics if there is none.
func SettingNamed(name string) *Setting {
	for i := range Settings {
		if Settings[i].Name == name {
			return &Settings[i]
		}
	}
	panic("vat: no setting " + strconv.Quote(name))
}

// Ptr returns a pointer to the setting's field in c: *int, *uint64, *bool,
// *string, *float32 or *layers.Norm.
func (s *Setting) Ptr(c *Config) any {
	return reflect.ValueOf(c).Elem().FieldByName(s.Field).Addr().Interface()
}

// Value returns the setting's value in c.
func (s *Setting) Value(c Config) any {
	return reflect.ValueOf(c).FieldByName(s.Field).Interface()
}

// set stores v, of the field's type, in c.
func (s *Setting) set(c *Config, v any) {
	reflect.ValueOf(c).Elem().FieldByName(s.Field).Set(reflect.ValueOf(v))
}

// PresetValue returns the setting's value under preset p: its entry in
// Presets, else its default.
func (s *Setting) PresetValue(p string) any {
	if v, ok := s.Presets[p]; ok {
		return v
	}
	return s.Default
}

// counts reports whether a difference in the setting between c and o
// changes the arithmetic.
func (s *Setting) counts(c, o Config) bool {
	return s.Math && (s.Matters == nil || s.Matters(c) || s.Matters(o))
}

func init() {
	// The table's own consistency: programmer errors, caught at start.
	var c Config
	seen := map[string]bool{}
	for i := range Settings {
		s := &Settings[i]
		f := reflect.ValueOf(c).FieldByName(s.Field)
		if !f.IsValid() {
			panic("vat: setting " + s.Name + ": no Config field " + s.Field)
		}
		if seen[s.Name] {
			panic("vat: setting " + s.Name + " declared twice")
		}
		seen[s.Name] = true
		vals := []any{s.Default}
		for p, v := range s.Presets {
			if presetIndex(p) < 0 {
				panic("vat: setting " + s.Name + ": unknown preset " + p)
			}
			vals = append(vals, v)
		}
		for _, v := range vals {
			if reflect.TypeOf(v) != f.Type() {
				panic(fmt.Sprintf("vat: setting %s: value %v is a %T, the field a %v", s.Name, v, v, f.Type()))
			}
		}
	}
}

func presetIndex(name string) int {
	for i, p := range Presets {
		if p.Name == name {
			return i
		}
	}
	return -1
}

// PresetSummary lists the settings preset name changes, as flags: "--batch
// 32 --vat ...".
func PresetSummary(name string) string {
	out := ""
	for i := range Settings {
		s := &Settings[i]
		if v, ok := s.Presets[name]; ok {
			if out != "" {
				out += " "
			}
			switch v := v.(type) {
			case bool:
				if v {
					out += "--" + s.Name
				} else {
					out += "--" + s.Name + "=false"
				}
			default:
				out += fmt.Sprintf("--%s %v", s.Name, v)
			}
		}
	}
	return out
}

// PresetConfig returns the configuration of preset name: every setting at
// its value under it.
func PresetConfig(name string) (Config, error) {
	if presetIndex(name) < 0 {
		names := ""
		for i, p := range Presets {
			if i > 0 {
				names += ", "
			}
			names += p.Name
		}
		return Config{}, fmt.Errorf("--preset must be one of %s, got %q", names, name)
	}
	var c Config
	for i := range Settings {
		Settings[i].set(&c, Settings[i].PresetValue(name))
	}
	return c, nil
}

// ApplyPreset sets every setting of c that given does not name to its
// value under preset name.
func (c *Config) ApplyPreset(name string, given func(setting string) bool) error {
	p, err := PresetConfig(name)
	if err != nil {
		return err
	}
	for i := range Settings {
		s := &Settings[i]
		if !given(s.Name) {
			s.set(c, s.Value(p))
		}
	}
	return nil
}

// DefaultConfig returns the seed's settings: 12 epochs of batch 128,
// Adadelta(1.0, 0.95, 1e-8), eps 1, xi 10, ip 1, seed 1337.
func DefaultConfig() Config {
	c, _ := PresetConfig("seed")
	return c
}

// PaperConfig returns the preset paper: the seed's CNN with the VAT and
// optimiser settings of the ICLR'16 paper's code (takerum/vat) for
// semi-supervised MNIST (xi 1e-6, ip 1, max-abs-then-L2 normalisation, eps
// 0.3, Adam with learning rate 0.002 decayed by 0.9 each epoch, 100
// labels), with batches of 32 labelled images (the code's are 100) and the
// default 128 unlabelled (the code's, 250).
func PaperConfig() Config {
	c, _ := PresetConfig("paper")
	return c
}

// Validate reports the first invalid setting, naming it as the command
// line does.
func (c Config) Validate() error {
	for i := range Settings {
		if s := &Settings[i]; s.Check != nil {
			if err := s.Check(c); err != nil {
				return err
			}
		}
	}
	return nil
}

// SameMath returns an error naming the first setting of o that differs
// from c in a way that changes the arithmetic of training (Epochs may
// differ, unless the learning rate decays linearly to the last epoch).
func (c Config) SameMath(o Config) error {
	for i := range Settings {
		s := &Settings[i]
		if s.counts(c, o) && s.Value(c) != s.Value(o) {
			return fmt.Errorf("checkpoint has %s %v, this run %v", s.Name, s.Value(o), s.Value(c))
		}
	}
	return nil
}

// ResumeConfig returns the configuration of a run resumed from a
// checkpoint saved with configuration saved: saved itself, with the epochs
// of flags when given says epochs was given. A setting given that would
// change the arithmetic is an error naming it.
func ResumeConfig(flags, saved Config, given func(setting string) bool) (Config, error) {
	asked := saved
	for i := range Settings {
		if s := &Settings[i]; s.Math && given(s.Name) {
			s.set(&asked, s.Value(flags))
		}
	}
	if err := asked.SameMath(saved); err != nil {
		return saved, err
	}
	cfg := saved
	if given("epochs") {
		cfg.Epochs = flags.Epochs
	}
	return cfg, nil
}
