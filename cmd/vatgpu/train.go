package main

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/vatgpu/vatgpu/layers"
	"github.com/vatgpu/vatgpu/vat"
)

// TrainArgs are the flags of `vatgpu train`: the run's settings (Config,
// one flag per entry of vat.Settings) and where it runs and writes.
type TrainArgs struct {
	Config        vat.Config
	Preset        string
	Device        string
	Deterministic bool
	Limit         int
	Data          string
	Out           string
	Resume        string
	Metrics       string
	MetricsEvery  int
	Quiet         bool

	// given tells which settings were given on the command line (a preset
	// given explicitly counts as giving all); nil when Train is called
	// directly, where every setting counts as given.
	given func(setting string) bool
}

// settingFlags returns one flag per entry of vat.Settings, bound to its
// field of cfg; the flags' defaults are cfg's values.
func settingFlags(cfg *vat.Config) []cli.Flag {
	var flags []cli.Flag
	for i := range vat.Settings {
		s := &vat.Settings[i]
		switch p := s.Ptr(cfg).(type) {
		case *bool:
			flags = append(flags, &cli.BoolFlag{Name: s.Name, Category: s.Category, Usage: s.Usage, Value: *p, Destination: p})
		case *int:
			flags = append(flags, &cli.IntFlag{Name: s.Name, Category: s.Category, Usage: s.Usage, Value: *p, Destination: p})
		case *uint64:
			flags = append(flags, &cli.Uint64Flag{Name: s.Name, Category: s.Category, Usage: s.Usage, Value: *p, Destination: p})
		case *string:
			flags = append(flags, &cli.StringFlag{Name: s.Name, Category: s.Category, Usage: s.Usage, Value: *p, Destination: p})
		case *float32:
			flags = append(flags, &cli.GenericFlag{Name: s.Name, Category: s.Category, Usage: s.Usage, Value: float32Value{p}})
		case *layers.Norm:
			flags = append(flags, &cli.GenericFlag{Name: s.Name, Category: s.Category, Usage: s.Usage, Value: normValue{p}})
		default:
			panic(fmt.Sprintf("vatgpu: setting %s: no flag for a %T", s.Name, p))
		}
	}
	return flags
}

// float32Value is a flag.Value that prints a float32 as its shortest
// decimal (0.95, not 0.949999988079071).
type float32Value struct{ p *float32 }

func (v float32Value) Set(s string) error {
	f, err := strconv.ParseFloat(s, 32)
	if err != nil {
		return fmt.Errorf("not a number")
	}
	*v.p = float32(f)
	return nil
}

func (v float32Value) String() string {
	if v.p == nil {
		return ""
	}
	return strconv.FormatFloat(float64(*v.p), 'g', -1, 32)
}

// normValue is a flag.Value of a layers.Norm by its name.
type normValue struct{ p *layers.Norm }

func (v normValue) Set(s string) (err error) {
	*v.p, err = layers.ParseNorm(s)
	return err
}

func (v normValue) String() string {
	if v.p == nil {
		return ""
	}
	return v.p.String()
}

func trainFlags(a *TrainArgs) []cli.Flag {
	a.Config = vat.DefaultConfig()
	presets := ""
	for _, p := range vat.Presets {
		presets += fmt.Sprintf("; %s: %s", p.Name, p.Usage)
		if sum := vat.PresetSummary(p.Name); sum != "" {
			presets += " (" + sum + ")"
		}
	}
	return append(settingFlags(&a.Config),
		&cli.StringFlag{Name: "preset", Category: vat.CatRun, Value: "seed", Usage: "the values of the settings not given" + presets, Destination: &a.Preset},
		&cli.StringFlag{Name: "device", Category: vat.CatRun, Value: "auto", Usage: "cpu, a GPU index, or auto (GPU 0 when usable, else cpu)", Destination: &a.Device},
		&cli.BoolFlag{Name: "deterministic", Category: vat.CatRun, Usage: "deterministic cuDNN algorithms on the GPU", Destination: &a.Deterministic},
		&cli.IntFlag{Name: "limit", Category: vat.CatModel, Usage: "use only the first N training and test images (0: all)", Destination: &a.Limit},
		&cli.StringFlag{Name: "data", Category: vat.CatModel, Usage: "folder of the four MNIST IDX files (default: the GoMNIST module's data/)", Destination: &a.Data},
		&cli.StringFlag{Name: "out", Category: vat.CatRun, Usage: "checkpoint file (safetensors), written after every epoch and on interrupt", Destination: &a.Out},
		&cli.StringFlag{Name: "resume", Category: vat.CatRun, Usage: "continue the run saved in this checkpoint (and keep saving there unless --out says otherwise)", Destination: &a.Resume},
		&cli.StringFlag{Name: "metrics", Category: vat.CatRun, Usage: "append one JSON object per epoch to this file", Destination: &a.Metrics},
		&cli.IntFlag{Name: "metrics-every", Category: vat.CatRun, Usage: "also write a --metrics record every N steps", Destination: &a.MetricsEvery},
		&cli.BoolFlag{Name: "quiet", Category: vat.CatRun, Usage: "no progress bar", Destination: &a.Quiet},
	)
}

func trainCommand(stdout, stderr io.Writer) *cli.Command {
	var a TrainArgs
	return &cli.Command{
		Name:  "train",
		Usage: "train a network (the seed's CNN by default; --net), with --vat and --dropout as the seed's four runs",
		Flags: trainFlags(&a),
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef("train takes no arguments, got %q", c.Args().First())
			}
			a.given = func(name string) bool { return c.IsSet(name) || (c.IsSet("preset") && a.Preset != "seed") }
			if err := a.Config.ApplyPreset(a.Preset, c.IsSet); err != nil {
				return usageError{err.Error()}
			}
			return Train(a, stdout, stderr)
		},
	}
}

// Train runs `vatgpu train`: it trains, prints one line per epoch and the
// seed's finish line, and writes checkpoints to a.Out.
func Train(a TrainArgs, stdout, stderr io.Writer) error {
	if a.MetricsEvery < 0 || (a.MetricsEvery > 0 && a.Metrics == "") {
		return usagef("--metrics-every needs --metrics and a positive step count, got %d", a.MetricsEvery)
	}
	r, err := vat.OpenRun(vat.RunOptions{Config: a.Config, Given: a.given, Data: a.Data, Limit: a.Limit,
		Out: a.Out, Resume: a.Resume, Log: stdout,
		Open: func() (layers.Backend, error) { return openBackend(a.Device, a.Deterministic, stdout) }})
	if err != nil {
		return err
	}
	defer r.Close()
	metrics, err := openMetrics(a.Metrics, r.Cfg, r.Backend.Name(), r.TrainSet.N, r.TestSet.N)
	if err != nil {
		return err
	}
	defer metrics.Close()
	defer stopOnSignal(r.Stop)()
	bar := newProgressBar(stderr, r.Cfg.Epochs)
	bar.tty = bar.tty && !a.Quiet
	var stepErr error
	progress := bar.update
	if a.MetricsEvery > 0 {
		r.Trainer.ProgressEvery = a.MetricsEvery
		progress = func(p vat.Progress) {
			bar.update(p)
			stepErr = cmpErr(stepErr, metrics.step(p, r.Backend.Name()))
		}
	}
	_, _, err = r.Train(progress, func(es vat.EpochStats) error {
		bar.clear()
		return cmpErr(stepErr, metrics.epoch(es, r.Trainer.Step, r.Backend.Name()))
	})
	bar.clear()
	return err
}

// cmpErr returns the first of its errors that is not nil.
func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// stopOnSignal calls stop on the first SIGINT or SIGTERM; a second one ends
// the process at once, unsaved. It returns the function that stops
// listening.
func stopOnSignal(stop func()) (release func()) {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		if _, ok := <-sig; ok {
			stop()
			signal.Reset(os.Interrupt, syscall.SIGTERM)
		}
	}()
	return func() { signal.Stop(sig); close(sig) }
}
