package cuda

import (
	_ "embed"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// vgCudaH is vg_cuda.h itself, so that the test binary checks it wherever
// it runs (the GPU machine runs a gpu.test built elsewhere, without the
// sources).
//
//go:embed vg_cuda.h
var vgCudaH []byte

// TestBindingsMatchHeaders compiles vg_cuda.h against NVIDIA's own headers,
// where they are installed, with each library's enum aliases replaced by
// the real enum types (VG_VERIFY_*). The C compiler then checks:
//
//   - every function-pointer type pf_<id> against the declared type of <id>
//     (return type, every parameter, enum types included);
//   - the layout of the cuDNN algorithm-perf structs against vg_algoPerf;
//   - every enum value this package hard-codes, in Go or in C;
//   - the value of every status name in this package's tables
//     (cuResultNames, dnnStatusNames) that the headers define. Names the
//     headers lack, or define beyond the tables, are listed in the log:
//     the tables are fallbacks (the driver and cuDNN name their statuses
//     themselves), kept from the CUDA 12.6 and cuDNN 9.6 headers.
//
// Headers are looked for in VATGPU_CUDA_INCLUDE (colon-separated), else in
// /usr/local/cuda/include, /usr/local/cuda*/include, /usr/include and the
// nvidia/*/include folders of the Python packages where the libraries are
// searched (the pip wheels carry cudnn.h there). A library whose header is
// missing, or does not preprocess with the others found (cudnn.h needs the
// CUDA runtime's headers), is left out and the log says why; the test
// skips, saying why, if all are.
func TestBindingsMatchHeaders(t *testing.T) {
	cc := os.Getenv("CC")
	if cc == "" {
		cc = "gcc"
	}
	if _, err := exec.LookPath(cc); err != nil {
		t.Skipf("no C compiler %q: %v", cc, err)
	}
	dirs := headerDirs()
	here := t.TempDir()
	if err := os.WriteFile(filepath.Join(here, "vg_cuda.h"), vgCudaH, 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"-std=gnu11", "-Werror=incompatible-pointer-types", "-Werror=int-conversion",
		"-Wno-deprecated-declarations", "-I" + here}
	for _, d := range dirs {
		args = append(args, "-I"+d)
	}
	// Each library's header alone, preprocessed: whether it is usable here,
	// its version, and the status names it defines.
	libs := map[Library]bool{}
	defined := map[string]bool{}
	var checked, left []string
	for _, h := range []struct {
		lib     Library
		header  string
		version string // an expression of the header's version macros
	}{
		{Driver, "cuda.h", "CUDA_VERSION"},
		{CUBLAS, "cublas_v2.h", "CUBLAS_VER_MAJOR.CUBLAS_VER_MINOR.CUBLAS_VER_PATCH"},
		{CUDNN, "cudnn.h", "CUDNN_MAJOR.CUDNN_MINOR.CUDNN_PATCHLEVEL"},
	} {
		path := findHeader(dirs, h.header)
		if path == "" {
			left = append(left, fmt.Sprintf("%v (no %s)", h.lib, h.header))
			continue
		}
		src := fmt.Sprintf("#include <%s>\nvg_header_version %s ;\n", h.header, h.version)
		out, err := preprocess(cc, args, here, src)
		if err != nil {
			left = append(left, fmt.Sprintf("%v (%s does not preprocess: %s)", h.lib, path, firstLines(err.Error(), 3)))
			continue
		}
		libs[h.lib] = true
		version := "?"
		if m := regexp.MustCompile(`vg_header_version([^;]*);`).FindStringSubmatch(out); m != nil {
			version = strings.Join(strings.Fields(m[1]), "")
		}
		checked = append(checked, fmt.Sprintf("%v (%s, version %s)", h.lib, path, version))
		for _, name := range statusName.FindAllString(out, -1) {
			defined[name] = true
		}
	}
	for _, l := range left {
		t.Logf("left out: %s", l)
	}
	if len(checked) == 0 {
		t.Skipf("no usable CUDA, cuBLAS or cuDNN header in %v: %s; set VATGPU_CUDA_INCLUDE to check the bindings", dirs, strings.Join(left, "; "))
	}
	src := verifySource(libs, defined)
	file := filepath.Join(here, "verify.c")
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(cc, append(append(args, "-fsyntax-only"), file)...).CombinedOutput()
	if err != nil {
		t.Fatalf("vg_cuda.h does not match the headers in %v:\n%s\n(source in %s)", dirs, out, file)
	}
	t.Logf("checked %s", strings.Join(checked, ", "))
	for _, l := range []struct {
		lib   Library
		table map[int]string
		kind  string
	}{{Driver, cuResultNames, "CUresult"}, {CUDNN, dnnStatusNames, "cudnnStatus_t"}} {
		if !libs[l.lib] {
			continue
		}
		var missing, extra []string
		inTable := map[string]bool{}
		for _, name := range l.table {
			inTable[name] = true
		}
		prefix := map[Library]string{Driver: "CUDA_", CUDNN: "CUDNN_STATUS_"}[l.lib]
		for name := range inTable {
			if !defined[name] {
				missing = append(missing, name)
			}
		}
		for name := range defined {
			if strings.HasPrefix(name, prefix) && !inTable[name] {
				extra = append(extra, name)
			}
		}
		sort.Strings(missing)
		sort.Strings(extra)
		t.Logf("%s names in this package's table that the headers do not define (not checked): %v", l.kind, missing)
		t.Logf("%s names the headers define beyond the table (shown by number unless the library names them): %v", l.kind, extra)
	}
}

// statusName matches the names of CUresult and cudnnStatus_t values.
var statusName = regexp.MustCompile(`\b(CUDA_SUCCESS|CUDA_ERROR_[A-Z0-9_]+|CUDNN_STATUS_[A-Z0-9_]+)\b`)

// headerDirs lists the folders to look for NVIDIA's headers in.
func headerDirs() []string {
	if dirs := splitPathList(os.Getenv("VATGPU_CUDA_INCLUDE")); len(dirs) > 0 {
		return dirs
	}
	dirs := []string{"/usr/local/cuda/include"}
	cuda := globSorted("/usr/local/cuda*/include")
	for i := len(cuda) - 1; i >= 0; i-- { // newest first, as for the libraries
		dirs = append(dirs, cuda[i])
	}
	dirs = append(dirs, "/usr/include")
	for _, lib := range defaultSearchConfig().pythonLibDirs() {
		dirs = append(dirs, filepath.Join(filepath.Dir(lib), "include"))
	}
	var out []string
	for _, d := range dedupe(dirs) {
		if st, err := os.Stat(d); err == nil && st.IsDir() {
			out = append(out, d)
		}
	}
	return out
}

func findHeader(dirs []string, header string) string {
	for _, d := range dirs {
		p := filepath.Join(d, header)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// preprocess runs the C preprocessor on src and returns its output.
func preprocess(cc string, args []string, dir, src string) (string, error) {
	file := filepath.Join(dir, "pre.c")
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		return "", err
	}
	var stdout, stderr strings.Builder
	cmd := exec.Command(cc, append(append(args, "-E", "-P"), file)...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%v: %s", err, stderr.String())
	}
	return stdout.String(), nil
}

func firstLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, " / ")
}

// verifySource is the C file TestBindingsMatchHeaders compiles.
func verifySource(libs map[Library]bool, defined map[string]bool) string {
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
	// names asserts the value of every name of m that keep selects and
	// the headers define.
	names := func(m map[int]string, keep func(int) bool) {
		keys := make([]int, 0, len(m))
		for k := range m {
			if keep(k) && defined[m[k]] {
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
		names(cuResultNames, func(int) bool { return true })
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
		assert("CUDNN_FMA_MATH", CudnnFMAMath)
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
