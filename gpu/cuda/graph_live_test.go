package cuda

import (
	"math"
	"math/rand/v2"
	"testing"
)

// The tests of this file record one library call at a time as a CUDA graph
// on the device's stream, replay it and compare with the same calls run
// directly, so that a capture that cuDNN or cuBLAS breaks is pinned on
// that call rather than on a whole training step. They need a GPU and skip
// without one, like the others of gpu_test.go.

// graphPoisonBits is a quiet NaN: outputs are poisoned with it before each run, so
// that an element a replay did not write shows.
const graphPoisonBits = 0x7fc00000

// recordAndReplay runs calls directly, records them as a graph (after
// poisoning the outputs), replays the graph into poisoned outputs and
// returns both results, output by output.
func recordAndReplay(t *testing.T, d *Device, outputs map[string]struct {
	p DevicePtr
	n int
}, calls func() error) (direct, replayed map[string][]float32, g *Graph) {
	t.Helper()
	s := d.Stream()
	poison := func() {
		for name, o := range outputs {
			if err := s.MemsetD32(o.p, graphPoisonBits, o.n); err != nil {
				t.Fatalf("poisoning %s: %v", name, err)
			}
		}
	}
	read := func() map[string][]float32 {
		m := map[string][]float32{}
		for name, o := range outputs {
			m[name] = download(t, d, o.p, o.n)
		}
		return m
	}
	poison()
	if err := calls(); err != nil {
		t.Fatalf("direct run: %v", err)
	}
	direct = read()
	poison()
	if err := s.BeginCapture(); err != nil {
		t.Fatalf("BeginCapture: %v", err)
	}
	callErr := calls()
	g, err := s.EndCapture()
	if callErr != nil || err != nil {
		if g != nil {
			g.Close()
		}
		t.Fatalf("recording: the call returned %v, EndCapture %v", callErr, err)
	}
	for name, v := range read() {
		for i, x := range v {
			if !math.IsNaN(float64(x)) {
				t.Fatalf("recording ran the call: %s[%d] = %v", name, i, x)
			}
		}
	}
	if err := g.Launch(); err != nil {
		t.Fatalf("Launch: %v", err)
	}
	if err := d.Synchronize(); err != nil {
		t.Fatalf("after the replay: %v", err)
	}
	return direct, read(), g
}

// sameWithin checks a replay against the direct run: every element
// written (no NaN) and within tol of it, relative to the largest |direct|.
func sameWithin(t *testing.T, what string, got, want []float32, tol float64) {
	t.Helper()
	for i := range got {
		if math.IsNaN(float64(got[i])) {
			t.Errorf("%s: element %d not written by the replay", what, i)
			return
		}
	}
	compare(t, what, got, want, tol)
}

// TestGPUGraphConv records cuDNN's convolution forward, backward-data and
// backward-filter calls (the model's conv2 shape, batch 8) as one graph,
// with the algorithms of both searches the backend uses, replays it, and
// replays it again after new inputs are uploaded (a graph reads its
// buffers at each replay). The inputs are small integers, so the sums of
// the GEMM-like algorithms are exact; FFT and Winograd round, hence the
// 1e-5 (relative to the largest output) of TestGPUConvolution, also
// between replay and direct run, where non-deterministic backward-filter
// algorithms may add in another order.
func TestGPUGraphConv(t *testing.T) {
	d := gpuDevice(t)
	rng := rand.New(rand.NewPCG(7, 7))
	const n, c, h, w, k, r = 8, 32, 26, 26, 32, 3
	const oh, ow = h - r + 1, w - r + 1
	x, _ := d.NewTensorDesc(n, c, h, w)
	f, _ := d.NewFilterDesc(k, c, r, r)
	y, _ := d.NewTensorDesc(n, k, oh, ow)
	conv, err := d.NewConvDesc(0, 0, 1, 1, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	xs, fs, dys := smallInts(rng, n*c*h*w), smallInts(rng, k*c*r*r), smallInts(rng, n*k*oh*ow)
	xp, fp, dyp := upload(t, d, xs), upload(t, d, fs), upload(t, d, dys)
	yp, _ := d.Alloc(y.Bytes())
	dxp, _ := d.Alloc(x.Bytes())
	dwp, _ := d.Alloc(f.Bytes())
	outputs := map[string]struct {
		p DevicePtr
		n int
	}{"y": {yp, n * k * oh * ow}, "dx": {dxp, n * c * h * w}, "dw": {dwp, k * c * r * r}}

	for _, search := range []AlgoSearch{SearchHeuristic, SearchBenchmark} {
		fwd, err1 := d.ConvForwardAlgos(x, f, conv, y, search)
		bd, err2 := d.ConvBackwardDataAlgos(f, y, conv, x, search)
		bf, err3 := d.ConvBackwardFilterAlgos(x, y, conv, f, search)
		if err1 != nil || err2 != nil || err3 != nil || len(fwd) == 0 || len(bd) == 0 || len(bf) == 0 {
			t.Fatalf("algorithm search %d: %v %v %v", search, err1, err2, err3)
		}
		wsF, _ := d.ConvForwardWorkspace(x, f, conv, y, fwd[0].Algo)
		wsD, _ := d.ConvBackwardDataWorkspace(f, y, conv, x, bd[0].Algo)
		wsW, _ := d.ConvBackwardFilterWorkspace(x, y, conv, f, bf[0].Algo)
		wsBytes := max(wsF, wsD, wsW, 1)
		ws, err := d.Alloc(wsBytes)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("search %d: %v, %v, %v, workspace %d bytes", search, fwd[0].Algo, bd[0].Algo, bf[0].Algo, wsBytes)
		calls := func() error {
			if err := conv.SetMathType(fwd[0].MathType); err != nil {
				return err
			}
			if err := d.ConvForward(1, x, xp, f, fp, conv, fwd[0].Algo, ws, wsBytes, 0, y, yp); err != nil {
				return err
			}
			if err := conv.SetMathType(bd[0].MathType); err != nil {
				return err
			}
			if err := d.ConvBackwardData(1, f, fp, y, dyp, conv, bd[0].Algo, ws, wsBytes, 0, x, dxp); err != nil {
				return err
			}
			if err := conv.SetMathType(bf[0].MathType); err != nil {
				return err
			}
			return d.ConvBackwardFilter(1, x, xp, y, dyp, conv, bf[0].Algo, ws, wsBytes, 0, f, dwp)
		}
		direct, replayed, g := recordAndReplay(t, d, outputs, calls)
		dxWant, dwWant, _ := convBackwardRef(xs, n, c, h, w, fs, k, r, r, 0, dys)
		want := map[string][]float32{"y": convRef(xs, n, c, h, w, fs, k, r, r, 0, 1), "dx": dxWant, "dw": dwWant}
		for name := range outputs {
			compare(t, "direct "+name, direct[name], want[name], 1e-5)
			sameWithin(t, "replayed "+name, replayed[name], direct[name], 1e-5)
		}

		// New inputs, the same graph.
		xs2 := smallInts(rng, len(xs))
		if err := d.UploadFloat32(xp, xs2); err != nil {
			t.Fatal(err)
		}
		if err := g.Launch(); err != nil {
			t.Fatal(err)
		}
		_, dwWant2, _ := convBackwardRef(xs2, n, c, h, w, fs, k, r, r, 0, dys)
		sameWithin(t, "replayed y, new x", download(t, d, yp, len(want["y"])), convRef(xs2, n, c, h, w, fs, k, r, r, 0, 1), 1e-5)
		sameWithin(t, "replayed dw, new x", download(t, d, dwp, len(dwWant2)), dwWant2, 1e-5)
		if err := d.UploadFloat32(xp, xs); err != nil {
			t.Fatal(err)
		}
		g.Close()
		d.Free(ws)
	}
}

// TestGPUGraphSgemm records cuBLAS SGEMMs of the dense layers' shapes
// (forward, and both gradients with beta = 1, as the backend calls them)
// as one graph, replays it and compares with the direct run and the CPU:
// exactly, since the inputs are small integers and cuBLAS runs in fp32.
func TestGPUGraphSgemm(t *testing.T) {
	d := gpuDevice(t)
	rng := rand.New(rand.NewPCG(8, 8))
	const n, in, out = 16, 4608, 128
	xs, ws, dys := smallInts(rng, n*in), smallInts(rng, in*out), smallInts(rng, n*out)
	dw0 := smallInts(rng, in*out)
	xp, wp, dyp := upload(t, d, xs), upload(t, d, ws), upload(t, d, dys)
	yp, _ := d.Alloc(4 * n * out)
	dxp, _ := d.Alloc(4 * n * in)
	dwp := upload(t, d, dw0)
	outputs := map[string]struct {
		p DevicePtr
		n int
	}{"y": {yp, n * out}, "dx": {dxp, n * in}}
	calls := func() error {
		// y = x·w; dx = dy·wᵀ (row-major, as Backend.DenseForward/Backward).
		if err := d.Sgemm(false, false, n, out, in, 1, xp, in, wp, out, 0, yp, out); err != nil {
			return err
		}
		return d.Sgemm(false, true, n, in, out, 1, dyp, out, wp, out, 0, dxp, in)
	}
	direct, replayed, g := recordAndReplay(t, d, outputs, calls)
	defer g.Close()
	wantY := make([]float32, n*out)
	rowMajorRef(false, false, n, out, in, 1, xs, in, ws, out, 0, wantY, out)
	wantDX := make([]float32, n*in)
	rowMajorRef(false, true, n, in, out, 1, dys, out, ws, out, 0, wantDX, in)
	compare(t, "direct y", direct["y"], wantY, 0)
	compare(t, "direct dx", direct["dx"], wantDX, 0)
	sameWithin(t, "replayed y", replayed["y"], direct["y"], 0)
	sameWithin(t, "replayed dx", replayed["dx"], direct["dx"], 0)

	// A gradient that accumulates (beta = 1), alone: each replay adds xᵀ·dy once.
	s := d.Stream()
	if err := s.BeginCapture(); err != nil {
		t.Fatal(err)
	}
	callErr := d.Sgemm(true, false, in, out, n, 1, xp, in, dyp, out, 1, dwp, out)
	acc, err := s.EndCapture()
	if callErr != nil || err != nil {
		t.Fatalf("recording the accumulating SGEMM: %v, %v", callErr, err)
	}
	defer acc.Close()
	if got := download(t, d, dwp, len(dw0)); !identicalFloats(got, dw0) {
		t.Fatal("recording the accumulating SGEMM ran it")
	}
	for range 2 {
		if err := acc.Launch(); err != nil {
			t.Fatal(err)
		}
	}
	want := append([]float32(nil), dw0...)
	for range 2 {
		rowMajorRef(true, false, in, out, n, 1, xs, in, dys, out, 1, want, out)
	}
	compare(t, "dw after two replays", download(t, d, dwp, len(want)), want, 0)
}

func identicalFloats(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
