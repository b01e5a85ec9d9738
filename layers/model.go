package layers

import (
	"fmt"
	"math"
)

// The seed's model: conv 3×3×32 - ReLU - conv 3×3×32 - ReLU - max-pool 2×2
// - [dropout 0.25] - flatten (4608) - dense 128 - ReLU - [dropout 0.5] -
// dense 10 - softmax, on 1×28×28 images.
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

// Param describes one parameter tensor's place in the flat buffer.
type Param struct {
	Name          string
	Shape         []int
	Off, Len      int
	FanIn, FanOut int // Glorot fans; 0 for biases (initialised to zero)
}

// Params lists the seed model's parameters in buffer order. Shapes follow
// Keras: conv filters K×C×R×S, dense weights in×out.
func Params() []Param {
	ps := []Param{
		{Name: "conv1.w", Shape: []int{Filters, 1, 3, 3}, FanIn: 1 * 9, FanOut: Filters * 9},
		{Name: "conv1.b", Shape: []int{Filters}},
		{Name: "conv2.w", Shape: []int{Filters, Filters, 3, 3}, FanIn: Filters * 9, FanOut: Filters * 9},
		{Name: "conv2.b", Shape: []int{Filters}},
		{Name: "dense1.w", Shape: []int{Flat, Hidden}, FanIn: Flat, FanOut: Hidden},
		{Name: "dense1.b", Shape: []int{Hidden}},
		{Name: "dense2.w", Shape: []int{Hidden, Classes}, FanIn: Hidden, FanOut: Classes},
		{Name: "dense2.b", Shape: []int{Classes}},
	}
	off := 0
	for i := range ps {
		n := 1
		for _, d := range ps[i].Shape {
			n *= d
		}
		ps[i].Off, ps[i].Len = off, n
		off += n
	}
	return ps
}

// NumParams is the length of the flat parameter buffer.
func NumParams() int {
	ps := Params()
	last := ps[len(ps)-1]
	return last.Off + last.Len
}

// InitParams returns Glorot-uniform weights (limit sqrt(6/(fan_in +
// fan_out)), drawn from the uniform stream TensorInit+index at step 0) and
// zero biases.
func InitParams(seed uint64) []float32 {
	w := make([]float32, NumParams())
	for i, p := range Params() {
		if p.FanIn == 0 {
			continue
		}
		v := w[p.Off : p.Off+p.Len]
		Rand{Seed: seed, Tensor: TensorInit + uint32(i)}.Uniform(v, 0)
		limit := float32(math.Sqrt(6 / float64(p.FanIn+p.FanOut)))
		for j := range v {
			v[j] = (2*v[j] - 1) * limit
		}
	}
	return w
}

// Model is the seed's CNN on one backend: the flat parameter and gradient
// buffers with named views, and the activations of one forward pass for up
// to Batch images.
type Model struct {
	B       Backend
	Batch   int
	Dropout bool
	Seed    uint64

	Params, Grads Buf
	W, G          map[string]Buf // views into Params and Grads by name

	// Activations (assigned by Forward, read by Backward).
	y1, y2, pool, drop1, h, drop2, Logits Buf
	// Gradient scratch.
	dLogits, dh, dpool, dy2, dy1 Buf
	dropped                      bool // the last Forward applied dropout
}

// NewModel allocates the model on b for batches of up to batch images,
// with parameters initialised from params (length NumParams()).
func NewModel(b Backend, batch int, dropout bool, seed uint64, params []float32) *Model {
	if batch <= 0 {
		panic("layers: model: batch must be positive")
	}
	if len(params) != NumParams() {
		panic(fmt.Sprintf("layers: model: %d parameters, want %d", len(params), NumParams()))
	}
	m := &Model{B: b, Batch: batch, Dropout: dropout, Seed: seed,
		Params: b.Alloc(NumParams()), Grads: b.Alloc(NumParams()),
		W: map[string]Buf{}, G: map[string]Buf{}}
	b.Upload(m.Params, params)
	for _, p := range Params() {
		m.W[p.Name] = b.Slice(m.Params, p.Off, p.Len)
		m.G[p.Name] = b.Slice(m.Grads, p.Off, p.Len)
	}
	m.y1 = b.Alloc(batch * Filters * conv1Side * conv1Side)
	m.y2 = b.Alloc(batch * Filters * conv2Side * conv2Side)
	m.pool = b.Alloc(batch * Flat)
	m.h = b.Alloc(batch * Hidden)
	if dropout {
		m.drop1 = b.Alloc(batch * Flat)
		m.drop2 = b.Alloc(batch * Hidden)
	}
	m.Logits = b.Alloc(batch * Classes)
	m.dLogits = b.Alloc(batch * Classes)
	m.dh = b.Alloc(batch * Hidden)
	m.dpool = b.Alloc(batch * Flat)
	m.dy2 = b.Alloc(batch * Filters * conv2Side * conv2Side)
	m.dy1 = b.Alloc(batch * Filters * conv1Side * conv1Side)
	return m
}

// Free releases the model's buffers.
func (m *Model) Free() {
	for _, b := range []Buf{m.Params, m.Grads, m.y1, m.y2, m.pool, m.drop1, m.h, m.drop2, m.Logits, m.dLogits, m.dh, m.dpool, m.dy2, m.dy1} {
		if b != nil {
			m.B.Free(b)
		}
	}
}

func (m *Model) shapes(n int) (c1, c2 ConvShape, p PoolShape) {
	c1 = ConvShape{N: n, C: 1, H: ImageSide, W: ImageSide, K: Filters, R: 3, S: 3}
	c2 = ConvShape{N: n, C: Filters, H: conv1Side, W: conv1Side, K: Filters, R: 3, S: 3}
	p = PoolShape{N: n, C: Filters, H: conv2Side, W: conv2Side}
	return
}

func (m *Model) dropRand(pass, layer int) Rand {
	return Rand{Seed: m.Seed, Tensor: TensorDropout + uint32(16*pass+layer)}
}

// Forward runs the model on n images x (n×784) and returns the logits
// (n×10, in m.Logits). With train set and dropout on, dropout masks come
// from the streams of the given pass (0 for the clean pass of a step).
func (m *Model) Forward(x Buf, n int, train bool, pass int) Buf {
	if n > m.Batch {
		panic(fmt.Sprintf("layers: model: batch of %d, allocated for %d", n, m.Batch))
	}
	b := m.B
	c1, c2, ps := m.shapes(n)
	b.ConvForward(m.y1, x, m.W["conv1.w"], m.W["conv1.b"], c1)
	b.ReLUForward(m.y1, m.y1, c1.OutLen())
	b.ConvForward(m.y2, m.y1, m.W["conv2.w"], m.W["conv2.b"], c2)
	b.ReLUForward(m.y2, m.y2, c2.OutLen())
	b.MaxPoolForward(m.pool, m.y2, ps)
	flat := m.pool
	m.dropped = m.Dropout && train
	if m.dropped {
		b.DropoutForward(m.drop1, m.pool, n*Flat, Drop1, m.dropRand(pass, 0))
		flat = m.drop1
	}
	b.DenseForward(m.h, flat, m.W["dense1.w"], m.W["dense1.b"], n, Flat, Hidden)
	b.ReLUForward(m.h, m.h, n*Hidden)
	hid := m.h
	if m.dropped {
		b.DropoutForward(m.drop2, m.h, n*Hidden, Drop2, m.dropRand(pass, 1))
		hid = m.drop2
	}
	b.DenseForward(m.Logits, hid, m.W["dense2.w"], m.W["dense2.b"], n, Hidden, Classes)
	return m.Logits
}

// Backward propagates dlogits (n×10) back through the activations of the
// last Forward (with the same n and pass; dropout as that pass applied it). With
// paramGrads set it adds the parameter gradients to m.Grads; with dx
// non-nil it writes the gradient with respect to the input images.
// dlogits is read before m's scratch is written, so it may be m.DLogits().
func (m *Model) Backward(dlogits Buf, x Buf, n int, pass int, paramGrads bool, dx Buf) {
	b := m.B
	c1, c2, ps := m.shapes(n)
	g := func(name string) (Buf, Buf) {
		if !paramGrads {
			return nil, nil
		}
		return m.G[name+".w"], m.G[name+".b"]
	}
	hid, flat := m.h, m.pool
	if m.dropped {
		hid, flat = m.drop2, m.drop1
	}
	gw, gb := g("dense2")
	b.DenseBackward(m.dh, gw, gb, dlogits, hid, m.W["dense2.w"], n, Hidden, Classes)
	if m.dropped {
		b.DropoutBackward(m.dh, m.dh, n*Hidden, Drop2, m.dropRand(pass, 1))
	}
	b.ReLUBackward(m.dh, m.dh, m.h, n*Hidden)
	gw, gb = g("dense1")
	b.DenseBackward(m.dpool, gw, gb, m.dh, flat, m.W["dense1.w"], n, Flat, Hidden)
	if m.dropped {
		b.DropoutBackward(m.dpool, m.dpool, n*Flat, Drop1, m.dropRand(pass, 0))
	}
	b.MaxPoolBackward(m.dy2, m.dpool, m.y2, m.pool, ps)
	b.ReLUBackward(m.dy2, m.dy2, m.y2, c2.OutLen())
	gw, gb = g("conv2")
	b.ConvBackward(m.dy1, gw, gb, m.dy2, m.y1, m.W["conv2.w"], c2)
	b.ReLUBackward(m.dy1, m.dy1, m.y1, c1.OutLen())
	gw, gb = g("conv1")
	if gw != nil || dx != nil {
		b.ConvBackward(dx, gw, gb, m.dy1, x, m.W["conv1.w"], c1)
	}
}

// DLogits returns the model's logits-gradient scratch buffer (Batch×10).
func (m *Model) DLogits() Buf { return m.dLogits }
