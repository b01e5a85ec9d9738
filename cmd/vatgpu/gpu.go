package main

import (
	"github.com/vatgpu/vatgpu/gpu"
	"github.com/vatgpu/vatgpu/layers"
)

func init() {
	openGPU = func(index int, deterministic bool) (layers.Backend, error) {
		b, err := gpu.NewBackend(index, gpu.Options{Deterministic: deterministic})
		if err != nil {
			return nil, err
		}
		return b, nil
	}
}
