package main

import (
	"fmt"
	"io"

	"github.com/urfave/cli/v2"

	"github.com/vatgpu/vatgpu/gpu"
)

func devicesCommand(stdout io.Writer) *cli.Command {
	return &cli.Command{
		Name:  "devices",
		Usage: "list the GPUs and NVIDIA libraries found (driver, CUDA, cuBLAS, cuDNN) and where",
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef("devices takes no arguments, got %q", c.Args().First())
			}
			return Devices(stdout)
		},
	}
}

// Devices runs `vatgpu devices`. It succeeds even when no GPU is usable:
// the report says why.
func Devices(w io.Writer) error {
	fmt.Fprint(w, gpu.Probe().String())
	return nil
}
