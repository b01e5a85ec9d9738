package cuda

import (
	"math"
	"strings"
	"testing"
)

// TestOpenWithoutGPU runs everywhere: where there is no usable GPU, Open
// must return a clear error (never panic or exit), whatever is missing.
func TestOpenWithoutGPU(t *testing.T) {
	for _, index := range []int{0, -1, 1 << 20} {
		d, err := Open(index)
		if err == nil {
			if index != 0 {
				t.Errorf("Open(%d) succeeded", index)
			}
			d.Close()
			continue
		}
		msg := err.Error()
		t.Logf("Open(%d): %s", index, msg)
		known := []string{
			"gpu: no CUDA driver found (libcuda.so.1 not in VATGPU_CUDA_PATH, the loader path, /usr/local/cuda*/lib64 or Python nvidia/ packages)",
			"gpu: CUDA driver not usable: ",
			"gpu: no CUDA device: cuInit: CUDA_ERROR_",
			"gpu: no CUDA device: cuDeviceGetCount",
			"gpu: device ",
			"gpu: cuBLAS not found (", "gpu: cuBLAS not usable: ",
			"gpu: cuDNN not found (", "gpu: cuDNN not usable: ",
			"gpu: built without cgo",
		}
		ok := false
		for _, k := range known {
			ok = ok || strings.HasPrefix(msg, k)
		}
		if !ok {
			t.Errorf("Open(%d): unexpected error %q", index, msg)
		}
		if index != 0 && strings.HasPrefix(msg, "gpu: device ") && !strings.Contains(msg, "does not exist") {
			t.Errorf("Open(%d): %q does not say the device does not exist", index, msg)
		}
	}
}

func TestProbe(t *testing.T) {
	r := Probe()
	s := r.String()
	t.Logf("\n%s", s)
	wants := []string{"CUDA driver", "cuBLAS", "cuDNN", "status: "}
	if !cgoEnabled {
		wants = []string{"gpu: built without cgo", "status: not usable"}
	}
	for _, want := range wants {
		if !strings.Contains(s, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	for _, l := range []LibraryReport{r.Driver, r.CUBLAS, r.CUDNN} {
		if l.Loaded == (l.Error != "") {
			t.Errorf("%v: Loaded=%v but Error=%q", l.Lib, l.Loaded, l.Error)
		}
		if l.Loaded && (l.Path == "" || len(l.Paths) == 0 || l.Paths[len(l.Paths)-1] != l.Path) {
			t.Errorf("%v: Path %q, Paths %q", l.Lib, l.Path, l.Paths)
		}
	}
	if r.Usable() {
		d, err := Open(0)
		if err != nil {
			t.Fatalf("Probe says usable, Open(0): %v", err)
		}
		d.Close()
	}
}

func TestReportString(t *testing.T) {
	r := Report{
		Cgo:           true,
		Driver:        LibraryReport{Lib: Driver, Loaded: true, Path: "/usr/lib/libcuda.so.1", Paths: []string{"/usr/lib/libcuda.so.1"}, Version: "580.65.06"},
		DriverVersion: "580.65.06",
		CUDAVersion:   13000,
		Devices:       []DeviceInfo{{Index: 0, Name: "NVIDIA H200", Memory: 150 << 30, ComputeMajor: 9, SMs: 132}},
		CUBLAS: LibraryReport{Lib: CUBLAS, Loaded: true, Version: "13.0.0", Path: "/py/nvidia/cu13/lib/libcublas.so.13",
			Paths: []string{"/py/nvidia/cu13/lib/libcublasLt.so.13", "/py/nvidia/cu13/lib/libcublas.so.13"}},
		CUDNN: LibraryReport{Lib: CUDNN, Loaded: true, Version: "9.13.0", Path: "/py/nvidia/cudnn/lib/libcudnn.so.9",
			Paths: []string{"/py/nvidia/cudnn/lib/libcudnn.so.9"}},
	}
	s := r.String()
	for _, want := range []string{
		"CUDA driver  580.65.06 (CUDA 13.0)  /usr/lib/libcuda.so.1",
		"cuBLAS       13.0.0                 /py/nvidia/cu13/lib/libcublas.so.13",
		"cuDNN        9.13.0                 /py/nvidia/cudnn/lib/libcudnn.so.9",
		"cuBLAS also loaded: /py/nvidia/cu13/lib/libcublasLt.so.13",
		"0    NVIDIA H200  150.0 GiB  9.0      132",
		"status: usable",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("report lacks %q:\n%s", want, s)
		}
	}
	r.CUDNN = LibraryReport{Lib: CUDNN, Error: "not found: libcudnn.so.9 or libcudnn.so.8 not in ..."}
	r.Devices, r.InitError = nil, "cuInit: CUDA_ERROR_NO_DEVICE"
	s = r.String()
	for _, want := range []string{
		"cuDNN        -                      not found: libcudnn.so.9",
		"GPUs: none usable: cuInit: CUDA_ERROR_NO_DEVICE",
		"status: not usable",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("report lacks %q:\n%s", want, s)
		}
	}
}

func TestVersions(t *testing.T) {
	for v, want := range map[int]string{90600: "9.6.0", 91300: "9.13.0", 8907: "8.9.7", 8100: "8.1.0", 0: ""} {
		if got := formatCUDNNVersion(v); got != want {
			t.Errorf("cuDNN %d = %q, want %q", v, got, want)
		}
	}
	for v, want := range map[int]string{13000: "13.0", 12080: "12.8", 11080: "11.8", 0: ""} {
		if got := formatCUDAVersion(v); got != want {
			t.Errorf("CUDA %d = %q, want %q", v, got, want)
		}
	}
	for line, want := range map[string]string{
		"NVRM version: NVIDIA UNIX x86_64 Kernel Module  580.65.06  Sun Jul 27 07:09:34 UTC 2025":          "580.65.06",
		"NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  580.82.07  Release Build  (dvs-builder)": "580.82.07",
	} {
		m := nvrmVersion.FindStringSubmatch(line)
		if m == nil || m[1] != want {
			t.Errorf("driver version of %q = %v, want %q", line, m, want)
		}
	}
}

func TestPackArgs(t *testing.T) {
	slots := make([]uint64, 8)
	for i := range slots {
		slots[i] = 0xdeadbeefdeadbeef
	}
	packArgs(slots, "k", []any{int32(-2), uint32(7), int64(-3), uint64(1 << 40), float32(1.5), float64(-2.25), DevicePtr(0x7f0000001000)})
	want := []uint64{
		0x00000000fffffffe, // a 4-byte int in the low half; the high half is never read
		7,
		0xfffffffffffffffd,
		1 << 40,
		uint64(math.Float32bits(1.5)),
		math.Float64bits(-2.25),
		0x7f0000001000,
		0xdeadbeefdeadbeef, // untouched
	}
	for i := range want {
		if slots[i] != want[i] {
			t.Errorf("slot %d = %#x, want %#x", i, slots[i], want[i])
		}
	}
	for _, bad := range [][]any{{1}, {int32(1), uintptr(2)}, {"x"}, make([]any, 9)} {
		func() {
			defer func() {
				if r := recover(); r == nil || !strings.HasPrefix(r.(string), "gpu: Launch k: ") {
					t.Errorf("packArgs(%v): panic %v", bad, r)
				}
			}()
			packArgs(slots, "k", bad)
		}()
	}
}

func TestCheckRange(t *testing.T) {
	d := &Device{allocs: []allocation{{0x1000, 256}, {0x2000, 64}}}
	for _, ok := range []struct {
		p DevicePtr
		n int
	}{{0x1000, 256}, {0x1080, 128}, {0x2000, 64}, {0x203c, 4}, {0x5000, 0}} {
		d.checkRange("op", ok.p, ok.n) // must not panic
	}
	for _, bad := range []struct {
		p DevicePtr
		n int
	}{{0x0fff, 4}, {0x1000, 257}, {0x10fc, 8}, {0x2040, 4}, {0x3000, 4}, {0x1000, -1}} {
		func() {
			defer func() {
				if r := recover(); r == nil || !strings.HasPrefix(r.(string), "gpu: op: ") {
					t.Errorf("checkRange(%#x, %d): panic %v", uint64(bad.p), bad.n, r)
				}
			}()
			d.checkRange("op", bad.p, bad.n)
		}()
	}
}

// TestSymbolTable checks the C function table against this package's
// promises: every function it calls is there, under its exact name, and
// required; nothing else is required, so that a library is never refused
// for lacking a function this package does not call.
func TestSymbolTable(t *testing.T) {
	if !cgoEnabled {
		t.Skip("built without cgo")
	}
	table := map[string]symbol{}
	required := map[string]bool{}
	for _, s := range symTable() {
		if s.ID != s.Name && s.ID != s.Alt {
			t.Errorf("%s: looked up as %q/%q, but its type is checked as %s", s.ID, s.Name, s.Alt, s.ID)
		}
		var lib Library
		switch {
		case strings.HasPrefix(s.ID, "cublas"):
			lib = CUBLAS
		case strings.HasPrefix(s.ID, "cudnn"):
			lib = CUDNN
		default:
			lib = Driver
		}
		if s.Lib != lib {
			t.Errorf("%s: in %v, want %v", s.ID, s.Lib, lib)
		}
		table[s.Name] = s
	}
	for _, name := range []string{
		"cuInit", "cuDriverGetVersion", "cuDeviceGetCount", "cuDeviceGet", "cuDeviceGetName", "cuDeviceTotalMem_v2",
		"cuDeviceGetAttribute", "cuDevicePrimaryCtxRetain", "cuDevicePrimaryCtxRelease_v2", "cuDevicePrimaryCtxReset_v2", "cuCtxSetCurrent",
		"cuCtxSynchronize", "cuMemAlloc_v2", "cuMemFree_v2", "cuMemcpyDtoH_v2",
		"cuMemcpyDtoDAsync_v2", "cuMemcpyHtoDAsync_v2", "cuMemsetD32Async", "cuMemGetInfo_v2", "cuStreamCreate",
		"cuStreamDestroy_v2", "cuStreamSynchronize", "cuEventCreate", "cuEventRecord", "cuEventSynchronize",
		"cuEventElapsedTime_v2", "cuEventDestroy_v2", "cuModuleLoadData", "cuModuleUnload", "cuModuleGetFunction", "cuLaunchKernel",
		"cuStreamBeginCapture_v2", "cuStreamEndCapture", "cuGraphInstantiateWithFlags", "cuGraphLaunch",
		"cuGraphExecDestroy", "cuGraphDestroy", "cuGetErrorName", "cuGetErrorString",
		"cublasCreate_v2", "cublasDestroy_v2", "cublasSetStream_v2", "cublasSetMathMode", "cublasSgemm_v2",
		"cudnnCreate", "cudnnDestroy", "cudnnSetStream", "cudnnGetVersion", "cudnnGetErrorString",
		"cudnnCreateTensorDescriptor", "cudnnSetTensor4dDescriptor", "cudnnDestroyTensorDescriptor",
		"cudnnCreateFilterDescriptor", "cudnnSetFilter4dDescriptor", "cudnnDestroyFilterDescriptor",
		"cudnnCreateConvolutionDescriptor", "cudnnSetConvolution2dDescriptor", "cudnnSetConvolutionMathType",
		"cudnnDestroyConvolutionDescriptor", "cudnnGetConvolutionForwardAlgorithm_v7",
		"cudnnFindConvolutionForwardAlgorithm", "cudnnGetConvolutionBackwardDataAlgorithm_v7",
		"cudnnFindConvolutionBackwardDataAlgorithm", "cudnnGetConvolutionBackwardFilterAlgorithm_v7",
		"cudnnFindConvolutionBackwardFilterAlgorithm", "cudnnGetConvolutionForwardWorkspaceSize",
		"cudnnGetConvolutionBackwardDataWorkspaceSize", "cudnnGetConvolutionBackwardFilterWorkspaceSize",
		"cudnnConvolutionForward", "cudnnConvolutionBackwardData", "cudnnConvolutionBackwardFilter",
		"cudnnConvolutionBackwardBias", "cudnnGetConvolution2dForwardOutputDim",
	} {
		required[name] = true
		s, ok := table[name]
		if !ok {
			t.Errorf("%s is not in the function table", name)
		} else if !s.Required {
			t.Errorf("%s is optional", name)
		}
	}
	for name, s := range table {
		if s.Required && !required[name] {
			t.Errorf("%s is required but not in this test's list of the functions the package calls", name)
		}
	}
	if s := table["cuEventElapsedTime_v2"]; s.Alt != "cuEventElapsedTime" {
		t.Errorf("cuEventElapsedTime_v2 falls back to %q, want cuEventElapsedTime", s.Alt)
	}
}

func TestCConstants(t *testing.T) {
	if !cgoEnabled {
		t.Skip("built without cgo")
	}
	for name, want := range map[string]int{
		"VG_LIB_CUDA": int(Driver), "VG_LIB_CUBLAS": int(CUBLAS), "VG_LIB_CUDNN": int(CUDNN),
		"VG_CONV_FWD": convFwd, "VG_CONV_BWD_DATA": convBwdData, "VG_CONV_BWD_FILTER": convBwdFilter,
		"sizeof_algoPerf": 48,
	} {
		if got, ok := cConstants[name]; !ok || got != want {
			t.Errorf("C %s = %d (present %v), Go wants %d", name, got, ok, want)
		}
	}
}

// allocated returns the bytes in d's live allocations (its bookkeeping,
// which Close checks is empty).
func allocated(d *Device) int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.allocated
}
