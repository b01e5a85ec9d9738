package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/image/tiff"

	"github.com/vatgpu/vatgpu/layers"
	"github.com/vatgpu/vatgpu/mnist"
	"github.com/vatgpu/vatgpu/vat"
)

// greyDigit returns an MNIST image (784 values b/255) as an 8-bit grey
// picture holding exactly its bytes.
func greyDigit(x []float32) *image.Gray {
	g := image.NewGray(image.Rect(0, 0, 28, 28))
	for i, v := range x {
		g.Pix[i] = uint8(math.Round(float64(v) * 255))
	}
	return g
}

// displacedDigit returns MNIST image x as people photograph or draw
// digits rather than as MNIST stores them: inverted (dark on white),
// enlarged five times (bilinear) to 140×140 and placed off centre in a
// 200×200 picture, at an offset of 0 to 60 pixels per axis that varies
// with i.
func displacedDigit(x []float32, i int) *image.Gray {
	const side, scale = 200, 5
	ox, oy := (i*37)%61, (i*53)%61
	g := image.NewGray(image.Rect(0, 0, side, side))
	at := func(r, c int) float64 {
		if r < 0 || r >= 28 || c < 0 || c >= 28 {
			return 0
		}
		return float64(x[r*28+c])
	}
	for Y := range side {
		for X := range side {
			v := 0.0
			if u, w := X-ox, Y-oy; u >= 0 && u < 28*scale && w >= 0 && w < 28*scale {
				sx, sy := (float64(u)+0.5)/scale-0.5, (float64(w)+0.5)/scale-0.5
				c0, r0 := int(math.Floor(sx)), int(math.Floor(sy))
				fx, fy := sx-float64(c0), sy-float64(r0)
				v = (1-fy)*((1-fx)*at(r0, c0)+fx*at(r0, c0+1)) + fy*((1-fx)*at(r0+1, c0)+fx*at(r0+1, c0+1))
			}
			g.Pix[Y*side+X] = uint8(math.Round(255 * (1 - v)))
		}
	}
	return g
}

func writePNG(t *testing.T, path string, img image.Image) {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// predictJSON runs predict with --json and returns its objects.
func predictJSON(t *testing.T, args ...string) []prediction {
	t.Helper()
	code, stdout, stderr := vatgpu(t, append([]string{"predict", "--json"}, args...)...)
	if code != 0 {
		t.Fatalf("predict %v: exit %d: %s", args[:min(len(args), 6)], code, stderr)
	}
	var out []prediction
	dec := json.NewDecoder(strings.NewReader(stdout))
	for dec.More() {
		var p prediction
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

// TestPredict trains a small model (5,000 images, one epoch of Adam: about
// 93% test accuracy, a few seconds) and checks predict against eval on the
// first 1,000 test digits written as PNG: with --raw the predictions are
// the model's own, bit for bit; prepared again they mostly agree; inverted,
// enlarged to 200×200 and moved off centre they are still mostly
// recognised. It also reads the digits from IDX files with --labels.
func TestPredict(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a model")
	}
	dir := t.TempDir()
	model := filepath.Join(dir, "m.safetensors")
	if code, _, stderr := vatgpu(t, "train", "--device", "cpu", "--limit", "5000", "--epochs", "1", "--batch", "32",
		"--optimizer", "adam", "--lr", "0.002", "--out", model, "--quiet"); code != 0 {
		t.Fatal(stderr)
	}
	const n = 1000
	_, test, err := vat.LoadData("", n)
	if err != nil {
		t.Fatal(err)
	}
	// What eval computes: the same forward pass, batches of 500.
	s, err := vat.Load(model)
	if err != nil {
		t.Fatal(err)
	}
	cpu := layers.NewCPU(0)
	defer cpu.Close()
	logits, err := vat.Logits(cpu, s.Net(), s.ModelParams(), test.Images, n)
	if err != nil {
		t.Fatal(err)
	}
	code, evalOut, stderr := vatgpu(t, "eval", "--model", model, "--device", "cpu", "--limit", fmt.Sprint(n))
	if code != 0 {
		t.Fatal(stderr)
	}
	evalAcc := strings.TrimSuffix(strings.Fields(evalOut)[1], ",") // score=S, accuracy=A (...)

	plain, moved := make([]string, n), make([]string, n)
	for i := range n {
		x := test.Images[i*layers.ImageLen : (i+1)*layers.ImageLen]
		plain[i] = filepath.Join(dir, fmt.Sprintf("d%04d.png", i))
		moved[i] = filepath.Join(dir, fmt.Sprintf("m%04d.png", i))
		writePNG(t, plain[i], greyDigit(x))
		writePNG(t, moved[i], displacedDigit(x, i))
	}
	args := func(files []string, flags ...string) []string {
		return append(append([]string{"--model", model, "--device", "cpu"}, flags...), files...)
	}
	correct := func(ps []prediction) int {
		c := 0
		for i, p := range ps {
			if p.Digit == int(test.Labels[i]) {
				c++
			}
		}
		return c
	}

	raw := predictJSON(t, args(plain, "--raw")...)
	if len(raw) != n {
		t.Fatalf("%d predictions for %d files", len(raw), n)
	}
	for i, p := range raw {
		d, next, p1, p2 := vat.Top2(logits[i*10 : (i+1)*10])
		if p.File != plain[i] || p.Digit != d || p.Next != next || p.Probability != p1 || p.NextProbability != p2 {
			t.Fatalf("%s --raw: %+v, the model says %d (%v), next %d (%v)", plain[i], p, d, p1, next, p2)
		}
	}
	rawRight := correct(raw)
	if got := fmt.Sprintf("accuracy=%g", float64(rawRight)/n); got != evalAcc {
		t.Errorf("--raw on the PNGs: %s; eval --limit %d: %s", got, n, evalAcc)
	}

	prepared := predictJSON(t, args(plain)...)
	agree := 0
	for i := range prepared {
		if prepared[i].Digit == raw[i].Digit {
			agree++
		}
	}
	prepRight := correct(prepared)
	movedRight := correct(predictJSON(t, args(moved)...))
	t.Logf("of %d MNIST test digits as PNG: --raw %d right (eval: %s, the same predictions); prepared again, %d agree with --raw and %d are right; inverted, enlarged to 200x200 and moved off centre, %d right",
		n, rawRight, evalAcc, agree, prepRight, movedRight)
	// Floors: preparing an MNIST digit again re-crops and rescales it by
	// up to a pixel or two; the moved digits are the same digits, so the
	// model should recognise nearly as many.
	if agree < n*95/100 {
		t.Errorf("prepared again, only %d of %d agree with --raw", agree, n)
	}
	if movedRight < rawRight*90/100 {
		t.Errorf("moved digits: %d right, want at least 90%% of the %d the originals get", movedRight, rawRight)
	}

	// The same digits as IDX files, flags after the files.
	imgs, labels := filepath.Join(dir, "t-images.idx"), filepath.Join(dir, "t-labels.idx")
	writeIDX(t, imgs, labels, test)
	code, out, stderr := vatgpu(t, "predict", imgs, "--labels", labels, "--model", model, "--device", "cpu")
	if code != 0 {
		t.Fatal(stderr)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != n+1 || !strings.HasPrefix(lines[0], imgs+"[0]: ") {
		t.Fatalf("%d lines, first %q", len(lines), lines[0])
	}
	if want := fmt.Sprintf("%s: %s (%d of %d right by %s)", imgs, evalAcc, rawRight, n, labels); lines[n] != want {
		t.Errorf("IDX summary %q, want %q", lines[n], want)
	}
}

// writeIDX writes set's images and labels as IDX files.
func writeIDX(t *testing.T, images, labels string, set *mnist.Set) {
	t.Helper()
	b := binary.BigEndian.AppendUint32(nil, 0x803)
	for _, v := range []int{set.N, 28, 28} {
		b = binary.BigEndian.AppendUint32(b, uint32(v))
	}
	for _, v := range set.Images {
		b = append(b, uint8(math.Round(float64(v)*255)))
	}
	l := binary.BigEndian.AppendUint32(nil, 0x801)
	l = binary.BigEndian.AppendUint32(l, uint32(set.N))
	for _, v := range set.Labels {
		l = append(l, byte(v))
	}
	if err := os.WriteFile(images, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(labels, l, 0o644); err != nil {
		t.Fatal(err)
	}
}

// untrainedModel writes a weights-only checkpoint of the initial weights
// (or of params when given), enough to check everything but accuracy.
func untrainedModel(t *testing.T, dir string, edit func(s *vat.State)) string {
	t.Helper()
	s := &vat.State{Config: vat.DefaultConfig(), Params: layers.InitParams(1)}
	if edit != nil {
		edit(s)
	}
	path := filepath.Join(dir, "init.safetensors")
	if err := s.Save(path); err != nil {
		t.Fatal(err)
	}
	return path
}

// bigPNG returns a valid 1×1 PNG whose header claims w×h pixels.
func bigPNG(t *testing.T, w, h uint32) []byte {
	var b bytes.Buffer
	png.Encode(&b, image.NewGray(image.Rect(0, 0, 1, 1)))
	p := b.Bytes()
	// Signature (8), IHDR length (4), "IHDR", width, height, ..., CRC.
	binary.BigEndian.PutUint32(p[16:], w)
	binary.BigEndian.PutUint32(p[20:], h)
	binary.BigEndian.PutUint32(p[29:], crc32.ChecksumIEEE(p[12:29]))
	return p
}

// TestPredictBadFiles: every bad file gets one line naming it and what is
// wrong, the good ones around them are still predicted, and the run exits
// 1 at the end.
func TestPredictBadFiles(t *testing.T) {
	dir := t.TempDir()
	model := untrainedModel(t, dir, nil)
	digit := image.NewGray(image.Rect(0, 0, 40, 60))
	for y := 10; y < 50; y++ {
		for x := 18; x < 23; x++ {
			digit.SetGray(x, y, color.Gray{255}) // a "1", light on dark
		}
	}
	var good bytes.Buffer
	png.Encode(&good, digit)
	var tif, jpg, gf bytes.Buffer
	tiff.Encode(&tif, digit, nil)
	jpeg.Encode(&jpg, digit, nil)
	gif.Encode(&gf, digit, nil)
	blank := image.NewGray(image.Rect(0, 0, 30, 30))
	for i := range blank.Pix {
		blank.Pix[i] = 250
	}
	var blankPNG bytes.Buffer
	png.Encode(&blankPNG, blank)
	file := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	labelsIDX := binary.BigEndian.AppendUint32(nil, 0x801)
	labelsIDX = append(binary.BigEndian.AppendUint32(labelsIDX, 1), 7)
	truncIDX := binary.BigEndian.AppendUint32(nil, 0x803)
	for _, v := range []uint32{2, 28, 28} {
		truncIDX = binary.BigEndian.AppendUint32(truncIDX, v)
	}
	truncIDX = append(truncIDX, make([]byte, 100)...)
	sub := filepath.Join(dir, "folder")
	os.Mkdir(sub, 0o755)
	cases := []struct {
		path, want string // want "" for a good file
	}{
		{file("first.png", good.Bytes()), ""},
		{file("notes.txt", []byte("a shopping list, not a digit\n")), "not a picture (PNG, JPEG or GIF) nor an MNIST IDX image file"},
		{file("empty.png", nil), "empty file"},
		{file("cut.png", good.Bytes()[:good.Len()/2]), "truncated PNG"},
		{file("cut.jpg", jpg.Bytes()[:jpg.Len()/2]), "truncated JPEG"},
		{file("huge.png", bigPNG(t, 20000, 20000)), "20000x20000 pixels, larger than the 10000x10000 allowed"},
		{file("wide.png", bigPNG(t, 10001, 1)), "10001x1 pixels, larger than"},
		{file("blank.png", blankPNG.Bytes()), "no digit found"},
		{file("scan.tif", tif.Bytes()), "a TIFF picture; only PNG, JPEG and GIF are read"},
		{file("labels.idx", labelsIDX), "wrong magic 0x00000801 (IDX labels)"},
		{file("cut.idx", truncIDX), "cut.idx"},
		{filepath.Join(dir, "missing.png"), "no such file or directory"},
		{sub, "is a directory"},
		{file("photo.jpg", jpg.Bytes()), ""},
		{file("anim.gif", gf.Bytes()), ""},
	}
	args := []string{"predict", "--model", model, "--device", "cpu"}
	goods := 0
	for _, c := range cases {
		args = append(args, c.path)
		if c.want == "" {
			goods++
		}
	}
	code, stdout, stderr := vatgpu(t, args...)
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	errLines := strings.Split(strings.TrimSpace(stderr), "\n")
	outLines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(errLines) != len(cases)-goods+1 || len(outLines) != goods {
		t.Fatalf("%d error lines and %d predictions for %d bad and %d good files:\n%s\n%s", len(errLines), len(outLines), len(cases)-goods, goods, stderr, stdout)
	}
	e, o := 0, 0
	for _, c := range cases {
		if c.want == "" {
			if !strings.HasPrefix(outLines[o], c.path+": ") {
				t.Errorf("prediction %q is not of %s", outLines[o], c.path)
			}
			o++
			continue
		}
		l := errLines[e]
		if !strings.Contains(l, c.path) || !strings.Contains(l, c.want) {
			t.Errorf("%s: error line %q does not say %q", filepath.Base(c.path), l, c.want)
		}
		e++
	}
	if want := fmt.Sprintf("vatgpu: %d of the %d files could not be read (named above)", len(cases)-goods, len(cases)); errLines[e] != want {
		t.Errorf("last line %q, want %q", errLines[e], want)
	}

	// --raw refuses pictures that are not 28x28.
	code, _, stderr = vatgpu(t, "predict", "--model", model, "--device", "cpu", "--raw", cases[0].path)
	if code != 1 || !strings.Contains(stderr, "first.png: 40x60 pixels, not the 28x28 of an MNIST-style picture: --raw needs") {
		t.Errorf("--raw of 40x60: exit %d, %q", code, stderr)
	}
	// --json: one object per file, errors included.
	code, stdout, _ = vatgpu(t, "predict", "--json", "--model", model, "--device", "cpu", cases[0].path, cases[2].path)
	var objs []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(stdout), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		objs = append(objs, m)
	}
	if code != 1 || len(objs) != 2 || objs[0]["digit"] == nil || objs[1]["error"] != cases[2].path+": empty file" {
		t.Errorf("--json with a bad file: exit %d, %v", code, objs)
	}
	// Usage errors.
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"predict", "--model", model}, "predict needs at least one picture file"},
		{[]string{"predict", "--model", model, "-", "-"}, "reads standard input (-) once"},
		{[]string{"predict", cases[0].path}, "model"},
		{[]string{"predict", "--model", model, "--device", "cpu", "--labels", filepath.Join(dir, "labels.idx"), cases[0].path}, "none of the files is an MNIST IDX image file"},
	} {
		code, _, stderr := vatgpu(t, c.args...)
		if code != 2 || !strings.Contains(firstErrLine(stderr), c.want) {
			t.Errorf("%v: exit %d, %q; want 2 and %q", c.args[1:], code, stderr, c.want)
		}
	}
}

// TestPredictStdin reads one picture from standard input.
func TestPredictStdin(t *testing.T) {
	dir := t.TempDir()
	model := untrainedModel(t, dir, nil)
	var b bytes.Buffer
	png.Encode(&b, greyDigit(make([]float32, 784)))
	var out, errb bytes.Buffer
	a := PredictArgs{Model: model, Device: "cpu", Raw: true, Files: []string{"-"}}
	if err := Predict(a, &b, &out, &errb); err != nil || !strings.HasPrefix(out.String(), "-: ") || strings.Count(out.String(), "\n") != 1 {
		t.Errorf("stdin: %v, %q %q", err, out.String(), errb.String())
	}
	out.Reset()
	err := Predict(a, strings.NewReader(""), &out, &errb)
	if err == nil || !strings.Contains(errb.String(), "vatgpu: standard input: empty file") {
		t.Errorf("empty stdin: %v, %q", err, errb.String())
	}
}

// TestNotFiniteModel: eval, predict and adversarial refuse a checkpoint
// whose model holds NaN or infinite weights, in one line, exit 1.
func TestNotFiniteModel(t *testing.T) {
	dir := t.TempDir()
	var png1 bytes.Buffer
	png.Encode(&png1, greyDigit(make([]float32, 784)))
	pic := filepath.Join(dir, "d.png")
	os.WriteFile(pic, png1.Bytes(), 0o644)
	nan := untrainedModel(t, dir, func(s *vat.State) { s.Params[layers.Params()[2].Off+5] = float32(math.NaN()) })
	for _, args := range [][]string{
		{"eval", "--model", nan, "--device", "cpu", "--limit", "100"},
		{"predict", "--model", nan, "--device", "cpu", pic},
		{"adversarial", "--model", nan, "--device", "cpu", "-o", filepath.Join(dir, "a.png")},
	} {
		code, stdout, stderr := vatgpu(t, args...)
		want := "vatgpu: " + nan + ": the model's weights are not finite: 1 NaN or infinite values of 600810, the first in conv2.w\n"
		if code != 1 || stderr != want || stdout != "" {
			t.Errorf("%s: exit %d, %q %q; want 1 and %q", args[0], code, stdout, stderr, want)
		}
	}
	// With --ema the averaged weights are the model: they are checked.
	ema := untrainedModel(t, dir, func(s *vat.State) {
		s.Config.EMA = 0.9
		s.Average = append([]float32{}, s.Params...)
		s.Average[len(s.Average)-1] = float32(math.Inf(1))
	})
	code, _, stderr := vatgpu(t, "eval", "--model", ema, "--device", "cpu", "--limit", "100")
	if code != 1 || !strings.Contains(stderr, "the model's averaged weights (--ema) are not finite: 1 NaN or infinite values of 600810, the first in dense2.b") {
		t.Errorf("eval of NaN averaged weights: exit %d, %q", code, stderr)
	}
}
