package main

import (
	"bufio"
	"bytes"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// vatgpu runs the command in-process and returns its exit code and output.
func vatgpu(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	code = run(append([]string{"vatgpu"}, args...), &o, &e)
	return code, o.String(), e.String()
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

func TestTrainDeterministic(t *testing.T) {
	args := []string{"train", "--device", "cpu", "--limit", "384", "--epochs", "2", "--batch", "64", "--dropout", "--vat", "--quiet"}
	code1, out1, err1 := vatgpu(t, args...)
	code2, out2, _ := vatgpu(t, args...)
	if code1 != 0 || code2 != 0 {
		t.Fatalf("exit codes %d, %d: %s", code1, code2, err1)
	}
	f1, f2 := lastLine(out1), lastLine(out2)
	if !strings.HasPrefix(f1, "finish: use_dropout=true, use_vat=true: score=") {
		t.Fatalf("no finish line: %q", out1)
	}
	if f1 != f2 {
		t.Errorf("same seed, different results:\n%s\n%s", f1, f2)
	}
	// Another seed gives another result.
	_, out3, _ := vatgpu(t, append(args, "--seed", "7")...)
	if lastLine(out3) == f1 {
		t.Errorf("--seed 7 gave the same result as 1337: %s", f1)
	}
}

func TestBadFlags(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"train", "--batch", "0"}, "--batch must be positive"},
		{[]string{"train", "--epochs", "-1"}, "--epochs must be positive"},
		{[]string{"train", "--eps", "-1"}, "--eps must be finite and non-negative"},
		{[]string{"train", "--xi", "0"}, "--xi must be finite and positive"},
		{[]string{"train", "--ip", "-2"}, "--ip must be between"},
		{[]string{"train", "--limit", "-5"}, "--limit must be"},
		{[]string{"train", "--device", "tpu"}, `--device must be cpu, auto or a GPU index`},
		{[]string{"train", "--norm", "l1"}, "--norm must be"},
		{[]string{"train", "--translate", "9"}, "--translate must be between 0 and 8"},
		{[]string{"train", "--translate", "-1"}, "--translate must be between 0 and 8"},
		{[]string{"train", "--teacher", "t.safetensors"}, "--teacher needs --labeled"},
		{[]string{"train", "--labeled", "100", "--teacher", "t.safetensors", "--teacher-min", "1.5"}, "--teacher-min must be in [0, 1]"},
		{[]string{"train", "--batch", "many"}, "invalid value"},
		{[]string{"train", "--nope"}, "flag provided but not defined"},
		{[]string{"train", "extra"}, "train takes no arguments"},
		{[]string{"eval"}, "model"},
		{[]string{"train", "--net", "resnet"}, `--net: unknown network "resnet"`},
		{[]string{"train", "--net", "mlp-semi", "--dropout"}, "--dropout: the network mlp-semi has no dropout layers"},
		{[]string{"train", "--validation", "15"}, "--validation must be 0 (none) or a positive multiple of 10"},
		{[]string{"train", "--steps-per-epoch", "-1"}, "--steps-per-epoch must be"},
		{[]string{"train", "--preset", "vat-mnist"}, "--preset must be one of seed, paper, vat-mnist-100, vat-mnist-sup, vat-mnist-100-tpami"},
		{[]string{"eval", "--model", "m.safetensors", "--net", "mlp"}, `--net: unknown network "mlp"`},
		{[]string{"bench", "--net", "mlp"}, `--net: unknown network "mlp"`},
	}
	for _, c := range cases {
		code, _, stderr := vatgpu(t, c.args...)
		if code != 2 {
			t.Errorf("%v: exit code %d, want 2 (stderr %q)", c.args, code, stderr)
		}
		line := firstErrLine(stderr)
		if !strings.Contains(line, c.want) {
			t.Errorf("%v: error line %q does not say %q", c.args, line, c.want)
		}
		if strings.Contains(stderr, "goroutine") || strings.Contains(stderr, "panic") {
			t.Errorf("%v: stack trace in %q", c.args, stderr)
		}
	}
}

// firstErrLine returns the "vatgpu: ..." line urfave/cli's help text may
// surround.
func firstErrLine(stderr string) string {
	for _, l := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(l, "vatgpu: ") {
			return l
		}
	}
	return stderr
}

func TestRuntimeErrors(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"train", "--device", "cpu", "--data", filepath.Join(dir, "missing")}, "missing"},
		{[]string{"eval", "--model", filepath.Join(dir, "none.safetensors"), "--device", "cpu"}, "none.safetensors"},
		{[]string{"train", "--device", "cpu", "--out", filepath.Join(dir, "no", "such", "m.safetensors")}, "does not exist"},
		{[]string{"train", "--device", "cpu", "--out", dir}, "is a folder"},
		// No GPU in CI: asking for one fails with one line, not a crash.
		{[]string{"train", "--device", "0", "--limit", "10", "--epochs", "1"}, "gpu"},
	}
	for _, c := range cases {
		code, stdout, stderr := vatgpu(t, c.args...)
		if strings.Contains(stdout, "epoch 1/") {
			t.Errorf("%v: trained before failing: %q", c.args, stdout)
		}
		if code != 1 {
			if c.args[2] == "0" && code == 0 {
				t.Log("a GPU is present: the no-GPU case cannot be checked here")
				continue
			}
			t.Errorf("%v: exit code %d, want 1 (stderr %q)", c.args, code, stderr)
		}
		if n := strings.Count(strings.TrimSpace(stderr), "\n"); n != 0 || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: want one line naming %q, got %q", c.args, c.want, stderr)
		}
	}
}

func TestTrainEvalCheckpoint(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "m.safetensors")
	code, stdout, stderr := vatgpu(t, "train", "--device", "cpu", "--limit", "256", "--epochs", "1", "--batch", "64", "--out", out, "--quiet")
	if code != 0 {
		t.Fatal(stderr)
	}
	finish := lastLine(stdout) // finish: ...: score=S, accuracy=A
	code, evalOut, stderr := vatgpu(t, "eval", "--model", out, "--device", "cpu", "--limit", "256")
	if code != 0 {
		t.Fatal(stderr)
	}
	score := finish[strings.Index(finish, "score="):]
	if !strings.HasPrefix(evalOut, score[:strings.Index(score, ",")]) {
		t.Errorf("eval says %q, train said %q", evalOut, finish)
	}
	// The pictures: curves from --metrics, and the adversarial grid.
	metrics := filepath.Join(dir, "m.jsonl")
	if code, _, stderr := vatgpu(t, "train", "--device", "cpu", "--limit", "128", "--epochs", "2", "--batch", "64", "--metrics", metrics, "--quiet"); code != 0 {
		t.Fatal(stderr)
	}
	for _, args := range [][]string{
		{"plot", "-o", filepath.Join(dir, "curves.png"), metrics},
		{"adversarial", "--model", out, "--device", "cpu", "--n", "2", "-o", filepath.Join(dir, "adv.svg")},
	} {
		if code, _, stderr := vatgpu(t, args...); code != 0 {
			t.Fatalf("%v: %s", args, stderr)
		}
	}
	for _, f := range []string{"curves.png", "adv.svg"} {
		if st, err := os.Stat(filepath.Join(dir, f)); err != nil || st.Size() < 1000 {
			t.Errorf("%s not written: %v", f, err)
		}
	}
	// The table of the run's last epoch: the train's own metrics file.
	code, stdout, stderr = vatgpu(t, "summary", metrics)
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if code != 0 || len(lines) != 2 {
		t.Errorf("summary: exit %d, %q %q", code, stdout, stderr)
	} else if row := strings.Fields(lines[1]); len(row) != 4 || row[0] != metrics || row[1] != "2/2" || row[2] != "-" || !strings.HasSuffix(row[3], "%") {
		t.Errorf("summary: row %q", row)
	}
	// Resuming needs only the file and the epochs: the rest is saved.
	code, stdout, stderr = vatgpu(t, "train", "--device", "cpu", "--limit", "256", "--epochs", "2", "--resume", out, "--quiet")
	if code != 0 || !strings.Contains(stdout, "resumed "+out+" at epoch 1") {
		t.Errorf("resume with --epochs only: code %d, %q %q", code, stdout, stderr)
	}
	// A run with other math refuses to resume from it, naming the field.
	code, _, stderr = vatgpu(t, "train", "--device", "cpu", "--limit", "256", "--epochs", "2", "--batch", "32", "--resume", out)
	if code == 0 || !strings.Contains(stderr, "batch") {
		t.Errorf("resume with another batch size: code %d, %q", code, stderr)
	}
}

// TestTrainEMA: with --ema the epoch lines show both weights, and the
// finish line and eval score the averaged weights saved in the checkpoint.
func TestTrainEMA(t *testing.T) {
	out := filepath.Join(t.TempDir(), "m.safetensors")
	code, stdout, stderr := vatgpu(t, "train", "--device", "cpu", "--limit", "256", "--epochs", "1", "--batch", "64",
		"--ema", "0.9", "--translate", "2", "--out", out, "--quiet")
	if code != 0 {
		t.Fatal(stderr)
	}
	if !strings.Contains(stdout, "(averaged weights; as trained: loss ") {
		t.Errorf("epoch line does not show both weights: %q", stdout)
	}
	finish := lastLine(stdout)
	code, evalOut, stderr := vatgpu(t, "eval", "--model", out, "--device", "cpu", "--limit", "256")
	if code != 0 {
		t.Fatal(stderr)
	}
	score := finish[strings.Index(finish, "score="):]
	if !strings.HasPrefix(evalOut, score[:strings.Index(score, ",")]) || !strings.Contains(evalOut, "averaged weights") {
		t.Errorf("eval says %q, train said %q", evalOut, finish)
	}
}

// TestTrainTeacher: a run labels the unlabelled images with an earlier
// run's model, starts from it, and resumes exactly; a teacher trained on
// other labelled images is refused.
func TestTrainTeacher(t *testing.T) {
	dir := t.TempDir()
	teacher, student := filepath.Join(dir, "t.safetensors"), filepath.Join(dir, "s.safetensors")
	base := []string{"train", "--device", "cpu", "--limit", "500", "--labeled", "20", "--batch", "16", "--ul-batch", "64", "--vat", "--quiet"}
	arg := func(extra ...string) []string { return append(append([]string{}, base...), extra...) }
	if code, _, stderr := vatgpu(t, arg("--epochs", "2", "--out", teacher)...); code != 0 {
		t.Fatal(stderr)
	}
	code, full, stderr := vatgpu(t, arg("--epochs", "2", "--teacher", teacher, "--teacher-min", "0.3")...)
	if code != 0 {
		t.Fatal(stderr)
	}
	teacherLine := func(out string) string {
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(l, "teacher ") {
				return l
			}
		}
		return ""
	}
	line := teacherLine(full)
	var labelled int
	if _, err := fmt.Sscanf(strings.TrimPrefix(line, "teacher "+teacher+": "), "labels %d of the 480 unlabelled images (probability >= 0.3)", &labelled); err != nil || labelled == 0 {
		t.Fatalf("teacher line %q: %v (%d labelled)", line, err, labelled)
	}
	if code, _, stderr := vatgpu(t, arg("--epochs", "1", "--teacher", teacher, "--teacher-min", "0.3", "--out", student)...); code != 0 {
		t.Fatal(stderr)
	}
	code, resumed, stderr := vatgpu(t, "train", "--device", "cpu", "--limit", "500", "--epochs", "2", "--resume", student, "--quiet")
	if code != 0 {
		t.Fatal(stderr)
	}
	if teacherLine(resumed) != line {
		t.Errorf("the resumed run's teacher line %q, the first run's %q", teacherLine(resumed), line)
	}
	if lastLine(resumed) != lastLine(full) {
		t.Errorf("resumed run ends differently:\n %s\n %s", lastLine(resumed), lastLine(full))
	}
	code, _, stderr = vatgpu(t, arg("--epochs", "1", "--seed", "7", "--teacher", teacher)...)
	if code == 0 || !strings.Contains(stderr, "other labelled images") || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
		t.Errorf("a teacher of other labelled images: code %d, %q", code, stderr)
	}
	code, _, stderr = vatgpu(t, arg("--epochs", "1", "--teacher", teacher, "--out", teacher)...)
	if code != 2 || !strings.Contains(stderr, "would overwrite its teacher") {
		t.Errorf("--out is the teacher: code %d, %q", code, stderr)
	}
	code, _, stderr = vatgpu(t, arg("--epochs", "1", "--teacher", filepath.Join(dir, "none.safetensors"))...)
	if code != 1 || !strings.Contains(stderr, "none.safetensors: no such file") {
		t.Errorf("a missing teacher: code %d, %q", code, stderr)
	}
}

// TestInterruptResume interrupts a real run with SIGINT after its first
// epoch, resumes it, and checks that it ends exactly where an
// uninterrupted run ends.
func TestInterruptResume(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "vatgpu")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	args := []string{"train", "--device", "cpu", "--limit", "512", "--epochs", "2", "--batch", "64", "--dropout", "--vat", "--quiet"}
	full, err := exec.Command(bin, args...).Output()
	if err != nil {
		t.Fatalf("uninterrupted run: %v", err)
	}
	ckpt := filepath.Join(dir, "run.safetensors")
	cmd := exec.Command(bin, append(args, "--out", ckpt)...)
	stdout, _ := cmd.StdoutPipe()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "epoch 1/2") {
			cmd.Process.Signal(syscall.SIGINT)
			break
		}
	}
	for sc.Scan() {
	}
	err = cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("interrupted run: %v, want exit 1; stderr %q", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "saved "+ckpt) {
		t.Fatalf("interrupted run did not say where it saved: %q", stderr.String())
	}
	if _, err := os.Stat(ckpt); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var resumed []byte
	go func() {
		resumed, err = exec.Command(bin, append(args, "--resume", ckpt)...).Output()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Minute):
		t.Fatal("resumed run did not finish")
	}
	if err != nil {
		t.Fatalf("resumed run: %v", err)
	}
	if a, b := lastLine(string(full)), lastLine(string(resumed)); a != b {
		t.Errorf("resumed run ends differently:\n uninterrupted %s\n resumed       %s", a, b)
	}
}

// TestTrainHelp checks that train's flags are grouped and that float
// defaults print as written (0.95, not 0.949999988079071).
func TestTrainHelp(t *testing.T) {
	code, stdout, stderr := vatgpu(t, "train", "--help")
	if code != 0 {
		t.Fatal(stderr)
	}
	for _, want := range []string{"(default: 0.95)", "semi-supervised\n", "optimiser\n", "run and output\n", "model and data\n", "--preset", "--rho"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("train --help lacks %q", want)
		}
	}
	if strings.Contains(stdout, "0.9499") {
		t.Error("train --help prints a float32 default in float64 digits")
	}
}

// TestTrainNet: a network other than the seed's is trained, checkpointed
// with its name, evaluated as trained, and refused by every command told
// it is another network; a resume may not change it.
func TestTrainNet(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "mlp.safetensors")
	code, stdout, stderr := vatgpu(t, "train", "--device", "cpu", "--net", "mlp-tpami", "--limit", "400", "--epochs", "1", "--batch", "32",
		"--validation", "100", "--steps-per-epoch", "3", "--vat", "--out", out, "--quiet")
	if code != 0 {
		t.Fatal(stderr)
	}
	for _, want := range []string{"network mlp-tpami: ", "validation: 100 training images held out (10 per class)", " - val loss "} {
		if !strings.Contains(stdout, want) {
			t.Errorf("train's output lacks %q: %q", want, stdout)
		}
	}
	finish := lastLine(stdout)
	code, evalOut, stderr := vatgpu(t, "eval", "--model", out, "--device", "cpu", "--limit", "400", "--net", "mlp-tpami")
	if code != 0 {
		t.Fatal(stderr)
	}
	// The same logits; the score's float32 sum runs over batches of 32 in
	// training and of 500 in eval, so its last digits may differ.
	var s1, a1, s2, a2 float64
	fmt.Sscanf(finish[strings.Index(finish, "score="):], "score=%g, accuracy=%g", &s1, &a1)
	fmt.Sscanf(evalOut, "score=%g, accuracy=%g", &s2, &a2)
	if a1 != a2 || math.Abs(s1-s2) > 1e-6*s1 || s1 == 0 {
		t.Errorf("eval says %q, train said %q", evalOut, finish)
	}
	for _, args := range [][]string{
		{"eval", "--model", out, "--device", "cpu", "--net", "seed-cnn"},
		{"predict", "--model", out, "--device", "cpu", "--net", "mlp-semi", "x.png"},
		{"adversarial", "--model", out, "--device", "cpu", "--net", "seed-cnn", "-o", filepath.Join(dir, "a.png")},
		{"train", "--device", "cpu", "--limit", "400", "--epochs", "2", "--net", "seed-cnn", "--resume", out},
	} {
		code, _, stderr := vatgpu(t, args...)
		if code != 1 || !strings.Contains(stderr, "mlp-tpami") || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
			t.Errorf("%v: exit code %d, %q; want 1 and one line naming mlp-tpami", args, code, stderr)
		}
	}
	if code, _, stderr := vatgpu(t, "adversarial", "--model", out, "--device", "cpu", "--n", "2", "-o", filepath.Join(dir, "adv.svg")); code != 0 {
		t.Errorf("adversarial: %s", stderr)
	}
}

// TestBenchSaysWhatDiffers checks that bench's line and JSON say how its
// timed steps differ from training's.
func TestBenchSaysWhatDiffers(t *testing.T) {
	code, stdout, stderr := vatgpu(t, "bench", "--device", "cpu", "--batch", "16", "--steps", "1", "--warmup", "1")
	if code != 0 {
		t.Fatal(stderr)
	}
	if !strings.Contains(stdout, "at the initial weights") || !strings.Contains(stdout, "seeded random images") {
		t.Errorf("bench does not say what differs from training:\n%s", stdout)
	}
	code, stdout, stderr = vatgpu(t, "bench", "--device", "cpu", "--batch", "16", "--steps", "1", "--warmup", "1", "--json")
	if code != 0 || !strings.Contains(stdout, `"differs_from_training": "steps over eight batches`) {
		t.Errorf("bench --json: code %d, %s %s", code, stdout, stderr)
	}
}
