package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/vatgpu/vatgpu/gpu"
	"github.com/vatgpu/vatgpu/gpu/cuda"
	"github.com/vatgpu/vatgpu/layers"
	"github.com/vatgpu/vatgpu/layers/layerstest"
	"github.com/vatgpu/vatgpu/parity"
)

// ParityArgs are the flags of `vatgpu parity`.
type ParityArgs struct {
	Device string
	Record string
	Ops    bool
	Net    string // the network whose case runs (net_<name>), or "all"
}

func parityCommand(stdout io.Writer) *cli.Command {
	var a ParityArgs
	return &cli.Command{
		Name:  "parity",
		Usage: "run the conformance cases on a GPU against the CPU; --record writes those that pass as fixtures",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "device", Value: "0", Usage: "GPU index, or cpu to run the CPU against itself (a dry run of the command)", Destination: &a.Device},
			&cli.StringFlag{Name: "record", Usage: "write the inputs and outputs of every case that passes to this folder (testdata/parity)", Destination: &a.Record},
			&cli.StringFlag{Name: "net", Value: "all", Usage: "the network whose forward and backward passes are compared (case net_NAME), or all", Destination: &a.Net},
			&cli.BoolFlag{Name: "ops", Usage: "only the op cases (layerstest), not r_adv and the trainings (vattest): one case of every op, a quick smoke test", Destination: &a.Ops},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef("parity takes no arguments, got %q", c.Args().First())
			}
			return Parity(a, stdout)
		},
	}
}

// Parity runs `vatgpu parity`: every conformance case (with Ops, the op
// cases of layerstest alone) on the device and on the CPU, a line per output with its
// largest errors against the tolerances, a line per case, and with Record
// the fixtures of the cases that pass, which `make test` checks the CPU
// against. A case that fails, or errs, or panics, is reported and the
// next case runs, on a backend opened anew if the error is the backend's
// (a GPU backend's errors are sticky); the fixture of a failed case is not
// written (and an older one in Record is removed). It returns an error
// naming the failed cases, after all have run.
func Parity(a ParityArgs, w io.Writer) error {
	idx, isCPU, auto, err := parseDevice(a.Device)
	if err != nil {
		return err
	}
	if auto {
		return usagef("parity compares a GPU with the CPU: --device must be a GPU index (or cpu for a dry run)")
	}
	if a.Net == "" {
		a.Net = "all"
	}
	if a.Net != "all" {
		if _, err := layers.NetNamed(a.Net); err != nil {
			return usagef("--net: %v", err)
		}
	}
	open := func() (layers.Backend, error) {
		if isCPU {
			return layers.NewCPU(0), nil
		}
		return openGPU(idx, true)
	}
	b, err := open()
	if err != nil {
		return err
	}
	defer func() { b.Close() }()
	fmt.Fprintf(w, "parity: %s against %s\n", b.Name(), layers.NewCPU(0).Name())
	info := map[string]string{}
	if a.Record != "" {
		r := cuda.Probe()
		info = map[string]string{"device": b.Name(), "source_hash": gpu.SourceHash(),
			"driver": r.DriverVersion, "cuda": strconv.Itoa(r.CUDAVersion),
			"cublas": r.CUBLAS.Version, "cudnn": r.CUDNN.Version, "graphs": graphsSetting()}
	}
	cases := parity.Cases()
	if a.Ops {
		cases = layerstest.Cases()
	}
	var failed []string
	passed, recorded := 0, 0
	for _, c := range cases {
		if strings.HasPrefix(c.Name, "net_") && a.Net != "all" && c.Name != "net_"+a.Net {
			continue
		}
		start := time.Now()
		in := c.NewInputs()
		got, want, err := runParityCase(b, c, in)
		ok := err == nil
		if err != nil {
			fmt.Fprintf(w, "%-20s FAIL %v\n", c.Name, err)
		} else {
			tol := c.Tol
			for _, r := range layerstest.CompareAll(got, want, tol) {
				status := "ok"
				if r.Fail != "" {
					status, ok = "FAIL "+r.Fail, false
				}
				fmt.Fprintf(w, "%-20s %-16s max abs %-10.3g max rel %-10.3g tol %g/%g  %s\n", c.Name, r.Output, r.MaxAbs, r.MaxRel, tol.Abs, tol.Rel, status)
			}
		}
		note := ""
		switch {
		case ok && a.Record != "":
			if err := parity.WriteFixture(a.Record, c, in, got, info); err != nil {
				ok, note = false, fmt.Sprintf(": recording: %v", err)
			} else {
				recorded++
				note = " (recorded)"
			}
		case !ok && a.Record != "":
			if err := os.Remove(parity.FixturePath(a.Record, c.Name)); err == nil {
				note = " (its old fixture removed)"
			}
		}
		if ok {
			passed++
			fmt.Fprintf(w, "case %s: ok in %.1f s%s\n", c.Name, time.Since(start).Seconds(), note)
		} else {
			failed = append(failed, c.Name)
			fmt.Fprintf(w, "case %s: FAILED in %.1f s%s\n", c.Name, time.Since(start).Seconds(), note)
		}
		if b.Err() != nil { // sticky: the next case needs a backend of its own
			printConvPlans(w, b)
			fmt.Fprintf(w, "reopening the device after: %v\n", b.Err())
			b.Close()
			if b, err = open(); err != nil {
				return fmt.Errorf("parity: %d cases passed, then reopening the device failed: %v", passed, err)
			}
		}
	}
	printConvPlans(w, b)
	fmt.Fprintf(w, "parity: %d cases passed, %d failed", passed, len(failed))
	if len(failed) > 0 {
		fmt.Fprintf(w, " (%s)", strings.Join(failed, ", "))
	}
	if a.Record != "" {
		fmt.Fprintf(w, "; %d fixtures recorded in %s", recorded, a.Record)
	}
	fmt.Fprintln(w)
	if len(failed) > 0 {
		return fmt.Errorf("parity: %d cases failed: %s", len(failed), strings.Join(failed, ", "))
	}
	return nil
}

// printConvPlans prints what cuDNN ran with on b (the algorithms its
// search chose, or the fallbacks), for the record of a first run on a GPU:
// at the end, and before a backend is given up after a sticky error.
func printConvPlans(w io.Writer, b layers.Backend) {
	if p, ok := b.(interface{ ConvPlans() []string }); ok {
		for _, l := range p.ConvPlans() {
			fmt.Fprintln(w, "cudnn: "+l)
		}
	}
}

// runParityCase runs case c on the CPU and on b over the same inputs. A
// panic (a case's own check, or a backend's programmer error) and the
// backend's error after the case are returned as errors.
func runParityCase(b layers.Backend, c layerstest.Case, in layerstest.Tensors) (got, want layerstest.Tensors, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	want = c.Run(layers.NewCPU(0), in)
	got = c.Run(b, in)
	if err := b.Sync(); err != nil {
		return nil, nil, err
	}
	if got == nil {
		return nil, nil, errors.New("no outputs")
	}
	return got, want, nil
}

// graphsSetting is VATGPU_GRAPHS as the GPU backend reads it: "on" unless
// it turns CUDA graphs off.
func graphsSetting() string {
	switch strings.ToLower(os.Getenv("VATGPU_GRAPHS")) {
	case "off", "0", "false":
		return "off"
	}
	return "on"
}
