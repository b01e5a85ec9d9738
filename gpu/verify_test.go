package gpu

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// TestBindingsMatchHeaders compiles vg_cuda.h against NVIDIA's own headers,
// where they are installed, with each library's enum aliases replaced by
// the real enum types (VG_VERIFY_*). The C compiler then checks:
//
//   - every function-pointer type pf_<id> against the declared type of <id>
//     (return type, every parameter, enum types included);
//   - the layout of the cuDNN algorithm-perf structs against vg_algoPerf;
//   - every enum value this package hard-codes, in Go or in C.
//
// Headers are looked for in VATGPU_CUDA_INCLUDE (colon-separated), else in
// /usr/local/cuda*/include and /usr/include. A library whose header is
// missing is left out; the test skips if all are.
func TestBindingsMatchHeaders(t *testing.T) {
	cc := os.Getenv("CC")
	if cc == "" {
		cc = "gcc"
	}
	if _, err := exec.LookPath(cc); err != nil {
		t.Skipf("no C compiler %q: %v", cc, err)
	}
	dirs := splitPathList(os.Getenv("VATGPU_CUDA_INCLUDE"))
	if len(dirs) == 0 {
		dirs = append([]string{"/usr/local/cuda/include"}, globSorted("/usr/local/cuda*/include")...)
		dirs = append(dirs, "/usr/include")
	}
	have := func(header string) bool {
		for _, d := range dirs {
			if _, err := os.Stat(filepath.Join(d, header)); err == nil {
				return true
			}
		}
		return false
	}
	libs := map[Library]bool{Driver: have("cuda.h"), CUBLAS: have("cublas_v2.h"), CUDNN: have("cudnn.h")}
	if !libs[Driver] && !libs[CUBLAS] && !libs[CUDNN] {
		t.Skipf("no CUDA headers in %v; set VATGPU_CUDA_INCLUDE to check the bindings", dirs)
	}
	src := verifySource(libs)
	dir := t.TempDir()
	file := filepath.Join(dir, "verify.c")
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	here, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"-std=gnu11", "-fsyntax-only", "-Werror=incompatible-pointer-types",
		"-Werror=int-conversion", "-Wno-deprecated-declarations", "-I" + here}
	for _, d := range dirs {
		args = append(args, "-I"+d)
	}
	out, err := exec.Command(cc, append(args, file)...).CombinedOutput()
	if err != nil {
		t.Fatalf("vg_cuda.h does not match the headers in %v:\n%s\n(source in %s)", dirs, out, file)
	}
	checked := []string{}
	for _, l := range []Library{Driver, CUBLAS, CUDNN} {
		if libs[l] {
			checked = append(checked, l.String())
		}
	}
	t.Logf("checked %s against the headers in %v", strings.Join(checked, ", "), dirs)
}

// verifySource is the C file TestBindingsMatchHeaders compiles.
func verifySource(libs map[Library]bool) string {
	var b strings.Builder
	b.WriteString("#define _GNU_SOURCE\n#include <stddef.h>\n")
	if libs[Driver] {
		b.WriteString("#include <cuda.h>\n#define VG_VERIFY_CUDA 1\n")
	}
	if libs[CUBLAS] {
		b.WriteString("#include <cublas_v2.h>\n#define VG_VERIFY_CUBLAS 1\n")
	}
	if libs[CUDNN] {
		b.WriteString("#include <cudnn.h>\n#define VG_VERIFY_CUDNN 1\n")
	}
	b.WriteString(`#include "vg_cuda.h"

// Each function's declared type must be its pf_ type.
#define VG_CHECK(lib, id, req, name, alt) VG_CHECK_##lib(id)
`)
	for _, l := range []struct {
		lib   Library
		macro string
	}{{Driver, "CUDA"}, {CUBLAS, "CUBLAS"}, {CUDNN, "CUDNN"}} {
		if libs[l.lib] {
			fmt.Fprintf(&b, "#define VG_CHECK_%s(id) pf_##id vgc_##id = id;\n", l.macro)
		} else {
			fmt.Fprintf(&b, "#define VG_CHECK_%s(id)\n", l.macro)
		}
	}
	b.WriteString("VG_SYMBOLS(VG_CHECK)\n\n")

	assert := func(expr string, want int) {
		fmt.Fprintf(&b, "_Static_assert((%s) == %d, %q);\n", expr, want, fmt.Sprintf("%s == %d", expr, want))
	}
	names := func(m map[int]string, keep func(int) bool) {
		keys := make([]int, 0, len(m))
		for k := range m {
			if keep(k) {
				keys = append(keys, k)
			}
		}
		sort.Ints(keys)
		for _, k := range keys {
			assert(m[k], k)
		}
	}
	if libs[Driver] {
		b.WriteString("// CUDA driver\n")
		assert("sizeof(CUdeviceptr)", 8)
		assert("sizeof(CUdevice)", 4)
		assert("CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT", cuDeviceAttrSMCount)
		assert("CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR", cuDeviceAttrCCMajor)
		assert("CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR", cuDeviceAttrCCMinor)
		assert("CU_STREAM_NON_BLOCKING", cuStreamNonBlocking)
		assert("CU_EVENT_DEFAULT", cuEventDefault)
		assert("CU_STREAM_CAPTURE_MODE_GLOBAL", cuCaptureModeGlobal)
		assert("CU_JIT_ERROR_LOG_BUFFER", 5)
		assert("CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES", 6)
		b.WriteString("#if CUDA_VERSION >= 12060 // the CUresult table is that of CUDA 12.6\n")
		names(cuResultNames, func(int) bool { return true })
		b.WriteString("#endif\n")
	}
	if libs[CUBLAS] {
		b.WriteString("// cuBLAS\n")
		assert("CUBLAS_OP_N", cublasOpN)
		assert("CUBLAS_OP_T", cublasOpT)
		assert("CUBLAS_DEFAULT_MATH", cublasDefaultMath)
		assert("CUBLAS_TF32_TENSOR_OP_MATH", cublasTF32TensorOpMath)
		assert("MAJOR_VERSION", libraryMajorVersion)
		assert("MINOR_VERSION", libraryMinorVersion)
		assert("PATCH_LEVEL", libraryPatchLevel)
		for _, code := range []int{0, 1, 3, 7, 8, 11, 13, 14, 15, 16} {
			assert(blasStatusName(code), code)
		}
	}
	if libs[CUDNN] {
		b.WriteString("// cuDNN\n")
		assert("CUDNN_TENSOR_NCHW", 0)
		assert("CUDNN_DATA_FLOAT", 0)
		assert("CUDNN_CROSS_CORRELATION", 1)
		assert("CUDNN_TENSOR_OP_MATH", cudnnTensorOpMath)
		assert("CUDNN_FMA_MATH", cudnnFMAMath)
		assert("CUDNN_DETERMINISTIC", 1)
		assert("CUDNN_CONVOLUTION_FWD_ALGO_COUNT", len(convFwdAlgoNames))
		assert("CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT", len(convBwdDataAlgoNames))
		assert("CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT", len(convBwdFilterAlgoNames))
		for i := range convFwdAlgoNames {
			assert(ConvFwdAlgo(i).String(), i)
		}
		for i := range convBwdDataAlgoNames {
			assert(ConvBwdDataAlgo(i).String(), i)
		}
		for i := range convBwdFilterAlgoNames {
			assert(ConvBwdFilterAlgo(i).String(), i)
		}
		b.WriteString("#if CUDNN_MAJOR >= 9\n")
		names(dnnStatusNames, func(k int) bool { return k == 0 || k >= 1000 })
		b.WriteString("#else\n")
		names(dnnStatusNames, func(k int) bool { return k < 1000 })
		b.WriteString("#endif\n")
		for _, perf := range []string{"cudnnConvolutionFwdAlgoPerf_t", "cudnnConvolutionBwdDataAlgoPerf_t",
			"cudnnConvolutionBwdFilterAlgoPerf_t"} {
			fmt.Fprintf(&b, "_Static_assert(sizeof(%s) == sizeof(struct vg_algoPerf), \"size of %s\");\n", perf, perf)
			for _, f := range []string{"algo", "status", "time", "memory", "determinism", "mathType", "reserved"} {
				fmt.Fprintf(&b, "_Static_assert(offsetof(%s, %s) == offsetof(struct vg_algoPerf, %s), \"offset of %s.%s\");\n",
					perf, f, f, perf, f)
				fmt.Fprintf(&b, "_Static_assert(sizeof(((%s *)0)->%s) == sizeof(((struct vg_algoPerf *)0)->%s), \"size of %s.%s\");\n",
					perf, f, f, perf, f)
			}
			// Enum fields are ints here; the others must have the same type.
			for _, f := range []string{"time", "memory", "reserved"} {
				fmt.Fprintf(&b, "_Static_assert(__builtin_types_compatible_p(__typeof__(((%s *)0)->%s), "+
					"__typeof__(((struct vg_algoPerf *)0)->%s)), \"type of %s.%s\");\n", perf, f, f, perf, f)
			}
		}
	}
	return b.String()
}
