package main

import (
	"fmt"
	"io"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/vatgpu/vatgpu/layers"
	"github.com/vatgpu/vatgpu/mnist"
	"github.com/vatgpu/vatgpu/vat"
)

// ReproduceArgs are the flags of `vatgpu reproduce`.
type ReproduceArgs struct {
	Device     string
	Epochs     int
	Limit      int
	Data       string
	MetricsDir string
	Quiet      bool
}

func reproduceCommand(stdout, stderr io.Writer) *cli.Command {
	var a ReproduceArgs
	return &cli.Command{
		Name:  "reproduce",
		Usage: "run the seed's four trainings (dropout × VAT, seed 1337) and print its table beside ours",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "device", Value: "auto", Usage: "cpu, a GPU index, or auto", Destination: &a.Device},
			&cli.IntFlag{Name: "epochs", Value: 12, Usage: "epochs of each run (the seed's 12)", Destination: &a.Epochs},
			&cli.IntFlag{Name: "limit", Usage: "use only the first N training and test images", Destination: &a.Limit},
			&cli.StringFlag{Name: "data", Usage: "folder of the MNIST IDX files", Destination: &a.Data},
			&cli.StringFlag{Name: "metrics-dir", Usage: "write each run's metrics (JSON Lines) here, for vatgpu plot", Destination: &a.MetricsDir},
			&cli.BoolFlag{Name: "quiet", Usage: "no progress bar", Destination: &a.Quiet},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef("reproduce takes no arguments, got %q", c.Args().First())
			}
			return Reproduce(a, stdout, stderr)
		},
	}
}

// seedRuns are the seed article's four runs and its reported results
// (Keras 1.2.2, 12 epochs).
var seedRuns = []struct {
	name            string
	dropout, vat    bool
	accuracy        float64 // test accuracy, %
	secondsPerEpoch float64
}{
	{"plain", false, false, 98.72, 8},
	{"dropout", true, false, 98.45, 8},
	{"vat", false, true, 98.94, 18},
	{"dropout+vat", true, true, 98.91, 18},
}

// ReproduceRow is one run's outcome.
type ReproduceRow struct {
	Name            string
	Accuracy, Score float64
	SecondsPerEpoch float64
}

// Reproduce runs `vatgpu reproduce`.
func Reproduce(a ReproduceArgs, stdout, stderr io.Writer) error {
	if a.Epochs <= 0 {
		return usagef("--epochs must be positive, got %d", a.Epochs)
	}
	if a.Limit < 0 {
		return usagef("--limit must be 0 (all) or positive, got %d", a.Limit)
	}
	train, test, err := vat.LoadData(a.Data, a.Limit)
	if err != nil {
		return err
	}
	b, err := openBackend(a.Device, false, stdout)
	if err != nil {
		return err
	}
	defer b.Close()
	var rows []ReproduceRow
	for _, sr := range seedRuns {
		cfg := vat.DefaultConfig()
		cfg.Epochs, cfg.Dropout, cfg.VAT = a.Epochs, sr.dropout, sr.vat
		row, err := reproduceRun(sr.name, cfg, b, train, test, a, stdout, stderr)
		if err != nil {
			return fmt.Errorf("%s: %v", sr.name, err)
		}
		rows = append(rows, row)
	}
	printReproduce(stdout, rows, b.Name(), a, train.N)
	return nil
}

// reproduceRun trains one of the seed's runs, its lines prefixed with its
// name.
func reproduceRun(name string, cfg vat.Config, b layers.Backend, train, test *mnist.Set, a ReproduceArgs, stdout, stderr io.Writer) (ReproduceRow, error) {
	r, err := vat.OpenRun(vat.RunOptions{Config: cfg, TrainSet: train, TestSet: test, Backend: b, Log: prefixWriter{name + ": ", stdout}})
	if err != nil {
		return ReproduceRow{}, err
	}
	defer r.Close()
	var mf *metricsFile
	if a.MetricsDir != "" {
		if mf, err = openMetrics(filepath.Join(a.MetricsDir, name+".jsonl"), cfg, b.Name(), train.N, test.N); err != nil {
			return ReproduceRow{}, err
		}
		defer mf.Close()
	}
	bar := newProgressBar(stderr, cfg.Epochs)
	bar.tty = bar.tty && !a.Quiet
	var secs float64
	loss, acc, err := r.Train(bar.update, func(es vat.EpochStats) error {
		bar.clear()
		secs += es.Seconds
		return mf.epoch(es, r.Trainer.Step, b.Name())
	})
	bar.clear()
	return ReproduceRow{name, acc * 100, loss, secs / float64(cfg.Epochs)}, err
}

// prefixWriter writes each Write (one line, from Run) after a prefix.
type prefixWriter struct {
	prefix string
	w      io.Writer
}

func (p prefixWriter) Write(b []byte) (int, error) {
	if _, err := io.WriteString(p.w, p.prefix); err != nil {
		return 0, err
	}
	return p.w.Write(b)
}

func printReproduce(w io.Writer, rows []ReproduceRow, device string, a ReproduceArgs, n int) {
	fmt.Fprintf(w, "\nThe seed's table (Keras 1.2.2, 12 epochs, 60,000 images) beside ours (%s, %d epochs, %d images):\n", device, a.Epochs, n)
	fmt.Fprintf(w, "| run | seed accuracy | our accuracy | our score | seed s/epoch | our s/epoch |\n|---|---|---|---|---|---|\n")
	for i, r := range rows {
		sr := seedRuns[i]
		fmt.Fprintf(w, "| %s | %.2f%% | %.2f%% | %.4f | %.0f | %.1f |\n", r.Name, sr.accuracy, r.Accuracy, r.Score, sr.secondsPerEpoch, r.SecondsPerEpoch)
	}
	if len(rows) == 4 {
		fmt.Fprintf(w, "VAT/plain time ratio: seed %.2f, ours %.2f\n", seedRuns[2].secondsPerEpoch/seedRuns[0].secondsPerEpoch, rows[2].SecondsPerEpoch/rows[0].SecondsPerEpoch)
	}
}
