//go:build cgo && linux

package gpu

import (
	"fmt"
	"github.com/vatgpu/vatgpu/gpu/cuda"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/vatgpu/vatgpu/internal/emucuda"
	"github.com/vatgpu/vatgpu/layers"
	"github.com/vatgpu/vatgpu/layers/layerstest"
	"github.com/vatgpu/vatgpu/parity"
)

// The emulated GPU (internal/emucuda, sources in testdata/emucuda) runs
// the whole GPU backend without a GPU: the CUDA driver, cuBLAS and cuDNN
// replaced by libraries that do the work on the host, kernels.cu built for
// the host and run over the grids the backend launches, device memory
// between guard pages, queued work that runs only when waited for, and
// graphs that replay what was captured. The library table is filled once
// per process, so TestEmulatedGPU runs the checks in a child process
// (TestEmulatedGPUChild) with VATGPU_CUDA_PATH naming the emulator.

// TestEmulatedGPU builds the emulated GPU and runs TestEmulatedGPUChild and
// the GPU tests the emulator can serve in a child process on it.
func TestEmulatedGPU(t *testing.T) {
	if emucuda.InChild() {
		t.Skip("in the child")
	}
	dir := emucuda.ForTest(t)
	emucuda.RunChild(t, dir, "TestEmulatedGPUChild", "TestGPUCaptureAfterFree")
}

// TestEmulatedGPUChild is TestEmulatedGPU's child; alone it skips.
//
// The conformance suite runs through gpu.Backend with the tolerance table
// as on a GPU: every op case, and the whole-training cases (supervised with
// dropout and VAT; semi-supervised with and without dropout, with
// translations, averaged weights and pseudo-labels) once with CUDA graphs
// and once without (the op cases capture nothing, so they run once).
func TestEmulatedGPUChild(t *testing.T) {
	dir := os.Getenv(emucuda.Env)
	if dir == "" {
		t.Skip("run by TestEmulatedGPU")
	}
	t.Run("conformance", func(t *testing.T) {
		b := emuBackend(t, Options{Deterministic: true})
		layerstest.Run(t, b, false, parity.Cases())
		// Every convolution shape met has its plan reported, and the
		// emulator's search offers FMA algorithms, so none fell back.
		plans := b.ConvPlans()
		if len(plans) < 2 {
			t.Errorf("ConvPlans: %q, want a line for each of at least conv1's and conv2's shapes", plans)
		}
		for _, l := range plans {
			if !strings.Contains(l, "fwd ") || !strings.Contains(l, "bwd filter ") || strings.Contains(l, "fallback") {
				t.Errorf("ConvPlans line %q", l)
			}
		}
	})
	t.Run("training without graphs", func(t *testing.T) {
		b := emuBackend(t, Options{Deterministic: true})
		runCases(t, noCapture{b}, "train20", "semi10", "semi5_translate_ema", "semi5_pseudo", "semi4_mlp_tpami")
	})
	t.Run("faults", emuFaults)
	t.Run("graphs", emuGraphs)
	t.Run("unsupported", emuUnsupported)
	t.Run("ptx", emuPTX)
	t.Run("go faults", func(t *testing.T) {
		// The emulator handles SIGSEGV on its guard pages; Go's own nil
		// dereferences must still be Go panics.
		defer func() {
			if recover() == nil {
				t.Error("a nil dereference did not panic")
			}
		}()
		var p *int
		emuSink = *p
	})
}

var emuSink int

// noCapture hides the backend's Capture: the trainer then issues every
// step's calls itself instead of replaying a graph.
type noCapture struct{ layers.Backend }

func emuBackend(t *testing.T, opts Options) *Backend {
	t.Helper()
	b, err := NewBackend(0, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// runCases is layerstest.Run for the named cases only (of both suites).
func runCases(t *testing.T, b layers.Backend, names ...string) {
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	for _, c := range parity.Cases() {
		if !want[c.Name] {
			continue
		}
		delete(want, c.Name)
		t.Run(c.Name, func(t *testing.T) {
			in := c.NewInputs()
			cpu := c.Run(layers.NewCPU(0), in)
			got := c.Run(b, in)
			if err := b.Sync(); err != nil {
				t.Fatal(err)
			}
			layerstest.Check(t, c.Name, got, cpu, c.Tol)
		})
	}
	for n := range want {
		t.Errorf("no conformance case %s", n)
	}
}

// emuDevice opens the emulated device with the kernels loaded.
func emuDevice(t *testing.T) (*cuda.Device, *cuda.Module) {
	t.Helper()
	d, err := cuda.Open(0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	m, err := d.LoadModule([]byte(kernelsPTX))
	if err != nil {
		t.Fatal(err)
	}
	return d, m
}

func emuFunction(t *testing.T, m *cuda.Module, name string) cuda.Function {
	t.Helper()
	f, err := m.Function(name)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// wantErr checks that err's message has every one of parts.
func wantErr(t *testing.T, what string, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: no error, want one saying %q", what, parts)
		return
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("%s: error %q does not say %q", what, err, p)
		}
	}
}

// emuFaults: accesses outside device memory are sticky illegal-address
// errors that name the call and where the address lies; the next context
// starts clean.
func emuFaults(t *testing.T) {
	block := [3]uint32{256, 1, 1}
	one := [3]uint32{1, 1, 1}
	for _, tc := range []struct {
		name  string
		n     int32 // elements relu_forward is told to process; the buffers hold 100
		parts []string
	}{
		// One element too many: the guard page after the data faults.
		{"one past the end", 101, []string{"kernel relu_forward(y=0x", "n=101) grid 1, block 256: (block 0, thread 100) read at 0x",
			", 0 bytes past the end of allocation #"}},
		// Far beyond.
		{"far beyond", 1200, []string{"kernel relu_forward(y=0x", "n=1200) grid 1, block 256: (block 0, thread 0) read at 0x", "624 bytes past the end of allocation #"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, m := emuDevice(t)
			f := emuFunction(t, m, "relu_forward")
			x, _ := d.Alloc(400)
			y, _ := d.Alloc(400)
			if err := d.Stream().Launch(f, one, block, 0, y, x, tc.n); err != nil {
				t.Fatal(err) // the launch is accepted; the kernel fails when it runs
			}
			err := d.Synchronize()
			wantErr(t, "sync", err, append([]string{"CUDA_ERROR_ILLEGAL_ADDRESS", "emucuda: "}, tc.parts...)...)
			wantErr(t, "the next call", d.Stream().Zero(x, 1), "CUDA_ERROR_ILLEGAL_ADDRESS")
		})
	}
	t.Run("cublas operand", func(t *testing.T) {
		d, _ := emuDevice(t)
		a, _ := d.Alloc(4 * 16)
		b, _ := d.Alloc(4 * 16)
		c, _ := d.Alloc(4 * 32)
		// A is 8×4 row-major, but its buffer holds 4×4.
		if err := d.Sgemm(false, false, 8, 4, 4, 1, a, 4, b, 4, 0, c, 4); err != nil {
			t.Fatal(err)
		}
		wantErr(t, "sync", d.Synchronize(), "CUDA_ERROR_ILLEGAL_ADDRESS",
			"cublasSgemm_v2(transa=N transb=N m=4 n=8 k=4", "B is 0x", "(128 bytes), which runs 64 bytes past the end of allocation #")
	})
	t.Run("fresh context", func(t *testing.T) {
		d, _ := emuDevice(t)
		p, err := d.Alloc(8)
		if err != nil {
			t.Fatal(err)
		}
		got := make([]float32, 2)
		if err := d.DownloadFloat32(got, p); err != nil {
			t.Fatal(err)
		}
		// cuMemAlloc's memory is uninitialized: the emulator fills it with NaNs.
		if !math.IsNaN(float64(got[0])) || !math.IsNaN(float64(got[1])) {
			t.Errorf("new memory holds %v, want NaNs", got)
		}
	})
}

// emuGraphs: a graph replays the captured work, reading the memory of
// replay time, and a replay that uses a freed buffer faults.
func emuGraphs(t *testing.T) {
	d, m := emuDevice(t)
	f := emuFunction(t, m, "relu_forward")
	s := d.Stream()
	x, _ := d.Alloc(16)
	y, _ := d.Alloc(16)
	s.Zero(y, 4)
	d.UploadFloat32(x, []float32{-1, 2, -3, 4})
	if err := s.BeginCapture(); err != nil {
		t.Fatal(err)
	}
	s.Launch(f, [3]uint32{1, 1, 1}, [3]uint32{32, 1, 1}, 0, y, x, int32(4))
	g, err := s.EndCapture()
	if err != nil {
		t.Fatal(err)
	}
	got := make([]float32, 4)
	d.DownloadFloat32(got, y)
	if fmt.Sprint(got) != "[0 0 0 0]" {
		t.Errorf("capturing ran the work: %v", got)
	}
	for _, in := range [][]float32{{-1, 2, -3, 4}, {5, -6, 7, -8}} {
		d.UploadFloat32(x, in)
		if err := g.Launch(); err != nil {
			t.Fatal(err)
		}
		d.DownloadFloat32(got, y)
		want := make([]float32, 4)
		for i, v := range in {
			want[i] = max(v, 0)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("replay on %v: %v, want %v", in, got, want)
		}
	}

	// Work that cannot be captured invalidates the capture.
	s.BeginCapture()
	_, err = d.Alloc(4)
	wantErr(t, "Alloc during capture", err, "CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED")
	_, err = s.EndCapture()
	wantErr(t, "EndCapture", err, "CUDA_ERROR_STREAM_CAPTURE_INVALIDATED")

	// A replay after a captured buffer was freed.
	if err := d.Free(x); err != nil {
		t.Fatal(err)
	}
	g.Launch()
	wantErr(t, "replay on a freed buffer", d.Synchronize(), "CUDA_ERROR_ILLEGAL_ADDRESS",
		"graph launch 3, node 1 of 1: kernel relu_forward(", "argument x is 0x", "freed by cuMemFree_v2")
}

// emuUnsupported: what the emulator does not do fails, saying so.
func emuUnsupported(t *testing.T) {
	d, m := emuDevice(t)
	wantErr(t, "TF32", d.SetMathMode(cuda.MathTF32), "CUBLAS_STATUS_NOT_SUPPORTED", "TF32 is not")
	f := emuFunction(t, m, "relu_forward")
	x, _ := d.Alloc(16)
	wantErr(t, "dynamic shared memory", d.Stream().Launch(f, [3]uint32{1, 1, 1}, [3]uint32{32, 1, 1}, 64, x, x, int32(4)),
		"CUDA_ERROR_NOT_SUPPORTED")
	wantErr(t, "a 2-D grid", d.Stream().Launch(f, [3]uint32{1, 2, 1}, [3]uint32{32, 1, 1}, 0, x, x, int32(4)),
		"CUDA_ERROR_NOT_SUPPORTED")

	// cuDNN: a workspace smaller than the algorithm needs, a mismatched
	// output descriptor.
	xd, _ := d.NewTensorDesc(2, 3, 8, 8)
	wd, _ := d.NewFilterDesc(4, 3, 3, 3)
	cd, _ := d.NewConvDesc(0, 0, 1, 1, 1, 1)
	yd, _ := d.NewTensorDesc(2, 4, 6, 6)
	bad, _ := d.NewTensorDesc(2, 4, 7, 6)
	xp, _ := d.Alloc(xd.Bytes())
	wp, _ := d.Alloc(wd.Bytes())
	yp, _ := d.Alloc(bad.Bytes())
	need, err := d.ConvForwardWorkspace(xd, wd, cd, yd, 1)
	if err != nil || need == 0 {
		t.Fatal(need, err)
	}
	ws, _ := d.Alloc(need)
	wantErr(t, "small workspace", d.ConvForward(1, xd, xp, wd, wp, cd, 1, ws, need-4, 0, yd, yp),
		"CUDNN_STATUS_BAD_PARAM_SIZE_INSUFFICIENT", fmt.Sprintf("needs %d bytes of workspace", need))
	wantErr(t, "output shape", d.ConvForward(1, xd, xp, wd, wp, cd, 1, ws, need, 0, bad, yp),
		"CUDNN_STATUS_BAD_PARAM_SHAPE_MISMATCH", "the output descriptor is 2×4×7×6, the convolution gives 2×4×6×6")
	if err := d.Synchronize(); err != nil {
		t.Errorf("refused calls left an error: %v", err)
	}
}

// emuPTX: the module must be the PTX of the kernels.cu the emulator was
// built from, entry by entry.
func emuPTX(t *testing.T) {
	d, _ := emuDevice(t)
	for _, tc := range []struct {
		name, old, new string
		parts          []string
	}{
		{"renamed kernel", ".entry relu_forward(", ".entry relu_forwardX(",
			[]string{"PTX kernel relu_forwardX has no host build", "host kernel relu_forward is not in the PTX"}},
		{"parameter size", ".param .u32 relu_forward_param_2", ".param .u64 relu_forward_param_2",
			[]string{"kernel relu_forward: PTX parameter sizes [8,8,8], host build [8,8,4]"}},
		{"other source", ptxHashPrefix, ptxHashPrefix + "0",
			[]string{"the PTX was made from kernels.cu with sha256 0"}},
	} {
		ptx := strings.Replace(kernelsPTX, tc.old, tc.new, 1)
		if ptx == kernelsPTX {
			t.Fatalf("%s: %q is not in kernels.ptx", tc.name, tc.old)
		}
		_, err := d.LoadModule([]byte(ptx))
		wantErr(t, tc.name, err, append([]string{"CUDA_ERROR_INVALID_PTX"}, tc.parts...)...)
	}
}
