//go:build cgo && linux

package gpu

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/vatgpu/vatgpu/internal/emucuda"
	"github.com/vatgpu/vatgpu/layers"
	"github.com/vatgpu/vatgpu/layers/layerstest"
)

// The emulated GPU (internal/emucuda, sources in testdata/emucuda) runs
// the whole GPU backend without a GPU: the CUDA driver, cuBLAS and cuDNN
// replaced by libraries that do the work on the host, kernels.cu built for
// the host and run over the grids the backend launches, device memory
// between guard pages, queued work that runs only when waited for, and
// graphs that replay what was captured. The library table is filled once
// per process, so TestEmulatedGPU runs the checks in a child process
// (TestEmulatedGPUChild) with VATGPU_CUDA_PATH naming the emulator.

// emulator builds the emulated GPU's libraries, or skips the test when
// there is no C++ compiler. A compile error fails the test.
func emulator(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the emulated GPU (tens of seconds); skipped in -short mode")
	}
	root, err := emucuda.Root()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	dir, err := emucuda.Build(root, "")
	if errors.Is(err, emucuda.ErrNoCompiler) {
		t.Skipf("no emulated GPU: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("emulated GPU in %s (%.1f s)", dir, time.Since(start).Seconds())
	return dir
}

func TestEmulatedGPU(t *testing.T) {
	if os.Getenv(emucuda.Env) != "" {
		t.Skip("in the child")
	}
	dir := emulator(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestEmulatedGPUChild$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), emucuda.Env+"="+dir, "VATGPU_CUDA_PATH="+dir)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestEmulatedGPUChild ") || strings.Contains(string(out), "--- SKIP") {
		t.Fatalf("child: %v\n%s", err, out)
	}
	t.Logf("child (%.1f s):\n%s", time.Since(start).Seconds(), out)
}

// TestEmulatedGPUChild is TestEmulatedGPU's child; alone it skips.
func TestEmulatedGPUChild(t *testing.T) {
	if os.Getenv(emucuda.Env) == "" {
		t.Skip("run by TestEmulatedGPU")
	}
	t.Run("conformance", func(t *testing.T) {
		b, err := NewBackend(0, Options{Deterministic: true})
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		layerstest.Run(t, b, false)
	})
	t.Run("conformance without graphs", func(t *testing.T) {
		b, err := NewBackend(0, Options{Deterministic: true})
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		layerstest.Run(t, noCapture{b}, false)
	})
}

// noCapture hides the backend's Capture: the trainer then issues every
// step's calls itself instead of replaying a graph.
type noCapture struct{ layers.Backend }
