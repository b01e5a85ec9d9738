package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/vatgpu/vatgpu/gpu/cuda"
)

func devicesCommand(stdout io.Writer) *cli.Command {
	var libPath bool
	return &cli.Command{
		Name:  "devices",
		Usage: "list the GPUs and NVIDIA libraries found (driver, CUDA, cuBLAS, cuDNN) and where",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "ld-library-path", Usage: "print only the folders, colon-separated, to put on LD_LIBRARY_PATH so that cuDNN's own later loads (NVRTC) find the pip wheels' libraries", Destination: &libPath},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef("devices takes no arguments, got %q", c.Args().First())
			}
			if libPath {
				fmt.Fprintln(stdout, strings.Join(cuda.Probe().LibraryPath(), ":"))
				return nil
			}
			return Devices(stdout)
		},
	}
}

// Devices runs `vatgpu devices`. It succeeds even when no GPU is usable:
// the report says why.
func Devices(w io.Writer) error {
	fmt.Fprint(w, cuda.Probe().String())
	return nil
}
