package gemm

import (
	"fmt"
	"math"
)

// MaxPool2 is 2×2 max-pooling (stride 2) over rows pairs of rows: x is
// 2·rows × w, row-major, and y[i, j] = max(x[2i, 2j], x[2i, 2j+1],
// x[2i+1, 2j], x[2i+1, 2j+1]) with Go's max (a NaN wins, +0 beats -0), for
// j < w/2, bit for bit as the compiler's max computes it.
func MaxPool2(y, x []float32, rows, w int) {
	if rows < 0 || w < 0 {
		panic("gemm: MaxPool2: negative dimension")
	}
	if len(y) < rows*(w/2) || len(x) < 2*rows*w {
		panic(fmt.Sprintf("gemm: MaxPool2: slices of %d and %d for %d rows of %d", len(y), len(x), rows, w))
	}
	if rows == 0 || w < 2 || poolKernel(y, x, rows, w) {
		return
	}
	ow := w / 2
	for i := 0; i < rows; i++ {
		r0, r1, yi := x[2*i*w:], x[(2*i+1)*w:], y[i*ow:(i+1)*ow]
		for j := range yi {
			yi[j] = max(r0[2*j], r0[2*j+1], r1[2*j], r1[2*j+1])
		}
	}
}

// MaxPool2Backward is the backward of 2×2 max-pooling (stride 2) over rows
// pairs of rows: x and dx are 2·rows × w, row-major, dy is rows × w/2. The
// gradient dy of each window goes to the first maximum of its x, in the
// order top-left, top-right, bottom-left, bottom-right, where a later
// element wins only if greater (so a NaN never wins, and of equal values
// the first does); dx of the other three is +0. With an odd w the last
// column of dx is left as it is.
func MaxPool2Backward(dx, x, dy []float32, rows, w int) {
	if rows < 0 || w < 0 {
		panic("gemm: MaxPool2Backward: negative dimension")
	}
	if len(dx) < 2*rows*w || len(x) < 2*rows*w || len(dy) < rows*(w/2) {
		panic(fmt.Sprintf("gemm: MaxPool2Backward: slices of %d, %d and %d for %d rows of %d", len(dx), len(x), len(dy), rows, w))
	}
	if rows == 0 || w < 2 || poolBackwardKernel(dx, x, dy, rows, w) {
		return
	}
	for i := 0; i < rows; i++ {
		poolBackwardRows(dx[2*i*w:(2*i+2)*w], x[2*i*w:(2*i+2)*w], dy[i*(w/2):(i+1)*(w/2)], w)
	}
}

// poolBackwardRows is MaxPool2Backward for one row of windows (two rows of
// x). It has no data-dependent branch: the winner is chosen by masks, since
// ReLU's outputs (many zero ties, random signs) make branches mispredict.
func poolBackwardRows(dx, x, dy []float32, w int) {
	x0, x1 := x[:w], x[w:2*w]
	d0, d1 := dx[:w], dx[w:2*w]
	for j, g := range dy[:w/2] {
		a, b, c, d := x0[2*j], x0[2*j+1], x1[2*j], x1[2*j+1]
		// m is the running maximum; the k masks say which element holds it.
		kb := mask(b > a)
		m := sel(kb, b, a)
		kc := mask(c > m)
		m = sel(kc, c, m)
		kd := mask(d > m)
		// The winner: d if kd, else c if kc, else b if kb, else a.
		kc &^= kd
		kb &^= kc | kd
		ka := ^(kb | kc | kd)
		gb := math.Float32bits(g)
		d0[2*j] = math.Float32frombits(gb & ka)
		d0[2*j+1] = math.Float32frombits(gb & kb)
		d1[2*j] = math.Float32frombits(gb & kc)
		d1[2*j+1] = math.Float32frombits(gb & kd)
	}
}

// mask returns all ones for true, zero for false.
func mask(b bool) uint32 {
	var m uint32
	if b {
		m = 1
	}
	return -m
}

// sel returns x where k is all ones, y where it is zero.
func sel(k uint32, x, y float32) float32 {
	return math.Float32frombits(math.Float32bits(x)&k | math.Float32bits(y)&^k)
}
