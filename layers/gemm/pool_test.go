package gemm

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestMaxPool2Backward checks MaxPool2Backward against poolBackwardRows,
// the Go loop, bit for bit: widths around the 16-window chunks (odd ones
// too, whose last column must stay untouched), inputs full of ties (ReLU's
// zeros, repeated values), NaN, ±0 and infinities, gradients of every kind.
func TestMaxPool2Backward(t *testing.T) {
	r := rand.New(rand.NewPCG(6, 6))
	for _, w := range []int{2, 3, 8, 24, 26, 31, 32, 33, 34, 64, 70} {
		for _, rows := range []int{1, 12} {
			x := vecInput(r, 2*rows*w)
			for i := range x {
				switch r.IntN(4) {
				case 0:
					x[i] = 0
				case 1:
					x[i] = float32(r.IntN(3)) // ties
				}
			}
			dy := vecInput(r, rows*(w/2))
			got := vecInput(r, 2*rows*w+3)
			want := append([]float32(nil), got...)
			for i := 0; i < rows; i++ {
				poolBackwardRows(want[2*i*w:(2*i+2)*w], x[2*i*w:(2*i+2)*w], dy[i*(w/2):(i+1)*(w/2)], w)
			}
			MaxPool2Backward(got, x, dy, rows, w)
			sameBits(t, "MaxPool2Backward", got, want)
		}
	}
}

// TestMaxPool2 checks MaxPool2 against Go's max, bit for bit: widths
// around the 16-window chunks, ties, ±0 (max(-0, +0) is +0), infinities
// and NaNs of different payloads and signs (which the compiler's max
// combines by OR, in a way the AVX-512 path must match).
func TestMaxPool2(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	nans := []float32{math.Float32frombits(0x7fc00001), math.Float32frombits(0xffc00002), math.Float32frombits(0x7fa00004)}
	for _, w := range []int{2, 3, 8, 24, 26, 31, 32, 33, 34, 64, 70} {
		for _, rows := range []int{1, 12} {
			x := vecInput(r, 2*rows*w)
			for i := range x {
				switch r.IntN(6) {
				case 0:
					x[i] = 0
				case 1:
					x[i] = float32(math.Copysign(0, -1))
				case 2:
					x[i] = nans[r.IntN(len(nans))]
				}
			}
			ow := w / 2
			want := vecInput(r, rows*ow+3)
			got := append([]float32(nil), want...)
			for i := 0; i < rows; i++ {
				r0, r1 := x[2*i*w:], x[(2*i+1)*w:]
				for j := 0; j < ow; j++ {
					want[i*ow+j] = max(r0[2*j], r0[2*j+1], r1[2*j], r1[2*j+1])
				}
			}
			MaxPool2(got, x, rows, w)
			sameBits(t, "MaxPool2", got, want)
		}
	}
}
