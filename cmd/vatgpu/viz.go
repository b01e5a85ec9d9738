package main

import (
	"fmt"
	"io"

	"github.com/urfave/cli/v2"

	"github.com/vatgpu/vatgpu/layers"
	"github.com/vatgpu/vatgpu/vat"
	"github.com/vatgpu/vatgpu/viz"
)

func plotCommand(stdout io.Writer) *cli.Command {
	var out string
	return &cli.Command{
		Name:      "plot",
		Usage:     "draw training loss and test accuracy per epoch of one or more --metrics files",
		ArgsUsage: "METRICS.jsonl...",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "o", Aliases: []string{"out"}, Value: "curves.png", Usage: "output picture (.png, or .svg)", Destination: &out},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() == 0 {
				return usagef("plot needs at least one metrics file (written by train --metrics)")
			}
			return Plot(c.Args().Slice(), out, stdout)
		},
	}
}

// Plot runs `vatgpu plot`.
func Plot(files []string, out string, w io.Writer) error {
	runs := make([]*viz.Run, len(files))
	for i, f := range files {
		r, err := viz.ReadMetrics(f)
		if err != nil {
			return err
		}
		runs[i] = r
	}
	if err := viz.Curves(out, runs); err != nil {
		return err
	}
	fmt.Fprintf(w, "wrote %s\n", out)
	return nil
}

func summaryCommand(stdout io.Writer) *cli.Command {
	return &cli.Command{
		Name:      "summary",
		Usage:     "the last epoch's validation and test error of one or more --metrics files, and their mean and sample standard deviation",
		ArgsUsage: "METRICS.jsonl...",
		Action: func(c *cli.Context) error {
			if c.NArg() == 0 {
				return usagef("summary needs at least one metrics file (written by train --metrics)")
			}
			return Summary(c.Args().Slice(), stdout)
		},
	}
}

// Summary runs `vatgpu summary`: each run is named by its file.
func Summary(files []string, w io.Writer) error {
	runs := make([]*viz.Run, len(files))
	for i, f := range files {
		r, err := viz.ReadMetrics(f)
		if err != nil {
			return err
		}
		r.Label = f
		runs[i] = r
	}
	return viz.Summary(w, runs)
}

// AdversarialArgs are the flags of `vatgpu adversarial`.
type AdversarialArgs struct {
	Model, Net, Out, Device, Data string
	N                             int
	Eps, Xi                       float64
	IP                            int
}

func adversarialCommand(stdout io.Writer) *cli.Command {
	var a AdversarialArgs
	return &cli.Command{
		Name:  "adversarial",
		Usage: "draw test digits, their virtual adversarial perturbation and the perturbed digits, with predictions",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "model", Required: true, Usage: "checkpoint written by train --out", Destination: &a.Model},
			netFlag(&a.Net),
			&cli.StringFlag{Name: "o", Aliases: []string{"out"}, Value: "adversarial.png", Usage: "output picture (.png, or .svg)", Destination: &a.Out},
			&cli.StringFlag{Name: "device", Value: "auto", Usage: "cpu, a GPU index, or auto", Destination: &a.Device},
			&cli.StringFlag{Name: "data", Usage: "folder of the MNIST IDX files", Destination: &a.Data},
			&cli.IntFlag{Name: "n", Value: 6, Usage: "number of test digits (the first n)", Destination: &a.N},
			&cli.Float64Flag{Name: "eps", Value: 2, Usage: "length of r_adv", Destination: &a.Eps},
			&cli.Float64Flag{Name: "xi", Value: 10, Usage: "power-iteration step", Destination: &a.Xi},
			&cli.IntFlag{Name: "ip", Value: 1, Usage: "power iterations", Destination: &a.IP},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef("adversarial takes no arguments, got %q", c.Args().First())
			}
			return Adversarial(a, stdout)
		},
	}
}

// Adversarial runs `vatgpu adversarial`.
func Adversarial(a AdversarialArgs, w io.Writer) error {
	if a.N <= 0 || a.N > 100 {
		return usagef("--n must be between 1 and 100, got %d", a.N)
	}
	s, err := loadModel(a.Model, a.Net)
	if err != nil {
		return err
	}
	if err := s.CheckModel(); err != nil {
		return fmt.Errorf("%s: %v", a.Model, err)
	}
	cfg := s.Config
	cfg.Eps, cfg.Xi, cfg.IP = float32(a.Eps), float32(a.Xi), a.IP
	if err := cfg.Validate(); err != nil {
		return usageError{err.Error()}
	}
	_, test, err := vat.LoadData(a.Data, a.N)
	if err != nil {
		return err
	}
	b, err := openBackend(a.Device, false, w)
	if err != nil {
		return err
	}
	defer b.Close()
	r, err := vat.Adversarial(b, s.ModelParams(), test.Images, test.N, cfg)
	if err != nil {
		return err
	}
	rows := make([]viz.AdvRow, test.N)
	for i := range rows {
		img := test.Images[i*layers.ImageLen : (i+1)*layers.ImageLen]
		adv := r.Perturbed[i*layers.ImageLen : (i+1)*layers.ImageLen]
		pert := make([]float32, layers.ImageLen)
		for j := range pert {
			pert[j] = adv[j] - img[j]
		}
		pred, conf := argmax(r.Probs[i*layers.Classes : (i+1)*layers.Classes])
		predAdv, confAdv := argmax(r.ProbsAdv[i*layers.Classes : (i+1)*layers.Classes])
		rows[i] = viz.AdvRow{Image: img, Perturbation: pert, Perturbed: adv, Label: int(test.Labels[i]),
			Pred: pred, PredAdv: predAdv, Conf: conf, ConfAdv: confAdv}
		fmt.Fprintf(w, "digit %d: label %d, predicted %d (%.3f); with r_adv %d (%.3f)\n", i, test.Labels[i], pred, conf, predAdv, confAdv)
	}
	if err := viz.AdversarialGrid(a.Out, rows, a.Eps); err != nil {
		return err
	}
	fmt.Fprintf(w, "wrote %s\n", a.Out)
	return nil
}

func argmax(p []float32) (int, float64) {
	best := 0
	for j, v := range p {
		if v > p[best] {
			best = j
		}
	}
	return best, float64(p[best])
}
