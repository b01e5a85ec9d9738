package gpu

import (
	"fmt"
	"github.com/vatgpu/vatgpu/gpu/cuda"

	"github.com/vatgpu/vatgpu/layers"
)

// The operations of layers.Backend other than convolution, each the twin of
// the layers.CPU method of the same name. Every one validates its arguments
// (panicking as the CPU does), then queues kernels, cuBLAS calls or copies;
// a zero-sized call queues nothing.

// Gather copies rows idx[off..off+n-1] of src. The indices are on the
// device and are not checked: an index beyond src reads outside it (the CPU
// panics).
func (b *Backend) Gather(dst, src, idx layers.Buf, off, n, row int) {
	const op = "gather"
	if off < 0 || n < 0 || row < 0 {
		panic(fmt.Sprintf("gpu: %s: negative offset, count or row (%d, %d, %d)", op, off, n, row))
	}
	d := b.f32(op, "dst", dst, n*row)
	s := b.f32(op, "src", src, 0)
	ix := b.i32(op, "idx", idx, off+n)
	if n*row == 0 {
		return
	}
	b.launch(op, kGather, gridFor(n*row, elementThreads), elementThreads,
		d.p, s.p, ix.p, kernelInt(op, off), kernelInt(op, n), kernelInt(op, row))
}

func (b *Backend) GatherInt(dst, src, idx layers.Buf, off, n int) {
	const op = "gather int"
	if off < 0 || n < 0 {
		panic(fmt.Sprintf("gpu: %s: negative offset or count (%d, %d)", op, off, n))
	}
	d := b.i32(op, "dst", dst, n)
	s := b.i32(op, "src", src, 0)
	ix := b.i32(op, "idx", idx, off+n)
	if n == 0 {
		return
	}
	b.launch(op, kGatherInt, gridFor(n, elementThreads), elementThreads,
		d.p, s.p, ix.p, kernelInt(op, off), kernelInt(op, n))
}

func (b *Backend) Translate(dst, src layers.Buf, n, h, w, shift int, r layers.Rand) {
	const op = "translate"
	if n < 0 || h < 0 || w < 0 || shift < 0 {
		panic(fmt.Sprintf("gpu: %s: negative count, size or shift (%d, %d, %d, %d)", op, n, h, w, shift))
	}
	d, s := b.f32(op, "dst", dst, n*h*w), b.f32(op, "src", src, n*h*w)
	if n*h*w == 0 {
		return
	}
	b.launch(op, kTranslate, gridFor(n*h*w, elementThreads), elementThreads,
		d.p, s.p, kernelInt(op, n), kernelInt(op, h), kernelInt(op, w), kernelInt(op, shift), r.Seed, r.Tensor, b.step)
}

func (b *Backend) ReLUForward(y, x layers.Buf, n int) {
	const op = "relu forward"
	yb, xb := b.f32(op, "y", y, n), b.f32(op, "x", x, n)
	if n == 0 {
		return
	}
	b.launch(op, kReLUForward, gridFor(n, elementThreads), elementThreads, yb.p, xb.p, kernelInt(op, n))
}

func (b *Backend) ReLUBackward(dx, dy, y layers.Buf, n int) {
	const op = "relu backward"
	dxb, dyb, yb := b.f32(op, "dx", dx, n), b.f32(op, "dy", dy, n), b.f32(op, "y", y, n)
	if n == 0 {
		return
	}
	b.launch(op, kReLUBackward, gridFor(n, elementThreads), elementThreads, dxb.p, dyb.p, yb.p, kernelInt(op, n))
}

// poolArgs checks a pooling shape and returns the kernel's plane count,
// height and width.
func poolArgs(op string, s layers.PoolShape) (planes, h, w int32) {
	if s.N < 0 || s.C < 0 || s.H < 0 || s.W < 0 || s.H%2 != 0 || s.W%2 != 0 {
		panic(fmt.Sprintf("gpu: %s: shape %+v (H and W must be even)", op, s))
	}
	return kernelInt(op, s.N*s.C), kernelInt(op, s.H), kernelInt(op, s.W)
}

func (b *Backend) MaxPoolForward(y, x layers.Buf, s layers.PoolShape) {
	const op = "max pool forward"
	planes, h, w := poolArgs(op, s)
	yb, xb := b.f32(op, "y", y, s.OutLen()), b.f32(op, "x", x, s.InLen())
	if s.OutLen() == 0 {
		return
	}
	b.launch(op, kMaxPoolForward, gridFor(s.OutLen(), elementThreads), elementThreads, yb.p, xb.p, planes, h, w)
}

// MaxPoolBackward writes every element of dx (the windows tile the input),
// so y is not needed: the first maximum is found again in x.
func (b *Backend) MaxPoolBackward(dx, dy, x, y layers.Buf, s layers.PoolShape) {
	const op = "max pool backward"
	planes, h, w := poolArgs(op, s)
	dxb, dyb, xb := b.f32(op, "dx", dx, s.InLen()), b.f32(op, "dy", dy, s.OutLen()), b.f32(op, "x", x, s.InLen())
	if s.OutLen() == 0 {
		return
	}
	b.launch(op, kMaxPoolBackward, gridFor(s.OutLen(), elementThreads), elementThreads, dxb.p, dyb.p, xb.p, planes, h, w)
}

func (b *Backend) DropoutForward(y, x layers.Buf, n int, p float32, r layers.Rand) {
	b.dropout("dropout forward", kDropoutForward, y, x, n, p, r)
}

func (b *Backend) DropoutBackward(dx, dy layers.Buf, n int, p float32, r layers.Rand) {
	b.dropout("dropout backward", kDropoutBackward, dx, dy, n, p, r)
}

// dropout launches one thread per Philox block of four elements.
func (b *Backend) dropout(op string, k kernelID, out, in layers.Buf, n int, p float32, r layers.Rand) {
	ob, ib := b.f32(op, "out", out, n), b.f32(op, "in", in, n)
	if n == 0 {
		return
	}
	blocks := (n + 3) / 4
	b.launch(op, k, gridFor(blocks, elementThreads), elementThreads,
		ob.p, ib.p, kernelInt(op, n), p, r.Seed, r.Tensor, b.step)
}

func (b *Backend) RandNormal(d layers.Buf, n int, r layers.Rand) {
	const op = "rand normal"
	db := b.f32(op, "d", d, n)
	if n == 0 {
		return
	}
	blocks := (n + 3) / 4
	b.launch(op, kRandNormal, gridFor(blocks, elementThreads), elementThreads,
		db.p, kernelInt(op, n), r.Seed, r.Tensor, b.step)
}

// DenseForward writes the bias into every row of y (fill_bias), then adds
// x·w with cuBLAS (beta = 1), as the CPU does.
func (b *Backend) DenseForward(y, x, w, bias layers.Buf, n, in, out int) {
	const op = "dense forward"
	yb, xb := b.f32(op, "y", y, n*out), b.f32(op, "x", x, n*in)
	wb, bb := b.f32(op, "w", w, in*out), b.f32(op, "bias", bias, out)
	if n*out == 0 {
		return
	}
	b.launch(op, kFillBias, gridFor(n*out, elementThreads), elementThreads,
		yb.p, bb.p, kernelInt(op, n), kernelInt(op, out), int32(1))
	b.sgemm(op, false, false, n, out, in, 1, xb.p, in, wb.p, out, 1, yb.p, out)
}

// DenseBackward: dx = dy·wᵀ and dw += xᵀ·dy on cuBLAS; dbias += the column
// sums of dy, added row by row in order (dense_backward_bias), which gives
// the CPU's bits.
func (b *Backend) DenseBackward(dx, dw, dbias, dy, x, w layers.Buf, n, in, out int) {
	const op = "dense backward"
	dyb := b.f32(op, "dy", dy, n*out)
	wb := b.f32(op, "w", w, in*out)
	if !isNil(dx) {
		dxb := b.f32(op, "dx", dx, n*in)
		b.sgemm(op, false, true, n, in, out, 1, dyb.p, out, wb.p, out, 0, dxb.p, in)
	}
	if !isNil(dw) {
		xb, dwb, dbb := b.f32(op, "x", x, n*in), b.f32(op, "dw", dw, in*out), b.f32(op, "dbias", dbias, out)
		b.sgemm(op, true, false, in, out, n, 1, xb.p, in, dyb.p, out, 1, dwb.p, out)
		if out > 0 {
			b.launch(op, kDenseBackwardBias, blocksFor(out, rowThreads), rowThreads,
				dbb.p, dyb.p, kernelInt(op, n), kernelInt(op, out))
		}
	}
}

// sgemm queues the row-major C = alpha·op(A)·op(B) + beta·C (Device.Sgemm).
// C is m×n with ldc == n in every call here. With k = 0 the product is
// empty: C is left as it is (beta = 1) or zeroed (beta = 0), as the CPU's
// gemm leaves it.
func (b *Backend) sgemm(op string, transA, transB bool, m, n, k int, alpha float32, a cuda.DevicePtr, lda int,
	bp cuda.DevicePtr, ldb int, beta float32, c cuda.DevicePtr, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	if k == 0 {
		if beta != 1 {
			if beta != 0 || ldc != n {
				panic("gpu: sgemm: k = 0 is supported with beta 0 or 1 and ldc = n only")
			}
			b.do(op, func() error { return b.s.Zero(c, m*n) })
		}
		return
	}
	cuda.CheckGemm(transA, transB, m, n, k, lda, ldb, ldc) // panics on bad sizes now, not at issue time
	b.do(op, func() error {
		return b.d.Sgemm(transA, transB, m, n, k, alpha, a, lda, bp, ldb, beta, c, ldc)
	})
}

func (b *Backend) SoftmaxXent(loss, dlogits, logits, labels layers.Buf, n, c int, scale float32) {
	const op = "softmax xent"
	lb, lg := b.f32(op, "loss", loss, n), b.f32(op, "logits", logits, n*c)
	yb := b.i32(op, "labels", labels, n)
	var dl cuda.DevicePtr
	if !isNil(dlogits) {
		dl = b.f32(op, "dlogits", dlogits, n*c).p
	}
	if n == 0 {
		return
	}
	checkClasses(op, c)
	b.launch(op, kSoftmaxXent, blocksFor(n, rowThreads), rowThreads,
		lb.p, dl, lg.p, yb.p, kernelInt(op, n), kernelInt(op, c), scale)
}

func (b *Backend) KLDiv(kl, dlogitsQ, logitsP, logitsQ layers.Buf, n, c int, scale float32) {
	const op = "kl div"
	kb := b.f32(op, "kl", kl, n)
	pb, qb := b.f32(op, "logitsP", logitsP, n*c), b.f32(op, "logitsQ", logitsQ, n*c)
	var dq cuda.DevicePtr
	if !isNil(dlogitsQ) {
		dq = b.f32(op, "dlogitsQ", dlogitsQ, n*c).p
	}
	if n == 0 {
		return
	}
	checkClasses(op, c)
	b.launch(op, kKLDiv, blocksFor(n, rowThreads), rowThreads,
		kb.p, dq, pb.p, qb.p, kernelInt(op, n), kernelInt(op, c), scale)
}

func (b *Backend) Softmax(p, logits layers.Buf, n, c int) {
	const op = "softmax"
	pb, lb := b.f32(op, "p", p, n*c), b.f32(op, "logits", logits, n*c)
	if n == 0 {
		return
	}
	checkClasses(op, c)
	b.launch(op, kSoftmax, blocksFor(n, rowThreads), rowThreads, pb.p, lb.p, kernelInt(op, n), kernelInt(op, c))
}

// Entropy runs one thread per row, as SoftmaxXent.
func (b *Backend) Entropy(h, dlogits, logits layers.Buf, n, c int, scale float32) {
	const op = "entropy"
	hb, lb := b.f32(op, "h", h, n), b.f32(op, "logits", logits, n*c)
	var dl cuda.DevicePtr
	if !isNil(dlogits) {
		dl = b.f32(op, "dlogits", dlogits, n*c).p
	}
	if n == 0 {
		return
	}
	checkClasses(op, c)
	b.launch(op, kEntropy, blocksFor(n, rowThreads), rowThreads,
		hb.p, dl, lb.p, kernelInt(op, n), kernelInt(op, c), scale)
}

// checkClasses panics on rows without logits (the CPU indexes logits[0]).
func checkClasses(op string, c int) {
	if c <= 0 {
		panic(fmt.Sprintf("gpu: %s: %d classes", op, c))
	}
}

// Perturb runs one block of reduceThreads per row (the block reductions
// assume exactly that many threads).
func (b *Backend) Perturb(xr, x, d layers.Buf, n, dim int, scale float32, norm layers.Norm) {
	const op = "perturb"
	checkNorm(op, norm)
	xrb, xb, db := b.f32(op, "xr", xr, n*dim), b.f32(op, "x", x, n*dim), b.f32(op, "d", d, n*dim)
	if n*dim == 0 {
		return
	}
	b.launch(op, kPerturb, int(kernelInt(op, n)), reduceThreads,
		xrb.p, xb.p, db.p, kernelInt(op, dim), scale, int32(norm))
}

func (b *Backend) PerturbBackward(dd, dxr, d layers.Buf, n, dim int, scale float32, norm layers.Norm) {
	const op = "perturb backward"
	checkNorm(op, norm)
	ddb, gb, db := b.f32(op, "dd", dd, n*dim), b.f32(op, "dxr", dxr, n*dim), b.f32(op, "d", d, n*dim)
	if ddb.base == db.base && ddb.p < db.p.Add(4*n*dim) && db.p < ddb.p.Add(4*n*dim) {
		panic("gpu: perturb backward: dd aliases d")
	}
	if n*dim == 0 {
		return
	}
	b.launch(op, kPerturbBackward, int(kernelInt(op, n)), reduceThreads,
		ddb.p, gb.p, db.p, kernelInt(op, dim), scale, int32(norm))
}

func checkNorm(op string, norm layers.Norm) {
	if norm != layers.NormL2 && norm != layers.NormMaxAbsL2 {
		panic(fmt.Sprintf("gpu: %s: unknown norm %d", op, int(norm)))
	}
}

// SumInto runs one block (a fixed order of summation, so deterministic).
func (b *Backend) SumInto(acc layers.Buf, slot int, x layers.Buf, n int) {
	const op = "sum into"
	if slot < 0 {
		panic(fmt.Sprintf("gpu: %s: slot %d", op, slot))
	}
	ab, xb := b.f32(op, "acc", acc, slot+1), b.f32(op, "x", x, n)
	b.launch(op, kSumInto, 1, reduceThreads, ab.p, kernelInt(op, slot), xb.p, kernelInt(op, n))
}

// CountCorrect runs one block; counts are integers, so the result is exact.
func (b *Backend) CountCorrect(acc layers.Buf, slot int, logits, labels layers.Buf, n, c int) {
	const op = "count correct"
	if slot < 0 {
		panic(fmt.Sprintf("gpu: %s: slot %d", op, slot))
	}
	ab, lb, yb := b.f32(op, "acc", acc, slot+1), b.f32(op, "logits", logits, n*c), b.i32(op, "labels", labels, n)
	if n == 0 {
		return
	}
	checkClasses(op, c)
	b.launch(op, kCountCorrect, 1, reduceThreads, ab.p, kernelInt(op, slot), lb.p, yb.p, kernelInt(op, n), kernelInt(op, c))
}

// Adadelta updates the whole flat buffer in one kernel.
func (b *Backend) Adadelta(params, grads, accG, accD layers.Buf, lr, rho, eps float32) {
	const op = "adadelta"
	pb := b.f32(op, "params", params, 0)
	n := pb.n
	gb, ab, db := b.f32(op, "grads", grads, 0), b.f32(op, "accG", accG, 0), b.f32(op, "accD", accD, 0)
	if gb.n != n || ab.n != n || db.n != n {
		panic("gpu: adadelta: buffers of different lengths")
	}
	if n == 0 {
		return
	}
	b.launch(op, kAdadelta, gridFor(n, elementThreads), elementThreads,
		pb.p, gb.p, ab.p, db.p, kernelInt(op, n), lr, rho, eps)
}

func (b *Backend) Average(avg, params layers.Buf, decay float32) {
	const op = "average"
	ab := b.f32(op, "avg", avg, 0)
	pb := b.f32(op, "params", params, ab.n)
	if pb.n != ab.n {
		panic("gpu: average: buffers of different lengths")
	}
	if ab.n == 0 {
		return
	}
	b.launch(op, kAverage, gridFor(ab.n, elementThreads), elementThreads, ab.p, pb.p, kernelInt(op, ab.n), decay)
}

// Adam updates the whole flat buffer in one kernel. The kernel reads the
// step from the backend's device word and computes the bias correction
// (layers.AdamCorrection) there, in double, so that a captured graph
// applies the step set before each replay; nothing step-dependent is
// passed by value.
func (b *Backend) Adam(params, grads, m, v layers.Buf, lr, beta1, beta2, eps float32) {
	const op = "adam"
	pb := b.f32(op, "params", params, 0)
	n := pb.n
	gb, mb, vb := b.f32(op, "grads", grads, 0), b.f32(op, "m", m, 0), b.f32(op, "v", v, 0)
	if gb.n != n || mb.n != n || vb.n != n {
		panic("gpu: adam: buffers of different lengths")
	}
	if n == 0 {
		return
	}
	b.launch(op, kAdam, gridFor(n, elementThreads), elementThreads,
		pb.p, gb.p, mb.p, vb.p, kernelInt(op, n), lr, beta1, beta2, eps, b.step)
}

// BatchNormForward runs one thread per feature (batch_norm_forward), which
// sums its column over the rows in order, as the CPU does.
func (b *Backend) BatchNormForward(y, x, gamma, beta, mean, rstd, runMean, runVar layers.Buf, n, c int, eps, ratio float32, mode layers.BNMode) {
	const op = "batch norm forward"
	if n <= 0 || c < 0 {
		panic(fmt.Sprintf("gpu: %s: %d rows of %d features", op, n, c))
	}
	yb, xb := b.f32(op, "y", y, n*c), b.f32(op, "x", x, n*c)
	gb, bb := b.f32(op, "gamma", gamma, c), b.f32(op, "beta", beta, c)
	mb, rb := b.f32(op, "mean", mean, c), b.f32(op, "rstd", rstd, c)
	var rm, rv cuda.DevicePtr
	switch mode {
	case layers.BNBatch:
	case layers.BNBatchUpdate, layers.BNRunning:
		rm, rv = b.f32(op, "runMean", runMean, c).p, b.f32(op, "runVar", runVar, c).p
	default:
		panic(fmt.Sprintf("gpu: %s: unknown mode %d", op, mode))
	}
	if c == 0 {
		return
	}
	b.launch(op, kBatchNormForward, blocksFor(c, rowThreads), rowThreads,
		yb.p, xb.p, gb.p, bb.p, mb.p, rb.p, rm, rv, kernelInt(op, n), kernelInt(op, c), eps, ratio, int32(mode))
}

// BatchNormBackward runs one thread per feature (batch_norm_backward).
func (b *Backend) BatchNormBackward(dx, dgamma, dbeta, dy, x, gamma, mean, rstd layers.Buf, n, c int, batch bool) {
	const op = "batch norm backward"
	if n <= 0 || c < 0 {
		panic(fmt.Sprintf("gpu: %s: %d rows of %d features", op, n, c))
	}
	dyb, xb := b.f32(op, "dy", dy, n*c), b.f32(op, "x", x, n*c)
	gb, mb, rb := b.f32(op, "gamma", gamma, c), b.f32(op, "mean", mean, c), b.f32(op, "rstd", rstd, c)
	var dxp, dgp, dbp cuda.DevicePtr
	if !isNil(dx) {
		dxp = b.f32(op, "dx", dx, n*c).p
	}
	if !isNil(dgamma) {
		dgp, dbp = b.f32(op, "dgamma", dgamma, c).p, b.f32(op, "dbeta", dbeta, c).p
	}
	if c == 0 || dxp == 0 && dgp == 0 {
		return
	}
	batchFlag := int32(0)
	if batch {
		batchFlag = 1
	}
	b.launch(op, kBatchNormBackward, blocksFor(c, rowThreads), rowThreads,
		dxp, dgp, dbp, dyb.p, xb.p, gb.p, mb.p, rb.p, kernelInt(op, n), kernelInt(op, c), batchFlag)
}

// AddNoise launches one thread per Philox block of four elements, as
// RandNormal.
func (b *Backend) AddNoise(y, x layers.Buf, n int, std float32, r layers.Rand) {
	const op = "add noise"
	yb, xb := b.f32(op, "y", y, n), b.f32(op, "x", x, n)
	if n == 0 {
		return
	}
	blocks := (n + 3) / 4
	b.launch(op, kAddNoise, gridFor(blocks, elementThreads), elementThreads,
		yb.p, xb.p, kernelInt(op, n), std, r.Seed, r.Tensor, b.step)
}
