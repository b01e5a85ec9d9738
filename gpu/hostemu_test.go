package gpu

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/vatgpu/vatgpu/layers"
)

// TestKernelsOnHost compiles kernels.cu for the host with g++ (emulating
// just enough of CUDA: testdata/hostemu) and checks every kernel against
// its twin in layers.CPU, without a GPU. It checks the kernels' logic:
// indexing, tie rules, the Philox mapping, the order of float operations.
// It cannot check what only a GPU shows (CUDA's libdevice exp, log and
// sincos instead of the C library's, warp scheduling, the launch
// configuration the backend picks); the conformance suite on a GPU does.
//
// Tolerances: 0 ulp except where a result goes through a double-precision
// exp, log, sqrt-and-divide chain or sincos (1 ulp: Go's math package and
// the C library may round the double differently, which moves the float
// result by one ulp when it lies next to a rounding boundary) or a tree sum
// in double that the CPU adds in order (1 ulp, for the same reason).
func TestKernelsOnHost(t *testing.T) {
	if testing.Short() {
		t.Skip("builds kernels.cu with g++ (seconds); skipped in -short mode")
	}
	gxx, err := exec.LookPath("g++")
	if err != nil {
		t.Skip("no g++ to build the host emulation of kernels.cu")
	}
	emu := filepath.Join(t.TempDir(), "emu")
	cmd := exec.Command(gxx, "-std=c++20", "-O1", "-ffp-contract=off", "-pthread", "-I..",
		"-o", emu, "testdata/hostemu/main.cpp")
	if out, err := cmd.CombinedOutput(); err != nil {
		// g++ is there, so a failure is kernels.cu's or the emulation's
		// (or a g++ older than C++20's <barrier>, which make test's
		// machines are not): never a skip.
		t.Fatalf("cannot build the host emulation of kernels.cu: %v\n%s", err, out)
	}
	h := &hostEmu{bin: emu, dir: t.TempDir()}
	rng := rand.New(rand.NewPCG(1, 2))
	cpu := layers.NewCPU(1)
	const step = 12345678901
	cpu.SetStep(step)
	// Element kernels run on a deliberately small grid, so that their
	// grid-stride loops go round several times.
	const g, b = 3, 32

	t.Run("set_step", func(t *testing.T) {
		s := []uint64{0}
		h.run(t, "set_step", 1, 1, s, uint64(step))
		if s[0] != step {
			t.Errorf("step %d, want %d", s[0], step)
		}
	})

	t.Run("relu", func(t *testing.T) {
		n := 1001
		x, dy := randTies(rng, n), randTies(rng, n)
		x[0], x[1] = float32(math.Copysign(0, -1)), float32(math.NaN())
		y, dx := make([]float32, n), make([]float32, n)
		h.run(t, "relu_forward", g, b, y, x, int32(n))
		h.run(t, "relu_backward", g, b, dx, dy, y, int32(n))
		yc, dxc := cpu.Alloc(n), cpu.Alloc(n)
		cpu.ReLUForward(yc, up(cpu, x), n)
		cpu.ReLUBackward(dxc, up(cpu, dy), yc, n)
		ulpCheck(t, "relu_forward", y, layers.Floats(yc), 0)
		ulpCheck(t, "relu_backward", dx, layers.Floats(dxc), 0)
	})

	t.Run("max_pool", func(t *testing.T) {
		s := layers.PoolShape{N: 3, C: 5, H: 8, W: 6}
		x, dy := randTies(rng, s.InLen()), randTies(rng, s.OutLen())
		y, dx := make([]float32, s.OutLen()), make([]float32, s.InLen())
		for i := range dx {
			dx[i] = 7 // every element must be written
		}
		planes := int32(s.N * s.C)
		h.run(t, "max_pool_forward", g, b, y, x, planes, int32(s.H), int32(s.W))
		h.run(t, "max_pool_backward", g, b, dx, dy, x, planes, int32(s.H), int32(s.W))
		yc, dxc := cpu.Alloc(s.OutLen()), cpu.Alloc(s.InLen())
		cpu.MaxPoolForward(yc, up(cpu, x), s)
		cpu.MaxPoolBackward(dxc, up(cpu, dy), up(cpu, x), yc, s)
		ulpCheck(t, "max_pool_forward", y, layers.Floats(yc), 0)
		ulpCheck(t, "max_pool_backward", dx, layers.Floats(dxc), 0)
	})

	t.Run("dropout", func(t *testing.T) {
		r := layers.Rand{Seed: 0xDEADBEEF12345, Tensor: layers.TensorDropout + 17}
		for _, n := range []int{1, 3, 4, 1001} {
			x, dy := randTies(rng, n), randTies(rng, n)
			y, dx := make([]float32, n), append([]float32(nil), dy...)
			st := []uint64{step}
			h.run(t, "dropout_forward", g, b, y, x, int32(n), float32(0.25), r.Seed, r.Tensor, st)
			h.run(t, "dropout_backward", g, b, dx, dx, int32(n), float32(0.25), r.Seed, r.Tensor, st)
			yc, dxc := cpu.Alloc(n), up(cpu, dy)
			cpu.DropoutForward(yc, up(cpu, x), n, 0.25, r)
			cpu.DropoutBackward(dxc, dxc, n, 0.25, r)
			ulpCheck(t, fmt.Sprint("dropout_forward ", n), y, layers.Floats(yc), 0)
			ulpCheck(t, fmt.Sprint("dropout_backward ", n), dx, layers.Floats(dxc), 0)
		}
	})

	t.Run("rand_normal", func(t *testing.T) {
		r := layers.Rand{Seed: 0xDEADBEEF12345, Tensor: layers.TensorDirection}
		for _, n := range []int{1, 6, 100003} {
			d := make([]float32, n)
			h.run(t, "rand_normal", g, b, d, int32(n), r.Seed, r.Tensor, []uint64{step})
			dc := cpu.Alloc(n)
			cpu.RandNormal(dc, n, r)
			ulpCheck(t, fmt.Sprint("rand_normal ", n), d, layers.Floats(dc), 1)
		}
	})

	t.Run("perturb", func(t *testing.T) {
		for _, norm := range []layers.Norm{layers.NormL2, layers.NormMaxAbsL2} {
			n, dim := 5, 784
			x, d, dxr := randTies(rng, n*dim), randTies(rng, n*dim), randTies(rng, n*dim)
			clear(d[dim : 2*dim]) // a zero row
			xr, dd := make([]float32, n*dim), make([]float32, n*dim)
			h.run(t, "perturb", n, reduceThreads, xr, x, d, int32(dim), float32(2.5), int32(norm))
			h.run(t, "perturb_backward", n, reduceThreads, dd, dxr, d, int32(dim), float32(2.5), int32(norm))
			xrc, ddc := cpu.Alloc(n*dim), cpu.Alloc(n*dim)
			cpu.Perturb(xrc, up(cpu, x), up(cpu, d), n, dim, 2.5, norm)
			cpu.PerturbBackward(ddc, up(cpu, dxr), up(cpu, d), n, dim, 2.5, norm)
			ulpCheck(t, "perturb "+norm.String(), xr, layers.Floats(xrc), 1)
			ulpCheck(t, "perturb_backward "+norm.String(), dd, layers.Floats(ddc), 1)
		}
	})

	t.Run("rows", func(t *testing.T) {
		n, c := 13, 10
		lp, lq := randTies(rng, n*c), randTies(rng, n*c)
		for i := range lq {
			lq[i] *= 3
		}
		labels := make([]int32, n)
		for i := range labels {
			labels[i] = int32(rng.IntN(c))
		}
		rows := (n + 3) / 4 // 4 threads a block
		loss, dl, kl, dq, p := make([]float32, n), make([]float32, n*c), make([]float32, n), make([]float32, n*c), make([]float32, n*c)
		loss2, kl2 := make([]float32, n), make([]float32, n)
		ent, dent, ent2 := make([]float32, n), make([]float32, n*c), make([]float32, n)
		h.run(t, "softmax_xent", rows, 4, loss, dl, lp, labels, int32(n), int32(c), float32(0.125))
		h.run(t, "softmax_xent", rows, 4, loss2, nil, lp, labels, int32(n), int32(c), float32(0.125))
		h.run(t, "kl_div", rows, 4, kl, dq, lp, lq, int32(n), int32(c), float32(0.125))
		h.run(t, "kl_div", rows, 4, kl2, nil, lp, lq, int32(n), int32(c), float32(0.125))
		h.run(t, "softmax", rows, 4, p, lp, int32(n), int32(c))
		h.run(t, "entropy", rows, 4, ent, dent, lq, int32(n), int32(c), float32(0.125))
		h.run(t, "entropy", rows, 4, ent2, nil, lq, int32(n), int32(c), float32(0.125))
		acc := []float32{0.5, 0.5, 0.5}
		h.run(t, "sum_into", 1, reduceThreads, acc, int32(1), loss, int32(n))
		h.run(t, "count_correct", 1, reduceThreads, acc, int32(2), lp, labels, int32(n), int32(c))

		lossc, dlc, klc, dqc, pc := cpu.Alloc(n), cpu.Alloc(n*c), cpu.Alloc(n), cpu.Alloc(n*c), cpu.Alloc(n*c)
		lpc, lqc, lab := up(cpu, lp), up(cpu, lq), cpu.AllocInt(n)
		cpu.UploadInt(lab, labels)
		cpu.SoftmaxXent(lossc, dlc, lpc, lab, n, c, 0.125)
		cpu.KLDiv(klc, dqc, lpc, lqc, n, c, 0.125)
		cpu.Softmax(pc, lpc, n, c)
		entc, dentc := cpu.Alloc(n), cpu.Alloc(n*c)
		cpu.Entropy(entc, dentc, lqc, n, c, 0.125)
		accc := up(cpu, []float32{0.5, 0.5, 0.5})
		cpu.SumInto(accc, 1, lossc, n)
		cpu.CountCorrect(accc, 2, lpc, lab, n, c)
		ulpCheck(t, "softmax_xent loss", loss, layers.Floats(lossc), 1)
		ulpCheck(t, "softmax_xent loss (no dlogits)", loss2, layers.Floats(lossc), 1)
		ulpCheck(t, "softmax_xent dlogits", dl, layers.Floats(dlc), 1)
		ulpCheck(t, "kl_div", kl, layers.Floats(klc), 1)
		ulpCheck(t, "kl_div (no dq)", kl2, layers.Floats(klc), 1)
		ulpCheck(t, "kl_div dq", dq, layers.Floats(dqc), 1)
		ulpCheck(t, "softmax", p, layers.Floats(pc), 1)
		ulpCheck(t, "entropy", ent, layers.Floats(entc), 1)
		ulpCheck(t, "entropy (no dlogits)", ent2, layers.Floats(entc), 1)
		ulpCheck(t, "entropy dlogits", dent, layers.Floats(dentc), 1)
		ulpCheck(t, "sum_into, count_correct", acc, layers.Floats(accc), 1)
	})

	t.Run("gather", func(t *testing.T) {
		rows, row, off, n := 20, 7, 3, 8
		src := randTies(rng, rows*row)
		srcInt := make([]int32, rows)
		idx := make([]int32, off+n+2)
		for i := range srcInt {
			srcInt[i] = int32(rng.IntN(1000))
		}
		for i := range idx {
			idx[i] = int32(rng.IntN(rows))
		}
		dst, dstInt := make([]float32, n*row), make([]int32, n)
		h.run(t, "gather", g, b, dst, src, idx, int32(off), int32(n), int32(row))
		h.run(t, "gather_int", g, b, dstInt, srcInt, idx, int32(off), int32(n))
		dc, ix := cpu.Alloc(n*row), cpu.AllocInt(len(idx))
		cpu.UploadInt(ix, idx)
		cpu.Gather(dc, up(cpu, src), ix, off, n, row)
		ulpCheck(t, "gather", dst, layers.Floats(dc), 0)
		for i := range dstInt {
			if want := srcInt[idx[off+i]]; dstInt[i] != want {
				t.Errorf("gather_int[%d] = %d, want %d", i, dstInt[i], want)
			}
		}
	})

	t.Run("translate", func(t *testing.T) {
		// 9 images (three Philox blocks, the last partial) of 5×6; shift
		// 6 pushes some images entirely off the frame.
		n, hh, ww := 9, 5, 6
		src := randTies(rng, n*hh*ww)
		for _, shift := range []int{0, 1, 3, 6} {
			r := layers.Rand{Seed: 0xDEADBEEF12345, Tensor: layers.TensorTranslate + 1}
			dst := make([]float32, n*hh*ww)
			h.run(t, "translate", g, b, dst, src, int32(n), int32(hh), int32(ww), int32(shift), r.Seed, r.Tensor, []uint64{step})
			dc := cpu.Alloc(n * hh * ww)
			cpu.Translate(dc, up(cpu, src), n, hh, ww, shift, r)
			ulpCheck(t, fmt.Sprint("translate ", shift), dst, layers.Floats(dc), 0)
		}
	})

	t.Run("average", func(t *testing.T) {
		n := 1000
		avg, p := randTies(rng, n), randTies(rng, n)
		ac := up(cpu, avg)
		for _, decay := range []float32{0.5, 0.99, 0.999} {
			h.run(t, "average", g, b, avg, p, int32(n), decay)
			cpu.Average(ac, up(cpu, p), decay)
		}
		ulpCheck(t, "average", avg, layers.Floats(ac), 0)
	})

	t.Run("adadelta", func(t *testing.T) {
		n := 1000
		p, gr := randTies(rng, n), randTies(rng, n)
		a, da := make([]float32, n), make([]float32, n)
		for i := range a {
			a[i], da[i] = float32(rng.Float64()), float32(rng.Float64())*1e-3
		}
		pc, ac, dac, gc := up(cpu, p), up(cpu, a), up(cpu, da), up(cpu, gr)
		for range 3 {
			h.run(t, "adadelta", g, b, p, gr, a, da, int32(n), float32(1), float32(0.95), float32(1e-8))
			cpu.Adadelta(pc, gc, ac, dac, 1, 0.95, 1e-8)
		}
		ulpCheck(t, "adadelta params", p, layers.Floats(pc), 0)
		ulpCheck(t, "adadelta accG", a, layers.Floats(ac), 0)
		ulpCheck(t, "adadelta accD", da, layers.Floats(dac), 0)
	})

	// adam reads the step from its device word and computes the bias
	// correction there; the steps run from the first (t = 1, the largest
	// correction) to one where b1^t and b2^t underflow to 0. params: 1 ulp,
	// for the double pow and sqrt of the correction (glibc's against Go's
	// math.Pow); m and v do not depend on it.
	t.Run("adam", func(t *testing.T) {
		n := 1000
		c := layers.NewCPU(1)
		p := randTies(rng, n)
		m, v := make([]float32, n), make([]float32, n)
		pc, mc, vc := up(c, p), c.Alloc(n), c.Alloc(n)
		for _, st := range []uint64{0, 1, 2, 999, 59999, step} {
			gr := randTies(rng, n)
			h.run(t, "adam", g, b, p, gr, m, v, int32(n), float32(0.002), float32(0.9), float32(0.999), float32(1e-8), []uint64{st})
			c.SetStep(st)
			c.Adam(pc, up(c, gr), mc, vc, 0.002, 0.9, 0.999, 1e-8)
			ulpCheck(t, fmt.Sprint("adam params, step ", st), p, layers.Floats(pc), 1)
			ulpCheck(t, fmt.Sprint("adam m, step ", st), m, layers.Floats(mc), 0)
			ulpCheck(t, fmt.Sprint("adam v, step ", st), v, layers.Floats(vc), 0)
		}
	})

	t.Run("batch_norm", func(t *testing.T) { hostBatchNorm(t, h, rng, cpu) })
	t.Run("add_noise", func(t *testing.T) { hostAddNoise(t, h, rng, cpu, step) })

	t.Run("bias", func(t *testing.T) {
		n, in, out := 9, 4, 3
		bias, dy, db := randTies(rng, out), randTies(rng, n*out), randTies(rng, out)
		y := make([]float32, n*out)
		h.run(t, "fill_bias", g, b, y, bias, int32(n), int32(out), int32(1))
		dbOld := append([]float32(nil), db...)
		h.run(t, "dense_backward_bias", 1, 32, db, dy, int32(n), int32(out))
		yc, dbc := cpu.Alloc(n*out), up(cpu, dbOld)
		zx, zw := cpu.Alloc(n*in), cpu.Alloc(in*out)
		cpu.DenseForward(yc, zx, zw, up(cpu, bias), n, in, out)
		cpu.DenseBackward(nil, cpu.Alloc(in*out), dbc, up(cpu, dy), zx, zw, n, in, out)
		ulpCheck(t, "fill_bias (dense)", y, layers.Floats(yc), 0)
		ulpCheck(t, "dense_backward_bias", db, layers.Floats(dbc), 0)

		yconv := make([]float32, 2*3*5)
		h.run(t, "fill_bias", g, b, yconv, bias, int32(2), int32(3), int32(5))
		for i, v := range yconv {
			if want := bias[(i/5)%3]; v != want {
				t.Errorf("fill_bias (conv)[%d] = %v, want %v", i, v, want)
			}
		}
	})
}

// hostEmu runs kernels in the host emulation built by TestKernelsOnHost.
type hostEmu struct {
	bin string
	dir string
}

// run launches kernel name on grid×block threads with args in order:
// []float32, []int32 and []uint64 for pointers (updated in place from the
// kernel's writes), nil for a NULL pointer, and int32, uint32, float32,
// uint64 for scalars. The arguments are checked against kernelSpecs.
func (h *hostEmu) run(t *testing.T, name string, grid, block int, args ...any) {
	t.Helper()
	var spec kernelSpec
	for _, s := range kernelSpecs {
		if s.name == name {
			spec = s
		}
	}
	if spec.name == "" || len(spec.params) != len(args) {
		t.Fatalf("%s: %d arguments for parameters %q", name, len(args), spec.params)
	}
	var in bytes.Buffer
	le := binary.LittleEndian
	w := func(v any) { binary.Write(&in, le, v) }
	w(int64(len(name)))
	in.WriteString(name)
	w(uint32(grid))
	w(uint32(block))
	w(int64(len(args)))
	for i, a := range args {
		kind := byte('p')
		switch a.(type) {
		case int32:
			kind = 'i'
		case uint32:
			kind = 'u'
		case float32:
			kind = 'f'
		case uint64:
			kind = 'q'
		}
		if kind != spec.params[i] {
			t.Fatalf("%s argument %d: %T for parameter %q", name, i, a, spec.params[i])
		}
		in.WriteByte(kind)
		switch v := a.(type) {
		case nil:
			w(int32(-1))
			w(int64(0))
		case []float32:
			w(int32(0))
			w(int64(len(v)))
			w(v)
		case []int32:
			w(int32(1))
			w(int64(len(v)))
			w(v)
		case []uint64:
			w(int32(2))
			w(int64(len(v)))
			w(v)
		case int32:
			w(uint64(uint32(v)))
		case uint32:
			w(uint64(v))
		case float32:
			w(uint64(math.Float32bits(v)))
		case uint64:
			w(v)
		default:
			t.Fatalf("%s argument %d: type %T", name, i, a)
		}
	}
	inPath, outPath := filepath.Join(h.dir, "in"), filepath.Join(h.dir, "out")
	if err := os.WriteFile(inPath, in.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(h.bin, inPath, outPath).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", name, err, out)
	}
	out, err := os.ReadFile(outPath)
	if err != nil {
		t.Fatal(err)
	}
	// The emulation gives every argument its own array; a slice passed
	// twice (dx and dy of an in-place call) takes the first one's result.
	r := bytes.NewReader(out)
	seen := map[any]bool{}
	for _, a := range args {
		var first any // the slice's first element, identifying it
		switch v := a.(type) {
		case nil:
		case []float32:
			first = &v[0]
		case []int32:
			first = &v[0]
		case []uint64:
			first = &v[0]
		default:
			continue
		}
		var n int64
		if err := binary.Read(r, le, &n); err != nil {
			t.Fatalf("%s: reading results: %v", name, err)
		}
		data := make([]byte, n) // bytes
		if _, err := io.ReadFull(r, data); err != nil {
			t.Fatalf("%s: reading results: %v", name, err)
		}
		if a == nil || seen[first] {
			continue
		}
		seen[first] = true
		if err := binary.Read(bytes.NewReader(data), le, a); err != nil {
			t.Fatalf("%s: reading results: %v", name, err)
		}
	}
}

// randTies returns n normal numbers, a third of them replaced by -1, 0 or
// 1 so that ties and zeros occur.
func randTies(rng *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(rng.NormFloat64())
		if rng.IntN(3) == 0 {
			v[i] = float32(rng.IntN(3) - 1)
		}
	}
	return v
}

func up(c *layers.CPU, v []float32) layers.Buf {
	b := c.Alloc(len(v))
	c.Upload(b, v)
	return b
}

// ulpCheck compares got with want element by element: equal bits, both
// NaN, or at most ulps units in the last place apart with the same sign.
func ulpCheck(t *testing.T, what string, got, want []float32, ulps int) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d elements, want %d", what, len(got), len(want))
	}
	bad := 0
	for i := range got {
		g, w := got[i], want[i]
		if math.Float32bits(g) == math.Float32bits(w) || g != g && w != w {
			continue
		}
		d := int64(math.Float32bits(g)) - int64(math.Float32bits(w))
		if math.Signbit(float64(g)) == math.Signbit(float64(w)) && max(d, -d) <= int64(ulps) {
			continue
		}
		if bad++; bad <= 5 {
			t.Errorf("%s[%d] = %v, want %v (tolerance %d ulp)", what, i, g, w, ulps)
		}
	}
	if bad > 5 {
		t.Errorf("%s: %d of %d elements differ", what, bad, len(got))
	}
}
