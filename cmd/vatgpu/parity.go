package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/vatgpu/vatgpu/gpu"
	"github.com/vatgpu/vatgpu/layers"
	"github.com/vatgpu/vatgpu/layers/layerstest"
	"github.com/vatgpu/vatgpu/parity"
)

// ParityArgs are the flags of `vatgpu parity`.
type ParityArgs struct {
	Device string
	Record string
	Net    string // the network whose case runs (net_<name>), or "all"
}

func parityCommand(stdout io.Writer) *cli.Command {
	var a ParityArgs
	return &cli.Command{
		Name:  "parity",
		Usage: "run the conformance cases on a GPU against the CPU; --record writes them as fixtures",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "device", Value: "0", Usage: "GPU index", Destination: &a.Device},
			&cli.StringFlag{Name: "record", Usage: "write the GPU's inputs and outputs to this folder (testdata/parity)", Destination: &a.Record},
			&cli.StringFlag{Name: "net", Value: "all", Usage: "the network whose forward and backward passes are compared (case net_NAME), or all", Destination: &a.Net},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef("parity takes no arguments, got %q", c.Args().First())
			}
			return Parity(a, stdout)
		},
	}
}

// Parity runs `vatgpu parity`: every conformance case on the GPU and on
// the CPU, a table of the largest errors against the tolerances, and with
// --record the fixtures that `make test` checks the CPU against.
func Parity(a ParityArgs, w io.Writer) error {
	idx, isCPU, auto, err := parseDevice(a.Device)
	if err != nil {
		return err
	}
	if isCPU || auto {
		return usagef("parity compares a GPU with the CPU: --device must be a GPU index")
	}
	if a.Net != "all" {
		if _, err := layers.NetNamed(a.Net); err != nil {
			return usagef("--net: %v", err)
		}
	}
	b, err := openGPU(idx, true)
	if err != nil {
		return err
	}
	defer b.Close()
	fmt.Fprintf(w, "parity: %s against %s\n", b.Name(), layers.NewCPU(0).Name())
	failed := 0
	for _, c := range parity.Cases() {
		if strings.HasPrefix(c.Name, "net_") && a.Net != "all" && c.Name != "net_"+a.Net {
			continue
		}
		in := c.NewInputs()
		want := c.Run(layers.NewCPU(0), in)
		got := c.Run(b, in)
		if err := b.Sync(); err != nil {
			return fmt.Errorf("parity: %s: %v", c.Name, err)
		}
		tol := c.Tol
		for _, r := range layerstest.CompareAll(got, want, tol) {
			status := "ok"
			if r.Fail != "" {
				status, failed = "FAIL "+r.Fail, failed+1
			}
			fmt.Fprintf(w, "%-14s %-16s max abs %-10.3g max rel %-10.3g tol %g/%g  %s\n", c.Name, r.Output, r.MaxAbs, r.MaxRel, tol.Abs, tol.Rel, status)
		}
	}
	if a.Record != "" {
		r := gpu.Probe()
		info := map[string]string{"device": b.Name(), "source_hash": gpu.SourceHash(),
			"driver": r.DriverVersion, "cuda": strconv.Itoa(r.CUDAVersion),
			"cublas": r.CUBLAS.Version, "cudnn": r.CUDNN.Version}
		if err := parity.Record(a.Record, b, info); err != nil {
			return err
		}
		fmt.Fprintf(w, "recorded %d fixtures in %s\n", len(parity.Cases()), a.Record)
	}
	if failed > 0 {
		return fmt.Errorf("parity: %d outputs outside tolerance", failed)
	}
	return nil
}
