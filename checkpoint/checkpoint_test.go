package checkpoint

import (
	"math"
	"slices"
	"strings"
	"testing"
)

func TestAddAndGet(t *testing.T) {
	var f File
	f.AddF32("w", []int{2, 3}, []float32{1, -2, 3.5, float32(math.Inf(1)), 0, -0.25})
	f.AddI64("step", []int{}, []int64{math.MinInt64})
	f.AddU64("seed", []int{1}, []uint64{math.MaxUint64})
	f.AddI32("labels", []int{0}, nil)
	f.AddU32("counts", []int{2, 0, 3}, []uint32{})
	f.AddF32("b", []int{3}, []float32{7, 8, 9})

	names := make([]string, len(f.Tensors))
	for i, tn := range f.Tensors {
		names[i] = tn.Name
	}
	if !slices.IsSorted(names) {
		t.Errorf("Tensors not sorted by name: %v", names)
	}

	w, shape, err := f.F32("w")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(w, []float32{1, -2, 3.5, float32(math.Inf(1)), 0, -0.25}) || !slices.Equal(shape, []int{2, 3}) {
		t.Errorf("F32(w) = %v, %v", w, shape)
	}
	step, shape, err := f.I64("step")
	if err != nil || !slices.Equal(step, []int64{math.MinInt64}) || len(shape) != 0 {
		t.Errorf("I64(step) = %v, %v, %v", step, shape, err)
	}
	seed, _, err := f.U64("seed")
	if err != nil || !slices.Equal(seed, []uint64{math.MaxUint64}) {
		t.Errorf("U64(seed) = %v, %v", seed, err)
	}
	labels, shape, err := f.I32("labels")
	if err != nil || len(labels) != 0 || !slices.Equal(shape, []int{0}) {
		t.Errorf("I32(labels) = %v, %v, %v", labels, shape, err)
	}
	counts, shape, err := f.U32("counts")
	if err != nil || len(counts) != 0 || !slices.Equal(shape, []int{2, 0, 3}) {
		t.Errorf("U32(counts) = %v, %v, %v", counts, shape, err)
	}

	// Results are copies.
	w[0] = 100
	shape[0] = 100
	if w2, s2, _ := f.F32("w"); w2[0] != 1 || s2[0] != 2 {
		t.Error("F32 result aliases the File")
	}
	tn, ok := f.Get("b")
	if !ok || tn.Name != "b" || tn.DType != "F32" || len(tn.Data) != 12 {
		t.Errorf("Get(b) = %+v, %v", tn, ok)
	}
	if _, ok := f.Get("nope"); ok {
		t.Error("Get(nope) found a tensor")
	}
}

func TestAddCopiesInput(t *testing.T) {
	var f File
	shape := []int{2}
	v := []float32{1, 2}
	f.AddF32("a", shape, v)
	shape[0], v[0] = 5, 5
	got, gotShape, _ := f.F32("a")
	if !slices.Equal(got, []float32{1, 2}) || !slices.Equal(gotShape, []int{2}) {
		t.Errorf("File changed with its inputs: %v %v", got, gotShape)
	}
}

func TestAccessorErrors(t *testing.T) {
	var f File
	f.AddI64("n", []int{1}, []int64{1})
	f.Tensors = append(f.Tensors, Tensor{Name: "short", DType: "F32", Shape: []int{2}, Data: make([]byte, 4)})
	for _, c := range []struct {
		name string
		call func() error
		want string
	}{
		{"missing", func() error { _, _, err := f.F32("x"); return err }, `no tensor "x"`},
		{"F32 of I64", func() error { _, _, err := f.F32("n"); return err }, `dtype "I64", want F32`},
		{"I32 of I64", func() error { _, _, err := f.I32("n"); return err }, "want I32"},
		{"U32 of I64", func() error { _, _, err := f.U32("n"); return err }, "want U32"},
		{"U64 of I64", func() error { _, _, err := f.U64("n"); return err }, "want U64"},
		{"I64 missing", func() error { _, _, err := f.I64("m"); return err }, `no tensor "m"`},
		{"short data", func() error { _, _, err := f.F32("short"); return err }, "do not match shape"},
	} {
		err := c.call()
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "checkpoint: ") {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
	}
}

func TestAddPanics(t *testing.T) {
	for _, c := range []struct {
		name string
		add  func(f *File)
		want string
	}{
		{"short", func(f *File) { f.AddF32("x", []int{2, 2}, make([]float32, 3)) }, "3 values for shape [2 2]"},
		{"long", func(f *File) { f.AddI64("x", []int{}, make([]int64, 2)) }, "2 values for shape []"},
		{"zero dim", func(f *File) { f.AddU64("x", []int{0, 5}, make([]uint64, 1)) }, "1 values"},
		{"negative", func(f *File) { f.AddI32("x", []int{-1, -1}, make([]int32, 1)) }, "negative dimension"},
		{"overflow", func(f *File) { f.AddF32("x", []int{math.MaxInt / 2, 3}, nil) }, "too large"},
		{"duplicate", func(f *File) { f.AddU32("a", []int{1}, []uint32{1}) }, `duplicate name "a"`},
		{"reserved", func(f *File) { f.AddF32("__metadata__", []int{}, []float32{1}) }, "reserved"},
		{"bad utf8", func(f *File) { f.AddF32("\xff", []int{}, []float32{1}) }, "UTF-8"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := &File{}
			f.AddF32("a", []int{1}, []float32{1})
			defer func() {
				r := recover()
				msg, _ := r.(string)
				if !strings.HasPrefix(msg, "checkpoint: ") || !strings.Contains(msg, c.want) {
					t.Errorf("panic %v, want one containing %q", r, c.want)
				}
				if len(f.Tensors) != 1 {
					t.Errorf("File has %d tensors after a failed add", len(f.Tensors))
				}
			}()
			c.add(f)
		})
	}
}
