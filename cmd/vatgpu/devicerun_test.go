package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vatgpu/vatgpu/layers"
	"github.com/vatgpu/vatgpu/layers/layerstest"
	"github.com/vatgpu/vatgpu/mnist"
	"github.com/vatgpu/vatgpu/parity"
)

// faultyGPU stands in for a GPU backend that fails in the ways the GPU
// check must survive: Average computes wrong values, Adadelta panics and
// leaves a sticky error (unless calmAdadelta), and after failAfter syncs
// Sync fails.
type faultyGPU struct {
	*layers.CPU
	err          error
	syncs        int
	failAfter    int // 0: Sync never fails by itself
	calmAdadelta bool
}

func (f *faultyGPU) Name() string { return "gpu 0: faulty" }
func (f *faultyGPU) Err() error   { return f.err }
func (f *faultyGPU) Sync() error {
	f.syncs++
	if f.failAfter > 0 && f.syncs > f.failAfter && f.err == nil {
		f.err = errors.New("gpu: sync: CUDA_ERROR_ILLEGAL_ADDRESS (faulty)")
	}
	return f.err
}
func (f *faultyGPU) Average(avg, params layers.Buf, decay float32) {
	f.CPU.Average(avg, params, decay)
	f.CPU.Upload(avg, []float32{42})
}
func (f *faultyGPU) Adadelta(params, grads, accG, accD layers.Buf, lr, rho, eps float32) {
	if f.calmAdadelta {
		f.CPU.Adadelta(params, grads, accG, accD, lr, rho, eps)
		return
	}
	f.err = errors.New("gpu: adadelta: CUDA_ERROR_LAUNCH_FAILED (faulty)")
	panic("gpu: adadelta: faulty")
}

// useFaultyGPU makes openGPU return faulty backends made by mk, counting
// the opens, for the rest of the test.
func useFaultyGPU(t *testing.T, mk func() *faultyGPU) *int {
	opens := 0
	saved := openGPU
	openGPU = func(int, bool) (layers.Backend, error) { opens++; return mk(), nil }
	t.Cleanup(func() { openGPU = saved })
	return &opens
}

// TestParityReportsEachCase: a case that fails, panics or leaves a sticky
// error is reported and the next one runs, on a backend opened anew after
// a sticky error; the cases that pass are recorded and the failed ones
// not (an older fixture of theirs is removed).
func TestParityReportsEachCase(t *testing.T) {
	opens := useFaultyGPU(t, func() *faultyGPU { return &faultyGPU{CPU: layers.NewCPU(0)} })
	dir := t.TempDir()
	stale := parity.FixturePath(dir, "average")
	if err := os.WriteFile(stale, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	ops := len(layerstest.Cases()) // --ops: the op cases alone
	var out bytes.Buffer
	err := Parity(ParityArgs{Device: "0", Record: dir, Ops: true}, &out)
	t.Logf("\n%s", out.String())
	if err == nil || err.Error() != "parity: 2 cases failed: adadelta, average" {
		t.Fatalf("Parity = %v, want the failed cases named", err)
	}
	for _, want := range []string{
		"case adadelta: FAILED", "adadelta             FAIL panic: gpu: adadelta: faulty",
		"reopening the device after: gpu: adadelta: CUDA_ERROR_LAUNCH_FAILED (faulty)",
		"case average: FAILED", "(its old fixture removed)", "case conv1: ok",
		fmt.Sprintf("parity: %d cases passed, 2 failed (adadelta, average); %d fixtures recorded in %s", ops-2, ops-2, dir),
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if *opens != 2 {
		t.Errorf("the device was opened %d times, want 2 (once more after the sticky error)", *opens)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.safetensors"))
	if len(files) != ops-2 {
		t.Errorf("%d fixtures written, want %d", len(files), ops-2)
	}
	for _, name := range []string{"average", "adadelta", "train20"} {
		if _, err := os.Stat(parity.FixturePath(dir, name)); err == nil {
			t.Errorf("a fixture of %s was written", name)
		}
	}
	if _, err := os.Stat(parity.FixturePath(dir, "relu")); err != nil {
		t.Errorf("no fixture of relu: %v", err)
	}
}

// TestBenchAllKeepsWhatItMeasured: with --device all, a GPU that fails
// (an error, or a panic) while it is measured does not take the CPU's
// result with it.
func TestBenchAllKeepsWhatItMeasured(t *testing.T) {
	for _, c := range []struct {
		name string
		gpu  faultyGPU
		want string
	}{
		{"error", faultyGPU{failAfter: 1, calmAdadelta: true}, "CUDA_ERROR_ILLEGAL_ADDRESS"},
		{"panic", faultyGPU{}, "panic: gpu: adadelta: faulty"},
	} {
		t.Run(c.name, func(t *testing.T) {
			useFaultyGPU(t, func() *faultyGPU { f := c.gpu; f.CPU = layers.NewCPU(0); return &f })
			var out, errOut bytes.Buffer
			err := Bench(BenchArgs{Device: "all", Net: "seed-cnn", Batch: 8, Steps: 1, Warmup: 1, JSON: true}, &out, &errOut)
			if err == nil || !strings.HasPrefix(err.Error(), "bench: gpu 0: faulty: ") || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Bench = %v, want the GPU's failure", err)
			}
			var rs []BenchResult
			if jerr := json.Unmarshal(out.Bytes(), &rs); jerr != nil {
				t.Fatalf("%v:\n%s", jerr, out.String())
			}
			if len(rs) != 2 || rs[0].Backend != "cpu" || rs[0].VATImagesPerSec <= 0 || rs[0].Error != "" ||
				rs[1].Device != "gpu 0: faulty" || !strings.Contains(rs[1].Error, c.want) {
				t.Errorf("results %+v, want the CPU's measurement and the GPU's error", rs)
			}
		})
	}
}

func TestDevicesLibraryPath(t *testing.T) {
	code, out, stderr := vatgpu(t, "devices", "--ld-library-path")
	if code != 0 || strings.Count(out, "\n") != 1 || strings.Contains(out, " ") {
		t.Errorf("devices --ld-library-path: exit %d, output %q (want one line of folders), stderr %q", code, out, stderr)
	}
}

// TestDeviceRunDryRun drives the GPU check's script (scripts/device-run.sh)
// in short dry runs on the CPU, in a bundle of its own: a stage made to
// fail is reported and the later stages still run, a failed train20 is
// retried without CUDA graphs, a hanging stage is killed at its limit and
// the deadline skips what no longer fits, and every stage has its line in
// the summary.
func TestDeviceRunDryRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	for _, tool := range []string{"bash", "timeout", "tar", "gzip", "awk"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("the script needs %s: %v", tool, err)
		}
	}
	data, err := mnist.DefaultDir()
	if err != nil {
		t.Skipf("no MNIST: %v", err)
	}
	bundle := t.TempDir()
	if out, err := exec.Command("go", "build", "-o", filepath.Join(bundle, "vatgpu"), ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	// As make device-bundle leaves it: gzipped, for run.sh to unpack.
	if out, err := exec.Command("gzip", "-1", filepath.Join(bundle, "vatgpu")).CombinedOutput(); err != nil {
		t.Fatalf("gzip: %v\n%s", err, out)
	}
	script, err := os.ReadFile("../../scripts/device-run.sh")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bundle, "run.sh"), script, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(data, filepath.Join(bundle, "data")); err != nil {
		t.Fatal(err)
	}
	stages := []string{"devices", "ops", "train20", "headers", "parity", "train12", "bench", "peer", "gputest", "semi1", "semi2", "semi3"}

	run := func(t *testing.T, env ...string) (summary string, files map[string]int64, code int, took time.Duration) {
		out := t.TempDir()
		cmd := exec.Command("bash", filepath.Join(bundle, "run.sh"), "--dry-run")
		// What the environment may hold is reset first (empty means the
		// script's default); env then sets what this run needs.
		base := []string{"VATGPU_GRAPHS=on", "VATGPU_CUDA_PATH=", "VATGPU_RUN_STAGES=", "VATGPU_RUN_SABOTAGE=",
			"VATGPU_RUN_HANG=", "VATGPU_RUN_DEADLINE=", "VATGPU_RUN_RESERVE=", "VATGPU_RUN_KILL_AFTER=", "VATGPU_RUN_TIMEOUT_OK="}
		cmd.Env = append(append(os.Environ(), base...), append(env, "OUT="+out)...)
		start := time.Now()
		stdout, err := cmd.CombinedOutput()
		took = time.Since(start)
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		t.Logf("run.sh --dry-run %v: exit %d in %v\n%s", env, code, took.Round(time.Millisecond), stdout)
		files = map[string]int64{}
		entries, _ := os.ReadDir(out)
		for _, e := range entries {
			info, err := e.Info()
			if err != nil || !info.Mode().IsRegular() {
				t.Errorf("%s in OUT is not a plain file", e.Name())
				continue
			}
			files[e.Name()] = info.Size()
			if info.Size() > 16<<20 {
				t.Errorf("%s: %d bytes, over 16 MiB", e.Name(), info.Size())
			}
		}
		if len(files) > 8 {
			t.Errorf("%d files in OUT, at most 8 come back: %v", len(files), files)
		}
		b, err := os.ReadFile(filepath.Join(out, "summary.txt"))
		if err != nil {
			t.Fatalf("no summary: %v", err)
		}
		return string(b), files, code, took
	}
	// line returns stage's summary line as "status note".
	line := func(t *testing.T, summary, stage string) string {
		t.Helper()
		m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(stage) + ` +(passed|failed|skipped) +[0-9.]+  (.*)$`).FindStringSubmatch(summary)
		if m == nil {
			t.Errorf("the summary has no line for %s", stage)
			return ""
		}
		return m[1] + " " + m[2]
	}
	want := func(t *testing.T, summary, stage, prefix string) {
		t.Helper()
		if got := line(t, summary, stage); !strings.HasPrefix(got, prefix) {
			t.Errorf("%s: %q, want %q...", stage, got, prefix)
		}
	}

	t.Run("sabotage", func(t *testing.T) {
		summary, files, code, _ := run(t, "VATGPU_RUN_STAGES=devices,ops,train20,headers,bench",
			"VATGPU_RUN_SABOTAGE=ops,train20")
		if code != 1 {
			t.Errorf("exit %d, want 1 (stages failed)", code)
		}
		want(t, summary, "devices", "passed status: not usable")
		want(t, summary, "ops", "failed exit 3: VATGPU_RUN_SABOTAGE: stage ops made to fail")
		want(t, summary, "train20", "failed exit 3: VATGPU_RUN_SABOTAGE: stage train20 made to fail")
		want(t, summary, "train20-nographs", "passed finish: use_dropout=false, use_vat=true")
		want(t, summary, "headers", "skipped no cuda.test in the bundle")
		want(t, summary, "bench", "passed cpu (")
		for _, s := range []string{"parity", "train12", "peer", "gputest", "semi1", "semi2", "semi3"} {
			want(t, summary, s, "skipped not in VATGPU_RUN_STAGES")
		}
		want(t, summary, "fixtures", "skipped parity did not run")
		if !strings.Contains(summary, "later stages run with VATGPU_GRAPHS=off: train20 passed only without CUDA graphs") {
			t.Error("the summary does not say the later stages ran without graphs")
		}
		if !strings.Contains(summary, "some stages failed") || !strings.Contains(summary, "files (4 of at most 8): runs.txt") {
			t.Errorf("summary's last lines:\n%s", summary)
		}
		for _, f := range []string{"summary.txt", "smoke.txt", "tests.txt", "runs.txt"} {
			if _, ok := files[f]; !ok {
				t.Errorf("no %s in OUT: %v", f, files)
			}
		}
	})

	// devices (at least 5 s) gets the 6 s left of the 7 s deadline,
	// hangs, and is killed: nothing else fits. As a stage whose timeout
	// is its planned end (semi1..3 on a GPU) it passes.
	for _, c := range []struct {
		name, timeoutOK, code, devices string
	}{
		{"deadline", "", "exit 1", "failed timed out after 6s (killed; a hang?): VATGPU_RUN_HANG: stage devices hangs"},
		{"planned-timeout", "devices", "exit 0", "passed stopped at its 6s limit, as planned: VATGPU_RUN_HANG: stage devices hangs"},
	} {
		t.Run(c.name, func(t *testing.T) {
			summary, _, code, took := run(t, "VATGPU_RUN_STAGES=devices,ops,train20", "VATGPU_RUN_HANG=devices",
				"VATGPU_RUN_DEADLINE=7", "VATGPU_RUN_RESERVE=1", "VATGPU_RUN_KILL_AFTER=1", "VATGPU_RUN_TIMEOUT_OK="+c.timeoutOK)
			if got := fmt.Sprint("exit ", code); got != c.code {
				t.Errorf("%s, want %s", got, c.code)
			}
			// A stage that was never killed would hang until go test's own
			// timeout; the bound is loose so that a loaded machine passes.
			if took > 60*time.Second {
				t.Errorf("took %v with a 7 s deadline: the hanging stage was not killed in time", took)
			}
			want(t, summary, "devices", c.devices)
			want(t, summary, "ops", "skipped not enough time: ")
			want(t, summary, "train20", "skipped not enough time: ")
			for _, s := range stages[3:] {
				want(t, summary, s, "skipped not in VATGPU_RUN_STAGES")
			}
			want(t, summary, "fixtures", "skipped parity did not run")
			if leftover := processesMatching("VATGPU_RUN_HANG: stage $0 hangs"); len(leftover) > 0 {
				t.Errorf("the hanging stage's processes survive: %v", leftover)
			}
		})
	}
}

// processesMatching lists the processes whose command line contains s.
func processesMatching(s string) []string {
	var out []string
	dirs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, d := range dirs {
		b, err := os.ReadFile(d)
		if err == nil && bytes.Contains(b, []byte(s)) {
			out = append(out, fmt.Sprintf("%s: %q", filepath.Base(filepath.Dir(d)), b))
		}
	}
	return out
}
