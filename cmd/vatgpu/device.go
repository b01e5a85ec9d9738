package main

import (
	"fmt"
	"io"
	"strconv"

	"github.com/vatgpu/vatgpu/gpu"
	"github.com/vatgpu/vatgpu/layers"
)

// openGPU opens GPU index as a backend; a variable so that tests can
// hand out failing backends.
var openGPU = func(index int, deterministic bool) (layers.Backend, error) {
	b, err := gpu.NewBackend(index, gpu.Options{Deterministic: deterministic})
	if err != nil {
		return nil, err
	}
	return b, nil
}

// parseDevice checks a --device value: "cpu", "auto" (or empty), or a GPU
// index.
func parseDevice(s string) (gpu int, isCPU, auto bool, err error) {
	switch s {
	case "cpu":
		return 0, true, false, nil
	case "", "auto":
		return 0, false, true, nil
	}
	i, err := strconv.Atoi(s)
	if err != nil || i < 0 {
		return 0, false, false, usagef("--device must be cpu, auto or a GPU index (0, 1, ...), got %q", s)
	}
	return i, false, false, nil
}

// openBackend opens the backend a --device value names. With "auto" it
// tries GPU 0 and falls back to the CPU, saying which it chose on w.
func openBackend(device string, deterministic bool, w io.Writer) (layers.Backend, error) {
	idx, isCPU, auto, err := parseDevice(device)
	if err != nil {
		return nil, err
	}
	if isCPU {
		return layers.NewCPU(0), nil
	}
	b, err := openGPU(idx, deterministic)
	if err == nil {
		if auto {
			fmt.Fprintf(w, "device: %s (GPU 0 found; --device cpu to use the CPU)\n", b.Name())
		}
		return b, nil
	}
	if !auto {
		return nil, err
	}
	c := layers.NewCPU(0)
	fmt.Fprintf(w, "device: %s (no usable GPU: %v)\n", c.Name(), err)
	return c, nil
}
