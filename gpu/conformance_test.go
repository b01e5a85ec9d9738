package gpu_test

import (
	"testing"

	"github.com/vatgpu/vatgpu/gpu"
	"github.com/vatgpu/vatgpu/layers/layerstest"
	"github.com/vatgpu/vatgpu/parity"
	"github.com/vatgpu/vatgpu/vat"
)

// The backend reports its free memory, so that runs too large are refused.
var _ vat.DeviceMemory = (*gpu.Backend)(nil)

// TestConformance runs the shared conformance suites (the op cases and
// the training cases) on GPU 0 against the CPU. Without a usable GPU it skips, saying why.
func TestConformance(t *testing.T) {
	b, err := gpu.NewBackend(0, gpu.Options{Deterministic: true})
	if err != nil {
		t.Skipf("no usable GPU, GPU conformance not run: %v", err)
	}
	defer b.Close()
	layerstest.Run(t, b, false, parity.Cases())
}
