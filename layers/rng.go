package layers

import "math"

// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2,
// 3", SC 2011) is the counter-based generator behind every random number
// vatgpu draws: weight initialisation, shuffling, dropout masks and VAT's
// random directions. Being counter-based, element i of any stream can be
// computed independently, so the GPU kernels draw exactly the numbers the
// CPU draws.
//
// The mapping, shared by the CPU code here and kernels.cu:
//
//	key     = (uint32(seed), uint32(seed >> 32))
//	counter = (block, tensor, uint32(step), uint32(step >> 32))
//
// where block = element / 4 and the element takes word element % 4 of the
// block's output. tensor names the use (see the Tensor* constants) and step
// is the training step (or the epoch for shuffling, 0 for initialisation).
//
// Uniform: u = float32(word >> 8) * 2^-24, in [0, 1).
//
// Normal (Box-Muller, in float64, rounded to float32 once): words 0 and 1 of
// a block give elements 4b and 4b+1, words 2 and 3 give 4b+2 and 4b+3:
//
//	u1 = (float64(w0) + 1) * 2^-32   in (0, 1]
//	u2 = float64(w1) * 2^-32         in [0, 1)
//	z0 = sqrt(-2 ln u1) * cos(2π u2)
//	z1 = sqrt(-2 ln u1) * sin(2π u2)

const (
	philoxM0 = 0xD2511F53
	philoxM1 = 0xCD9E8D57
	philoxW0 = 0x9E3779B9
	philoxW1 = 0xBB67AE85
)

// Philox computes one Philox4x32-10 block: ten rounds over the counter
// ctr under the key key.
func Philox(ctr [4]uint32, key [2]uint32) [4]uint32 {
	c0, c1, c2, c3 := ctr[0], ctr[1], ctr[2], ctr[3]
	k0, k1 := key[0], key[1]
	for r := 0; r < 10; r++ {
		if r > 0 {
			k0 += philoxW0
			k1 += philoxW1
		}
		p0 := uint64(philoxM0) * uint64(c0)
		p1 := uint64(philoxM1) * uint64(c2)
		hi0, lo0 := uint32(p0>>32), uint32(p0)
		hi1, lo1 := uint32(p1>>32), uint32(p1)
		c0, c1, c2, c3 = hi1^c1^k0, lo1, hi0^c3^k1, lo0
	}
	return [4]uint32{c0, c1, c2, c3}
}

// Tensor identifiers: the second counter word of every stream. Dropout
// streams are TensorDropout + 16*pass + layer (layer: the dropout layer's
// ordinal in its network), noise streams TensorNoise + 16*pass + layer
// likewise, where pass 0 is the clean
// forward pass of a step (of the labelled batch in semi-supervised runs),
// passes 1..ip the power iterations, ip+1 the adversarial pass and ip+2
// the clean pass of the unlabelled batch.
const (
	TensorInit           uint32 = 0x100   // + parameter index
	TensorShuffle        uint32 = 0x200   // step = epoch
	TensorDirection      uint32 = 0x300   // VAT's random start d ~ N(0, I)
	TensorLabeled        uint32 = 0x500   // choice of the labelled subset (step 0)
	TensorLabeledShuffle uint32 = 0x600   // order of the labelled stream, step = its pass over the subset
	TensorTranslate      uint32 = 0x700   // + 0 labelled, + 1 unlabelled batch: random translations
	TensorValidation     uint32 = 0x800   // choice of the validation images (step 0)
	TensorDropout        uint32 = 0x10000 // + 16*pass + layer
	TensorNoise          uint32 = 0x20000 // + 16*pass + layer: Gaussian noise layers, numbered as dropout's
)

// Rand names one stream of random numbers: the run's seed and the tensor it
// feeds. The step completes the counter; backends take it from SetStep.
type Rand struct {
	Seed   uint64
	Tensor uint32
}

func (r Rand) key() [2]uint32 { return [2]uint32{uint32(r.Seed), uint32(r.Seed >> 32)} }

func (r Rand) block(b uint32, step uint64) [4]uint32 {
	return Philox([4]uint32{b, r.Tensor, uint32(step), uint32(step >> 32)}, r.key())
}

// Uniform fills u with element i of stream r at step, i = 0, 1, ...
func (r Rand) Uniform(u []float32, step uint64) {
	for b := 0; b*4 < len(u); b++ {
		w := r.block(uint32(b), step)
		for j := 0; j < 4 && 4*b+j < len(u); j++ {
			u[4*b+j] = wordUniform(w[j])
		}
	}
}

// Normal fills z with element i of stream r's standard normals at step.
func (r Rand) Normal(z []float32, step uint64) { r.normalFrom(z, 0, step) }

// normalFrom fills z with elements 4·b0, 4·b0+1, ... of stream r's standard
// normals at step: whole groups of 8 blocks by normalBlocks (AVX-512, the
// same bits) where the machine has it, the rest here.
func (r Rand) normalFrom(z []float32, b0 uint32, step uint64) {
	b := 0
	if n := len(z) / 32 * 32; normalBlocks(z[:n], r, b0, step) {
		b = n / 4
	}
	for ; b*4 < len(z); b++ {
		w := r.block(b0+uint32(b), step)
		z0, z1 := boxMuller(w[0], w[1])
		z2, z3 := boxMuller(w[2], w[3])
		v := [4]float32{z0, z1, z2, z3}
		for j := 0; j < 4 && 4*b+j < len(z); j++ {
			z[4*b+j] = v[j]
		}
	}
}

// Uint32s fills w with the raw words of stream r at step.
func (r Rand) Uint32s(w []uint32, step uint64) {
	for b := 0; b*4 < len(w); b++ {
		o := r.block(uint32(b), step)
		for j := 0; j < 4 && 4*b+j < len(w); j++ {
			w[4*b+j] = o[j]
		}
	}
}

func wordUniform(w uint32) float32 { return float32(w>>8) * (1.0 / (1 << 24)) }

func boxMuller(w0, w1 uint32) (float32, float32) {
	u1 := (float64(w0) + 1) * (1.0 / (1 << 32))
	u2 := float64(w1) * (1.0 / (1 << 32))
	rad := math.Sqrt(-2 * math.Log(u1))
	s, c := math.Sincos(2 * math.Pi * u2)
	return float32(rad * c), float32(rad * s)
}

// Permutation returns a permutation of 0..n-1 drawn from stream r at step
// by Fisher-Yates, index i swapping with j = floor(w_i * (i+1) / 2^32),
// where w_i is the stream's i-th word.
func (r Rand) Permutation(n int, step uint64) []int32 {
	p := make([]int32, n)
	for i := range p {
		p[i] = int32(i)
	}
	w := make([]uint32, n)
	r.Uint32s(w, step)
	for i := n - 1; i > 0; i-- {
		j := int((uint64(w[i]) * uint64(i+1)) >> 32)
		p[i], p[j] = p[j], p[i]
	}
	return p
}

// TranslateOffset returns the offset (dx, dy), each in [-shift, shift], by
// which Translate moves the image that takes word w of its stream:
// dx = w mod k - shift and dy = (w div k) mod k - shift with k = 2·shift+1.
// (The modulus favours small remainders by at most k/2^32.)
func TranslateOffset(w uint32, shift int) (dx, dy int) {
	k := uint32(2*shift + 1)
	return int(w%k) - shift, int(w/k%k) - shift
}
