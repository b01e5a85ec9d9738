package vat

import (
	"math"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/vatgpu/vatgpu/layers"
	"github.com/vatgpu/vatgpu/mnist"
)

func TestConfidence(t *testing.T) {
	for _, c := range []struct {
		l     []float32
		class int
		p     float64
	}{
		{[]float32{0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, 0, 0.1},
		{[]float32{0, 0, 0, 2, 0, 0, 2, 0, 0, 0}, 3, math.Exp(2) / (2*math.Exp(2) + 8)},
		{[]float32{-1, 5, 0, 0, 0, 0, 0, 0, 0, 100}, 9, 1 / (1 + math.Exp(-95) + math.Exp(-101) + 7*math.Exp(-100))},
	} {
		class, p := confidence(c.l)
		if class != c.class || math.Abs(p-c.p) > 1e-12*c.p {
			t.Errorf("confidence(%v) = %d, %v; want %d, %v", c.l, class, p, c.class, c.p)
		}
	}
}

// TestPseudoLabel checks the labels and the threshold against a separate
// forward pass of the teacher, and that the trainer's labelled stream and
// training labels take them.
func TestPseudoLabel(t *testing.T) {
	cfg := DefaultConfig()
	cfg.VAT, cfg.Labeled, cfg.Batch, cfg.ULBatch, cfg.Epochs = true, 20, 8, 64, 1
	train := randomSet(700, 9) // 680 unlabelled: a short last chunk of 180
	teacher := layers.InitParams(77)
	for i := range teacher {
		teacher[i] *= 2.5 // a sharper teacher: a range of probabilities
	}
	b := layers.NewCPU(0)
	// The teacher's classes and probabilities, one image at a time.
	m := layers.NewModel(b, 1, false, 0, teacher)
	x, logits := b.Alloc(layers.ImageLen), make([]float32, layers.Classes)
	class := make([]int, train.N)
	prob := make([]float64, train.N)
	for i := range train.N {
		b.Upload(x, train.Images[i*layers.ImageLen:(i+1)*layers.ImageLen])
		b.Download(logits, m.Forward(x, 1, false, 0))
		class[i], prob[i] = confidence(logits)
	}
	const threshold = 0.5
	tr, err := NewTrainer(b, cfg, train, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Free()
	labeled := append([]int32(nil), tr.Labeled...)
	idx, labels, err := tr.PseudoLabel(teacher, threshold)
	if err != nil {
		t.Fatal(err)
	}
	var wantIdx, wantLabels []int32
	for _, j := range tr.Unlabeled {
		if prob[j] >= threshold {
			wantIdx, wantLabels = append(wantIdx, j), append(wantLabels, int32(class[j]))
		}
	}
	if len(wantIdx) == 0 || len(wantIdx) == len(tr.Unlabeled) {
		t.Fatalf("the threshold keeps %d of %d: no test of it", len(wantIdx), len(tr.Unlabeled))
	}
	if !reflect.DeepEqual(idx, wantIdx) || !reflect.DeepEqual(labels, wantLabels) {
		t.Fatalf("PseudoLabel kept %d images, want %d (or other labels)", len(idx), len(wantIdx))
	}
	if !reflect.DeepEqual(tr.Labeled, append(labeled, idx...)) {
		t.Error("the labelled stream does not end with the pseudo-labelled images")
	}
	// On the backend: gather the labels of the added images from the
	// training labels there and read them back.
	n := len(idx)
	ids, y := b.AllocInt(n), b.AllocInt(n)
	b.UploadInt(ids, idx)
	b.GatherInt(y, tr.trainY, ids, 0, n)
	got := make([]int32, n)
	b.DownloadInt(got, y)
	if !reflect.DeepEqual(got, labels) {
		t.Fatalf("the backend's labels of the added images %v, pseudo-labels %v", got, labels)
	}
	if !reflect.DeepEqual(tr.State().Labeled, labeled) {
		t.Error("the state's labelled images include pseudo-labelled ones")
	}
	// Training goes on from there, reading the new labels.
	if _, err := tr.RunEpoch(nil); err != nil {
		t.Fatal(err)
	}
}

func TestLoadTeacher(t *testing.T) {
	cfg := DefaultConfig()
	cfg.VAT, cfg.Labeled, cfg.Batch, cfg.ULBatch, cfg.Epochs = true, 20, 8, 64, 1
	train := randomSet(200, 2)
	tr, err := NewTrainer(layers.NewCPU(0), cfg, train, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Free()
	path := filepath.Join(t.TempDir(), "teacher.safetensors")
	if err := tr.State().Save(path); err != nil {
		t.Fatal(err)
	}
	student := cfg
	student.Teacher = path
	p, err := LoadTeacher(student, train)
	if err != nil || !reflect.DeepEqual(p, tr.Params()) {
		t.Fatalf("LoadTeacher: %v", err)
	}
	other := []struct {
		what  string
		cfg   func(*Config)
		train *mnist.Set
	}{
		{"another seed", func(c *Config) { c.Seed++ }, train},
		{"other --labeled", func(c *Config) { c.Labeled = 40 }, train},
		{"another training set (--limit)", func(*Config) {}, randomSet(300, 2)},
	}
	sup := tr.State()
	sup.Labeled = nil // as a supervised run's checkpoint
	supPath := filepath.Join(t.TempDir(), "supervised.safetensors")
	if err := sup.Save(supPath); err != nil {
		t.Fatal(err)
	}
	c := student
	c.Teacher = supPath
	if _, err := LoadTeacher(c, train); err == nil || !strings.Contains(err.Error(), "is a supervised run") {
		t.Errorf("a supervised teacher: %v", err)
	}
	for _, o := range other {
		c := student
		o.cfg(&c)
		if _, err := LoadTeacher(c, o.train); err == nil || !strings.Contains(err.Error(), "other labelled images") {
			t.Errorf("a teacher of %s: %v", o.what, err)
		}
	}
}

// TestRestoreTeacher: a run resumes only with the teacher it started
// with; without a teacher, teacher-min does not matter (checkpoints
// written before it existed hold 0).
func TestRestoreTeacher(t *testing.T) {
	cfg := DefaultConfig()
	cfg.VAT, cfg.Labeled, cfg.Batch, cfg.ULBatch, cfg.Epochs = true, 20, 8, 64, 1
	train := randomSet(200, 3)
	teacher := layers.InitParams(5)
	start := func(teacher []float32) *Trainer {
		tr, err := NewTrainer(layers.NewCPU(0), cfg, train, nil, teacher)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := tr.PseudoLabel(teacher, 0.1); err != nil {
			t.Fatal(err)
		}
		return tr
	}
	tr := start(teacher)
	defer tr.Free()
	if _, err := tr.RunEpoch(nil); err != nil {
		t.Fatal(err)
	}
	st := tr.State()
	if st.TeacherSum == "" || st.TeacherSum != paramSum(teacher) {
		t.Fatalf("state's teacher sum %q", st.TeacherSum)
	}
	path := filepath.Join(t.TempDir(), "s.safetensors")
	if err := st.Save(path); err != nil {
		t.Fatal(err)
	}
	loaded, err := Load(path)
	if err != nil || loaded.TeacherSum != st.TeacherSum {
		t.Fatalf("Load: %v, sum %q", err, loaded.TeacherSum)
	}
	same := start(teacher)
	defer same.Free()
	if err := same.Restore(loaded); err != nil {
		t.Errorf("the same teacher: %v", err)
	}
	other := start(layers.InitParams(6))
	defer other.Free()
	if err := other.Restore(loaded); err == nil || !strings.Contains(err.Error(), "not the one the run started with") {
		t.Errorf("another teacher: %v", err)
	}
	old, now := DefaultConfig(), DefaultConfig()
	old.TeacherMin = 0
	if err := now.SameMath(old); err != nil {
		t.Errorf("no teacher, teacher-min 0 and 0.95: %v", err)
	}
	old.Teacher, now.Teacher = "t", "t"
	if err := now.SameMath(old); err == nil {
		t.Error("a teacher, teacher-min 0 and 0.95: same math")
	}
}
