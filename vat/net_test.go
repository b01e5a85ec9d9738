package vat

import (
	"encoding/json"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/vatgpu/vatgpu/checkpoint"
	"github.com/vatgpu/vatgpu/layers"
)

// TestSplit: the validation images are as many of each class, chosen by
// the seed, disjoint from the labelled ones, which are chosen among the
// rest; the unlabelled (or, supervised, the training) images are the rest.
func TestSplit(t *testing.T) {
	labels := randomSet(1000, 1).Labels
	perClass := func(idx []int32) []int {
		c := make([]int, layers.Classes)
		for _, i := range idx {
			c[labels[i]]++
		}
		return c
	}
	cfg := Config{Seed: 1337, Validation: 200, Labeled: 100}
	v, l, u, err := Split(labels, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(v) != 200 || len(l) != 100 || len(u) != 700 {
		t.Fatalf("%d validation, %d labelled, %d unlabelled images", len(v), len(l), len(u))
	}
	for c, k := range perClass(v) {
		if k != 20 {
			t.Errorf("class %d: %d validation images, want 20", c, k)
		}
	}
	for c, k := range perClass(l) {
		if k != 10 {
			t.Errorf("class %d: %d labelled images, want 10", c, k)
		}
	}
	seen := map[int32]int{}
	for _, s := range [][]int32{v, l, u} {
		for _, i := range s {
			seen[i]++
		}
	}
	if len(seen) != 1000 {
		t.Errorf("%d images in the three parts, want 1000", len(seen))
	}
	for i, k := range seen {
		if k != 1 {
			t.Errorf("image %d in %d parts", i, k)
		}
	}
	if !slices.IsSorted(u) {
		t.Error("the unlabelled images are not in index order")
	}
	v2, l2, _, _ := Split(labels, cfg)
	cfg.Seed = 7
	v3, _, _, _ := Split(labels, cfg)
	if !reflect.DeepEqual(v, v2) || !reflect.DeepEqual(l, l2) || reflect.DeepEqual(v, v3) {
		t.Error("the split must depend on the seed alone")
	}
	// Without validation the labelled images are ChooseLabeled's (the
	// runs before validation existed keep theirs).
	_, l4, _, _ := Split(labels, Config{Seed: 1337, Labeled: 100})
	if l5, _, _ := ChooseLabeled(labels, 100, 1337); !reflect.DeepEqual(l4, l5) {
		t.Error("Split without validation differs from ChooseLabeled")
	}
	// Supervised: the training images are the rest, in index order.
	v, l, u, err = Split(labels, Config{Seed: 1337, Validation: 100})
	if err != nil || len(v) != 100 || len(l) != 900 || u != nil || !slices.IsSorted(l) {
		t.Errorf("supervised with validation: %d, %d, %v, %v", len(v), len(l), u, err)
	}
	if v, l, u, err = Split(labels, Config{Seed: 1337}); v != nil || l != nil || u != nil || err != nil {
		t.Errorf("supervised without validation: %v, %v, %v, %v", v, l, u, err)
	}
	if _, _, _, err = Split(labels, Config{Seed: 1, Validation: 1000}); err == nil || !strings.Contains(err.Error(), "--validation 1000") {
		t.Errorf("validation of every image: %v", err)
	}
}

// TestStepsPerEpoch: with a set number of steps an epoch takes its batches
// in turn from passes over the images in a new order each; no validation
// image is ever trained on.
func TestStepsPerEpoch(t *testing.T) {
	ids := []int32{3, 5, 8, 13, 21}
	s := stream(ids, 0, 15, 9, layers.TensorShuffle)
	for p := 0; p < 3; p++ {
		pass := slices.Clone(s[5*p : 5*p+5])
		slices.Sort(pass)
		if !reflect.DeepEqual(pass, ids) {
			t.Errorf("pass %d: %v, want each of %v once", p, s[5*p:5*p+5], ids)
		}
	}
	if reflect.DeepEqual(s[:5], s[5:10]) {
		t.Error("two passes in the same order")
	}
	if !reflect.DeepEqual(stream(ids, 7, 8, 9, layers.TensorShuffle), s[7:]) {
		t.Error("a stream's later part differs when started later")
	}

	for _, semi := range []bool{false, true} {
		cfg := DefaultConfig()
		cfg.Validation, cfg.StepsPerEpoch, cfg.Batch = 20, 7, 16
		if semi {
			cfg.Labeled, cfg.ULBatch = 20, 12
		}
		tr, err := NewTrainer(layers.NewCPU(1), cfg, randomSet(100, 3), nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if tr.StepsPerEpoch() != 7 {
			t.Errorf("%d steps per epoch, want 7", tr.StepsPerEpoch())
		}
		held := map[int32]bool{}
		for _, i := range tr.Validation {
			held[i] = true
		}
		for e := 0; e < 3; e++ {
			tr.Epoch = e
			tr.order()
			per := cfg.StepsPerEpoch * cfg.Batch
			if semi {
				per = cfg.StepsPerEpoch * cfg.ULBatch
			}
			perm := make([]int32, per)
			tr.B.DownloadInt(perm, tr.perm)
			for _, i := range perm {
				if held[i] {
					t.Fatalf("semi %v, epoch %d: validation image %d in the epoch's order", semi, e, i)
				}
			}
		}
		tr.Free()
	}
}

// TestCheckpointNet: a checkpoint names its network and holds its
// parameters by layer; a file of the seed's CNN written before networks
// were named in the configuration still loads; a file whose model and
// configuration disagree, or of an unknown network, is refused.
func TestCheckpointNet(t *testing.T) {
	dir := t.TempDir()
	cfg := DefaultConfig()
	cfg.Net = "mlp-semi"
	p := layers.MLPSemi.InitParams(3)
	s := &State{Config: cfg, Params: p, Epoch: 1, Step: 5}
	path := filepath.Join(dir, "mlp.safetensors")
	if err := s.Save(path); err != nil {
		t.Fatal(err)
	}
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.Net() != layers.MLPSemi || !reflect.DeepEqual(got.Params, p) {
		t.Errorf("loaded network %s, parameters equal: %v", got.Net().Name, reflect.DeepEqual(got.Params, p))
	}
	f, err := checkpoint.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if f.Metadata["model"] != "mlp-semi" {
		t.Errorf("model %q", f.Metadata["model"])
	}
	if v, shape, err := f.F32("bn2.var"); err != nil || len(v) != 1200 || v[0] != 1 || !reflect.DeepEqual(shape, []int{1200}) {
		t.Errorf("bn2.var: %v %v %v", len(v), shape, err)
	}

	// rewrite changes the file's metadata and writes it to name.
	rewrite := func(name string, change func(md map[string]string)) string {
		f, err := checkpoint.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		change(f.Metadata)
		out := filepath.Join(dir, name)
		if err := checkpoint.WriteFile(out, f); err != nil {
			t.Fatal(err)
		}
		return out
	}
	if _, err := Load(rewrite("mismatch.safetensors", func(md map[string]string) { md["model"] = "mlp-sup" })); err == nil || !strings.Contains(err.Error(), "mlp-semi") {
		t.Errorf("model and configuration disagree: %v", err)
	}
	if _, err := Load(rewrite("unknown.safetensors", func(md map[string]string) { md["model"] = "resnet" })); err == nil || !strings.Contains(err.Error(), "resnet") {
		t.Errorf("unknown network: %v", err)
	}

	// A seed-cnn file whose configuration predates Net, StepsPerEpoch and
	// Validation.
	old := &State{Config: DefaultConfig(), Params: layers.InitParams(3)}
	path = filepath.Join(dir, "old.safetensors")
	if err := old.Save(path); err != nil {
		t.Fatal(err)
	}
	oldPath := rewrite("old2.safetensors", func(md map[string]string) {
		var m map[string]any
		if err := json.Unmarshal([]byte(md["config"]), &m); err != nil {
			t.Fatal(err)
		}
		delete(m, "Net")
		delete(m, "StepsPerEpoch")
		delete(m, "Validation")
		b, _ := json.Marshal(m)
		md["config"] = string(b)
	})
	got, err = Load(oldPath)
	if err != nil {
		t.Fatal(err)
	}
	if got.Config != DefaultConfig() || got.Net() != layers.SeedCNN {
		t.Errorf("old file: %+v", got.Config)
	}
}

// TestEstimateStatsTrainer: after an epoch the running statistics of the
// model are the re-estimated ones (moved from their start), and a second
// re-estimation changes nothing: it does not depend on the statistics
// before it.
func TestEstimateStatsTrainer(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Net, cfg.Labeled, cfg.Batch, cfg.ULBatch, cfg.StepsPerEpoch = "mlp-semi", 20, 8, 16, 2
	tr, err := NewTrainer(layers.NewCPU(0), cfg, randomSet(100, 5), randomSet(30, 6), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Free()
	if _, err := tr.RunEpoch(nil); err != nil {
		t.Fatal(err)
	}
	p1 := tr.Params()
	var moved bool
	for _, q := range layers.MLPSemi.Params() {
		if q.Stat && p1[q.Off] != q.Fill {
			moved = true
		}
	}
	if !moved {
		t.Error("the running statistics are at their start after an epoch")
	}
	if err := tr.EstimateStats(); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(tr.Params(), p1) {
		t.Error("a second re-estimation changed the parameters")
	}
}
