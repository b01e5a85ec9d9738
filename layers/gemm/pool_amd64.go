//go:build amd64 && !purego

package gemm

// poolAVX512 is MaxPool2 (pool_amd64.s), 16 windows at a time: the
// corners split by permutes, then Go's max as the compiler computes it on
// amd64, in the negated domain: acc = -a; for each next corner v,
// t1 = min(acc, -v), t2 = min(t1, acc), acc = t1 | t2 (MINSS's rules for
// NaN and zeros); the result -acc.
//
//go:noescape
func poolAVX512(y, x *float32, rows, w int, tail *[3]uint32)

func poolKernel(y, x []float32, rows, w int) bool {
	if !hasAddAVX512 {
		return false
	}
	tail := poolTail(w)
	poolAVX512(&y[0], &x[0], rows, w, &tail)
	return true
}

// poolTail returns the masks of the last, partial chunk of a row of w
// elements: its windows, and its elements in lanes 0-15 and 16-31.
func poolTail(w int) (tail [3]uint32) {
	nw := (w / 2) % 16
	tail[0] = 1<<nw - 1
	tail[1] = 1<<min(2*nw, 16) - 1
	tail[2] = 1<<max(2*nw-16, 0) - 1
	return tail
}

// poolBackwardAVX512 is MaxPool2Backward (pool_amd64.s): 16 windows at a
// time, their elements split into the four corners by permutes, the same
// comparisons as poolBackwardRows' as masks, and the gradients put back
// in place by permutes. tail holds the masks of the last, partial chunk of
// each row: its windows, and its elements in lanes 0-15 and 16-31.
//
//go:noescape
func poolBackwardAVX512(dx, x, dy *float32, rows, w int, tail *[3]uint32)

func poolBackwardKernel(dx, x, dy []float32, rows, w int) bool {
	if !hasAddAVX512 {
		return false
	}
	tail := poolTail(w)
	poolBackwardAVX512(&dx[0], &x[0], &dy[0], rows, w, &tail)
	return true
}
