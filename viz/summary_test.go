package viz

import (
	"bytes"
	"math"
	"strings"
	"testing"
)

// summaryRun is a run of planned epochs whose records end at last, with
// the given accuracies (NaN: absent) on its last epoch.
func summaryRun(label string, planned float64, last int, val, test, curVal, curTest float64) *Run {
	r := &Run{Label: label, Config: map[string]any{"Epochs": planned}}
	for e := 1; e <= last; e++ {
		r.Epochs = append(r.Epochs, Epoch{Epoch: e, ValAcc: 0.5, TestAcc: 0.5, CurrentValAcc: math.NaN(), CurrentTestAcc: math.NaN()})
	}
	r.Epochs[last-1] = Epoch{Epoch: last, ValAcc: val, TestAcc: test, CurrentValAcc: curVal, CurrentTestAcc: curTest}
	return r
}

func summary(t *testing.T, runs ...*Run) []string {
	t.Helper()
	var b bytes.Buffer
	if err := Summary(&b, runs); err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
}

// fields splits a table line on runs of two or more spaces.
func fields(line string) []string {
	var out []string
	for _, f := range strings.Split(line, "  ") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func TestSummary(t *testing.T) {
	nan := math.NaN()
	// The TPAMI preset's three seeds as the README reports them: the
	// last epoch's errors, their mean and sample standard deviation.
	lines := summary(t,
		summaryRun("s1", 100, 100, 0.972, 0.9737, nan, nan),
		summaryRun("s2", 100, 100, 0.972, 0.9744, nan, nan),
		summaryRun("s3", 100, 100, 0.976, 0.9783, nan, nan))
	want := [][]string{
		{"run", "epochs", "val error", "test error"},
		{"s1", "100/100", "2.80%", "2.63%"},
		{"s2", "100/100", "2.80%", "2.56%"},
		{"s3", "100/100", "2.40%", "2.17%"},
		{"mean ± sd of 3", "2.67% ± 0.23", "2.45% ± 0.25"},
	}
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), len(want), strings.Join(lines, "\n"))
	}
	for i, l := range lines {
		if got := fields(l); strings.Join(got, "|") != strings.Join(want[i], "|") {
			t.Errorf("line %d: %q, want %q", i, got, want[i])
		}
	}

	// An unfinished run is marked, and so is the mean over it; a run
	// without validation shows "-" and the mean covers the others; runs
	// with an average get the weights-as-trained columns.
	lines = summary(t,
		summaryRun("a", 10, 10, 0.9, 0.8, 0.85, 0.75),
		summaryRun("b", 10, 4, nan, 0.6, nan, nan))
	if got := fields(lines[0]); len(got) != 6 || got[4] != "val error as trained" {
		t.Errorf("header %q, want the columns as trained", got)
	}
	if got := fields(lines[1]); strings.Join(got, "|") != "a|10/10|10.00%|20.00%|15.00%|25.00%" {
		t.Errorf("run a: %q", got)
	}
	if got := fields(lines[2]); strings.Join(got, "|") != "b|4/10 (unfinished)|-|40.00%|-|-" {
		t.Errorf("run b: %q", got)
	}
	if got := fields(lines[3]); strings.Join(got, "|") != "mean ± sd of 2 (unfinished runs included)|10.00% (1 of 2 runs)|30.00% ± 14.14|15.00% (1 of 2 runs)|25.00% (1 of 2 runs)" {
		t.Errorf("mean: %q", got)
	}

	// Finished runs of different lengths are told apart too; one run has
	// no mean line.
	lines = summary(t, summaryRun("a", 5, 5, 0.9, 0.9, nan, nan), summaryRun("b", 3, 3, 0.9, 0.9, nan, nan))
	if !strings.Contains(lines[3], "runs ended at different epochs") {
		t.Errorf("mean line %q does not say the runs ended apart", lines[3])
	}
	if lines = summary(t, summaryRun("a", 5, 5, 0.9, 0.9, nan, nan)); len(lines) != 2 {
		t.Errorf("one run: %d lines, want 2", len(lines))
	}

	if err := Summary(&bytes.Buffer{}, []*Run{{Label: "empty.jsonl"}}); err == nil || !strings.Contains(err.Error(), "empty.jsonl") {
		t.Errorf("a run without epochs: %v, want an error naming it", err)
	}
}

// TestReadMetricsValidation: the validation and weights-as-trained fields
// are read; absent, they are NaN.
func TestReadMetricsValidation(t *testing.T) {
	run, err := ReadMetrics(writeFile(t, "m.jsonl",
		`{"epoch":1,"test_acc":0.9,"val_acc":0.8,"val_loss":0.5,"current_test_acc":0.7,"current_val_acc":0.6}`,
		`{"epoch":2,"test_acc":0.9}`))
	if err != nil {
		t.Fatal(err)
	}
	e := run.Epochs[0]
	if e.ValAcc != 0.8 || e.ValLoss != 0.5 || e.CurrentTestAcc != 0.7 || e.CurrentValAcc != 0.6 {
		t.Errorf("epoch 1: %+v", e)
	}
	if e := run.Epochs[1]; !math.IsNaN(e.ValAcc) || !math.IsNaN(e.CurrentValAcc) {
		t.Errorf("epoch 2: %+v, want NaN for what it lacks", e)
	}
}
