package layers

import (
	"fmt"
	"math"
	"strings"
)

// A network is declared as a list of layers (Net); Model walks the list
// forward and backward, and Params derives the parameters from it. A new
// network is an entry in Nets.

// Kind is the kind of one layer.
type Kind int

const (
	// Conv is a 3×3 valid (unpadded) stride-1 convolution with bias and
	// Units filters: parameters <name>.w [Units C 3 3] and <name>.b [Units].
	Conv Kind = iota
	// Dense is a fully connected layer with bias, Units outputs, on the
	// flattened input: <name>.w [in Units] and <name>.b [Units].
	Dense
	// ReLU is max(x, 0), in place.
	ReLU
	// MaxPool is 2×2 stride-2 max pooling.
	MaxPool
	// Dropout drops with probability Rate in training passes of runs with
	// dropout on (Model.Dropout); elsewhere it passes its input on.
	Dropout
	// BatchNorm normalises each feature of a flat input over the batch
	// (Backend.BatchNormForward) with epsilon Eps and running averages of
	// ratio Ratio: parameters <name>.gamma (scale, initialised to 1) and
	// <name>.beta (shift, 0), and the running statistics <name>.mean (0)
	// and <name>.var (1), which are state rather than parameters (Param.Stat).
	BatchNorm
	// Noise adds Gaussian noise of standard deviation Std in training
	// passes (Backend.AddNoise); elsewhere it passes its input on.
	Noise
)

func (k Kind) String() string {
	return [...]string{"conv", "dense", "relu", "maxpool", "dropout", "batchnorm", "noise"}[k]
}

// Layer is one entry of a network's list.
type Layer struct {
	Kind Kind
	// Name prefixes the layer's parameters ("conv1" has conv1.w and
	// conv1.b); layers without parameters need none.
	Name  string
	Units int     // Conv: filters; Dense: outputs
	Rate  float32 // Dropout: the probability of dropping
	Std   float32 // Noise: the standard deviation
	Eps   float32 // BatchNorm: added to the variance
	Ratio float32 // BatchNorm: weight of the old running average in each update
}

// Init is how a network's weights are initialised (biases are zero, batch
// normalisation's scales one).
type Init int

const (
	// GlorotUniform draws each weight tensor from U(-l, l), l =
	// sqrt(6/(fan_in + fan_out)) (Keras 1.2.2's default, the seed's).
	GlorotUniform Init = iota
	// NormalFanIn draws each weight tensor from N(0, 1/fan_in) (the VAT
	// papers' official code).
	NormalFanIn
)

// Net is a network on 1×28×28 images with Classes outputs (the logits):
// its name (what --net, checkpoints and errors call it), a description,
// the initialisation of its weights and its layers in order.
type Net struct {
	Name, Doc string
	Init      Init
	Layers    []Layer
}

// SeedCNN is the seed's model: conv 3×3×32 - ReLU - conv 3×3×32 - ReLU -
// max-pool 2×2 - [dropout 0.25] - flatten (4608) - dense 128 - ReLU -
// [dropout 0.5] - dense 10, Glorot-uniform weights.
var SeedCNN = &Net{Name: "seed-cnn", Doc: "the seed's CNN: conv 32 - conv 32 - max-pool - dense 128 - dense 10 (dropout with --dropout)",
	Init: GlorotUniform,
	Layers: []Layer{
		{Kind: Conv, Name: "conv1", Units: Filters},
		{Kind: ReLU},
		{Kind: Conv, Name: "conv2", Units: Filters},
		{Kind: ReLU},
		{Kind: MaxPool},
		{Kind: Dropout, Rate: Drop1},
		{Kind: Dense, Name: "dense1", Units: Hidden},
		{Kind: ReLU},
		{Kind: Dropout, Rate: Drop2},
		{Kind: Dense, Name: "dense2", Units: Classes},
	}}

// The VAT papers' batch normalisation: epsilon 1e-6, running averages
// with ratio 0.9 (takerum/vat, source/layers/batch_normalization.py).
const (
	PaperBNEps   = 1e-6
	PaperBNRatio = 0.9
)

// MLP returns the VAT papers' fully connected network of the given layer
// sizes (784 first, Classes last): each layer linear with bias, then batch
// normalisation, then ReLU; the output layer linear, then batch
// normalisation (its output the logits). With noise > 0, Gaussian noise
// of that standard deviation is added to each hidden layer's output
// (after its ReLU) in training passes. Weights N(0, 1/fan_in).
func MLP(name, doc string, sizes []int, noise float32) *Net {
	if len(sizes) < 2 || sizes[0] != ImageLen || sizes[len(sizes)-1] != Classes {
		panic(fmt.Sprintf("layers: MLP %s: sizes %v must run from %d to %d", name, sizes, ImageLen, Classes))
	}
	n := &Net{Name: name, Doc: doc, Init: NormalFanIn}
	for i, units := range sizes[1:] {
		n.Layers = append(n.Layers,
			Layer{Kind: Dense, Name: fmt.Sprintf("dense%d", i+1), Units: units},
			Layer{Kind: BatchNorm, Name: fmt.Sprintf("bn%d", i+1), Eps: PaperBNEps, Ratio: PaperBNRatio})
		if i < len(sizes)-2 {
			n.Layers = append(n.Layers, Layer{Kind: ReLU})
			if noise > 0 {
				n.Layers = append(n.Layers, Layer{Kind: Noise, Std: noise})
			}
		}
	}
	return n
}

// The VAT papers' MNIST networks (takerum/vat, models/fnn_mnist_*.py; the
// TPAMI variant as its author describes it in takerum/vat issue #3).
var (
	MLPSemi  = MLP("mlp-semi", "the VAT papers' semi-supervised MLP: 784-1200-1200-10, batch normalisation", []int{ImageLen, 1200, 1200, Classes}, 0)
	MLPSup   = MLP("mlp-sup", "the VAT papers' supervised MLP: 784-1200-600-300-150-10, batch normalisation", []int{ImageLen, 1200, 600, 300, 150, Classes}, 0)
	MLPTPAMI = MLP("mlp-tpami", "the TPAMI paper's 100-label MLP: mlp-sup with Gaussian noise (std 0.5) on each hidden layer's output",
		[]int{ImageLen, 1200, 600, 300, 150, Classes}, 0.5)
)

// Nets lists the networks, by name: what --net chooses from.
var Nets = []*Net{SeedCNN, MLPSemi, MLPSup, MLPTPAMI}

// NetNamed returns the network of that name, or an error listing the names.
func NetNamed(name string) (*Net, error) {
	names := make([]string, len(Nets))
	for i, n := range Nets {
		if n.Name == name {
			return n, nil
		}
		names[i] = n.Name
	}
	return nil, fmt.Errorf("unknown network %q (the networks: %s)", name, strings.Join(names, ", "))
}

// Shape is the shape of one image's activations: C×H×W, or a flat vector
// of C features (H = W = 1).
type Shape struct{ C, H, W int }

// Len returns C·H·W.
func (s Shape) Len() int { return s.C * s.H * s.W }

// Shapes returns the shape of the input of each layer and, last, of the
// output; it panics on a list that does not make a network (a convolution
// after a flat layer, an odd pooling, batch normalisation of images, an
// output that is not Classes logits from a dense or batch normalisation
// layer, more than 16 dropout or noise layers).
func (n *Net) Shapes() []Shape {
	bad := func(i int, format string, a ...any) {
		panic(fmt.Sprintf("layers: network %s, layer %d (%s): %s", n.Name, i, n.Layers[i].Kind, fmt.Sprintf(format, a...)))
	}
	s := Shape{1, ImageSide, ImageSide}
	out := []Shape{s}
	drops, noises := 0, 0
	for i, l := range n.Layers {
		switch l.Kind {
		case Conv:
			if s.H < 3 || s.W < 3 || l.Units <= 0 {
				bad(i, "input %v, %d filters", s, l.Units)
			}
			s = Shape{l.Units, s.H - 2, s.W - 2}
		case Dense:
			if l.Units <= 0 {
				bad(i, "%d units", l.Units)
			}
			s = Shape{l.Units, 1, 1}
		case MaxPool:
			if s.H%2 != 0 || s.W%2 != 0 {
				bad(i, "input %v not even", s)
			}
			s = Shape{s.C, s.H / 2, s.W / 2}
		case BatchNorm:
			if s.H != 1 || s.W != 1 {
				bad(i, "input %v: batch normalisation of flat inputs only", s)
			}
			if !(l.Eps > 0) || !(l.Ratio >= 0 && l.Ratio < 1) {
				bad(i, "eps %v, ratio %v", l.Eps, l.Ratio)
			}
		case Dropout:
			if drops++; drops > 16 {
				bad(i, "more than 16 dropout layers")
			}
		case Noise:
			if noises++; noises > 16 {
				bad(i, "more than 16 noise layers")
			}
		case ReLU:
		default:
			bad(i, "unknown kind")
		}
		out = append(out, s)
	}
	if last := n.Layers[len(n.Layers)-1].Kind; s.Len() != Classes || s.H != 1 || (last != Dense && last != BatchNorm) {
		panic(fmt.Sprintf("layers: network %s: the last layer must give %d logits (a dense or batch normalisation layer), got %s of %v", n.Name, Classes, last, s))
	}
	return out
}

// Param describes one parameter tensor's place in the flat buffer.
type Param struct {
	Name          string
	Shape         []int
	Off, Len      int
	FanIn, FanOut int // the fans of a weight tensor; 0 for the others
	// Fill is the initial value of a tensor that is not a weight (biases
	// and shifts 0, scales and running variances 1).
	Fill float32
	// Stat marks a running statistic of batch normalisation: state kept
	// in the parameter buffer, so that it goes wherever the weights go
	// (checkpoints, evaluation, a teacher, the weights' average), but no
	// backward pass writes its gradient, which stays 0, and for a zero
	// gradient Adam's and Adadelta's updates are exactly 0.
	Stat bool
}

// Params lists the network's parameters in buffer order: each layer's in
// layer order. Shapes follow Keras: conv filters K×C×R×S, dense weights
// in×out.
func (n *Net) Params() []Param {
	shapes := n.Shapes()
	var ps []Param
	for i, l := range n.Layers {
		in := shapes[i]
		switch l.Kind {
		case Conv:
			ps = append(ps,
				Param{Name: l.Name + ".w", Shape: []int{l.Units, in.C, 3, 3}, FanIn: in.C * 9, FanOut: l.Units * 9},
				Param{Name: l.Name + ".b", Shape: []int{l.Units}})
		case Dense:
			ps = append(ps,
				Param{Name: l.Name + ".w", Shape: []int{in.Len(), l.Units}, FanIn: in.Len(), FanOut: l.Units},
				Param{Name: l.Name + ".b", Shape: []int{l.Units}})
		case BatchNorm:
			c := []int{in.C}
			ps = append(ps,
				Param{Name: l.Name + ".gamma", Shape: c, Fill: 1},
				Param{Name: l.Name + ".beta", Shape: c},
				Param{Name: l.Name + ".mean", Shape: c, Stat: true},
				Param{Name: l.Name + ".var", Shape: c, Fill: 1, Stat: true})
		}
	}
	off := 0
	for i := range ps {
		k := 1
		for _, d := range ps[i].Shape {
			k *= d
		}
		ps[i].Off, ps[i].Len = off, k
		off += k
	}
	return ps
}

// NumParams returns the length of the network's flat parameter buffer.
func (n *Net) NumParams() int {
	ps := n.Params()
	last := ps[len(ps)-1]
	return last.Off + last.Len
}

// InitParams returns the network's initial parameters: weight tensor i
// (its index in Params) from stream TensorInit+i at step 0 (GlorotUniform:
// the uniform stream u, w = (2u - 1)·sqrt(6/(fan_in + fan_out));
// NormalFanIn: the normal stream z, w = z·sqrt(1/fan_in), each rounded to
// float32), the other tensors at their Fill.
func (n *Net) InitParams(seed uint64) []float32 {
	w := make([]float32, n.NumParams())
	for i, p := range n.Params() {
		v := w[p.Off : p.Off+p.Len]
		r := Rand{Seed: seed, Tensor: TensorInit + uint32(i)}
		switch {
		case p.FanIn == 0:
			for j := range v {
				v[j] = p.Fill
			}
		case n.Init == GlorotUniform:
			r.Uniform(v, 0)
			limit := float32(math.Sqrt(6 / float64(p.FanIn+p.FanOut)))
			for j := range v {
				v[j] = (2*v[j] - 1) * limit
			}
		case n.Init == NormalFanIn:
			r.Normal(v, 0)
			std := float32(math.Sqrt(1 / float64(p.FanIn)))
			for j := range v {
				v[j] *= std
			}
		default:
			panic(fmt.Sprintf("layers: network %s: unknown initialisation %d", n.Name, n.Init))
		}
	}
	return w
}

// HasKind reports whether the network has a layer of kind k.
func (n *Net) HasKind(k Kind) bool {
	for _, l := range n.Layers {
		if l.Kind == k {
			return true
		}
	}
	return false
}

// Flops returns the floating-point operations of one forward pass of the
// network on one image, counted as 2·m·n·k for every convolution and
// matrix product (element-wise operations not counted), and the part of
// it in the first layer (whose input gradient training never needs).
func (n *Net) Flops() (forward, first int64) {
	shapes := n.Shapes()
	for i, l := range n.Layers {
		in, out := shapes[i], shapes[i+1]
		var f int64
		switch l.Kind {
		case Conv:
			f = 2 * int64(out.Len()) * int64(in.C*9)
		case Dense:
			f = 2 * int64(in.Len()) * int64(l.Units)
		}
		if i == 0 {
			first = f
		}
		forward += f
	}
	return forward, first
}
