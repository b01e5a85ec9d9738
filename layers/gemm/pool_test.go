package gemm

import (
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
