// Package fakecuda builds, for the tests of packages gpu/cuda and gpu,
// stand-ins for libcuda, cuBLAS and cuDNN from testdata/fake.c (embedded): they keep
// "device memory" in host memory and really copy, multiply and convolve,
// fail any call made without the context current on the calling thread,
// can fail a stream capture on demand (FAKE_CAPTURE_FAIL), and log what
// they are asked to do to the file FAKE_LOG names. Nothing else imports it.
package fakecuda

import (
	_ "embed"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

//go:embed testdata/fake.c
var source []byte

// Libs builds the fake libraries: the driver, cuBLAS 13 without
// cublasSgemm_v2 (to be skipped), cuBLAS 12, and cuDNN 9 split like the
// real one, into a VATGPU_CUDA_PATH folder; and a library cuDNN's _cnn
// needs into a Python nvidia/*/lib folder, to be found by soname.
func Libs(t testing.TB) (cudaPath, pythonPath string) {
	cc := os.Getenv("CC")
	if cc == "" {
		cc = "gcc"
	}
	if _, err := exec.LookPath(cc); err != nil {
		t.Skipf("no C compiler %q: %v", cc, err)
	}
	root := t.TempDir()
	cudaPath = filepath.Join(root, "cuda")
	pythonPath = filepath.Join(root, "site-packages")
	nvrtcDir := filepath.Join(pythonPath, "nvidia", "cuda_nvrtc", "lib")
	for _, d := range []string{cudaPath, nvrtcDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	src := filepath.Join(root, "fake.c")
	if err := os.WriteFile(src, source, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, lib := range []struct {
		dir, soname string
		flags       []string
	}{
		{cudaPath, "libcuda.so.1", []string{"-DFAKE_DRIVER"}},
		{cudaPath, "libcublasLt.so.13", []string{"-DFAKE_CUBLASLT"}},
		{cudaPath, "libcublas.so.13", []string{"-DFAKE_CUBLAS", "-DFAKE_MAJOR=13", "-DFAKE_INCOMPLETE", "-L" + cudaPath, "-l:libcublasLt.so.13"}},
		{cudaPath, "libcublasLt.so.12", []string{"-DFAKE_CUBLASLT"}},
		{cudaPath, "libcublas.so.12", []string{"-DFAKE_CUBLAS", "-DFAKE_MAJOR=12", "-L" + cudaPath, "-l:libcublasLt.so.12"}},
		{nvrtcDir, "libfakenvrtc.so.1", []string{"-DFAKE_NVRTC"}},
		{cudaPath, "libcudnn_graph.so.9", []string{"-DFAKE_CUDNN_GRAPH"}},
		{cudaPath, "libcudnn_ops.so.9", []string{"-DFAKE_CUDNN_OPS", "-L" + cudaPath, "-l:libcudnn_graph.so.9"}},
		{cudaPath, "libcudnn_cnn.so.9", []string{"-DFAKE_CUDNN_CNN", "-L" + cudaPath, "-L" + nvrtcDir,
			"-l:libcudnn_graph.so.9", "-l:libfakenvrtc.so.1"}},
		{cudaPath, "libcudnn.so.9", []string{"-DFAKE_CUDNN_SHIM"}},
	} {
		args := []string{"-shared", "-fPIC", "-O1", "-Wall", "-o", filepath.Join(lib.dir, lib.soname),
			"-Wl,-soname," + lib.soname, src}
		if out, err := exec.Command(cc, append(args, lib.flags...)...).CombinedOutput(); err != nil {
			t.Fatalf("building %s: %v\n%s", lib.soname, err, out)
		}
	}
	return cudaPath, pythonPath
}

// Log returns the lines the fake libraries logged so far.
func Log(t testing.TB) []string {
	t.Helper()
	b, err := os.ReadFile(os.Getenv("FAKE_LOG"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

// WantLog checks that the log has each line, in order, after position
// *from, and moves *from past the last one.
func WantLog(t testing.TB, from *int, lines ...string) {
	t.Helper()
	log := Log(t)
	i := *from
	for _, want := range lines {
		for i < len(log) && log[i] != want {
			i++
		}
		if i == len(log) {
			t.Fatalf("fake log lacks %q after line %d:\n%s", want, *from, strings.Join(log[*from:], "\n"))
		}
		i++
	}
	*from = i
}

// CountLog returns how many lines of the log are line.
func CountLog(t testing.TB, line string) int {
	n := 0
	for _, l := range Log(t) {
		if l == line {
			n++
		}
	}
	return n
}

// Scenario is the environment variable that tells a child process which
// scenario it runs.
const Scenario = "VATGPU_FAKE_SCENARIO"

// RunChild runs the tests run (a -test.run alternation of top-level test
// names) of the current test binary in a child process on the fake
// libraries at cudaPath and pythonPath (see Libs), with Scenario set to
// scenario, FAKE_LOG to a fresh log file and env added, and fails t unless
// every one of those tests passes (a skip is a failure). A scenario named
// "nodevice" sets FAKE_NO_DEVICE, "capture-HOW" sets FAKE_CAPTURE_FAIL=HOW
// (but "capture-graphsoff" VATGPU_GRAPHS=off instead); graphs are on
// otherwise, whatever the parent was started with.
func RunChild(t *testing.T, cudaPath, pythonPath, scenario, run string) {
	t.Helper()
	logFile := filepath.Join(t.TempDir(), "fake.log")
	cmd := exec.Command(os.Args[0], "-test.run=^("+run+")$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(),
		Scenario+"="+scenario,
		"VATGPU_CUDA_PATH="+cudaPath,
		"PYTHONPATH="+pythonPath,
		"FAKE_LOG="+logFile,
	)
	if scenario == "nodevice" {
		cmd.Env = append(cmd.Env, "FAKE_NO_DEVICE=1")
	}
	if how, ok := strings.CutPrefix(scenario, "capture-"); ok && how != "graphsoff" {
		cmd.Env = append(cmd.Env, "FAKE_CAPTURE_FAIL="+how)
	}
	if scenario == "capture-graphsoff" {
		cmd.Env = append(cmd.Env, "VATGPU_GRAPHS=off")
	} else {
		cmd.Env = append(cmd.Env, "VATGPU_GRAPHS=on")
	}
	out, err := cmd.CombinedOutput()
	passed := err == nil && !strings.Contains(string(out), "--- SKIP")
	for _, test := range strings.Split(run, "|") {
		passed = passed && strings.Contains(string(out), "--- PASS: "+test+" ")
	}
	if !passed {
		log, _ := os.ReadFile(logFile)
		t.Fatalf("child: %v\n%s\nfake log:\n%s", err, out, log)
	}
	t.Logf("child:\n%s", out)
}
