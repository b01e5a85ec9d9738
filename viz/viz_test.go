package viz

import (
	"bytes"
	"flag"
	"fmt"
	"image"
	_ "image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// outDir, when set, keeps the pictures the tests draw, for looking at:
//
//	go test ./viz/ -args -viz.out=/tmp/viz
var outDir = flag.String("viz.out", "", "directory to keep the pictures drawn by the tests")

// picturePath returns where a test writes the picture name.
func picturePath(t *testing.T, name string) string {
	t.Helper()
	if *outDir != "" {
		if err := os.MkdirAll(*outDir, 0o777); err != nil {
			t.Fatal(err)
		}
		return filepath.Join(*outDir, name)
	}
	return filepath.Join(t.TempDir(), name)
}

// header is a config line as `vatgpu train --metrics` writes it.
const header = `{"config":{"Epochs":3,"Batch":128,"Dropout":%v,"VAT":%v,"Eps":1,"Xi":10,"IP":1,"Weight":1,"Norm":0,"Seed":1337,"LR":1,"Rho":0.95,"AdaEps":1e-8},"device":"cpu","test_images":10000,"train_images":60000}`

func epochLine(epoch, step int, loss, ce, vat, trainAcc, testLoss, testAcc, seconds string) string {
	return fmt.Sprintf(`{"ce":%s,"device":"cpu","epoch":%d,"eval_seconds":1.5,"images_per_sec":4000,"loss":%s,"seconds":%s,"step":%d,"test_acc":%s,"test_loss":%s,"train_acc":%s,"vat":%s}`,
		ce, epoch, loss, seconds, step, testAcc, testLoss, trainAcc, vat)
}

func writeFile(t *testing.T, name string, lines ...string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o666); err != nil {
		t.Fatal(err)
	}
	return path
}

// same reports whether a and b are equal, NaN equal to NaN.
func same(a, b float64) bool { return a == b || math.IsNaN(a) && math.IsNaN(b) }

func TestReadMetrics(t *testing.T) {
	path := writeFile(t, "run.jsonl",
		fmt.Sprintf(header, false, true),
		epochLine(1, 469, "0.5", "0.3", "0.2", "0.9", "0.1", "0.97", "12.5"),
		`{"step":500,"epoch":2,"loss":0.4,"ce":0.25,"vat":0.15}`, // a step record: skipped
		"",
		epochLine(2, 938, "0.4", "0.25", "null", "0.93", "0.08", "0.98", "12"),
	)
	run, err := ReadMetrics(path)
	if err != nil {
		t.Fatal(err)
	}
	if run.Label != "vat" {
		t.Errorf("Label = %q, want vat", run.Label)
	}
	if run.Config["Batch"] != 128.0 || run.Config["VAT"] != true || run.Config["Seed"] != 1337.0 {
		t.Errorf("Config = %v", run.Config)
	}
	want := []Epoch{
		{Epoch: 1, Loss: 0.5, CE: 0.3, VAT: 0.2, TrainAcc: 0.9, TestLoss: 0.1, TestAcc: 0.97, Seconds: 12.5},
		{Epoch: 2, Loss: 0.4, CE: 0.25, VAT: math.NaN(), TrainAcc: 0.93, TestLoss: 0.08, TestAcc: 0.98, Seconds: 12},
	}
	if len(run.Epochs) != len(want) {
		t.Fatalf("got %d epochs, want %d: %+v", len(run.Epochs), len(want), run.Epochs)
	}
	for i, g := range run.Epochs {
		w := want[i]
		if g.Epoch != w.Epoch || !same(g.Loss, w.Loss) || !same(g.CE, w.CE) || !same(g.VAT, w.VAT) ||
			!same(g.TrainAcc, w.TrainAcc) || !same(g.TestLoss, w.TestLoss) || !same(g.TestAcc, w.TestAcc) ||
			!same(g.Seconds, w.Seconds) {
			t.Errorf("Epochs[%d] = %+v, want %+v", i, g, w)
		}
	}
}

func TestReadMetricsLabels(t *testing.T) {
	for _, tc := range []struct {
		dropout, vat bool
		want         string
	}{{false, false, "plain"}, {true, false, "dropout"}, {false, true, "vat"}, {true, true, "dropout+vat"}} {
		run, err := ReadMetrics(writeFile(t, "m.jsonl", fmt.Sprintf(header, tc.dropout, tc.vat)))
		if err != nil {
			t.Fatal(err)
		}
		if run.Label != tc.want || len(run.Epochs) != 0 {
			t.Errorf("Dropout=%v VAT=%v: Label %q, %d epochs; want %q, 0", tc.dropout, tc.vat, run.Label, len(run.Epochs), tc.want)
		}
	}
	// No config line: the base name without extension.
	run, err := ReadMetrics(writeFile(t, "baseline-3.jsonl", epochLine(1, 1, "1", "1", "0", "0.5", "1", "0.5", "1")))
	if err != nil {
		t.Fatal(err)
	}
	if run.Label != "baseline-3" || run.Config != nil || len(run.Epochs) != 1 {
		t.Errorf("without config: %+v", run)
	}
}

// TestReadMetricsResumed checks a file appended to by a resumed run: a second
// header (here with more epochs) replaces the first, a repeated epoch
// replaces the earlier record and epochs come out sorted.
func TestReadMetricsResumed(t *testing.T) {
	run, err := ReadMetrics(writeFile(t, "r.jsonl",
		fmt.Sprintf(header, true, false),
		epochLine(1, 1, "1", "1", "0", "0.5", "1", "0.5", "1"),
		epochLine(2, 2, "0.9", "0.9", "0", "0.6", "0.9", "0.6", "1"),
		strings.Replace(fmt.Sprintf(header, true, false), `"Epochs":3`, `"Epochs":5`, 1),
		epochLine(2, 2, "0.8", "0.8", "0", "0.7", "0.8", "0.7", "1"),
		epochLine(3, 3, "0.7", "0.7", "0", "0.8", "0.7", "0.8", "1"),
	))
	if err != nil {
		t.Fatal(err)
	}
	if run.Label != "dropout" || run.Config["Epochs"] != 5.0 {
		t.Errorf("Label = %q, Epochs %v; want dropout, 5 (the last header's)", run.Label, run.Config["Epochs"])
	}
	var got []string
	for _, e := range run.Epochs {
		got = append(got, fmt.Sprintf("%d:%g", e.Epoch, e.Loss))
	}
	if s := strings.Join(got, " "); s != "1:1 2:0.8 3:0.7" {
		t.Errorf("epochs %s, want 1:1 2:0.8 3:0.7", s)
	}
}

func TestReadMetricsErrors(t *testing.T) {
	good := epochLine(1, 1, "1", "1", "0", "0.5", "1", "0.5", "1")
	for _, tc := range []struct {
		name string
		line string
		want string
	}{
		{"truncated", `{"epoch":1,"test_acc":0.9`, "not a JSON object"},
		{"array", `[1,2]`, "not a JSON object"},
		{"config", `{"config":[1]}`, `"config" is not a JSON object`},
		{"no epoch", `{"test_acc":0.9}`, `without "epoch"`},
		{"fractional epoch", `{"epoch":1.5,"test_acc":0.9}`, `"epoch" is 1.5`},
		{"string loss", `{"epoch":2,"test_acc":0.9,"loss":"low"}`, `"loss" is "low"`},
		{"bool acc", `{"epoch":2,"test_acc":true}`, `"test_acc" is true`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, "bad.jsonl", fmt.Sprintf(header, false, false), good, tc.line, good)
			_, err := ReadMetrics(path)
			if err == nil {
				t.Fatal("no error")
			}
			prefix := "viz: " + path + ":3: "
			if !strings.HasPrefix(err.Error(), prefix) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want prefix %q and %q", err, prefix, tc.want)
			}
		})
	}
	_, err := ReadMetrics(filepath.Join(t.TempDir(), "missing.jsonl"))
	if err == nil || !strings.Contains(err.Error(), "missing.jsonl") {
		t.Errorf("missing file: error %v", err)
	}
}

// syntheticRun returns a run of n epochs with learning-curve-like values.
func syntheticRun(label string, n int, rate, floor float64) *Run {
	r := &Run{Label: label}
	for e := 1; e <= n; e++ {
		loss := floor + 0.4*math.Exp(-rate*float64(e-1))
		r.Epochs = append(r.Epochs, Epoch{Epoch: e, Loss: loss, CE: loss, VAT: math.NaN(),
			TrainAcc: 1 - loss/4, TestLoss: loss, TestAcc: 1 - floor/8 - 0.02*math.Exp(-rate*float64(e)), Seconds: 10})
	}
	return r
}

func curveRuns() []*Run {
	runs := []*Run{
		syntheticRun("plain", 12, 0.5, 0.02),
		syntheticRun("dropout", 12, 0.35, 0.05),
		syntheticRun("vat", 12, 0.3, 0.08),
		syntheticRun("dropout+vat", 12, 0.25, 0.1),
	}
	runs[2].Epochs[5].Loss = math.NaN() // a gap in one line
	return runs
}

func TestCurvesPNG(t *testing.T) {
	out := picturePath(t, "curves.png")
	if err := Curves(out, curveRuns()); err != nil {
		t.Fatal(err)
	}
	checkPNG(t, out, 1500, 600)
}

func TestCurvesSVG(t *testing.T) {
	out := picturePath(t, "curves.svg")
	if err := Curves(out, curveRuns()); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte("<?xml")) && !bytes.HasPrefix(b, []byte("<svg")) {
		t.Errorf("%s starts with %q, want <?xml or <svg", out, b[:min(len(b), 20)])
	}
	if !bytes.Contains(b, []byte("dropout+vat")) {
		t.Errorf("%s lacks the legend label dropout+vat", out)
	}
}

// TestCurvesEdgeCases draws a single-epoch run beside an empty one, and
// refuses runs without any epoch.
func TestCurvesEdgeCases(t *testing.T) {
	out := picturePath(t, "curves-edge.png")
	if err := Curves(out, []*Run{syntheticRun("one", 1, 1, 0.1), {Label: "empty"}}); err != nil {
		t.Fatal(err)
	}
	checkPNG(t, out, 1500, 600)
	if err := Curves(out, []*Run{{Label: "empty"}}); err == nil {
		t.Error("no error for runs without epochs")
	}
	if err := Curves(filepath.Join(t.TempDir(), "no", "such", "dir.png"), curveRuns()); err == nil {
		t.Error("no error for an unwritable path")
	}
}

// checkPNG checks that path holds a PNG of w×h pixels.
func checkPNG(t *testing.T, path string, w, h int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")) {
		t.Fatalf("%s is not a PNG", path)
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if format != "png" || cfg.Width != w || cfg.Height != h {
		t.Errorf("%s: %s %d×%d, want png %d×%d", path, format, cfg.Width, cfg.Height, w, h)
	}
}

// syntheticRows returns n rows: a stroke-drawn digit, a perturbation of
// alternating sign along its edges scaled to eps in L2 norm, and their sum.
func syntheticRows(n int, eps float64) []AdvRow {
	rows := make([]AdvRow, n)
	for i := range rows {
		img := make([]float32, 784)
		// A "7": a bar on top and a diagonal, shifted per row.
		for x := 6 + i%3; x < 22; x++ {
			img[6*28+x], img[7*28+x] = 1, 0.8
		}
		for y := 7; y < 24; y++ {
			x := 21 - (y-7)*10/17 - i%2
			img[y*28+x], img[y*28+x+1] = 1, 0.7
		}
		r := make([]float32, 784)
		norm := 0.0
		for y := 1; y < 27; y++ {
			for x := 1; x < 27; x++ {
				gx := img[y*28+x+1] - img[y*28+x-1]
				gy := img[(y+1)*28+x] - img[(y-1)*28+x]
				v := float64(gx + 0.5*gy)
				r[y*28+x] = float32(v)
				norm += v * v
			}
		}
		scale := eps * float64(i+2) / float64(n+1) / math.Sqrt(norm)
		adv := make([]float32, 784)
		for j := range r {
			r[j] *= float32(scale)
			adv[j] = img[j] + r[j]
		}
		rows[i] = AdvRow{Image: img, Perturbation: r, Perturbed: adv,
			Label: 7, Pred: 7, PredAdv: []int{7, 7, 1, 9}[i%4], Conf: 0.99, ConfAdv: 0.9 - 0.2*float64(i)}
	}
	rows[n-1].Pred, rows[n-1].Conf = 1, 0.51 // a wrong clean prediction
	return rows
}

func TestAdversarialGridPNG(t *testing.T) {
	const n = 4
	out := picturePath(t, "adversarial.png")
	if err := AdversarialGrid(out, syntheticRows(n, 1), 1); err != nil {
		t.Fatal(err)
	}
	checkPNG(t, out, 876, 196+308*n) // as documented
	w, h := advSize(n)
	// Each row is at least three 5×-enlarged digits wide and one high.
	if w.Dots(advDPI) < 3*28*5 || h.Dots(advDPI) < n*28*5 {
		t.Errorf("grid of %d rows is %v×%v pixels, too small", n, w.Dots(advDPI), h.Dots(advDPI))
	}
}

func TestAdversarialGridSVG(t *testing.T) {
	out := picturePath(t, "adversarial.svg")
	if err := AdversarialGrid(out, syntheticRows(2, 2), 2); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte("<?xml")) || !bytes.Contains(b, []byte("r_adv, eps=2")) {
		t.Errorf("%s is not the expected SVG", out)
	}
}

// TestAdversarialGridZero draws a perturbation that is all zero, which must
// not divide by zero.
func TestAdversarialGridZero(t *testing.T) {
	rows := syntheticRows(1, 1)
	clear(rows[0].Perturbation)
	if err := AdversarialGrid(picturePath(t, "adversarial-zero.png"), rows, 1); err != nil {
		t.Fatal(err)
	}
}

func TestPanics(t *testing.T) {
	good := syntheticRows(2, 1)
	short := syntheticRows(2, 1)
	short[1].Perturbation = short[1].Perturbation[:700]
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		f    func()
		want string
	}{
		{"no rows", func() { AdversarialGrid(filepath.Join(dir, "a.png"), nil, 1) }, "viz: AdversarialGrid: no rows"},
		{"short row", func() { AdversarialGrid(filepath.Join(dir, "a.png"), short, 1) }, "viz: AdversarialGrid: rows[1].Perturbation has 700 values, want 784"},
		{"nil image", func() {
			rows := append([]AdvRow(nil), good...)
			rows[0].Image = nil
			AdversarialGrid(filepath.Join(dir, "a.png"), rows, 1)
		}, "viz: AdversarialGrid: rows[0].Image has 0 values"},
		{"no runs", func() { Curves(filepath.Join(dir, "c.png"), nil) }, "viz: Curves: no runs"},
		{"nil run", func() { Curves(filepath.Join(dir, "c.png"), []*Run{syntheticRun("a", 2, 1, 0), nil}) }, "viz: Curves: runs[1] is nil"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				r := recover()
				if s, ok := r.(string); !ok || !strings.HasPrefix(s, tc.want) {
					t.Errorf("panic %v, want %q", r, tc.want)
				}
			}()
			tc.f()
		})
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("a panicking call left %d files", len(entries))
	}
}

func TestIntegerTicks(t *testing.T) {
	for _, tc := range []struct {
		min, max float64
		want     string
	}{
		{0.5, 12.5, "1 2 3 4 5 6 7 8 9 10 11 12"},
		{1, 30, "5 10 15 20 25 30"},
		{0, 100, "0 10 20 30 40 50 60 70 80 90 100"},
		{0.2, 0.8, ""},
	} {
		var got []string
		for _, tk := range integerTicks(tc.min, tc.max) {
			if tk.Label != "" {
				got = append(got, tk.Label)
			}
		}
		if s := strings.Join(got, " "); s != tc.want {
			t.Errorf("integerTicks(%g, %g) labels %q, want %q", tc.min, tc.max, s, tc.want)
		}
	}
}

func TestDiverging(t *testing.T) {
	for _, tc := range []struct {
		v, m float64
		want [3]uint8
	}{
		{0, 1, [3]uint8{255, 255, 255}},
		{-1, 1, [3]uint8{0x21, 0x66, 0xac}},
		{2, 1, [3]uint8{0xb2, 0x18, 0x2b}},
		{0.5, 0, [3]uint8{255, 255, 255}},
		{math.NaN(), 1, [3]uint8{255, 255, 255}},
	} {
		c := diverging(tc.v, tc.m)
		if [3]uint8{c.R, c.G, c.B} != tc.want {
			t.Errorf("diverging(%g, %g) = %v, want %v", tc.v, tc.m, c, tc.want)
		}
	}
}
