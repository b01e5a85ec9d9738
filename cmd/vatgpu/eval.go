package main

import (
	"fmt"
	"io"

	"github.com/urfave/cli/v2"

	"github.com/vatgpu/vatgpu/layers"
	"github.com/vatgpu/vatgpu/vat"
)

// EvalArgs are the flags of `vatgpu eval`.
type EvalArgs struct {
	Model  string
	Net    string // the network the checkpoint must be of ("": any)
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
			netFlag(&a.Net),
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
	s, err := loadModel(a.Model, a.Net)
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
	loss, acc, err := vat.EvaluateParams(b, s.Net(), s.ModelParams(), test)
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

// netFlag is the --net flag of the commands that read a checkpoint: the
// network is the checkpoint's; given, it must be that one.
func netFlag(p *string) cli.Flag {
	return &cli.StringFlag{Name: "net", Usage: "the network the checkpoint must be of (default: the checkpoint's own, which it names)", Destination: p}
}

// loadModel reads checkpoint path, refusing it when net is given and the
// checkpoint is of another network.
func loadModel(path, net string) (*vat.State, error) {
	if net != "" {
		if _, err := layers.NetNamed(net); err != nil {
			return nil, usagef("--net: %v", err)
		}
	}
	s, err := vat.Load(path)
	if err != nil {
		return nil, err
	}
	if net != "" && s.Config.Net != net {
		return nil, fmt.Errorf("--net %s: %s is a model of the network %s", net, path, s.Config.Net)
	}
	return s, nil
}
