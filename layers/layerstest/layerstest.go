// Package layerstest is the conformance suite of layers.Backend's ops: one
// case or more per op, each run on the backend under test and on the CPU
// reference over the same random inputs (drawn from a seed derived from
// the case's name), compared within a tolerance table whose every entry
// gives its reason. It depends on layers alone; whole-training cases live
// in vat/vattest, and package parity records and verifies fixtures of both.
//
// Run is called by the tests of each backend (the CPU always; the GPU where
// one is usable).
package layerstest

import (
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"sort"
	"testing"

	"github.com/vatgpu/vatgpu/layers"
)

// Tensors maps names to values. Integer tensors (labels, indices) are held
// as float32, exact below 2^24.
type Tensors map[string][]float32

// Tol bounds the difference of one output: |got - want| <= Abs + Rel*|want|
// for every element.
type Tol struct {
	Abs, Rel float64
	Why      string
}

// Case is one conformance check.
type Case struct {
	Name string
	Tol  Tol // from the suite's tolerance table
	// Inputs draws the case's inputs.
	Inputs func(r *rand.Rand) Tensors
	// Run runs the case on b and returns its outputs.
	Run func(b layers.Backend, in Tensors) Tensors
}

// Tolerances is the tolerance table of the op cases, by case name. fp32 sums of length k
// in different orders differ by about k·2^-24 relative to the sum of
// magnitudes; the bounds below are that, with margin, for each case's
// reduction length. cuDNN and cuBLAS are run with TF32 off.
var Tolerances = map[string]Tol{
	"conv1":         {1e-5, 1e-4, "forward sums 9 products; backward sums 676 (dw, db) per image over 3 images: fp32 reassociation"},
	"conv2":         {1e-4, 1e-4, "forward sums 288 products, dw sums 576×3: reassociation in whichever fp32 algorithm cuDNN's search picks (implicit GEMM, FFT or Winograd; TF32 off)"},
	"relu":          {0, 0, "exact: max and select"},
	"maxpool":       {0, 0, "exact: max and routing; ties broken at the first maximum on both"},
	"dropout":       {0, 1e-7, "same Philox words; only the 1/(1-p) product may round differently"},
	"dense":         {1e-4, 1e-4, "sums of 4608 products (cuBLAS SGEMM blocking differs from the CPU's)"},
	"softmax_xent":  {1e-6, 1e-5, "exp and log over 10 classes: libm vs CUDA's ulp-accurate expf/logf"},
	"kl":            {1e-6, 1e-5, "exp and log over 10 classes, as softmax_xent"},
	"softmax":       {1e-7, 1e-5, "expf over 10 classes"},
	"rand_normal":   {1e-6, 1e-6, "Box-Muller in float64 on both, rounded once; CUDA's double log/sincos are within 1-2 ulp of Go's"},
	"perturb":       {1e-6, 1e-5, "per-sample norms over 784 elements (fp32 vs fp64 accumulation)"},
	"gather":        {0, 0, "exact copies"},
	"reduce":        {1e-4, 1e-6, "sums of 3000 values in another order"},
	"entropy":       {1e-6, 1e-5, "exp and log over 10 classes, as softmax_xent"},
	"adam":          {1e-7, 1e-5, "sqrtf and division correctly rounded on both; the bias correction in double on both (CUDA pow vs Go math.Pow: at most 1 ulp in the step size)"},
	"adadelta":      {1e-7, 1e-5, "sqrtf and division are correctly rounded on both; fused multiply-add may differ by an ulp per step"},
	"translate":     {0, 0, "exact copies and zeros; offsets from the same Philox words"},
	"average":       {0, 0, "two correctly rounded products and a sum, unfused on both"},
	"batchnorm":     {1e-6, 1e-6, "each feature's sums in double over the rows in order on both (a thread per feature), sqrt and division correctly rounded, no fused multiply-add: bit-identical expected; a margin of a few ulp"},
	"noise":         {1e-6, 1e-6, "the normals of rand_normal (CUDA's double log and sincos within an ulp of Go's), times std and added in float"},
	"net_seed-cnn":  {1e-4, 1e-3, "a whole forward and backward pass: the conv2 and dense tolerances, through four layers"},
	"net_mlp-semi":  {1e-4, 1e-3, "a whole forward and backward pass: dense sums of up to 1200 products (cuBLAS's order), renormalised by batch normalisation at each layer"},
	"net_mlp-sup":   {1e-4, 1e-3, "as net_mlp-semi, five layers"},
	"net_mlp-tpami": {1e-4, 1e-3, "as net_mlp-sup, with the noise of the noise case"},
}

func draw(r *rand.Rand, n int, scale float64) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.NormFloat64() * scale)
	}
	return v
}

func drawUniform(r *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = r.Float32()
	}
	return v
}

func drawInts(r *rand.Rand, n, below int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.IntN(below))
	}
	return v
}

// Put uploads v to a new buffer of b.
func Put(b layers.Backend, v []float32) layers.Buf { return put(b, v) }

// Get downloads n elements of x.
func Get(b layers.Backend, x layers.Buf, n int) []float32 { return get(b, x, n) }

// DrawUniform and DrawInts draw n values uniform in [0, 1), or integers
// below below (as float32), for case inputs.
func DrawUniform(r *rand.Rand, n int) []float32     { return drawUniform(r, n) }
func DrawInts(r *rand.Rand, n, below int) []float32 { return drawInts(r, n, below) }

func put(b layers.Backend, v []float32) layers.Buf {
	x := b.Alloc(len(v))
	b.Upload(x, v)
	return x
}

func putInt(b layers.Backend, v []float32) layers.Buf {
	x := b.AllocInt(len(v))
	iv := make([]int32, len(v))
	for i, f := range v {
		iv[i] = int32(f)
	}
	b.UploadInt(x, iv)
	return x
}

func get(b layers.Backend, x layers.Buf, n int) []float32 {
	v := make([]float32, n)
	b.Download(v, x)
	return v
}

// getInt downloads n int32 elements, as float32 (exact below 2^24).
func getInt(b layers.Backend, x layers.Buf, n int) []float32 {
	v := make([]int32, n)
	b.DownloadInt(v, x)
	f := make([]float32, n)
	for i, e := range v {
		f[i] = float32(e)
	}
	return f
}

func convCase(name string, s layers.ConvShape) Case {
	return Case{Name: name,
		Inputs: func(r *rand.Rand) Tensors {
			return Tensors{"x": draw(r, s.InLen(), 1), "w": draw(r, s.WLen(), 0.2), "b": draw(r, s.K, 0.1),
				"dy": draw(r, s.OutLen(), 1), "dw0": draw(r, s.WLen(), 1), "db0": draw(r, s.K, 1)}
		},
		Run: func(b layers.Backend, in Tensors) Tensors {
			x, w, bias, dy := put(b, in["x"]), put(b, in["w"]), put(b, in["b"]), put(b, in["dy"])
			y, dx := b.Alloc(s.OutLen()), b.Alloc(s.InLen())
			dw, db := put(b, in["dw0"]), put(b, in["db0"]) // backward accumulates onto these
			b.ConvForward(y, x, w, bias, s)
			b.ConvBackward(dx, dw, db, dy, x, w, s)
			return Tensors{"y": get(b, y, s.OutLen()), "dx": get(b, dx, s.InLen()), "dw": get(b, dw, s.WLen()), "db": get(b, db, s.K)}
		}}
}

// batchNormCase is batch normalisation of n rows of c features in its
// three modes: the batch's statistics without and with moving the running
// averages (which the first must leave as they were), and the running
// statistics; each mode's backward (through the batch's statistics, or
// with them fixed), the parameter gradients accumulated onto given values.
func batchNormCase(n, c int) Case {
	return Case{Name: "batchnorm",
		Inputs: func(r *rand.Rand) Tensors {
			x := draw(r, n*c, 2)
			for i := range x {
				x[i] += float32(i%c) * 0.01 // features of different means
			}
			rv := drawUniform(r, c)
			for i := range rv {
				rv[i] += 0.5
			}
			return Tensors{"x": x, "gamma": draw(r, c, 1), "beta": draw(r, c, 1), "run_mean": draw(r, c, 1), "run_var": rv,
				"dy": draw(r, n*c, 1), "dgamma0": draw(r, c, 1), "dbeta0": draw(r, c, 1)}
		},
		Run: func(b layers.Backend, in Tensors) Tensors {
			x, gamma, beta, dy := put(b, in["x"]), put(b, in["gamma"]), put(b, in["beta"]), put(b, in["dy"])
			rm, rv := put(b, in["run_mean"]), put(b, in["run_var"])
			out := Tensors{}
			for _, mode := range []struct {
				name string
				mode layers.BNMode
			}{{"batch", layers.BNBatch}, {"update", layers.BNBatchUpdate}, {"running", layers.BNRunning}} {
				y, mean, rstd, dx := b.Alloc(n*c), b.Alloc(c), b.Alloc(c), b.Alloc(n*c)
				dg, db := put(b, in["dgamma0"]), put(b, in["dbeta0"])
				b.BatchNormForward(y, x, gamma, beta, mean, rstd, rm, rv, n, c, 1e-6, 0.9, mode.mode)
				b.BatchNormBackward(dx, dg, db, dy, x, gamma, mean, rstd, n, c, mode.mode != layers.BNRunning)
				for k, v := range map[string]layers.Buf{"y": y, "mean": mean, "rstd": rstd, "dx": dx, "dgamma": dg, "dbeta": db, "run_mean": rm, "run_var": rv} {
					out[k+"_"+mode.name] = get(b, v, v.Len())
				}
			}
			return out
		}}
}

// NetCase is one step's passes of network net on 8 images: the training
// forward pass that moves batch normalisation's running averages (pass 0)
// and its backward, parameter and input gradients; a training pass that
// does not move them (pass 1) and its input-only backward; and an
// evaluation pass with the running statistics and its backward. Dropout is
// on where the network has it. Its name is "net_" and the network's. The
// parameters are the network's initial ones for a seed among the inputs,
// and the outputs hold a sample of each gradient tensor (Sample), so that
// a fixture of a network of millions of parameters stays small.
func NetCase(net *layers.Net) Case {
	const n = 8
	return Case{Name: "net_" + net.Name,
		Inputs: func(r *rand.Rand) Tensors {
			return Tensors{"seed": {float32(r.IntN(1000))}, "x": drawUniform(r, n*layers.ImageLen),
				"labels": drawInts(r, n, layers.Classes), "step": {float32(r.IntN(1000))}}
		},
		Run: func(b layers.Backend, in Tensors) Tensors {
			m := layers.NewNet(net, b, n, net.HasKind(layers.Dropout), 1337, net.InitParams(uint64(in["seed"][0])))
			defer m.Free()
			x, labels := put(b, in["x"]), putInt(b, in["labels"])
			loss, dx := b.Alloc(n), b.Alloc(n*layers.ImageLen)
			b.SetStep(uint64(in["step"][0]))
			out := Tensors{}
			for _, pass := range []struct {
				name  string
				train bool
				pass  int
			}{{"update", true, layers.UpdatePass}, {"batch", true, 1}, {"eval", false, 0}} {
				logits := m.Forward(x, n, pass.train, pass.pass)
				out["logits_"+pass.name] = get(b, logits, n*layers.Classes)
				b.SoftmaxXent(loss, m.DLogits(), logits, labels, n, layers.Classes, 1.0/n)
				m.Backward(m.DLogits(), x, n, pass.pass, pass.name == "update", dx)
				out["dx_"+pass.name] = get(b, dx, n*layers.ImageLen)
			}
			grads, params := get(b, m.Grads, net.NumParams()), get(b, m.Params, net.NumParams())
			for _, p := range net.Params() {
				if p.Stat { // the running statistics pass 0 moved
					out[p.Name] = params[p.Off : p.Off+p.Len]
				} else {
					out["grad_"+p.Name] = Sample(grads[p.Off:p.Off+p.Len], 4096)
				}
			}
			return out
		}}
}

// Sample returns at most k elements of v, evenly strided from the first.
func Sample(v []float32, k int) []float32 {
	stride := (len(v) + k - 1) / k
	var o []float32
	for i := 0; i < len(v); i += stride {
		o = append(o, v[i])
	}
	return o
}

// Cases returns the op cases, each with its tolerance.
func Cases() []Case {
	const n = 3
	pool := layers.PoolShape{N: n, C: 32, H: 24, W: 24}
	cs := []Case{
		convCase("conv1", layers.ConvShape{N: n, C: 1, H: 28, W: 28, K: 32, R: 3, S: 3}),
		convCase("conv2", layers.ConvShape{N: n, C: 32, H: 26, W: 26, K: 32, R: 3, S: 3}),
		{Name: "relu",
			Inputs: func(r *rand.Rand) Tensors { return Tensors{"x": draw(r, 1000, 1), "dy": draw(r, 1000, 1)} },
			Run: func(b layers.Backend, in Tensors) Tensors {
				y, dx := b.Alloc(1000), b.Alloc(1000)
				b.ReLUForward(y, put(b, in["x"]), 1000)
				b.ReLUBackward(dx, put(b, in["dy"]), y, 1000)
				return Tensors{"y": get(b, y, 1000), "dx": get(b, dx, 1000)}
			}},
		{Name: "maxpool",
			Inputs: func(r *rand.Rand) Tensors {
				x := draw(r, pool.InLen(), 1)
				for i := range x { // ReLU outputs: many zero ties, as in training
					x[i] = max(x[i], 0)
				}
				return Tensors{"x": x, "dy": draw(r, pool.OutLen(), 1)}
			},
			Run: func(b layers.Backend, in Tensors) Tensors {
				x := put(b, in["x"])
				y, dx := b.Alloc(pool.OutLen()), b.Alloc(pool.InLen())
				b.MaxPoolForward(y, x, pool)
				b.MaxPoolBackward(dx, put(b, in["dy"]), x, y, pool)
				return Tensors{"y": get(b, y, pool.OutLen()), "dx": get(b, dx, pool.InLen())}
			}},
		{Name: "dropout",
			Inputs: func(r *rand.Rand) Tensors {
				return Tensors{"x": draw(r, 4099, 1), "dy": draw(r, 4099, 1), "step": {float32(r.IntN(1000))}}
			},
			Run: func(b layers.Backend, in Tensors) Tensors {
				const k = 4099
				rnd := layers.Rand{Seed: 1337, Tensor: layers.TensorDropout + 16 + 1}
				b.SetStep(uint64(in["step"][0]))
				y, dx := b.Alloc(k), b.Alloc(k)
				b.DropoutForward(y, put(b, in["x"]), k, 0.25, rnd)
				b.DropoutBackward(dx, put(b, in["dy"]), k, 0.5, rnd)
				return Tensors{"y": get(b, y, k), "dx": get(b, dx, k)}
			}},
		{Name: "dense",
			Inputs: func(r *rand.Rand) Tensors {
				const in, out = layers.Flat, layers.Hidden
				return Tensors{"x": draw(r, n*in, 1), "w": draw(r, in*out, 0.03), "b": draw(r, out, 0.1),
					"dy": draw(r, n*out, 1), "dw0": draw(r, in*out, 1), "db0": draw(r, out, 1)}
			},
			Run: func(b layers.Backend, in Tensors) Tensors {
				const ni, no = layers.Flat, layers.Hidden
				x, w := put(b, in["x"]), put(b, in["w"])
				y, dx := b.Alloc(n*no), b.Alloc(n*ni)
				dw, db := put(b, in["dw0"]), put(b, in["db0"])
				b.DenseForward(y, x, w, put(b, in["b"]), n, ni, no)
				b.DenseBackward(dx, dw, db, put(b, in["dy"]), x, w, n, ni, no)
				return Tensors{"y": get(b, y, n*no), "dx": get(b, dx, n*ni), "dw": get(b, dw, ni*no), "db": get(b, db, no)}
			}},
		{Name: "softmax_xent",
			Inputs: func(r *rand.Rand) Tensors {
				return Tensors{"logits": draw(r, 64*10, 3), "labels": drawInts(r, 64, 10)}
			},
			Run: func(b layers.Backend, in Tensors) Tensors {
				loss, dl := b.Alloc(64), b.Alloc(640)
				b.SoftmaxXent(loss, dl, put(b, in["logits"]), putInt(b, in["labels"]), 64, 10, 1.0/64)
				return Tensors{"loss": get(b, loss, 64), "dlogits": get(b, dl, 640)}
			}},
		{Name: "kl",
			Inputs: func(r *rand.Rand) Tensors {
				return Tensors{"p": draw(r, 640, 3), "q": draw(r, 640, 3)}
			},
			Run: func(b layers.Backend, in Tensors) Tensors {
				kl, dq := b.Alloc(64), b.Alloc(640)
				b.KLDiv(kl, dq, put(b, in["p"]), put(b, in["q"]), 64, 10, 0.5)
				return Tensors{"kl": get(b, kl, 64), "dq": get(b, dq, 640)}
			}},
		{Name: "softmax",
			Inputs: func(r *rand.Rand) Tensors { return Tensors{"logits": draw(r, 640, 3)} },
			Run: func(b layers.Backend, in Tensors) Tensors {
				p := b.Alloc(640)
				b.Softmax(p, put(b, in["logits"]), 64, 10)
				return Tensors{"p": get(b, p, 640)}
			}},
		{Name: "entropy",
			Inputs: func(r *rand.Rand) Tensors { return Tensors{"logits": draw(r, 640, 3)} },
			Run: func(b layers.Backend, in Tensors) Tensors {
				h, dl := b.Alloc(64), b.Alloc(640)
				b.Entropy(h, dl, put(b, in["logits"]), 64, 10, 0.25)
				return Tensors{"h": get(b, h, 64), "dlogits": get(b, dl, 640)}
			}},
		{Name: "adam",
			Inputs: func(r *rand.Rand) Tensors {
				return Tensors{"p": draw(r, 5000, 1), "g1": draw(r, 5000, 1), "g2": draw(r, 5000, 0.01), "g3": draw(r, 5000, 100)}
			},
			Run: func(b layers.Backend, in Tensors) Tensors {
				p, m, v := put(b, in["p"]), b.Alloc(5000), b.Alloc(5000)
				for i, g := range []string{"g1", "g2", "g3"} {
					b.SetStep(uint64(i))
					b.Adam(p, put(b, in[g]), m, v, 0.002, 0.9, 0.999, 1e-8)
				}
				return Tensors{"p": get(b, p, 5000), "m": get(b, m, 5000), "v": get(b, v, 5000)}
			}},
		{Name: "rand_normal",
			Inputs: func(r *rand.Rand) Tensors { return Tensors{"step": {float32(r.IntN(1 << 20))}} },
			Run: func(b layers.Backend, in Tensors) Tensors {
				const k = 3 * layers.ImageLen
				d := b.Alloc(k)
				b.SetStep(uint64(in["step"][0]))
				b.RandNormal(d, k, layers.Rand{Seed: 1337, Tensor: layers.TensorDirection})
				return Tensors{"d": get(b, d, k)}
			}},
		{Name: "perturb",
			Inputs: func(r *rand.Rand) Tensors {
				const k = n * layers.ImageLen
				return Tensors{"x": drawUniform(r, k), "d": draw(r, k, 1), "g": draw(r, k, 1e-3)}
			},
			Run: func(b layers.Backend, in Tensors) Tensors {
				const k = n * layers.ImageLen
				x, d, g := put(b, in["x"]), put(b, in["d"]), put(b, in["g"])
				out := Tensors{}
				for _, norm := range []layers.Norm{layers.NormL2, layers.NormMaxAbsL2} {
					xr, dd := b.Alloc(k), b.Alloc(k)
					b.Perturb(xr, x, d, n, layers.ImageLen, 10, norm)
					b.PerturbBackward(dd, g, d, n, layers.ImageLen, 10, norm)
					out["xr_"+norm.String()] = get(b, xr, k)
					out["dd_"+norm.String()] = get(b, dd, k)
				}
				return out
			}},
		{Name: "gather",
			Inputs: func(r *rand.Rand) Tensors {
				return Tensors{"src": draw(r, 50*7, 1), "labels": drawInts(r, 50, 10), "idx": drawInts(r, 40, 50)}
			},
			Run: func(b layers.Backend, in Tensors) Tensors {
				idx := putInt(b, in["idx"])
				dst, dl := b.Alloc(20*7), b.AllocInt(20)
				b.Gather(dst, put(b, in["src"]), idx, 13, 20, 7)
				b.GatherInt(dl, putInt(b, in["labels"]), idx, 13, 20)
				return Tensors{"rows": get(b, dst, 140), "labels": getInt(b, dl, 20)}
			}},
		{Name: "reduce",
			Inputs: func(r *rand.Rand) Tensors {
				return Tensors{"x": draw(r, 3000, 1), "logits": draw(r, 300*10, 1), "labels": drawInts(r, 300, 10)}
			},
			Run: func(b layers.Backend, in Tensors) Tensors {
				acc := put(b, []float32{0.5, 2})
				b.SumInto(acc, 0, put(b, in["x"]), 3000)
				b.CountCorrect(acc, 1, put(b, in["logits"]), putInt(b, in["labels"]), 300, 10)
				return Tensors{"acc": get(b, acc, 2)}
			}},
		{Name: "adadelta",
			Inputs: func(r *rand.Rand) Tensors {
				return Tensors{"p": draw(r, 5000, 1), "g1": draw(r, 5000, 1), "g2": draw(r, 5000, 0.01), "g3": draw(r, 5000, 100)}
			},
			Run: func(b layers.Backend, in Tensors) Tensors {
				p, a, d := put(b, in["p"]), b.Alloc(5000), b.Alloc(5000)
				for _, g := range []string{"g1", "g2", "g3"} {
					b.Adadelta(p, put(b, in[g]), a, d, 1, 0.95, 1e-8)
				}
				return Tensors{"p": get(b, p, 5000), "acc_grad": get(b, a, 5000), "acc_delta": get(b, d, 5000)}
			}},
		{Name: "translate",
			Inputs: func(r *rand.Rand) Tensors {
				return Tensors{"x": drawUniform(r, 37*layers.ImageLen), "step": {float32(r.IntN(1000))}}
			},
			Run: func(b layers.Backend, in Tensors) Tensors {
				const k = 37
				b.SetStep(uint64(in["step"][0]))
				out := Tensors{}
				for _, shift := range []int{1, 2, 5} {
					y := b.Alloc(k * layers.ImageLen)
					b.Translate(y, put(b, in["x"]), k, layers.ImageSide, layers.ImageSide, shift, layers.Rand{Seed: 1337, Tensor: layers.TensorTranslate + 1})
					out[fmt.Sprint("y", shift)] = get(b, y, k*layers.ImageLen)
				}
				return out
			}},
		{Name: "average",
			Inputs: func(r *rand.Rand) Tensors {
				return Tensors{"avg": draw(r, 5000, 1), "p1": draw(r, 5000, 1), "p2": draw(r, 5000, 0.01)}
			},
			Run: func(b layers.Backend, in Tensors) Tensors {
				avg := put(b, in["avg"])
				b.Average(avg, put(b, in["p1"]), 0.999)
				b.Average(avg, put(b, in["p2"]), 0.5)
				return Tensors{"avg": get(b, avg, 5000)}
			}},
		batchNormCase(100, 300),
		{Name: "noise",
			Inputs: func(r *rand.Rand) Tensors {
				return Tensors{"x": draw(r, 4099, 1), "step": {float32(r.IntN(1 << 20))}}
			},
			Run: func(b layers.Backend, in Tensors) Tensors {
				const k = 4099
				rnd := layers.Rand{Seed: 1337, Tensor: layers.TensorNoise + 16*3 + 2}
				b.SetStep(uint64(in["step"][0]))
				y, x := b.Alloc(k), put(b, in["x"])
				b.AddNoise(y, x, k, 0.5, rnd)
				b.AddNoise(x, x, k, 0.25, rnd) // in place
				return Tensors{"y": get(b, y, k), "y_in_place": get(b, x, k)}
			}},
	}
	for _, net := range layers.Nets {
		cs = append(cs, NetCase(net))
	}
	return WithTolerances(cs, Tolerances)
}

// WithTolerances sets each case's Tol from table; a case the table lacks
// is a programmer error.
func WithTolerances(cs []Case, table map[string]Tol) []Case {
	for i := range cs {
		tol, ok := table[cs[i].Name]
		if !ok {
			panic("layerstest: no tolerance for case " + cs[i].Name)
		}
		cs[i].Tol = tol
	}
	return cs
}

// Compare checks got against want within tol and returns the largest
// absolute and relative errors and a description of the first failure.
func Compare(got, want []float32, tol Tol) (maxAbs, maxRel float64, fail string) {
	if len(got) != len(want) {
		return math.Inf(1), math.Inf(1), fmt.Sprintf("length %d, want %d", len(got), len(want))
	}
	for i := range got {
		g, w := float64(got[i]), float64(want[i])
		d := math.Abs(g - w)
		if math.IsNaN(g) != math.IsNaN(w) {
			d = math.Inf(1)
		} else if math.IsNaN(g) {
			d = 0
		}
		maxAbs = max(maxAbs, d)
		if w != 0 {
			maxRel = max(maxRel, d/math.Abs(w))
		}
		if d > tol.Abs+tol.Rel*math.Abs(w) && fail == "" {
			fail = fmt.Sprintf("element %d: %v, want %v", i, got[i], want[i])
		}
	}
	return maxAbs, maxRel, fail
}

// Run runs each case on b and on a fresh CPU backend over the same
// inputs. With exact set every output must be bit-identical (CPU against
// CPU with another thread count); otherwise each case's tolerance applies.
func Run(t *testing.T, b layers.Backend, exact bool, cases []Case) {
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			in := c.NewInputs()
			want := c.Run(layers.NewCPU(0), in)
			got := c.Run(b, in)
			if err := b.Sync(); err != nil {
				t.Fatalf("%s: %v", c.Name, err)
			}
			tol := c.Tol
			if exact {
				tol = Tol{}
			}
			Check(t, c.Name, got, want, tol)
		})
	}
}

// Result is the comparison of one output of a case.
type Result struct {
	Output         string
	MaxAbs, MaxRel float64
	Fail           string // empty when within tolerance
}

// CompareAll compares every output of want with got, in name order.
func CompareAll(got, want Tensors, tol Tol) []Result {
	names := make([]string, 0, len(want))
	for k := range want {
		names = append(names, k)
	}
	sort.Strings(names)
	rs := make([]Result, len(names))
	for i, k := range names {
		a, r, fail := Compare(got[k], want[k], tol)
		rs[i] = Result{k, a, r, fail}
	}
	return rs
}

// Seed returns the seed of a case's inputs: the FNV-1a hash of its name,
// so that adding or moving a case changes no other case's inputs.
func Seed(name string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(name))
	return h.Sum64()
}

// NewInputs draws the case's inputs from its seed.
func (c Case) NewInputs() Tensors { return c.Inputs(rand.New(rand.NewPCG(Seed(c.Name), 42))) }

// Check compares every output of got with want within tol, logging each
// output's largest errors and failing t on any outside it.
func Check(t *testing.T, name string, got, want Tensors, tol Tol) {
	t.Helper()
	for _, r := range CompareAll(got, want, tol) {
		t.Logf("%s.%s: max abs error %.3g, max rel error %.3g (tolerance abs %g rel %g)", name, r.Output, r.MaxAbs, r.MaxRel, tol.Abs, tol.Rel)
		if r.Fail != "" {
			t.Errorf("%s.%s: %s (tolerance abs %g rel %g: %s)", name, r.Output, r.Fail, tol.Abs, tol.Rel, tol.Why)
		}
	}
}
