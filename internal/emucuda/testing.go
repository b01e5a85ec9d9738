package emucuda

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// ForTest builds the emulated GPU for a test and returns the folder of its
// libraries. It skips the test in -short mode and where there is no C++
// compiler; any other failure (a compile error in the emulator or in
// kernels.cu) fails it.
func ForTest(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the emulated GPU; skipped in -short mode")
	}
	root, err := Root()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	dir, err := Build(root, "")
	if errors.Is(err, ErrNoCompiler) {
		t.Skipf("no emulated GPU: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("emulated GPU: %s (%.1f s)", dir, time.Since(start).Seconds())
	return dir
}

// InChild reports whether this process is a child started by RunChild.
func InChild() bool { return os.Getenv(Env) != "" }

// RunChild runs tests (top-level test names) of the current test binary in
// a child process whose CUDA libraries are the emulated GPU's in dir, and
// fails t unless every one of them passes (a skip is a failure). The
// child's output is logged.
func RunChild(t testing.TB, dir string, tests ...string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^("+strings.Join(tests, "|")+")$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), Env+"="+dir, "VATGPU_CUDA_PATH="+dir)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	passed := err == nil && !strings.Contains(string(out), "--- SKIP")
	for _, test := range tests {
		passed = passed && strings.Contains(string(out), "--- PASS: "+test+" ")
	}
	if !passed {
		t.Fatalf("on the emulated GPU: %v\n%s", err, out)
	}
	t.Logf("on the emulated GPU (%.1f s):\n%s", time.Since(start).Seconds(), out)
}
