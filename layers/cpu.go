package layers

import (
	"fmt"
	"math"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/vatgpu/vatgpu/layers/gemm"
)

// CPU is the reference backend: Go over flat slices, its memory-bound loops
// and matrix products in AVX-512 where the processor has it (layers/gemm,
// the same bits as their Go loops), parallel over the batch. It is what the
// GPU backend is tested against.
//
// Results do not depend on the number of threads: work is split into
// fixed chunks of images and partial sums are added in chunk order.
type CPU struct {
	threads int
	step    uint64
	col     [][]float32      // per-worker im2col scratch
	partial []float32        // per-chunk parameter-gradient partial sums
	rowOffs map[[5]int][]int // patchRows's offsets, by (C, H, W, R, S)
}

// convChunk is the number of images whose filter gradients are summed
// together before being added, in order, to the total.
const convChunk = 4

// NewCPU returns a CPU backend using threads goroutines (GOMAXPROCS when
// threads <= 0).
func NewCPU(threads int) *CPU {
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	return &CPU{threads: threads, col: make([][]float32, threads)}
}

type cpuBuf struct {
	f []float32
	i []int32
}

func (b *cpuBuf) Len() int {
	if b.i != nil {
		return len(b.i)
	}
	return len(b.f)
}

func f32(b Buf) []float32 {
	if b == nil {
		return nil
	}
	cb, ok := b.(*cpuBuf)
	if !ok || cb.i != nil {
		panic(fmt.Sprintf("layers: cpu: %T is not a CPU float32 buffer", b))
	}
	return cb.f
}

func i32(b Buf) []int32 {
	cb, ok := b.(*cpuBuf)
	if !ok || cb.i == nil {
		panic(fmt.Sprintf("layers: cpu: %T is not a CPU int32 buffer", b))
	}
	return cb.i
}

// Floats returns the float32 slice behind a CPU buffer, for tests and
// tools that read results in place.
func Floats(b Buf) []float32 { return f32(b) }

// Ints is Floats for int32 buffers.
func Ints(b Buf) []int32 { return i32(b) }

func (c *CPU) Name() string {
	if c.threads == 1 {
		return "cpu (1 thread)"
	}
	return fmt.Sprintf("cpu (%d threads)", c.threads)
}

func (c *CPU) Alloc(n int) Buf    { return &cpuBuf{f: make([]float32, n)} }
func (c *CPU) AllocInt(n int) Buf { return &cpuBuf{i: make([]int32, max(n, 0))[:n:n]} }

func (c *CPU) Slice(b Buf, off, n int) Buf {
	cb := b.(*cpuBuf)
	if off < 0 || n < 0 || off+n > cb.Len() {
		panic(fmt.Sprintf("layers: cpu: slice [%d:%d] of a buffer of %d", off, off+n, cb.Len()))
	}
	if cb.i != nil {
		return &cpuBuf{i: cb.i[off : off+n : off+n]}
	}
	return &cpuBuf{f: cb.f[off : off+n : off+n]}
}

func (c *CPU) Free(b Buf) {}

func (c *CPU) Upload(dst Buf, src []float32)    { copy(f32(dst)[:len(src)], src) }
func (c *CPU) UploadInt(dst Buf, src []int32)   { copy(i32(dst)[:len(src)], src) }
func (c *CPU) Download(dst []float32, src Buf)  { copy(dst, f32(src)[:len(dst)]) }
func (c *CPU) DownloadInt(dst []int32, src Buf) { copy(dst, i32(src)[:len(dst)]) }

func (c *CPU) Zero(b Buf) {
	if cb := b.(*cpuBuf); cb.i != nil {
		clear(cb.i)
	} else {
		clear(cb.f)
	}
}

func (c *CPU) Copy(dst, src Buf) {
	d, s := dst.(*cpuBuf), src.(*cpuBuf)
	if d.Len() != s.Len() {
		panic("layers: cpu: copy between buffers of different lengths")
	}
	copy(d.f, s.f)
	copy(d.i, s.i)
}

func (c *CPU) SetStep(step uint64) { c.step = step }
func (c *CPU) Sync() error         { return nil }
func (c *CPU) Err() error          { return nil }
func (c *CPU) Close() error        { return nil }

func (c *CPU) Gather(dst, src, idx Buf, off, n, row int) {
	d, s, ix := f32(dst), f32(src), i32(idx)
	for i := 0; i < n; i++ {
		r := int(ix[off+i])
		copy(d[i*row:(i+1)*row], s[r*row:(r+1)*row])
	}
}

func (c *CPU) GatherInt(dst, src, idx Buf, off, n int) {
	d, s, ix := i32(dst), i32(src), i32(idx)
	for i := 0; i < n; i++ {
		d[i] = s[ix[off+i]]
	}
}

func (c *CPU) Translate(dst, src Buf, n, h, w, shift int, r Rand) {
	if n < 0 || h < 0 || w < 0 || shift < 0 {
		panic(fmt.Sprintf("layers: translate: negative count, size or shift (%d, %d, %d, %d)", n, h, w, shift))
	}
	d, s := f32(dst), f32(src)
	plane := h * w
	checkLen("translate dst", d, n*plane)
	checkLen("translate src", s, n*plane)
	words := make([]uint32, n)
	r.Uint32s(words, c.step)
	for i, word := range words {
		dx, dy := TranslateOffset(word, shift)
		out, in := d[i*plane:(i+1)*plane], s[i*plane:(i+1)*plane]
		for y := 0; y < h; y++ {
			row := out[y*w : (y+1)*w]
			sy := y - dy
			if sy < 0 || sy >= h {
				clear(row)
				continue
			}
			for x := range row {
				if sx := x - dx; sx >= 0 && sx < w {
					row[x] = in[sy*w+sx]
				} else {
					row[x] = 0
				}
			}
		}
	}
}

// parallel runs fn(lo, hi, worker) over [0, n) in chunks of chunk items on
// c.threads goroutines.
func (c *CPU) parallel(n, chunk int, fn func(lo, hi, worker int)) {
	chunks := (n + chunk - 1) / chunk
	workers := min(c.threads, chunks)
	if workers <= 1 {
		for lo := 0; lo < n; lo += chunk {
			fn(lo, min(lo+chunk, n), 0)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for {
				k := int(next.Add(1) - 1)
				if k >= chunks {
					return
				}
				lo := k * chunk
				fn(lo, min(lo+chunk, n), w)
			}
		}(w)
	}
	wg.Wait()
}

func (c *CPU) scratch(n int) {
	for w := range c.col {
		if len(c.col[w]) < n {
			c.col[w] = make([]float32, n)
		}
	}
}

// im2col writes the (C·R·S)×(OH·OW) patch matrix of one C×H×W image: row
// (ch, r, q) is the OH×OW window of channel ch at offset (r, q).
func im2col(col, x []float32, s ConvShape) {
	oh, ow := s.OH(), s.OW()
	for ch := 0; ch < s.C; ch++ {
		for r := 0; r < s.R; r++ {
			for q := 0; q < s.S; q++ {
				gemm.Copy(oh, ow, x[(ch*s.H+r)*s.W+q:], s.W, col[((ch*s.R+r)*s.S+q)*oh*ow:], ow)
			}
		}
	}
}

// col2im adds the patch matrix col back into one C×H×W image gradient dx
// (gemm.Col2Im), overwriting dx.
func col2im(dx, col []float32, s ConvShape) {
	gemm.Col2Im(dx, col, s.C, s.H, s.W, s.R, s.S)
}

func checkLen(op string, b []float32, n int) {
	if len(b) < n {
		panic(fmt.Sprintf("layers: %s: buffer of %d, need %d", op, len(b), n))
	}
}

// ConvForward computes each image's product W·patches + bias one of two
// ways, with the same sums in the same order:
//
//   - im2col: the patch matrix copied out of the image, row (ch, r, q) being
//     the OH×OW window at (r, q) of channel ch, and the product written to y;
//   - in place, when the patch matrix is larger than the output (C·R·S > K,
//     as in conv2) and the processor has the kernels for it
//     (gemm.RowsBInPlace): the output computed as wide as the image (rows of
//     W, the last S-1 values junk), so that row (ch, r, q) of the patch
//     matrix is the image itself from ch·H·W + r·W + q (gemm.SgemmRowsB);
//     its valid columns are then copied to y.
func (c *CPU) ConvForward(yb, xb, wb, bb Buf, s ConvShape) {
	y, x, w, bias := f32(yb), f32(xb), f32(wb), f32(bb)
	checkLen("conv forward: y", y, s.OutLen())
	checkLen("conv forward: x", x, s.InLen())
	checkLen("conv forward: w", w, s.WLen())
	checkLen("conv forward: bias", bias, s.K)
	crs, oh, ow, in := s.C*s.R*s.S, s.OH(), s.OW(), s.C*s.H*s.W
	if crs <= s.K || !gemm.RowsBInPlace() {
		c.scratch(crs * oh * ow)
		c.parallel(s.N, 1, func(lo, hi, wk int) {
			col := c.col[wk][:crs*oh*ow]
			for i := lo; i < hi; i++ {
				im2col(col, x[i*in:], s)
				yi := y[i*s.K*oh*ow : (i+1)*s.K*oh*ow]
				gemm.FillRows(s.K, oh*ow, bias, yi, oh*ow)
				gemm.Sgemm(false, false, s.K, oh*ow, crs, 1, w, crs, col, oh*ow, 1, yi, oh*ow)
			}
		})
		return
	}
	n := (oh-1)*s.W + ow // columns up to the last valid one
	wide := oh * s.W     // a channel's stride in the wide output
	offs := c.patchRows(s)
	c.scratch(s.K * wide)
	c.parallel(s.N, 1, func(lo, hi, wk int) {
		t := c.col[wk][:s.K*wide]
		for i := lo; i < hi; i++ {
			gemm.FillRows(s.K, n, bias, t, wide)
			gemm.SgemmRowsB(s.K, n, crs, w, crs, x[i*in:(i+1)*in], offs, t, wide)
			gemm.Copy(s.K*oh, ow, t, s.W, y[i*s.K*oh*ow:], ow)
		}
	})
}

// patchRows returns where row (ch, r, q) of the patch matrix starts in an
// image: ch·H·W + r·W + q (see ConvForward), kept per shape.
func (c *CPU) patchRows(s ConvShape) []int {
	key := [5]int{s.C, s.H, s.W, s.R, s.S}
	if offs, ok := c.rowOffs[key]; ok {
		return offs
	}
	offs := make([]int, 0, s.C*s.R*s.S)
	for ch := 0; ch < s.C; ch++ {
		for r := 0; r < s.R; r++ {
			for q := 0; q < s.S; q++ {
				offs = append(offs, (ch*s.H+r)*s.W+q)
			}
		}
	}
	if c.rowOffs == nil {
		c.rowOffs = make(map[[5]int][]int)
	}
	c.rowOffs[key] = offs
	return offs
}

func (c *CPU) ConvBackward(dxb, dwb, dbb, dyb, xb, wb Buf, s ConvShape) {
	dx, dw, db, dy, x, w := f32(dxb), f32(dwb), f32(dbb), f32(dyb), f32(xb), f32(wb)
	crs, ohw, in := s.C*s.R*s.S, s.OH()*s.OW(), s.C*s.H*s.W
	checkLen("conv backward: dy", dy, s.OutLen())
	checkLen("conv backward: w", w, s.WLen())
	if dx != nil {
		checkLen("conv backward: dx", dx, s.InLen())
	}
	if dw != nil {
		checkLen("conv backward: x", x, s.InLen())
		checkLen("conv backward: dw", dw, s.WLen())
		checkLen("conv backward: dbias", db, s.K)
	}
	c.scratch(crs * ohw)
	chunks := (s.N + convChunk - 1) / convChunk
	per := s.WLen() + s.K
	if dw != nil {
		if len(c.partial) < chunks*per {
			c.partial = make([]float32, chunks*per)
		}
		clear(c.partial[:chunks*per])
	}
	c.parallel(s.N, convChunk, func(lo, hi, wk int) {
		col := c.col[wk][:crs*ohw]
		var pw, pb []float32
		if dw != nil {
			p := c.partial[lo/convChunk*per:]
			pw, pb = p[:s.WLen()], p[s.WLen():per]
		}
		for i := lo; i < hi; i++ {
			dyi := dy[i*s.K*ohw : (i+1)*s.K*ohw]
			if dw != nil {
				im2col(col, x[i*in:], s)
				gemm.Sgemm(false, true, s.K, crs, ohw, 1, dyi, ohw, col, ohw, 1, pw, crs)
				sumRows(pb, dyi, s.K, ohw)
			}
			if dx != nil {
				gemm.Sgemm(true, false, crs, ohw, s.K, 1, w, crs, dyi, ohw, 0, col, ohw)
				col2im(dx[i*in:], col, s)
			}
		}
	})
	if dw != nil {
		for k := 0; k < chunks; k++ {
			p := c.partial[k*per:]
			addTo(dw[:s.WLen()], p[:s.WLen()])
			addTo(db[:s.K], p[s.WLen():per])
		}
	}
}

// sumRows adds to dst[k] the sum of row k of the rows×n matrix src, for k
// < rows. Each row is summed on its own, from zero, in index order, then
// added to dst[k]: the arithmetic of the one-row-at-a-time loop. Eight rows
// run side by side only so that their additions, which do not depend on
// each other, overlap in the processor instead of waiting for one another
// (one row alone is a chain of dependent additions, four cycles each).
func sumRows(dst, src []float32, rows, n int) {
	k := 0
	for ; k+8 <= rows; k += 8 {
		r0, r1, r2, r3 := src[k*n:][:n], src[(k+1)*n:][:n], src[(k+2)*n:][:n], src[(k+3)*n:][:n]
		r4, r5, r6, r7 := src[(k+4)*n:][:n], src[(k+5)*n:][:n], src[(k+6)*n:][:n], src[(k+7)*n:][:n]
		var s0, s1, s2, s3, s4, s5, s6, s7 float32
		for j := range r0 {
			s0 += r0[j]
			s1 += r1[j]
			s2 += r2[j]
			s3 += r3[j]
			s4 += r4[j]
			s5 += r5[j]
			s6 += r6[j]
			s7 += r7[j]
		}
		d := dst[k : k+8]
		d[0] += s0
		d[1] += s1
		d[2] += s2
		d[3] += s3
		d[4] += s4
		d[5] += s5
		d[6] += s6
		d[7] += s7
	}
	for ; k < rows; k++ {
		var s float32
		for _, v := range src[k*n:][:n] {
			s += v
		}
		dst[k] += s
	}
}

// addTo adds src to dst element by element (len(src) >= len(dst)).
func addTo(dst, src []float32) {
	src = src[:len(dst)]
	for i := range dst {
		dst[i] += src[i]
	}
}

// elementChunk is how many elements of an element-wise op one goroutine
// takes at a time.
const elementChunk = 1 << 15

func (c *CPU) ReLUForward(yb, xb Buf, n int) {
	y, x := f32(yb)[:n], f32(xb)[:n]
	c.parallel(n, elementChunk, func(lo, hi, _ int) { gemm.ReLU(y[lo:hi], x[lo:hi]) })
}

// ReLUBackward computes dx = dy * [y > 0] (gemm.ReLUMask: +0 where masked,
// y > 0 false for NaN).
func (c *CPU) ReLUBackward(dxb, dyb, yb Buf, n int) {
	dx, dy, y := f32(dxb)[:n], f32(dyb)[:n], f32(yb)[:n]
	c.parallel(n, elementChunk, func(lo, hi, _ int) { gemm.ReLUMask(dx[lo:hi], dy[lo:hi], y[lo:hi]) })
}

func (c *CPU) MaxPoolForward(yb, xb Buf, s PoolShape) {
	y, x := f32(yb), f32(xb)
	checkLen("max pool: y", y, s.OutLen())
	checkLen("max pool: x", x, s.InLen())
	oh, ow := s.H/2, s.W/2
	c.parallel(s.N*s.C, 32, func(lo, hi, _ int) {
		for p := lo; p < hi; p++ {
			gemm.MaxPool2(y[p*oh*ow:(p+1)*oh*ow], x[p*s.H*s.W:(p+1)*s.H*s.W], oh, s.W)
		}
	})
}

func (c *CPU) MaxPoolBackward(dxb, dyb, xb, yb Buf, s PoolShape) {
	dx, dy, x := f32(dxb), f32(dyb), f32(xb)
	checkLen("max pool backward: dx", dx, s.InLen())
	checkLen("max pool backward: dy", dy, s.OutLen())
	oh, ow := s.H/2, s.W/2
	c.parallel(s.N*s.C, 32, func(lo, hi, _ int) {
		for p := lo; p < hi; p++ {
			xp, dxp, dyp := x[p*s.H*s.W:(p+1)*s.H*s.W], dx[p*s.H*s.W:(p+1)*s.H*s.W], dy[p*oh*ow:(p+1)*oh*ow]
			gemm.MaxPool2Backward(dxp, xp, dyp, oh, s.W)
		}
	})
}

// dropoutMask applies the mask of stream r at step to n elements:
// out[i] = in[i]/(1-p) where u_i >= p, else 0.
func (c *CPU) dropoutMask(out, in []float32, n int, p float32, r Rand, step uint64) {
	scale := 1 / (1 - p)
	blocks := (n + 3) / 4
	c.parallel(blocks, 4096, func(lo, hi, _ int) {
		for b := lo; b < hi; b++ {
			w := r.block(uint32(b), step)
			for j := 0; j < 4 && 4*b+j < n; j++ {
				k := 4*b + j
				if wordUniform(w[j]) >= p {
					out[k] = in[k] * scale
				} else {
					out[k] = 0
				}
			}
		}
	})
}

func (c *CPU) DropoutForward(yb, xb Buf, n int, p float32, r Rand) {
	c.dropoutMask(f32(yb)[:n], f32(xb)[:n], n, p, r, c.step)
}

func (c *CPU) DropoutBackward(dxb, dyb Buf, n int, p float32, r Rand) {
	c.dropoutMask(f32(dxb)[:n], f32(dyb)[:n], n, p, r, c.step)
}

func (c *CPU) DenseForward(yb, xb, wb, bb Buf, n, in, out int) {
	y, x, w, bias := f32(yb), f32(xb), f32(wb), f32(bb)
	checkLen("dense forward: y", y, n*out)
	checkLen("dense forward: x", x, n*in)
	checkLen("dense forward: w", w, in*out)
	for i := 0; i < n; i++ {
		copy(y[i*out:(i+1)*out], bias[:out])
	}
	gemm.Sgemm(false, false, n, out, in, 1, x, in, w, out, 1, y, out)
}

func (c *CPU) DenseBackward(dxb, dwb, dbb, dyb, xb, wb Buf, n, in, out int) {
	dx, dw, db, dy, x, w := f32(dxb), f32(dwb), f32(dbb), f32(dyb), f32(xb), f32(wb)
	checkLen("dense backward: dy", dy, n*out)
	if dx != nil {
		gemm.Sgemm(false, true, n, in, out, 1, dy, out, w, out, 0, dx, in)
	}
	if dw != nil {
		gemm.Sgemm(true, false, in, out, n, 1, x, in, dy, out, 1, dw, out)
		for i := 0; i < n; i++ {
			addTo(db[:out], dy[i*out:(i+1)*out])
		}
	}
}

// logSoftmax writes the log-probabilities of one row of logits.
func logSoftmax(dst, logits []float32) {
	m := logits[0]
	for _, v := range logits[1:] {
		m = max(m, v)
	}
	var s float64
	for _, v := range logits {
		s += math.Exp(float64(v - m))
	}
	lse := float64(m) + math.Log(s)
	for j, v := range logits {
		dst[j] = float32(float64(v) - lse)
	}
}

func (c *CPU) SoftmaxXent(lossb, dlb, lb, yb Buf, n, k int, scale float32) {
	loss, logits, labels := f32(lossb), f32(lb), i32(yb)
	var dl []float32
	if dlb != nil {
		dl = f32(dlb)
	}
	lp := make([]float32, k)
	for i := 0; i < n; i++ {
		logSoftmax(lp, logits[i*k:(i+1)*k])
		y := int(labels[i])
		loss[i] = -lp[y]
		if dl != nil {
			for j := 0; j < k; j++ {
				g := float32(math.Exp(float64(lp[j])))
				if j == y {
					g--
				}
				dl[i*k+j] = scale * g
			}
		}
	}
}

func (c *CPU) KLDiv(klb, dqb, pb, qb Buf, n, k int, scale float32) {
	kl, lP, lQ := f32(klb), f32(pb), f32(qb)
	var dq []float32
	if dqb != nil {
		dq = f32(dqb)
	}
	lp, lq := make([]float32, k), make([]float32, k)
	for i := 0; i < n; i++ {
		logSoftmax(lp, lP[i*k:(i+1)*k])
		logSoftmax(lq, lQ[i*k:(i+1)*k])
		var s float64
		for j := 0; j < k; j++ {
			p := math.Exp(float64(lp[j]))
			s += p * float64(lp[j]-lq[j])
			if dq != nil {
				dq[i*k+j] = scale * float32(math.Exp(float64(lq[j]))-p)
			}
		}
		kl[i] = float32(s)
	}
}

func (c *CPU) Softmax(pb, lb Buf, n, k int) {
	p, logits := f32(pb), f32(lb)
	for i := 0; i < n; i++ {
		row := p[i*k : (i+1)*k]
		logSoftmax(row, logits[i*k:(i+1)*k])
		for j := range row {
			row[j] = float32(math.Exp(float64(row[j])))
		}
	}
}

func (c *CPU) Entropy(hb, dlb, lb Buf, n, k int, scale float32) {
	h, logits := f32(hb), f32(lb)
	var dl []float32
	if dlb != nil {
		dl = f32(dlb)
	}
	lp := make([]float32, k)
	for i := 0; i < n; i++ {
		logSoftmax(lp, logits[i*k:(i+1)*k])
		var s float64
		for _, v := range lp {
			s -= math.Exp(float64(v)) * float64(v)
		}
		h[i] = float32(s)
		if dl != nil {
			for j, v := range lp {
				dl[i*k+j] = scale * float32(-math.Exp(float64(v))*(float64(v)+s))
			}
		}
	}
}

func (c *CPU) RandNormal(db Buf, n int, r Rand) {
	d := f32(db)[:n]
	step := c.step
	c.parallel((n+3)/4, 4096, func(lo, hi, _ int) {
		r.normalFrom(d[4*lo:min(4*hi, n)], uint32(lo), step)
	})
}

// normFactors returns, for one row d, the factor f with normalise(d) = f*d
// and, for NormL2, the norm ‖d‖₂.
func normFactors(d []float32, norm Norm) (f, l2 float64) {
	switch norm {
	case NormL2:
		var s float64
		for _, v := range d {
			s += float64(v) * float64(v)
		}
		l2 = math.Sqrt(s)
		return 1 / (l2 + 1e-7), l2
	case NormMaxAbsL2:
		var m float64
		for _, v := range d {
			m = max(m, math.Abs(float64(v)))
		}
		a := 1 / (1e-12 + m)
		var s float64
		for _, v := range d {
			t := float64(v) * a
			s += t * t
		}
		return a / math.Sqrt(1e-6+s), 0
	}
	panic("layers: unknown norm")
}

func (c *CPU) Perturb(xrb, xb, db Buf, n, dim int, scale float32, norm Norm) {
	xr, x, d := f32(xrb), f32(xb), f32(db)
	for i := 0; i < n; i++ {
		di := d[i*dim : (i+1)*dim]
		f, _ := normFactors(di, norm)
		f *= float64(scale)
		for j, v := range di {
			xr[i*dim+j] = x[i*dim+j] + float32(f*float64(v))
		}
	}
}

func (c *CPU) PerturbBackward(ddb, dxrb, db Buf, n, dim int, scale float32, norm Norm) {
	dd, g, d := f32(ddb), f32(dxrb), f32(db)
	for i := 0; i < n; i++ {
		di, gi, ddi := d[i*dim:(i+1)*dim], g[i*dim:(i+1)*dim], dd[i*dim:(i+1)*dim]
		if norm != NormL2 {
			copy(ddi, gi)
			continue
		}
		// r = s·d/(‖d‖+ε):  ∂/∂d Σ g·r = s·[g/(‖d‖+ε) - d (d·g)/(‖d‖ (‖d‖+ε)²)].
		f, l2 := normFactors(di, norm)
		var dg float64
		for j, v := range di {
			dg += float64(v) * float64(gi[j])
		}
		var k float64
		if l2 > 0 {
			k = dg * f * f / l2
		}
		for j := range ddi {
			ddi[j] = float32(float64(scale) * (f*float64(gi[j]) - k*float64(di[j])))
		}
	}
}

func (c *CPU) SumInto(accb Buf, slot int, xb Buf, n int) {
	var s float64
	for _, v := range f32(xb)[:n] {
		s += float64(v)
	}
	f32(accb)[slot] += float32(s)
}

func (c *CPU) CountCorrect(accb Buf, slot int, lb, yb Buf, n, k int) {
	logits, labels := f32(lb), i32(yb)
	correct := 0
	for i := 0; i < n; i++ {
		row := logits[i*k : (i+1)*k]
		best := 0
		for j, v := range row {
			if v > row[best] {
				best = j
			}
		}
		if best == int(labels[i]) {
			correct++
		}
	}
	f32(accb)[slot] += float32(correct)
}

func (c *CPU) Adadelta(pb, gb, ab, db Buf, lr, rho, eps float32) {
	p, g, a, da := f32(pb), f32(gb), f32(ab), f32(db)
	if len(g) != len(p) || len(a) != len(p) || len(da) != len(p) {
		panic("layers: adadelta: buffers of different lengths")
	}
	rest := 1 - rho
	c.parallel(len(p), 1<<14, func(lo, hi, _ int) {
		gemm.Adadelta(p[lo:hi], g[lo:hi], a[lo:hi], da[lo:hi], lr, rho, rest, eps)
	})
}

func (c *CPU) Average(ab, pb Buf, decay float32) {
	a, p := f32(ab), f32(pb)
	if len(a) != len(p) {
		panic("layers: average: buffers of different lengths")
	}
	rest := 1 - decay
	c.parallel(len(p), 1<<14, func(lo, hi, _ int) {
		for i := lo; i < hi; i++ {
			// The conversions round each product, so that no compiler
			// fuses them into a multiply-add (kernels.cu is built with
			// -fmad=false to match).
			a[i] = float32(decay*a[i]) + float32(rest*p[i])
		}
	})
}

var _ Backend = (*CPU)(nil)

// AdamCorrection returns Adam's bias-corrected step size at t = step+1.
func AdamCorrection(lr, beta1, beta2 float32, step uint64) float32 {
	t := float64(step) + 1
	return float32(float64(lr) * math.Sqrt(1-math.Pow(float64(beta2), t)) / (1 - math.Pow(float64(beta1), t)))
}

func (c *CPU) Adam(pb, gb, mb, vb Buf, lr, beta1, beta2, eps float32) {
	p, g, m, v := f32(pb), f32(gb), f32(mb), f32(vb)
	if len(g) != len(p) || len(m) != len(p) || len(v) != len(p) {
		panic("layers: adam: buffers of different lengths")
	}
	lrT := AdamCorrection(lr, beta1, beta2, c.step)
	rest1, rest2 := 1-beta1, 1-beta2
	c.parallel(len(p), 1<<14, func(lo, hi, _ int) {
		gemm.Adam(p[lo:hi], g[lo:hi], m[lo:hi], v[lo:hi], lrT, beta1, beta2, rest1, rest2, eps)
	})
}

// bnChunk is how many features (columns) one goroutine normalises at a
// time: the rows of a chunk are read row by row (cache lines hold 16
// features), each column's sums still running over the rows in order.
const bnChunk = 64

func (c *CPU) BatchNormForward(yb, xb, gb, bb, mb, rb, rmb, rvb Buf, n, k int, eps, ratio float32, mode BNMode) {
	if n <= 0 || k < 0 {
		panic(fmt.Sprintf("layers: batch norm forward: %d rows of %d features", n, k))
	}
	y, x, gamma, beta, mean, rstd := f32(yb), f32(xb), f32(gb), f32(bb), f32(mb), f32(rb)
	checkLen("batch norm forward: y", y, n*k)
	checkLen("batch norm forward: x", x, n*k)
	for _, v := range [][]float32{gamma, beta, mean, rstd} {
		checkLen("batch norm forward: per-feature buffer", v, k)
	}
	var runMean, runVar []float32
	if mode != BNBatch {
		runMean, runVar = f32(rmb), f32(rvb)
		checkLen("batch norm forward: running mean", runMean, k)
		checkLen("batch norm forward: running variance", runVar, k)
	}
	c.parallel(k, bnChunk, func(lo, hi, _ int) {
		var s, v [bnChunk]float64
		w := hi - lo
		switch mode {
		case BNRunning:
			for j := lo; j < hi; j++ {
				mean[j] = runMean[j]
				rstd[j] = float32(1 / math.Sqrt(float64(runVar[j])+float64(eps)))
			}
		case BNBatch, BNBatchUpdate:
			gemm.BNSums(s[:w], x[lo:], n, w, k)
			for j := range w {
				s[j] /= float64(n)
			}
			gemm.BNSquares(v[:w], x[lo:], s[:w], n, w, k)
			for j := range w {
				v[j] /= float64(n)
				mean[lo+j] = float32(s[j])
				rstd[lo+j] = float32(1 / math.Sqrt(v[j]+float64(eps)))
			}
			if mode == BNBatchUpdate {
				rest := 1 - ratio
				unbias := 1.0
				if n > 1 {
					unbias = float64(n) / float64(n-1)
				}
				for j := range w {
					uv := float32(v[j] * unbias)
					runMean[lo+j] = float32(ratio*runMean[lo+j]) + float32(rest*mean[lo+j])
					runVar[lo+j] = float32(ratio*runVar[lo+j]) + float32(rest*uv)
				}
			}
		default:
			panic(fmt.Sprintf("layers: batch norm forward: unknown mode %d", mode))
		}
		gemm.BNNormalize(y[lo:], x[lo:], mean[lo:hi], rstd[lo:hi], gamma[lo:hi], beta[lo:hi], n, w, k)
	})
}

func (c *CPU) BatchNormBackward(dxb, dgb, dbb, dyb, xb, gb, mb, rb Buf, n, k int, batch bool) {
	if n <= 0 || k < 0 {
		panic(fmt.Sprintf("layers: batch norm backward: %d rows of %d features", n, k))
	}
	dx, dgamma, dbeta := f32(dxb), f32(dgb), f32(dbb)
	dy, x, gamma, mean, rstd := f32(dyb), f32(xb), f32(gb), f32(mb), f32(rb)
	checkLen("batch norm backward: dy", dy, n*k)
	checkLen("batch norm backward: x", x, n*k)
	for _, v := range [][]float32{gamma, mean, rstd} {
		checkLen("batch norm backward: per-feature buffer", v, k)
	}
	if dx != nil {
		checkLen("batch norm backward: dx", dx, n*k)
	}
	if dgamma != nil {
		checkLen("batch norm backward: dgamma", dgamma, k)
		checkLen("batch norm backward: dbeta", dbeta, k)
	}
	nf := float64(n)
	c.parallel(k, bnChunk, func(lo, hi, _ int) {
		var sdy, sdyx [bnChunk]float64
		w := hi - lo
		gemm.BNGradSums(sdy[:w], sdyx[:w], dy[lo:], x[lo:], mean[lo:hi], rstd[lo:hi], n, w, k)
		if dgamma != nil {
			for j := lo; j < hi; j++ {
				dgamma[j] += float32(sdyx[j-lo])
				dbeta[j] += float32(sdy[j-lo])
			}
		}
		if dx == nil {
			return
		}
		if batch {
			gemm.BNGradInput(dx[lo:], dy[lo:], x[lo:], mean[lo:hi], rstd[lo:hi], gamma[lo:hi], sdy[:w], sdyx[:w], nf, n, w, k)
			return
		}
		for i := 0; i < n; i++ {
			for j := lo; j < hi; j++ {
				gr := float64(gamma[j]) * float64(rstd[j]) // exact
				dx[i*k+j] = float32(gr * float64(dy[i*k+j]))
			}
		}
	})
}

func (c *CPU) AddNoise(yb, xb Buf, n int, std float32, r Rand) {
	y, x := f32(yb), f32(xb)
	checkLen("add noise: y", y, n)
	checkLen("add noise: x", x, n)
	blocks := (n + 3) / 4
	step := c.step
	c.parallel(blocks, 4096, func(lo, hi, _ int) {
		var z [4 * 64]float32
		for b := lo; b < hi; b += 64 {
			e := min(b+64, hi)
			zs := z[:4*(e-b)]
			r.normalFrom(zs, uint32(b), step)
			ys, xs := y[4*b:min(4*e, n)], x[4*b:min(4*e, n)]
			for i := range ys {
				ys[i] = xs[i] + float32(std*zs[i])
			}
		}
	})
}
