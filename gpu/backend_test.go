package gpu

import (
	"errors"
	"fmt"
	"github.com/vatgpu/vatgpu/gpu/cuda"
	"strings"
	"testing"

	"github.com/vatgpu/vatgpu/layers"
)

// TestNewBackendWithoutGPU: on a machine without a GPU (or without the
// CUDA libraries) NewBackend returns an error that says so, and neither
// panics nor exits. Where a GPU is usable, the backend opens and closes.
func TestNewBackendWithoutGPU(t *testing.T) {
	b, err := NewBackend(0, Options{})
	if err == nil {
		t.Logf("a GPU is usable: %s", b.Name())
		if err := b.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		return
	}
	t.Logf("NewBackend: %v", err)
	if b != nil {
		t.Errorf("NewBackend returned a backend with the error %v", err)
	}
	if !strings.HasPrefix(err.Error(), "gpu: ") {
		t.Errorf("error %q does not start with \"gpu: \"", err)
	}
}

type dryLaunch struct {
	k           kernelID
	grid, block int
	args        []any
}

// newDry returns a backend without a device: kernel launches are checked
// and recorded instead of run, other device calls are skipped. Buffers get
// distinct fake addresses.
func newDry(t *testing.T) (*Backend, *[]dryLaunch) {
	b := &Backend{name: "dry", convs: map[layers.ConvShape]*convPlan{}, graphs: map[string]*cuda.Graph{}, graphCalls: map[string]int{}}
	var launches []dryLaunch
	// Kernels with one thread per item, which do not loop: the index of
	// the parameter that counts the items.
	covers := map[kernelID]int{kSoftmaxXent: 4, kKLDiv: 4, kSoftmax: 2, kEntropy: 3, kDenseBackwardBias: 3,
		kBatchNormForward: 9, kBatchNormBackward: 9}
	b.dry = func(k kernelID, grid, block int, args []any) {
		t.Helper()
		name := kernelSpecs[k].name
		if grid < 1 || block < 1 || block > 1024 {
			t.Errorf("%s: grid %d, block %d", name, grid, block)
		}
		switch k {
		case kPerturb, kPerturbBackward, kSumInto, kCountCorrect:
			if block != reduceThreads {
				t.Errorf("%s: block %d, the kernel's reductions need %d", name, block, reduceThreads)
			}
		}
		if i, ok := covers[k]; ok && grid*block < int(args[i].(int32)) {
			t.Errorf("%s: %d×%d threads for %d items", name, grid, block, args[i])
		}
		for i, a := range args {
			p, ok := a.(cuda.DevicePtr)
			if !ok {
				continue
			}
			optional := (k == kSoftmaxXent || k == kKLDiv || k == kEntropy) && i == 1 ||
				k == kBatchNormForward && (i == 6 || i == 7) && args[12] == int32(layers.BNBatch) ||
				k == kBatchNormBackward && i <= 2
			if p == 0 && !optional || p != 0 && (p < 1<<20 || p >= b.dryNext) {
				t.Errorf("%s argument %d: address %#x is not in a buffer", name, i, uint64(p))
			}
		}
		switch k {
		case kDropoutForward, kDropoutBackward, kRandNormal, kAdam, kTranslate, kSetStep, kAddNoise:
			i := len(args) - 1
			if k == kSetStep {
				i = 0
			}
			if args[i] != b.step {
				t.Errorf("%s: step pointer %v, want the backend's %v", name, args[i], b.step)
			}
		}
		launches = append(launches, dryLaunch{k, grid, block, args})
	}
	b.step = b.Alloc(2).(*devBuf).p
	return b, &launches
}

// TestBackendLaunches runs the model's forward and backward passes and
// every other operation on a dry backend: each launch's arguments must
// match its kernel's parameters (checkKernelArgs, against kernelSpecs,
// which TestPTXEntries checks against the PTX), pointers must lie in
// buffers, and grids must cover their items. Every kernel must be used.
func TestBackendLaunches(t *testing.T) {
	b, launches := newDry(t)
	const n = 7
	m := layers.NewModel(b, n, true, 42, layers.InitParams(42))
	x := b.Alloc(n * layers.ImageLen)
	labels := b.AllocInt(n)
	b.SetStep(3)
	m.Forward(x, n, true, 1)
	loss := b.Alloc(n)
	b.SoftmaxXent(loss, m.DLogits(), m.Logits, labels, n, layers.Classes, 1.0/n)
	dx := b.Alloc(n * layers.ImageLen)
	m.Backward(m.DLogits(), x, n, 1, true, dx)

	d, dd, xr := b.Alloc(n*layers.ImageLen), b.Alloc(n*layers.ImageLen), b.Alloc(n*layers.ImageLen)
	b.RandNormal(d, n*layers.ImageLen, layers.Rand{Seed: 42, Tensor: layers.TensorDirection})
	for _, norm := range []layers.Norm{layers.NormL2, layers.NormMaxAbsL2} {
		b.Perturb(xr, x, d, n, layers.ImageLen, 2.5, norm)
		b.PerturbBackward(dd, dx, d, n, layers.ImageLen, 2.5, norm)
	}
	kl, p := b.Alloc(n), b.Alloc(n*layers.Classes)
	b.Softmax(p, m.Logits, n, layers.Classes)
	b.KLDiv(kl, m.DLogits(), m.Logits, m.Logits, n, layers.Classes, 1)
	b.KLDiv(kl, nil, m.Logits, m.Logits, n, layers.Classes, 1)
	b.SoftmaxXent(loss, nil, m.Logits, labels, n, layers.Classes, 1)
	b.Entropy(kl, m.DLogits(), m.Logits, n, layers.Classes, 1)
	b.Entropy(kl, nil, m.Logits, n, layers.Classes, 1)
	acc := b.Alloc(4)
	b.SumInto(acc, 2, kl, n)
	b.CountCorrect(acc, 3, m.Logits, labels, n, layers.Classes)
	all, idx, allLabels := b.Alloc(20*layers.ImageLen), b.AllocInt(20), b.AllocInt(20)
	b.Gather(x, all, idx, 5, n, layers.ImageLen)
	b.GatherInt(labels, allLabels, idx, 5, n)
	b.Translate(dx, x, n, layers.ImageSide, layers.ImageSide, 2, layers.Rand{Seed: 42, Tensor: layers.TensorTranslate})
	b.Adadelta(m.Params, m.Grads, b.Alloc(layers.NumParams()), b.Alloc(layers.NumParams()), 1, 0.95, 1e-8)
	b.Adam(m.Params, m.Grads, b.Alloc(layers.NumParams()), b.Alloc(layers.NumParams()), 0.002, 0.9, 0.999, 1e-8)
	b.Average(b.Alloc(layers.NumParams()), m.Params, 0.999)

	// A network with batch normalisation and noise, in each of its modes.
	mlp := layers.NewNet(layers.MLPTPAMI, b, n, false, 42, layers.MLPTPAMI.InitParams(42))
	for _, pass := range []int{layers.UpdatePass, 1} {
		mlp.Forward(x, n, true, pass)
		mlp.Backward(mlp.DLogits(), x, n, pass, true, dx)
	}
	mlp.Forward(x, n, false, 0)
	mlp.Backward(mlp.DLogits(), x, n, 0, false, dx)
	mlp.EstimateStats(x, n, 1)

	used := map[kernelID]bool{}
	for _, l := range *launches {
		used[l.k] = true
	}
	for k, spec := range kernelSpecs {
		if !used[kernelID(k)] {
			t.Errorf("kernel %s was never launched", spec.name)
		}
	}
	for _, l := range *launches {
		if l.k == kPerturb && l.grid != n {
			t.Errorf("perturb: grid %d, want one block per row (%d)", l.grid, n)
		}
	}
}

// TestAdamStepOnDevice: Adam's launch is the same at every step (the
// kernel reads the step from the backend's word and computes the bias
// correction there), so a graph captured at one step is right at the next.
func TestAdamStepOnDevice(t *testing.T) {
	b, launches := newDry(t)
	p, g, m, v := b.Alloc(10), b.Alloc(10), b.Alloc(10), b.Alloc(10)
	var adams []dryLaunch
	for _, step := range []uint64{0, 1, 1000} {
		b.SetStep(step)
		b.Adam(p, g, m, v, 0.002, 0.9, 0.999, 1e-8)
		l := (*launches)[len(*launches)-1]
		if l.k != kAdam {
			t.Fatalf("step %d: last launch %s, want adam", step, kernelSpecs[l.k].name)
		}
		adams = append(adams, l)
	}
	for i, l := range adams[1:] {
		if fmt.Sprint(l.args) != fmt.Sprint(adams[0].args) {
			t.Errorf("adam's arguments change with the step: %v at launch %d, %v at launch 0", l.args, i+1, adams[0].args)
		}
	}
}

// TestBackendStickyError: once an error is recorded every operation does
// nothing, and Err, Sync and Capture return it.
func TestBackendStickyError(t *testing.T) {
	b, launches := newDry(t)
	x := b.Alloc(10)
	want := errors.New("gpu: conv forward: cudnnConvolutionForward: CUDNN_STATUS_EXECUTION_FAILED")
	b.err = want
	b.ReLUForward(x, x, 10)
	b.SetStep(1)
	called := false
	if err := b.Capture("k", func() { called = true }); err != want {
		t.Errorf("Capture: %v, want %v", err, want)
	}
	if called {
		t.Error("Capture ran f after an error")
	}
	if len(*launches) != 0 {
		t.Errorf("%d launches after an error", len(*launches))
	}
	if b.Err() != want || b.Sync() != want {
		t.Errorf("Err %v, Sync %v, want %v", b.Err(), b.Sync(), want)
	}
	y := b.Alloc(5) // no memory, but usable as an argument
	if y.Len() != 5 || !y.(*devBuf).empty {
		t.Errorf("Alloc after an error: %+v", y)
	}
	b.ReLUForward(y, y, 5)
}

// TestCaptureRunsOnce: f runs on the first call with a key only, and may
// not call what cannot be recorded.
func TestCaptureRunsOnce(t *testing.T) {
	b, launches := newDry(t)
	x := b.Alloc(10)
	calls := 0
	for range 3 {
		if err := b.Capture("step", func() { calls++; b.ReLUForward(x, x, 10) }); err != nil {
			t.Fatal(err)
		}
	}
	if calls != 1 || len(*launches) != 1 {
		t.Errorf("f ran %d times, %d launches; want 1 and 1", calls, len(*launches))
	}
	for name, f := range map[string]func(){
		"SetStep":  func() { b.SetStep(2) },
		"Alloc":    func() { b.Alloc(3) },
		"Download": func() { b.Download(make([]float32, 1), x) },
		"Upload":   func() { b.Upload(x, make([]float32, 1)) },
		"Sync":     func() { b.Sync() },
		"Capture":  func() { b.Capture("inner", func() {}) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s inside Capture did not panic", name)
				}
			}()
			b.Capture("panics "+name, f)
		}()
	}
}

// TestFreeForgetsGraphs: Free of a buffer that a key's f named forgets the
// key, so that the next Capture with it runs f again on the buffers it
// names then. Keys name a step's shape, not its buffers: `vatgpu bench`
// and `vatgpu reproduce` free one trainer and make another on the same
// backend, which asks for the same keys ("train-step-128-0-3f800000")
// with other buffers and other calls (VAT, dropout); replaying the first
// trainer's graph would run its calls on freed memory.
func TestFreeForgetsGraphs(t *testing.T) {
	b, launches := newDry(t)
	x, other := b.Alloc(10), b.Alloc(10)
	relu := func(buf layers.Buf) func() { return func() { b.ReLUForward(buf, buf, buf.Len()) } }
	for _, c := range []struct {
		key string
		f   func()
	}{
		{"step", relu(b.Slice(x, 2, 8))}, // a view names its whole buffer
		{"other", relu(other)},
		{"empty", func() {}},
	} {
		if err := b.Capture(c.key, c.f); err != nil {
			t.Fatal(err)
		}
	}
	b.Free(x)
	if _, ok := b.graphs["step"]; ok {
		t.Error("the graph of a freed buffer is kept")
	}
	y := b.Alloc(10)
	for _, key := range []string{"step", "step", "other", "empty"} {
		if err := b.Capture(key, relu(y)); err != nil {
			t.Fatal(err)
		}
	}
	var got []cuda.DevicePtr
	for _, l := range *launches {
		got = append(got, l.args[0].(cuda.DevicePtr))
	}
	want := []cuda.DevicePtr{x.(*devBuf).p + 8, other.(*devBuf).p, y.(*devBuf).p}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("launches on %v, want %v (f runs again for the freed buffer's key only, once)", got, want)
	}
}

// TestBackendPanics: programmer errors panic, as on the CPU backend.
func TestBackendPanics(t *testing.T) {
	b, _ := newDry(t)
	other, _ := newDry(t)
	x, xi, short := b.Alloc(10), b.AllocInt(10), b.Alloc(3)
	for name, f := range map[string]func(){
		"short buffer":     func() { b.ReLUForward(x, short, 10) },
		"int for float":    func() { b.ReLUForward(x, xi, 10) },
		"float for int":    func() { b.GatherInt(xi, x, xi, 0, 1) },
		"foreign buffer":   func() { b.ReLUForward(x, other.Alloc(10), 10) },
		"CPU buffer":       func() { b.ReLUForward(x, layers.NewCPU(1).Alloc(10), 10) },
		"nil buffer":       func() { b.ReLUForward(x, nil, 10) },
		"slice range":      func() { b.Slice(x, 5, 6) },
		"free a view":      func() { b.Free(b.Slice(x, 1, 2)) },
		"copy lengths":     func() { b.Copy(x, short) },
		"odd pool":         func() { b.MaxPoolForward(x, x, layers.PoolShape{N: 1, C: 1, H: 3, W: 2}) },
		"adadelta lengths": func() { b.Adadelta(x, x, x, short, 1, 1, 1) },
		"adam lengths":     func() { b.Adam(x, short, x, x, 1, 0.9, 0.999, 1e-8) },
		"entropy short":    func() { b.Entropy(x, x, short, 2, 5, 1) },
		"entropy classes":  func() { b.Entropy(x, nil, x, 2, 0, 1) },
		"dd aliases d":     func() { b.PerturbBackward(x, x, x, 1, 10, 1, layers.NormL2) },
		"unknown norm":     func() { b.Perturb(x, x, x, 1, 10, 1, layers.Norm(7)) },
	} {
		func() {
			defer func() {
				if r := recover(); r == nil {
					t.Errorf("%s: no panic", name)
				} else if s, ok := r.(string); !ok || !strings.HasPrefix(s, "gpu: ") {
					t.Errorf("%s: panic %v, want a \"gpu: \" message", name, r)
				}
			}()
			f()
		}()
	}
	v := b.Slice(x, 2, 5)
	b.Free(x)
	func() {
		defer func() {
			if recover() == nil {
				t.Error("a view of a freed buffer was usable")
			}
		}()
		b.ReLUForward(v, v, 5)
	}()
}

// TestCaptureWithoutGraphs: with Options.NoGraphs (VATGPU_GRAPHS=off),
// Capture runs f on every call and keeps no graph, and f may still not
// call what a recording could not hold.
func TestCaptureWithoutGraphs(t *testing.T) {
	b, launches := newDry(t)
	b.opts.NoGraphs = true
	x := b.Alloc(10)
	calls := 0
	for range 3 {
		if err := b.Capture("step", func() { calls++; b.ReLUForward(x, x, 10) }); err != nil {
			t.Fatal(err)
		}
	}
	if calls != 3 || len(*launches) != 3 || len(b.graphs) != 0 {
		t.Errorf("f ran %d times, %d launches, %d graphs; want 3, 3, 0", calls, len(*launches), len(b.graphs))
	}
	func() {
		defer func() {
			if r, _ := recover().(string); !strings.HasPrefix(r, "gpu: alloc inside Capture") {
				t.Errorf("Alloc inside Capture without graphs: panic %q", r)
			}
		}()
		b.Capture("alloc", func() { b.Alloc(3) })
	}()
	b.Alloc(3) // outside f again
}

func TestGraphsFromEnv(t *testing.T) {
	for v, want := range map[string]string{"": "on", "on": "on", "1": "on", "off": "off", "OFF": "off", "0": "off",
		"false": "off", "maybe": `gpu: VATGPU_GRAPHS="maybe": want on or off`} {
		t.Setenv("VATGPU_GRAPHS", v)
		off, err := graphsFromEnv()
		got := map[bool]string{true: "off", false: "on"}[off]
		if err != nil {
			got = err.Error()
		}
		if got != want {
			t.Errorf("VATGPU_GRAPHS=%q: %s, want %s", v, got, want)
		}
	}
}
