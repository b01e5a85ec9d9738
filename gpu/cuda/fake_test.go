//go:build cgo && linux

package cuda

import (
	"fmt"
	"github.com/vatgpu/vatgpu/internal/fakecuda"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// The fake-library tests run package gpu end to end, through dlopen and
// the C trampolines, against stand-ins for libcuda, cuBLAS and cuDNN built
// from internal/fakecuda (testdata/fake.c there). The fakes keep "device memory" in host
// memory and really copy, multiply and convolve, fail any call made
// without the context current on the calling thread, and log what they
// are asked to do. Loading fills the process's function table, so each
// scenario runs in a child process (TestFakeCUDAChild).

func TestFakeCUDA(t *testing.T) {
	if os.Getenv(fakecuda.Scenario) != "" {
		t.Skip("in a child")
	}
	cudaPath, pythonPath := fakecuda.Libs(t)
	for _, scenario := range []struct{ name, run string }{
		{"device", "TestFakeCUDAChild"},
		{"nodevice", "TestFakeCUDAChild"},
		// The GPU tests that the fakes can serve: they must pass, not skip.
		{"gputests", "TestGPUMemory|TestGPUSgemm"},
	} {
		t.Run(scenario.name, func(t *testing.T) {
			fakecuda.RunChild(t, cudaPath, pythonPath, scenario.name, scenario.run)
		})
	}
}

// TestFakeCUDAChild is the child of TestFakeCUDA; alone it skips.
func TestFakeCUDAChild(t *testing.T) {
	switch os.Getenv(fakecuda.Scenario) {
	case "device":
		fakeDevice(t)
	case "nodevice":
		fakeNoDevice(t)
	default:
		t.Skip("run by TestFakeCUDA")
	}
}

func mustPanic(t *testing.T, prefix string, f func()) {
	t.Helper()
	defer func() {
		t.Helper()
		r := recover()
		if s, _ := r.(string); !strings.HasPrefix(s, prefix) {
			t.Errorf("panic %v, want one starting %q", r, prefix)
		}
	}()
	f()
}

func fakeNoDevice(t *testing.T) {
	_, err := Open(0)
	if want := "gpu: no CUDA device: cuInit: CUDA_ERROR_NO_DEVICE: no CUDA-capable device is detected"; err == nil || err.Error() != want {
		t.Fatalf("Open(0) = %v, want %q", err, want)
	}
	r := Probe()
	if r.InitError != "cuInit: CUDA_ERROR_NO_DEVICE: no CUDA-capable device is detected" || r.Usable() {
		t.Errorf("Probe: InitError %q, Usable %v", r.InitError, r.Usable())
	}
	if !r.Driver.Loaded || !r.CUBLAS.Loaded || !r.CUDNN.Loaded || r.CUDAVersion != 13000 {
		t.Errorf("Probe: %+v", r)
	}
	t.Logf("\n%s", r)
}

func fakeDevice(t *testing.T) {
	cudaPath := os.Getenv("VATGPU_CUDA_PATH")
	in := func(name string) string { return filepath.Join(cudaPath, name) }
	nvrtc := filepath.Join(os.Getenv("PYTHONPATH"), "nvidia", "cuda_nvrtc", "lib", "libfakenvrtc.so.1")

	// Probe: what loaded from where.
	r := Probe()
	t.Logf("\n%s", r)
	if !r.Usable() {
		t.Fatalf("Probe: not usable: %+v", r)
	}
	if r.Driver.Path != in("libcuda.so.1") || r.CUDAVersion != 13000 {
		t.Errorf("driver %q, CUDA %d", r.Driver.Path, r.CUDAVersion)
	}
	if want := (DeviceInfo{Index: 0, Name: "Fake GPU 0", Memory: 1 << 30, ComputeMajor: 9, ComputeMinor: 0, SMs: 132}); len(r.Devices) != 1 || r.Devices[0] != want {
		t.Errorf("devices %+v, want %+v", r.Devices, want)
	}
	// libcublas.so.13 lacks cublasSgemm_v2, so libcublas.so.12 is used.
	if r.CUBLAS.Version != "12.1.7" || strings.Join(r.CUBLAS.Paths, " ") != in("libcublasLt.so.12")+" "+in("libcublas.so.12") {
		t.Errorf("cuBLAS %q from %q", r.CUBLAS.Version, r.CUBLAS.Paths)
	}
	// cuDNN: sub-libraries first, libfakenvrtc found in the Python folder
	// when libcudnn_cnn.so.9 asked for it, the dispatcher last.
	if want := []string{in("libcudnn_graph.so.9"), in("libcudnn_ops.so.9"), nvrtc, in("libcudnn_cnn.so.9"), in("libcudnn.so.9")}; r.CUDNN.Version != "9.13.0" || strings.Join(r.CUDNN.Paths, " ") != strings.Join(want, " ") {
		t.Errorf("cuDNN %q from\n%q, want\n%q", r.CUDNN.Version, r.CUDNN.Paths, want)
	}

	if _, err := Open(3); err == nil || err.Error() != "gpu: device 3 does not exist (1 device found)" {
		t.Errorf("Open(3) = %v", err)
	}
	d, err := Open(0)
	if err != nil {
		t.Fatal(err)
	}
	at := 0
	fakecuda.WantLog(t, &at, "retain", "stream create flags=1", "cublas create lt=0", "alloc 33554432", "cublas math 0", "cudnn create")

	// Memory.
	s := d.Stream()
	src := []float32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	p, err := d.Alloc(4 * len(src))
	if err != nil {
		t.Fatal(err)
	}
	q, _ := d.Alloc(4 * len(src))
	if err := d.UploadFloat32(p, src); err != nil {
		t.Fatal(err)
	}
	got := make([]float32, len(src))
	if err := d.DownloadFloat32(got, p); err != nil || fmt.Sprint(got) != fmt.Sprint(src) {
		t.Errorf("round trip: %v %v", got, err)
	}
	if err := s.MemsetD32(q, math.Float32bits(0.5), len(src)); err != nil {
		t.Fatal(err)
	}
	if err := s.Copy(q, p, 16); err != nil {
		t.Fatal(err)
	}
	if err := s.Zero(q.Add(36), 1); err != nil {
		t.Fatal(err)
	}
	d.DownloadFloat32(got, q)
	if want := "[1 2 3 4 0.5 0.5 0.5 0.5 0.5 0]"; fmt.Sprint(got) != want {
		t.Errorf("after memset, copy and zero: %v, want %v", got, want)
	}
	ints := []int32{-1, 1 << 30, 7}
	if err := s.UploadInt32(q, ints); err != nil {
		t.Fatal(err)
	}
	gotInts := make([]int32, 3)
	if err := d.DownloadInt32(gotInts, q); err != nil || fmt.Sprint(gotInts) != fmt.Sprint(ints) {
		t.Errorf("int32 round trip: %v %v", gotInts, err)
	}
	mustPanic(t, "gpu: UploadFloat32: 44 bytes at ", func() { d.UploadFloat32(p, make([]float32, 11)) })
	mustPanic(t, "gpu: Copy: 8 bytes at ", func() { s.Copy(p.Add(36), q, 8) })
	if err := d.Free(q); err != nil {
		t.Fatal(err)
	}
	mustPanic(t, "gpu: Free: ", func() { d.Free(q) })
	if allocated(d) != 40 {
		t.Errorf("Allocated = %d, want 40", allocated(d))
	}
	if free, total, err := d.MemInfo(); err != nil || total != 1<<30 || free != total-40-cublasWorkspaceBytes {
		t.Errorf("MemInfo = %d, %d, %v", free, total, err)
	}
	_, err = d.Alloc(1 << 29)
	if !IsOutOfMemory(err) || err.Error() != "gpu: cuMemAlloc_v2(536870912 bytes): CUDA_ERROR_OUT_OF_MEMORY: out of memory" {
		t.Errorf("Alloc(512 MiB) = %v", err)
	}

	fakeSgemm(t, d)
	fakeKernels(t, d, p)
	fakeDNN(t, d)

	// Close frees everything, once.
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := d.Alloc(4); err != errClosed {
		t.Errorf("Alloc after Close = %v", err)
	}
	fakecuda.WantLog(t, &at, "cudnn destroy live_descriptors=0", "cublas destroy", "stream destroy", "release live_allocs=0 live_bytes=0")
	for line, n := range map[string]int{"module unload": 1, "graph exec destroy": 1, "event destroy": 2, "graph destroy": 1} {
		if got := fakecuda.CountLog(t, line); got != n {
			t.Errorf("%q logged %d times, want %d", line, got, n)
		}
	}
	for _, l := range fakecuda.Log(t) {
		if strings.Contains(l, "no current context") || strings.Contains(l, "wrong stream") {
			t.Errorf("fake log: %s", l)
		}
	}
}

func fakeSgemm(t *testing.T, d *Device) {
	rng := rand.New(rand.NewPCG(2, 2))
	for _, tc := range []struct {
		transA, transB bool
		m, n, k        int
		pad            int
	}{{false, false, 3, 5, 4, 0}, {true, false, 2, 3, 6, 1}, {false, true, 4, 2, 3, 2}, {true, true, 5, 5, 5, 1}} {
		rowsA, colsA, rowsB, colsB := tc.m, tc.k, tc.k, tc.n
		if tc.transA {
			rowsA, colsA = colsA, rowsA
		}
		if tc.transB {
			rowsB, colsB = colsB, rowsB
		}
		lda, ldb, ldc := colsA+tc.pad, colsB+tc.pad, tc.n+tc.pad
		host := func(n int) []float32 {
			v := make([]float32, n)
			for i := range v {
				v[i] = float32(rng.IntN(9) - 4)
			}
			return v
		}
		a, b, c := host(rowsA*lda), host(rowsB*ldb), host(tc.m*ldc)
		want := append([]float32(nil), c...)
		rowMajorRef(tc.transA, tc.transB, tc.m, tc.n, tc.k, 2, a, lda, b, ldb, 0.5, want, ldc)
		ap, _ := d.Alloc(4 * len(a))
		bp, _ := d.Alloc(4 * len(b))
		cp, _ := d.Alloc(4 * len(c))
		d.UploadFloat32(ap, a)
		d.UploadFloat32(bp, b)
		d.UploadFloat32(cp, c)
		if err := d.Sgemm(tc.transA, tc.transB, tc.m, tc.n, tc.k, 2, ap, lda, bp, ldb, 0.5, cp, ldc); err != nil {
			t.Fatal(err)
		}
		got := make([]float32, len(c))
		d.DownloadFloat32(got, cp)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("Sgemm%+v:\n got %v\nwant %v", tc, got, want)
		}
		for _, p := range []DevicePtr{ap, bp, cp} {
			d.Free(p)
		}
	}
	from := 0
	fakecuda.WantLog(t, &from, "sgemm ta=0 tb=0 m=5 n=3 k=4 alpha=2 lda=5 ldb=4 beta=0.5 ldc=5 ws=33554432 math=0")
	if err := d.SetMathMode(MathTF32); err != nil || d.MathMode() != MathTF32 {
		t.Fatal(err)
	}
	d.SetMathMode(MathFP32)
	fakecuda.WantLog(t, &from, "cublas math 3", "cublas math 0")
}

func fakeKernels(t *testing.T, d *Device, p DevicePtr) {
	s := d.Stream()
	_, err := d.LoadModule([]byte("bad ptx"))
	if err == nil || !strings.HasPrefix(err.Error(), "gpu: cuModuleLoadData(7 bytes): CUDA_ERROR_INVALID_PTX: a PTX JIT compilation failed\nJIT log:\nptxas fatal   : fake syntax error") {
		t.Errorf("bad PTX: %v", err)
	}
	m, err := d.LoadModule([]byte("// fake PTX: .entry k_iulqfdp .entry k_i"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Function("nope"); err == nil || err.Error() != "gpu: cuModuleGetFunction(nope): CUDA_ERROR_NOT_FOUND: named symbol not found" {
		t.Errorf("Function(nope) = %v", err)
	}
	f, err := m.Function("k_iulqfdp")
	if err != nil || f.Name() != "k_iulqfdp" {
		t.Fatal(f, err)
	}
	err = s.Launch(f, [3]uint32{1, 2, 3}, [3]uint32{4, 5, 6}, 7,
		int32(-2), uint32(3000000000), int64(-5000000000), uint64(1<<40), float32(1.5), float64(-2.25), p)
	if err != nil {
		t.Fatal(err)
	}
	from := 0
	fakecuda.WantLog(t, &from, fmt.Sprintf("launch k_iulqfdp grid=1,2,3 block=4,5,6 shmem=7 args=-2,3000000000,-5000000000,1099511627776,1.5,-2.25,%#x,", uint64(p)))
	mustPanic(t, "gpu: Launch k_iulqfdp: argument 0 has type int;", func() { s.Launch(f, [3]uint32{1, 1, 1}, [3]uint32{1, 1, 1}, 0, 1) })

	// Goroutines locked to threads of their own, some new to the driver:
	// each launch must make the context current on its thread first.
	k, _ := m.Function("k_i")
	var wg sync.WaitGroup
	var ready sync.WaitGroup
	errs := make([]error, 8)
	ready.Add(len(errs))
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			ready.Done()
			ready.Wait() // all eight hold a thread at once
			errs[i] = s.Launch(k, [3]uint32{1, 1, 1}, [3]uint32{1, 1, 1}, 0, int32(100+i))
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("launch on thread %d: %v", i, err)
		}
	}

	// A graph: capture two launches, replay twice.
	if err := s.BeginCapture(); err != nil {
		t.Fatal(err)
	}
	s.Launch(k, [3]uint32{1, 1, 1}, [3]uint32{32, 1, 1}, 0, int32(1))
	s.Launch(k, [3]uint32{1, 1, 1}, [3]uint32{32, 1, 1}, 0, int32(2))
	if err := s.UploadFloat32(p, []float32{1}); err == nil || !strings.Contains(err.Error(), "cannot be captured") {
		t.Errorf("upload during capture: %v", err)
	}
	g, err := s.EndCapture()
	if err != nil {
		t.Fatal(err)
	}
	g.Launch()
	g.Launch()
	replay1 := "replay k_i grid=1,1,1 block=32,1,1 shmem=0 args=1,"
	replay2 := "replay k_i grid=1,1,1 block=32,1,1 shmem=0 args=2,"
	fakecuda.WantLog(t, &from, "begin capture mode=0", "capture k_i grid=1,1,1 block=32,1,1 shmem=0 args=1,",
		"capture k_i grid=1,1,1 block=32,1,1 shmem=0 args=2,", "end capture 2 nodes", "instantiate flags=0",
		"graph destroy", replay1, replay2, replay1, replay2)

	// Events.
	e1, _ := d.NewEvent()
	e2, _ := d.NewEvent()
	e1.Record()
	e2.Record()
	e2.Synchronize()
	if dt, err := e2.Since(e1); err != nil || dt != 2500*time.Microsecond {
		t.Errorf("Since = %v, %v", dt, err)
	}
	if err := d.Synchronize(); err != nil {
		t.Error(err)
	}
}

func fakeDNN(t *testing.T, d *Device) {
	from := len(fakecuda.Log(t))
	x, err := d.NewTensorDesc(2, 3, 5, 5)
	if err != nil {
		t.Fatal(err)
	}
	w, _ := d.NewFilterDesc(4, 3, 3, 3)
	conv, _ := d.NewConvDesc(1, 1, 1, 1, 1, 1)
	fakecuda.WantLog(t, &from, "conv math 3") // CUDNN_FMA_MATH: no TF32
	if n, c, h, wd, err := conv.OutputShape(x, w); err != nil || [4]int{n, c, h, wd} != [4]int{2, 4, 5, 5} {
		t.Fatalf("OutputShape = %d %d %d %d %v", n, c, h, wd, err)
	}
	y, _ := d.NewTensorDesc(2, 4, 5, 5)
	if _, err := d.NewTensorDesc(0, 1, 1, 1); err == nil || !strings.HasPrefix(err.Error(), "gpu: cudnnSetTensor4dDescriptor(NCHW float 0×1×1×1): CUDNN_STATUS_BAD_PARAM") {
		t.Errorf("bad tensor: %v", err)
	}

	fwd, err := d.ConvForwardAlgos(x, w, conv, y, SearchHeuristic)
	if err != nil || len(fwd) != 2 {
		t.Fatal(fwd, err)
	}
	if a := fwd[0]; a.Algo != 1 || a.Err != nil || a.Time != -time.Millisecond || a.Workspace != 4096 || !a.Deterministic || a.MathType != 3 {
		t.Errorf("first algorithm %+v", a)
	}
	if a := fwd[1]; a.Algo != 6 || a.Algo.String() != "CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD" || a.Err == nil ||
		!strings.Contains(a.Err.Error(), "CUDNN_STATUS_NOT_SUPPORTED") || a.Time != 125*time.Microsecond ||
		a.Workspace != 1<<20 || a.Deterministic || a.MathType != 1 {
		t.Errorf("second algorithm %+v", a)
	}
	found, _ := d.ConvForwardAlgos(x, w, conv, y, SearchBenchmark)
	if len(found) != 2 || found[0].Time != 250*time.Microsecond {
		t.Errorf("benchmarked %+v", found)
	}
	bd, _ := d.ConvBackwardDataAlgos(w, y, conv, x, SearchHeuristic)
	bf, _ := d.ConvBackwardFilterAlgos(x, y, conv, w, SearchHeuristic)
	if len(bd) != 2 || len(bf) != 2 || bd[0].Algo != 1 || bf[0].Algo.String() != "CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1" {
		t.Errorf("backward algorithms %+v %+v", bd, bf)
	}
	// The backward MaxCount calls are absent from the fake: the counts fall
	// back to CUDNN_CONVOLUTION_BWD_*_ALGO_COUNT.
	fakecuda.WantLog(t, &from, "algos requested=8 find=0", "algos requested=8 find=1", "algos requested=6 find=0", "algos requested=7 find=0")
	wsF, _ := d.ConvForwardWorkspace(x, w, conv, y, fwd[0].Algo)
	wsD, _ := d.ConvBackwardDataWorkspace(w, y, conv, x, bd[0].Algo)
	wsW, err := d.ConvBackwardFilterWorkspace(x, y, conv, w, bf[0].Algo)
	if wsF != 1001 || wsD != 2001 || wsW != 3001 || err != nil {
		t.Errorf("workspaces %d %d %d %v", wsF, wsD, wsW, err)
	}
	ws, _ := d.Alloc(4096)

	rng := rand.New(rand.NewPCG(3, 3))
	host := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(rng.IntN(7) - 3)
		}
		return v
	}
	xs, fs := host(x.Bytes()/4), host(w.Bytes()/4)
	xp, _ := d.Alloc(x.Bytes())
	wp, _ := d.Alloc(w.Bytes())
	yp, _ := d.Alloc(y.Bytes())
	d.UploadFloat32(xp, xs)
	d.UploadFloat32(wp, fs)
	if err := d.ConvForward(1, x, xp, w, wp, conv, fwd[0].Algo, ws, wsF, 0, y, yp); err != nil {
		t.Fatal(err)
	}
	want := convRef(xs, 2, 3, 5, 5, fs, 4, 3, 3, 1, 1)
	got := make([]float32, len(want))
	d.DownloadFloat32(got, yp)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("ConvForward:\n got %v\nwant %v", got, want)
	}
	fakecuda.WantLog(t, &from, "conv forward algo=1 ws=1001 ws_set=1 math=3")
	mustPanic(t, "gpu: ConvForward y: ", func() { d.ConvForward(1, x, xp, w, wp, conv, 1, ws, wsF, 0, y, wp) })

	// The backward calls pass their scaling factors and algorithms through.
	bias, _ := d.NewTensorDesc(1, 4, 1, 1)
	bp, _ := d.Alloc(bias.Bytes())
	d.ConvBackwardData(0.5, w, wp, y, yp, conv, bd[0].Algo, ws, wsD, 1, x, xp)
	d.ConvBackwardFilter(1, x, xp, y, yp, conv, bf[0].Algo, ws, wsW, 1, w, wp)
	d.ConvBackwardBias(1, y, yp, 1, bias, bp)
	fakecuda.WantLog(t, &from, "conv backward data algo=1 ws=2001 alpha=0.5 beta=1", "conv backward filter algo=1 ws=3001 alpha=1 beta=1",
		"conv backward bias alpha=1 beta=1")

	if err := conv.SetMathMode(MathTF32); err != nil {
		t.Error(err)
	}
	if err := conv.SetMathType(fwd[0].MathType); err != nil {
		t.Error(err)
	}
	fakecuda.WantLog(t, &from, "conv math 1", "conv math 3")
	if err := bias.Close(); err != nil { // the rest are left to Device.Close
		t.Error(err)
	}
}
