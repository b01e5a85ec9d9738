package layers

import (
	"fmt"
)

// The seed's model's sizes (SeedCNN): conv 3×3×32 - ReLU - conv 3×3×32 -
// ReLU - max-pool 2×2 - [dropout 0.25] - flatten (4608) - dense 128 - ReLU
// - [dropout 0.5] - dense 10 - softmax, on 1×28×28 images.
const (
	ImageSide = 28
	ImageLen  = ImageSide * ImageSide
	Classes   = 10
	Filters   = 32
	Hidden    = 128
	conv1Side = ImageSide - 2                 // 26
	conv2Side = conv1Side - 2                 // 24
	poolSide  = conv2Side / 2                 // 12
	Flat      = Filters * poolSide * poolSide // 4608
	Drop1     = 0.25
	Drop2     = 0.5
)

// Params lists the seed model's parameters (SeedCNN.Params).
func Params() []Param { return SeedCNN.Params() }

// NumParams is the length of the seed model's flat parameter buffer.
func NumParams() int { return SeedCNN.NumParams() }

// InitParams returns the seed model's initial parameters (SeedCNN.InitParams).
func InitParams(seed uint64) []float32 { return SeedCNN.InitParams(seed) }

// UpdatePass is the pass whose training forward moves batch
// normalisation's running averages: pass 0, the clean pass of a step's
// labelled batch. Every other training pass (VAT's power iterations and
// adversarial pass, the clean pass of the unlabelled batch) normalises
// with its own batch's statistics and leaves the averages, as the VAT
// papers' official code does.
const UpdatePass = 0

// Model is a network (Net) on one backend: the flat parameter and gradient
// buffers with named views, and the activations of one forward pass for up
// to Batch images. Forward and Backward walk the network's layers.
type Model struct {
	B       Backend
	Net     *Net
	Batch   int
	Dropout bool
	Seed    uint64

	Params, Grads Buf
	W, G          map[string]Buf // views into Params and Grads by name
	// Logits is the output buffer of the last layer (Batch×Classes).
	Logits Buf

	steps   []step
	dLogits Buf
	bufs    []Buf // every buffer NewNet allocated, for Free

	// What the last Forward did, which Backward follows.
	acts  []Buf // acts[i] is layer i's input, acts[len(steps)] the logits
	train bool  // dropout and noise applied, batch statistics taken
}

// step is one layer of the model with its shapes and buffers.
type step struct {
	Layer
	in, out Shape
	ord     int // Dropout, Noise: its ordinal among the network's layers of its kind
	// act is the layer's output buffer (nil for ReLU, which works in
	// place); gradIn the buffer of the gradient with respect to its input
	// (nil where the gradient shares its output's buffer, or for the
	// first layer, whose input gradient is Backward's dx).
	act, gradIn Buf
	// BatchNorm: its parameters' views and the statistics of the last
	// forward pass.
	gamma, beta, runMean, runVar Buf
	mean, rstd                   Buf
}

// sharesGrad reports whether the layer's input gradient is computed in
// the buffer of its output gradient (element-wise layers).
func (s *step) sharesGrad() bool {
	return s.Kind == ReLU || s.Kind == Dropout || s.Kind == Noise
}

// NewModel allocates the seed's CNN on b (NewNet of SeedCNN).
func NewModel(b Backend, batch int, dropout bool, seed uint64, params []float32) *Model {
	return NewNet(SeedCNN, b, batch, dropout, seed, params)
}

// NewNet allocates network net on b for batches of up to batch images,
// with parameters initialised from params (length net.NumParams()).
// dropout turns the network's dropout layers on in training passes.
func NewNet(net *Net, b Backend, batch int, dropout bool, seed uint64, params []float32) *Model {
	if batch <= 0 {
		panic("layers: model: batch must be positive")
	}
	if len(params) != net.NumParams() {
		panic(fmt.Sprintf("layers: model %s: %d parameters, want %d", net.Name, len(params), net.NumParams()))
	}
	m := &Model{B: b, Net: net, Batch: batch, Dropout: dropout, Seed: seed,
		W: map[string]Buf{}, G: map[string]Buf{}}
	alloc := func(n int) Buf {
		x := b.Alloc(n)
		m.bufs = append(m.bufs, x)
		return x
	}
	n := net.NumParams()
	m.Params, m.Grads = alloc(n), alloc(n)
	b.Upload(m.Params, params)
	for _, p := range net.Params() {
		m.W[p.Name] = b.Slice(m.Params, p.Off, p.Len)
		m.G[p.Name] = b.Slice(m.Grads, p.Off, p.Len)
	}
	shapes := net.Shapes()
	ords := map[Kind]int{}
	for i, l := range net.Layers {
		s := step{Layer: l, in: shapes[i], out: shapes[i+1], ord: ords[l.Kind]}
		ords[l.Kind]++
		switch {
		case l.Kind == Dropout && !dropout, l.Kind == ReLU:
		default:
			s.act = alloc(batch * s.out.Len())
		}
		if i > 0 && !s.sharesGrad() {
			s.gradIn = alloc(batch * s.in.Len())
		}
		if l.Kind == BatchNorm {
			s.gamma, s.beta = m.W[l.Name+".gamma"], m.W[l.Name+".beta"]
			s.runMean, s.runVar = m.W[l.Name+".mean"], m.W[l.Name+".var"]
			s.mean, s.rstd = alloc(s.in.C), alloc(s.in.C)
		}
		m.steps = append(m.steps, s)
	}
	m.Logits = m.steps[len(m.steps)-1].act
	m.dLogits = alloc(batch * Classes)
	return m
}

// Free releases the model's buffers.
func (m *Model) Free() {
	for _, b := range m.bufs {
		m.B.Free(b)
	}
	m.bufs = nil
}

func (m *Model) dropRand(pass, layer int) Rand {
	return Rand{Seed: m.Seed, Tensor: TensorDropout + uint32(16*pass+layer)}
}

func (m *Model) noiseRand(pass, layer int) Rand {
	return Rand{Seed: m.Seed, Tensor: TensorNoise + uint32(16*pass+layer)}
}

// Forward runs the model on n images x (n×784) and returns the logits
// (n×10, in m.Logits). With train set, dropout (when the model has it on)
// and noise layers apply, with the masks and noise of the streams of the
// given pass (0 for the clean pass of a step), and batch normalisation
// takes the batch's statistics, moving its running averages in pass
// UpdatePass only; without train, dropout and noise are off and batch
// normalisation uses the running averages.
func (m *Model) Forward(x Buf, n int, train bool, pass int) Buf {
	mode := BNRunning
	if train {
		mode = BNBatch
		if pass == UpdatePass {
			mode = BNBatchUpdate
		}
	}
	return m.forward(x, n, train, pass, mode, 0)
}

// EstimateStats runs the model on n images x with dropout and noise off,
// batch normalisation taking the batch's statistics, and makes each
// running average the mean of the statistics of this batch and the k
// batches before it since k was 0 (ratio k/(k+1), in float32; the VAT
// papers' re-estimation of the statistics after training). The batch's
// variance counts unbiased, as in every update of the averages. It is not
// followed by Backward.
func (m *Model) EstimateStats(x Buf, n, k int) Buf {
	return m.forward(x, n, false, 0, BNBatchUpdate, float32(k)/float32(k+1))
}

// forward walks the layers: dropout and noise in training passes (train),
// batch normalisation in mode, moving the running averages (mode
// BNBatchUpdate) with each layer's own Ratio in training and with ratio in
// EstimateStats (train false).
func (m *Model) forward(x Buf, n int, train bool, pass int, mode BNMode, ratio float32) Buf {
	if n > m.Batch {
		panic(fmt.Sprintf("layers: model: batch of %d, allocated for %d", n, m.Batch))
	}
	b := m.B
	m.acts = append(m.acts[:0], x)
	a := x
	for i := range m.steps {
		s := &m.steps[i]
		out := s.act
		switch s.Kind {
		case Conv:
			b.ConvForward(out, a, m.W[s.Name+".w"], m.W[s.Name+".b"], s.conv(n))
		case Dense:
			b.DenseForward(out, a, m.W[s.Name+".w"], m.W[s.Name+".b"], n, s.in.Len(), s.Units)
		case ReLU:
			out = a
			b.ReLUForward(out, a, n*s.in.Len())
		case MaxPool:
			b.MaxPoolForward(out, a, s.pool(n))
		case Dropout:
			if !(train && m.Dropout) {
				out = a
				break
			}
			b.DropoutForward(out, a, n*s.in.Len(), s.Rate, m.dropRand(pass, s.ord))
		case Noise:
			if !train {
				out = a
				break
			}
			b.AddNoise(out, a, n*s.in.Len(), s.Std, m.noiseRand(pass, s.ord))
		case BatchNorm:
			r := s.Ratio
			if mode == BNBatchUpdate && !train {
				r = ratio // EstimateStats
			}
			b.BatchNormForward(out, a, s.gamma, s.beta, s.mean, s.rstd, s.runMean, s.runVar, n, s.in.C, s.Eps, r, mode)
		}
		m.acts = append(m.acts, out)
		a = out
	}
	m.train = train
	return a
}

func (s *step) conv(n int) ConvShape {
	return ConvShape{N: n, C: s.in.C, H: s.in.H, W: s.in.W, K: s.Units, R: 3, S: 3}
}

func (s *step) pool(n int) PoolShape { return PoolShape{N: n, C: s.in.C, H: s.in.H, W: s.in.W} }

// Backward propagates dlogits (n×10) back through the activations of the
// last Forward (with the same n and pass: dropout masks and noise as that
// pass drew them, batch normalisation through the statistics it took).
// With paramGrads set it adds the parameter gradients to m.Grads; with dx
// non-nil it writes the gradient with respect to the input images.
// dlogits is read before m's scratch is written, so it may be m.DLogits().
func (m *Model) Backward(dlogits Buf, x Buf, n int, pass int, paramGrads bool, dx Buf) {
	b := m.B
	if len(m.acts) != len(m.steps)+1 {
		panic("layers: model: Backward before Forward")
	}
	g := dlogits
	for i := len(m.steps) - 1; i >= 0; i-- {
		s := &m.steps[i]
		in, out := m.acts[i], m.acts[i+1]
		if i == 0 {
			in = x
		}
		gi := s.gradIn
		if i == 0 {
			gi = dx
			if dx == nil && !paramGrads {
				break
			}
		}
		if s.sharesGrad() {
			gi = g
		}
		var gw, gb Buf
		if paramGrads && s.Name != "" {
			switch s.Kind {
			case BatchNorm:
				gw, gb = m.G[s.Name+".gamma"], m.G[s.Name+".beta"]
			default:
				gw, gb = m.G[s.Name+".w"], m.G[s.Name+".b"]
			}
		}
		switch s.Kind {
		case Conv:
			b.ConvBackward(gi, gw, gb, g, in, m.W[s.Name+".w"], s.conv(n))
		case Dense:
			b.DenseBackward(gi, gw, gb, g, in, m.W[s.Name+".w"], n, s.in.Len(), s.Units)
		case ReLU:
			b.ReLUBackward(g, g, out, n*s.in.Len())
		case MaxPool:
			b.MaxPoolBackward(gi, g, in, out, s.pool(n))
		case Dropout:
			if m.train && m.Dropout {
				b.DropoutBackward(g, g, n*s.in.Len(), s.Rate, m.dropRand(pass, s.ord))
			}
		case Noise: // the identity
		case BatchNorm:
			b.BatchNormBackward(gi, gw, gb, g, in, s.gamma, s.mean, s.rstd, n, s.in.C, m.train)
		}
		g = gi
	}
}

// DLogits returns the model's logits-gradient scratch buffer (Batch×10).
func (m *Model) DLogits() Buf { return m.dLogits }
