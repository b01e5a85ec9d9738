package parity

import (
	"os"
	"testing"

	"github.com/vatgpu/vatgpu/gpu"
)

// TestGPUFixtures checks the CPU path against every fixture recorded on a
// GPU (testdata/parity, written by `vatgpu parity --record`).
func TestGPUFixtures(t *testing.T) {
	Verify(t, "../testdata/parity", gpu.HashSources(os.DirFS("../gpu")))
}
