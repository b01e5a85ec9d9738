// Package layerstest is the conformance suite of layers.Backend: one set of
// cases, each run on the backend under test and on the CPU reference over
// the same fresh random inputs, compared within a tolerance table whose
// every entry gives its reason.
//
// Run is called by the tests of each backend (the CPU always; the GPU where
// one is usable). Record and Verify store a backend's outputs as fixtures
// and check the CPU against them later, on machines without that backend.
package layerstest

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"testing"

	"github.com/vatgpu/vatgpu/layers"
	"github.com/vatgpu/vatgpu/mnist"
	"github.com/vatgpu/vatgpu/vat"
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
	// Inputs draws the case's inputs.
	Inputs func(r *rand.Rand) Tensors
	// Run runs the case on b and returns its outputs.
	Run func(b layers.Backend, in Tensors) Tensors
}

// Tolerances is the tolerance table, by case name. fp32 sums of length k
// in different orders differ by about k·2^-24 relative to the sum of
// magnitudes; the bounds below are that, with margin, for each case's
// reduction length. cuDNN and cuBLAS are run with TF32 off.
var Tolerances = map[string]Tol{
	"conv1":               {1e-5, 1e-4, "forward sums 9 products; backward sums 676 (dw) per image over 3 images: fp32 reassociation"},
	"conv2":               {1e-4, 1e-4, "forward sums 288 products, dw sums 576×3: reassociation in cuDNN's algorithms (implicit GEMM, Winograd off without TF32)"},
	"relu":                {0, 0, "exact: max and select"},
	"maxpool":             {0, 0, "exact: max and routing; ties broken at the first maximum on both"},
	"dropout":             {0, 1e-7, "same Philox words; only the 1/(1-p) product may round differently"},
	"dense":               {1e-4, 1e-4, "sums of 4608 products (cuBLAS SGEMM blocking differs from the CPU's)"},
	"softmax_xent":        {1e-6, 1e-5, "exp and log over 10 classes: libm vs CUDA's ulp-accurate expf/logf"},
	"kl":                  {1e-6, 1e-5, "exp and log over 10 classes, as softmax_xent"},
	"softmax":             {1e-7, 1e-5, "expf over 10 classes"},
	"rand_normal":         {1e-6, 1e-6, "Box-Muller in float64 on both, rounded once; CUDA's double log/sincos are within 1-2 ulp of Go's"},
	"perturb":             {1e-6, 1e-5, "per-sample norms over 784 elements (fp32 vs fp64 accumulation)"},
	"gather":              {0, 0, "exact copies"},
	"reduce":              {1e-4, 1e-6, "sums of 3000 values in another order"},
	"entropy":             {1e-6, 1e-5, "exp and log over 10 classes, as softmax_xent"},
	"adam":                {1e-7, 1e-5, "sqrtf and division correctly rounded on both; the bias correction in double on both (CUDA pow vs Go math.Pow: at most 1 ulp in the step size)"},
	"adadelta":            {1e-7, 1e-5, "sqrtf and division are correctly rounded on both; fused multiply-add may differ by an ulp per step"},
	"vat_radv":            {1e-4, 1e-3, "r_adv is the normalised gradient of a full forward/backward pass: the conv2 and dense tolerances, amplified by normalisation"},
	"semi10":              {2e-4, 2e-3, "10 semi-supervised Adam steps with dropout, VAT and entropy minimisation: as train20"},
	"translate":           {0, 0, "exact copies and zeros; offsets from the same Philox words"},
	"average":             {0, 0, "two correctly rounded products and a sum, unfused on both"},
	"semi5_translate_ema": {2e-4, 2e-3, "5 semi-supervised Adam steps with translated batches and a weight average: as semi10 (translations and averages are exact)"},
	"semi5_pseudo":        {2e-4, 2e-3, "5 semi-supervised Adam steps after a teacher labels the unlabelled images: as semi10 (labels from float32 logits; no ties near the threshold)"},
	"train20":             {2e-4, 2e-3, "20 Adadelta steps with dropout and VAT: per-step rounding differences (1e-6) grow through the recurrence; bound set from the step count"},
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

// Cases returns every conformance case.
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
				// Read the gathered labels back through CountCorrect-free
				// means: compare them as one-hot sums.
				acc := b.Alloc(10)
				logits := b.Alloc(20 * 10)
				for c := 0; c < 10; c++ {
					onehot := make([]float32, 200)
					for i := 0; i < 20; i++ {
						onehot[i*10+c] = 1
					}
					b.Upload(logits, onehot)
					b.CountCorrect(acc, c, logits, dl, 20, 10)
				}
				return Tensors{"rows": get(b, dst, 140), "label_counts": get(b, acc, 10)}
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
		{Name: "vat_radv",
			Inputs: func(r *rand.Rand) Tensors {
				return Tensors{"x": drawUniform(r, 4*layers.ImageLen), "params": layers.InitParams(uint64(r.IntN(1000)))}
			},
			Run: func(b layers.Backend, in Tensors) Tensors {
				const k = 4
				m := layers.NewModel(b, k, true, 1337, in["params"])
				p := vat.NewPerturber(m, 10, 1, 1, layers.NormL2, 1337)
				x := put(b, in["x"])
				b.SetStep(5)
				// The target logits in a buffer of their own: the power
				// iteration's forward pass overwrites m.Logits.
				logits := b.Alloc(k * layers.Classes)
				b.Copy(logits, m.Forward(x, k, true, 0))
				xr := p.Adversarial(m, x, logits, k, 0, true)
				return Tensors{"x_adv": get(b, xr, k*layers.ImageLen)}
			}},
		{Name: "train20", Inputs: trainInputs, Run: train20},
		{Name: "semi10", Inputs: trainInputs, Run: semi10},
		// Cases added later go last: a case's inputs are drawn from its index.
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
		{Name: "semi5_translate_ema", Inputs: trainInputs, Run: semi5TranslateEMA},
		{Name: "semi5_pseudo", Inputs: trainInputs, Run: semi5Pseudo},
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
	}
	return cs
}

// The train20 case: 20 steps of dropout + VAT training, batch 16, on 160
// random "images" with random labels.
func trainInputs(r *rand.Rand) Tensors {
	const n = 160
	return Tensors{"x": drawUniform(r, n*layers.ImageLen), "labels": drawInts(r, n, 10), "test_x": drawUniform(r, 32*layers.ImageLen), "test_labels": drawInts(r, 32, 10)}
}

func train20(b layers.Backend, in Tensors) Tensors {
	cfg := vat.DefaultConfig()
	cfg.Batch, cfg.Epochs, cfg.Dropout, cfg.VAT = 16, 2, true, true
	return trainCase("train20", b, cfg, in) // 2 epochs of 10 steps
}

// The semi10 case: 2 epochs of 5 semi-supervised steps (20 labelled
// images, batches of 8 labelled and 28 unlabelled), Adam with decay,
// dropout, VAT on both batches and entropy minimisation.
func semi10(b layers.Backend, in Tensors) Tensors {
	cfg := vat.DefaultConfig()
	cfg.Epochs, cfg.Dropout, cfg.VAT, cfg.VATLabeled, cfg.EntMin = 2, true, true, true, true
	cfg.Labeled, cfg.Batch, cfg.ULBatch = 20, 8, 28
	cfg.Optimizer, cfg.LR, cfg.LRDecay = "adam", 0.002, 0.9
	return trainCase("semi10", b, cfg, in)
}

// The semi5_translate_ema case: one epoch of 5 semi-supervised steps as in
// semi10, without dropout, every image translated by up to 2 pixels, the
// test loss taken with a moving average of the weights.
func semi5TranslateEMA(b layers.Backend, in Tensors) Tensors {
	cfg := vat.DefaultConfig()
	cfg.Epochs, cfg.VAT, cfg.EntMin, cfg.Translate, cfg.EMA = 1, true, true, 2, 0.9
	cfg.Labeled, cfg.Batch, cfg.ULBatch = 20, 8, 28
	cfg.Optimizer, cfg.LR = "adam", 0.002
	return trainCase("semi5_translate_ema", b, cfg, in)
}

// The semi5_pseudo case: semi5_translate_ema without translations and
// averages, after a teacher (the initial weights of another seed, scaled
// up to give a spread of probabilities) has labelled the unlabelled images
// it gives a probability of at least 0.99 (99 of the 140); the labels are
// part of the output.
func semi5Pseudo(b layers.Backend, in Tensors) Tensors {
	cfg := vat.DefaultConfig()
	cfg.Epochs, cfg.VAT, cfg.EntMin = 1, true, true
	cfg.Labeled, cfg.Batch, cfg.ULBatch = 20, 8, 28
	cfg.Optimizer, cfg.LR = "adam", 0.002
	teacher := layers.InitParams(77)
	for i := range teacher {
		teacher[i] *= 2.5
	}
	var pseudo []float32
	out := trainCase("semi5_pseudo", b, cfg, in, func(t *vat.Trainer) {
		idx, labels, err := t.PseudoLabel(teacher, 0.99)
		if err != nil {
			panic(fmt.Sprintf("layerstest: semi5_pseudo: %v", err))
		}
		for i := range idx {
			pseudo = append(pseudo, float32(idx[i]), float32(labels[i]))
		}
	})
	if len(pseudo) == 0 || len(pseudo) == 2*(len(in["labels"])-cfg.Labeled) {
		panic(fmt.Sprintf("layerstest: semi5_pseudo: the teacher labels %d images: no test of the threshold", len(pseudo)/2))
	}
	out["pseudo_labels"] = pseudo
	return out
}

// trainCase trains cfg on in's images, after prepare when given, and
// returns the losses of every epoch, the parameters and their average.
func trainCase(name string, b layers.Backend, cfg vat.Config, in Tensors, prepare ...func(*vat.Trainer)) Tensors {
	set := func(x, y []float32) *mnist.Set {
		l := make([]int32, len(y))
		for i, v := range y {
			l[i] = int32(v)
		}
		return &mnist.Set{N: len(y), Images: x, Labels: l}
	}
	tr, err := vat.NewTrainer(b, cfg, set(in["x"], in["labels"]), set(in["test_x"], in["test_labels"]), nil)
	if err != nil {
		panic(fmt.Sprintf("layerstest: %s: %v", name, err))
	}
	defer tr.Free()
	for _, f := range prepare {
		f(tr)
	}
	out := Tensors{}
	for tr.Epoch < cfg.Epochs {
		es, err := tr.RunEpoch(nil)
		if err != nil {
			panic(fmt.Sprintf("layerstest: %s: %v", name, err))
		}
		out[fmt.Sprintf("epoch%d_losses", es.Epoch)] = []float32{float32(es.CE), float32(es.VAT), float32(es.Entropy), float32(es.TestLoss)}
	}
	out["params"] = tr.Params()
	if avg := tr.State().Average; avg != nil {
		out["average"] = avg
	}
	return out
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

// Run runs every case on b and on a fresh CPU backend over the same
// inputs. With exact set every output must be bit-identical (CPU against
// CPU with another thread count); otherwise each case's tolerance applies.
func Run(t *testing.T, b layers.Backend, exact bool) {
	for i, c := range Cases() {
		t.Run(c.Name, func(t *testing.T) {
			in := c.InputsFor(i)
			want := c.Run(layers.NewCPU(0), in)
			got := c.Run(b, in)
			if err := b.Sync(); err != nil {
				t.Fatalf("%s: %v", c.Name, err)
			}
			tol := Tolerances[c.Name]
			if exact {
				tol = Tol{}
			}
			check(t, c.Name, got, want, tol)
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

// InputsFor returns case i's inputs, drawn from its own seed.
func (c Case) InputsFor(i int) Tensors { return c.Inputs(rand.New(rand.NewPCG(caseSeed(i), 42))) }

func check(t *testing.T, name string, got, want Tensors, tol Tol) {
	t.Helper()
	for _, r := range CompareAll(got, want, tol) {
		t.Logf("%s.%s: max abs error %.3g, max rel error %.3g (tolerance abs %g rel %g)", name, r.Output, r.MaxAbs, r.MaxRel, tol.Abs, tol.Rel)
		if r.Fail != "" {
			t.Errorf("%s.%s: %s (tolerance abs %g rel %g: %s)", name, r.Output, r.Fail, tol.Abs, tol.Rel, tol.Why)
		}
	}
}
