package main

import (
	"fmt"
	"io"

	"github.com/urfave/cli/v2"

	"github.com/vatgpu/vatgpu/vat"
)

// EvalArgs are the flags of `vatgpu eval`.
type EvalArgs struct {
	Model  string
	Device string
	Data   string
	Limit  int
}

func evalCommand(stdout io.Writer) *cli.Command {
	var a EvalArgs
	return &cli.Command{
		Name:  "eval",
		Usage: "print a checkpoint's test score (cross-entropy) and accuracy",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "model", Required: true, Usage: "checkpoint written by train --out", Destination: &a.Model},
			&cli.StringFlag{Name: "device", Value: "auto", Usage: "cpu, a GPU index, or auto", Destination: &a.Device},
			&cli.StringFlag{Name: "data", Usage: "folder of the MNIST IDX files", Destination: &a.Data},
			&cli.IntFlag{Name: "limit", Usage: "use only the first N test images", Destination: &a.Limit},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef("eval takes no arguments, got %q", c.Args().First())
			}
			return Eval(a, stdout)
		},
	}
}

// Eval runs `vatgpu eval`.
func Eval(a EvalArgs, stdout io.Writer) error {
	if a.Limit < 0 {
		return usagef("--limit must be 0 (all) or positive, got %d", a.Limit)
	}
	s, err := vat.Load(a.Model)
	if err != nil {
		return err
	}
	// NaN weights would score NaN at chance accuracy and look like a result.
	if err := s.CheckModel(); err != nil {
		return fmt.Errorf("%s: %v", a.Model, err)
	}
	_, test, err := vat.LoadData(a.Data, a.Limit)
	if err != nil {
		return err
	}
	b, err := openBackend(a.Device, false, stdout)
	if err != nil {
		return err
	}
	defer b.Close()
	loss, acc, err := vat.EvaluateParams(b, s.ModelParams(), test)
	if err != nil {
		return err
	}
	weights := ""
	if s.Average != nil {
		weights = ", averaged weights"
	}
	fmt.Fprintf(stdout, "score=%g, accuracy=%g (%d test images, epoch %d%s)\n", loss, acc, test.N, s.Epoch, weights)
	return nil
}
