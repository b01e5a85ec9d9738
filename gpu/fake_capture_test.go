//go:build cgo && linux

package gpu

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/vatgpu/vatgpu/internal/fakecuda"
)

// TestFakeCapture runs Backend.Capture against the fake libraries
// (internal/fakecuda) in child processes (the library table is filled once
// per process): with graphs; with a recording that fails in each way
// FAKE_CAPTURE_FAIL can make it fail; with VATGPU_GRAPHS=off; and
// TestGPUCaptureAfterFree, which the fakes can serve.
func TestFakeCapture(t *testing.T) {
	if os.Getenv(fakecuda.Scenario) != "" {
		t.Skip("in a child")
	}
	cudaPath, pythonPath := fakecuda.Libs(t)
	for _, scenario := range []struct{ name, run string }{
		{"gputests", "TestGPUCaptureAfterFree"},
		{"capture", "TestFakeCaptureChild"},
		{"capture-begin", "TestFakeCaptureChild"},
		{"capture-launch", "TestFakeCaptureChild"},
		{"capture-end", "TestFakeCaptureChild"},
		{"capture-instantiate", "TestFakeCaptureChild"},
		{"capture-graphsoff", "TestFakeCaptureChild"},
	} {
		t.Run(scenario.name, func(t *testing.T) {
			fakecuda.RunChild(t, cudaPath, pythonPath, scenario.name, scenario.run)
		})
	}
}

// TestFakeCaptureChild is the child of TestFakeCapture; alone it skips.
func TestFakeCaptureChild(t *testing.T) {
	scenario := os.Getenv(fakecuda.Scenario)
	if !strings.HasPrefix(scenario, "capture") {
		t.Skip("run by TestFakeCapture")
	}
	fakeCapture(t, strings.TrimPrefix(strings.TrimPrefix(scenario, "capture"), "-"))
}

// fakeCapture runs a step through Backend.Capture three times. With graphs
// (how == "") the step runs once and its graph is replayed twice. When the
// recording fails (how names the way, see fake.c's FAKE_CAPTURE_FAIL) or
// VATGPU_GRAPHS=off (how == "graphsoff"), no error is recorded, the stream
// is left out of capture mode (the fake refuses to synchronise a
// capturing stream), one warning is given (none when asked for), and
// every call computes the step.
func fakeCapture(t *testing.T, how string) {
	var warnings []string
	b, err := NewBackend(0, Options{Warn: func(m string) { warnings = append(warnings, m) }})
	if err != nil {
		t.Fatal(err)
	}
	v := []float32{1, -2, 3, -4}
	x, y, z := b.Alloc(4), b.Alloc(4), b.Alloc(4)
	b.Upload(x, v)
	calls := 0
	step := func() {
		calls++
		b.Copy(y, x) // the fake runs copies, not kernels, and replays no copies
		b.ReLUForward(z, y, 4)
	}
	got := make([]float32, 4)
	for i := range 3 {
		b.Upload(y, []float32{9, 9, 9, 9})
		if err := b.Capture("step", step); err != nil {
			t.Fatalf("call %d: Capture: %v", i, err)
		}
		b.Download(got, y)
		if err := b.Sync(); err != nil {
			t.Fatalf("call %d: Sync: %v", i, err)
		}
		// The first call's ordinary run copies; later calls copy only
		// when they run f (the fake's replays copy nothing).
		ran := fmt.Sprint(got) == fmt.Sprint(v)
		if want := i == 0 || how != ""; ran != want {
			t.Errorf("call %d: y = %v: the step ran %v, want %v", i, got, ran, want)
		}
	}
	begins := fakecuda.CountLog(t, "begin capture mode=0")
	switch how {
	case "":
		if calls != 1 || len(warnings) != 0 || begins != 1 || fakecuda.CountLog(t, "end capture 1 nodes") != 1 {
			t.Errorf("with graphs: f ran %d times, %d warnings, %d captures; want 1, 0, 1", calls, len(warnings), begins)
		}
	case "graphsoff":
		if calls != 3 || len(warnings) != 0 || begins != 0 {
			t.Errorf("VATGPU_GRAPHS=off: f ran %d times, %d warnings %q, %d captures; want 3, 0, 0", calls, len(warnings), warnings, begins)
		}
	default:
		want := map[string]string{"begin": "cuStreamBeginCapture_v2: CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED",
			"launch":      "capture step: relu forward: cuLaunchKernel(relu_forward",
			"end":         "cuStreamEndCapture: CUDA_ERROR_STREAM_CAPTURE_INVALIDATED",
			"instantiate": "cuGraphInstantiateWithFlags: CUDA_ERROR_INVALID_VALUE"}[how]
		if calls != 3 || len(warnings) != 1 || !strings.Contains(warnings[0], want) ||
			!strings.HasSuffix(warnings[0], "running every step without graphs from now on, as VATGPU_GRAPHS=off does") {
			t.Errorf("capture failing at %s: f ran %d times, warnings %q; want 3 runs and one warning naming %q", how, calls, warnings, want)
		}
		if wantBegins := map[bool]int{true: 0, false: 1}[how == "begin"]; begins != wantBegins {
			t.Errorf("%d captures begun, want %d", begins, wantBegins)
		}
		if how == "launch" {
			from := 0
			fakecuda.WantLog(t, &from, "begin capture mode=0", "capture copy 16", "end capture invalidated")
		}
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	at := 0
	fakecuda.WantLog(t, &at, "release live_allocs=0 live_bytes=0")
	t.Logf("f ran %d times; warnings %q", calls, warnings)
}

// TestGPUCaptureAfterFree is TestFreeForgetsGraphs on the device: a key
// whose buffers were freed is captured again from the new f, not replayed
// on freed memory (which the allocator may have handed to the new buffers).
func TestGPUCaptureAfterFree(t *testing.T) {
	b, err := NewBackend(0, Options{})
	if err != nil {
		t.Skip("gpu: no usable GPU: " + strings.TrimPrefix(err.Error(), "gpu: "))
	}
	defer b.Close()
	v := []float32{-1, 2, -3, 4}
	x, y := b.Alloc(len(v)), b.Alloc(len(v))
	b.Upload(x, v)
	for range 2 {
		b.Capture("step", func() { b.ReLUForward(y, x, len(v)) })
	}
	b.Free(x)
	b.Free(y)
	x, y = b.Alloc(len(v)), b.Alloc(len(v))
	b.Upload(x, v)
	for range 2 {
		b.Capture("step", func() { b.Copy(y, x) })
	}
	got := make([]float32, len(v))
	b.Download(got, y)
	if err := b.Sync(); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint(v) {
		t.Errorf("after Free and a new capture: %v, want %v (the old graph was replayed)", got, v)
	}
}
