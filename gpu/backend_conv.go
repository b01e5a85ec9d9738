package gpu

import (
	"fmt"
	"sort"

	"github.com/vatgpu/vatgpu/gpu/cuda"
	"github.com/vatgpu/vatgpu/layers"
)

// Convolutions run on cuDNN: descriptors and algorithms are chosen once per
// shape (convPlan) and one workspace, as large as the largest plan needs,
// serves them all.

// convPlan is everything cuDNN needs for one ConvShape.
type convPlan struct {
	x, y *cuda.TensorDesc // N×C×H×W input, N×K×OH×OW output
	w    *cuda.FilterDesc // K×C×R×S
	bias *cuda.TensorDesc // 1×K×1×1
	conv *cuda.ConvDesc   // no padding, stride 1, no dilation: cross-correlation

	fwd       cuda.ConvFwdAlgo
	bwdData   cuda.ConvBwdDataAlgo
	bwdFilter cuda.ConvBwdFilterAlgo
	// The cudnnMathType_t each algorithm runs with, set on conv before
	// each call (the algorithm search may return another than conv's).
	fwdMath, bwdDataMath, bwdFilterMath int
	ws                                  int // the largest workspace of the three, bytes
	// fell says which of forward, backward data and backward filter took
	// the fallback because the search offered nothing acceptable.
	fell [3]bool
}

// The algorithms used when the search finds none acceptable. All three are
// deterministic, support every NCHW float32 shape and need little
// workspace (cuDNN documents bwd data ALGO_0 and bwd filter ALGO_0 and
// ALGO_3 as non-deterministic: they sum with atomics).
const (
	fallbackFwd       cuda.ConvFwdAlgo       = 1 // CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM
	fallbackBwdData   cuda.ConvBwdDataAlgo   = 1 // CUDNN_CONVOLUTION_BWD_DATA_ALGO_1
	fallbackBwdFilter cuda.ConvBwdFilterAlgo = 1 // CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1
)

func checkConv(op string, s layers.ConvShape) {
	if s.N < 0 || s.C <= 0 || s.K <= 0 || s.R <= 0 || s.S <= 0 || s.OH() <= 0 || s.OW() <= 0 {
		panic(fmt.Sprintf("gpu: %s: shape %+v", op, s))
	}
}

// ConvForward writes the bias into every output plane (fill_bias), then adds
// the cross-correlation with cuDNN (beta = 1), as the CPU does.
func (b *Backend) ConvForward(y, x, w, bias layers.Buf, s layers.ConvShape) {
	const op = "conv forward"
	checkConv(op, s)
	yb, xb := b.f32(op, "y", y, s.OutLen()), b.f32(op, "x", x, s.InLen())
	wb, bb := b.f32(op, "w", w, s.WLen()), b.f32(op, "bias", bias, s.K)
	if s.N == 0 {
		return
	}
	p := b.convPlan(op, s)
	if p == nil {
		return
	}
	ohw := s.OH() * s.OW()
	b.launch(op, kFillBias, gridFor(s.OutLen(), elementThreads), elementThreads,
		yb.p, bb.p, kernelInt(op, s.N), kernelInt(op, s.K), kernelInt(op, ohw))
	b.do(op, func() error {
		if err := p.conv.SetMathType(p.fwdMath); err != nil {
			return err
		}
		return b.d.ConvForward(1, p.x, xb.p, p.w, wb.p, p.conv, p.fwd, b.ws, b.wsBytes, 1, p.y, yb.p)
	})
}

// ConvBackward: dx with cuDNN's backward data (beta = 0: assigned), dw and
// dbias with backward filter and backward bias (beta = 1: accumulated).
func (b *Backend) ConvBackward(dx, dw, dbias, dy, x, w layers.Buf, s layers.ConvShape) {
	const op = "conv backward"
	checkConv(op, s)
	dyb, wb := b.f32(op, "dy", dy, s.OutLen()), b.f32(op, "w", w, s.WLen())
	var dxb, xb, dwb, dbb *devBuf
	if !isNil(dx) {
		dxb = b.f32(op, "dx", dx, s.InLen())
	}
	if !isNil(dw) {
		xb, dwb, dbb = b.f32(op, "x", x, s.InLen()), b.f32(op, "dw", dw, s.WLen()), b.f32(op, "dbias", dbias, s.K)
	}
	if s.N == 0 || dxb == nil && dwb == nil {
		return
	}
	p := b.convPlan(op, s)
	if p == nil {
		return
	}
	if dxb != nil {
		b.do(op, func() error {
			if err := p.conv.SetMathType(p.bwdDataMath); err != nil {
				return err
			}
			return b.d.ConvBackwardData(1, p.w, wb.p, p.y, dyb.p, p.conv, p.bwdData, b.ws, b.wsBytes, 0, p.x, dxb.p)
		})
	}
	if dwb != nil {
		b.do(op, func() error {
			if err := p.conv.SetMathType(p.bwdFilterMath); err != nil {
				return err
			}
			if err := b.d.ConvBackwardFilter(1, p.x, xb.p, p.y, dyb.p, p.conv, p.bwdFilter, b.ws, b.wsBytes, 1, p.w, dwb.p); err != nil {
				return err
			}
			return b.d.ConvBackwardBias(1, p.y, dyb.p, 1, p.bias, dbb.p)
		})
	}
}

// convPlan returns the plan for s, making it on first use (outside any
// capture: Capture's first run of f is an ordinary run). It returns nil
// once an error is recorded.
func (b *Backend) convPlan(op string, s layers.ConvShape) *convPlan {
	if p, ok := b.convs[s]; ok {
		return p
	}
	if b.dry != nil {
		return &convPlan{}
	}
	if b.err != nil {
		return nil
	}
	p, err := b.newConvPlan(s)
	if err != nil {
		b.fail(fmt.Sprintf("%s: planning %d×%d×%d×%d * %d×%d×%d", op, s.N, s.C, s.H, s.W, s.K, s.R, s.S), err)
		return nil
	}
	b.convs[s] = p
	if !b.growWorkspace(op, p.ws) {
		return nil
	}
	return p
}

// growWorkspace makes the cuDNN workspace at least bytes long. The old one
// is freed only while no graph exists, since graphs hold its address;
// otherwise Close frees it.
func (b *Backend) growWorkspace(op string, bytes int) bool {
	if bytes <= b.wsBytes {
		return true
	}
	p, err := b.d.Alloc(bytes)
	if err != nil {
		b.fail(fmt.Sprintf("%s: workspace of %d bytes", op, bytes), err)
		return false
	}
	if b.ws != 0 && len(b.graphs) == 0 {
		// Work queued with the old workspace may still run (see Free).
		b.fail(op+": freeing the old workspace", b.d.Synchronize())
		b.fail(op+": freeing the old workspace", b.d.Free(b.ws))
	}
	b.ws, b.wsBytes = p, bytes
	return b.err == nil
}

func (b *Backend) newConvPlan(s layers.ConvShape) (p *convPlan, err error) {
	d := b.d
	p = &convPlan{}
	var made []interface{ Close() error }
	defer func() {
		if err != nil { // the device's Close would free them too; free them now
			for _, c := range made {
				c.Close()
			}
		}
	}()
	if p.x, err = d.NewTensorDesc(s.N, s.C, s.H, s.W); err != nil {
		return nil, err
	}
	made = append(made, p.x)
	if p.y, err = d.NewTensorDesc(s.N, s.K, s.OH(), s.OW()); err != nil {
		return nil, err
	}
	made = append(made, p.y)
	if p.w, err = d.NewFilterDesc(s.K, s.C, s.R, s.S); err != nil {
		return nil, err
	}
	made = append(made, p.w)
	if p.bias, err = d.NewTensorDesc(1, s.K, 1, 1); err != nil {
		return nil, err
	}
	made = append(made, p.bias)
	if p.conv, err = d.NewConvDesc(0, 0, 1, 1, 1, 1); err != nil {
		return nil, err
	}
	made = append(made, p.conv)
	n, k, oh, ow, err := p.conv.OutputShape(p.x, p.w)
	if err != nil {
		return nil, err
	}
	if n != s.N || k != s.K || oh != s.OH() || ow != s.OW() {
		return nil, fmt.Errorf("cuDNN's output shape %d×%d×%d×%d, want %d×%d×%d×%d", n, k, oh, ow, s.N, s.K, s.OH(), s.OW())
	}

	search := cuda.SearchBenchmark
	if b.opts.Deterministic {
		search = cuda.SearchHeuristic
	}
	want := d.MathMode().CUDNN()

	fwd, err := d.ConvForwardAlgos(p.x, p.w, p.conv, p.y, search)
	if err != nil {
		return nil, err
	}
	p.fwd, p.fwdMath, p.fell[0] = fallbackFwd, want, true
	if a, ok := b.pickAlgo(fwdAlgos(fwd)); ok {
		p.fwd, p.fwdMath, p.fell[0] = cuda.ConvFwdAlgo(a.algo), a.mathType, false
	}
	bwdData, err := d.ConvBackwardDataAlgos(p.w, p.y, p.conv, p.x, search)
	if err != nil {
		return nil, err
	}
	p.bwdData, p.bwdDataMath, p.fell[1] = fallbackBwdData, want, true
	if a, ok := b.pickAlgo(bwdDataAlgos(bwdData)); ok {
		p.bwdData, p.bwdDataMath, p.fell[1] = cuda.ConvBwdDataAlgo(a.algo), a.mathType, false
	}
	bwdFilter, err := d.ConvBackwardFilterAlgos(p.x, p.y, p.conv, p.w, search)
	if err != nil {
		return nil, err
	}
	p.bwdFilter, p.bwdFilterMath, p.fell[2] = fallbackBwdFilter, want, true
	if a, ok := b.pickAlgo(bwdFilterAlgos(bwdFilter)); ok {
		p.bwdFilter, p.bwdFilterMath, p.fell[2] = cuda.ConvBwdFilterAlgo(a.algo), a.mathType, false
	}

	// The workspace each needs, asked with its math type set.
	sizes := []struct {
		math int
		size func() (int, error)
	}{
		{p.fwdMath, func() (int, error) { return d.ConvForwardWorkspace(p.x, p.w, p.conv, p.y, p.fwd) }},
		{p.bwdDataMath, func() (int, error) { return d.ConvBackwardDataWorkspace(p.w, p.y, p.conv, p.x, p.bwdData) }},
		{p.bwdFilterMath, func() (int, error) { return d.ConvBackwardFilterWorkspace(p.x, p.y, p.conv, p.w, p.bwdFilter) }},
	}
	for _, sz := range sizes {
		if err := p.conv.SetMathType(sz.math); err != nil {
			return nil, err
		}
		n, err := sz.size()
		if err != nil {
			return nil, err
		}
		p.ws = max(p.ws, n)
	}
	return p, nil
}

// algoChoice is one ranked algorithm of any of the three kinds.
type algoChoice struct {
	algo          int
	ok            bool // cuDNN can run it on this shape
	deterministic bool
	mathType      int
}

func fwdAlgos(ps []cuda.AlgoPerf[cuda.ConvFwdAlgo]) []algoChoice {
	out := make([]algoChoice, len(ps))
	for i, p := range ps {
		out[i] = algoChoice{int(p.Algo), p.Err == nil, p.Deterministic, p.MathType}
	}
	return out
}

func bwdDataAlgos(ps []cuda.AlgoPerf[cuda.ConvBwdDataAlgo]) []algoChoice {
	out := make([]algoChoice, len(ps))
	for i, p := range ps {
		// ALGO_0 sums with atomics whatever cuDNN reports.
		out[i] = algoChoice{int(p.Algo), p.Err == nil, p.Deterministic && p.Algo != 0, p.MathType}
	}
	return out
}

func bwdFilterAlgos(ps []cuda.AlgoPerf[cuda.ConvBwdFilterAlgo]) []algoChoice {
	out := make([]algoChoice, len(ps))
	for i, p := range ps {
		// ALGO_0 and ALGO_3 sum with atomics whatever cuDNN reports.
		out[i] = algoChoice{int(p.Algo), p.Err == nil, p.Deterministic && p.Algo != 0 && p.Algo != 3, p.MathType}
	}
	return out
}

// ConvPlans describes the cuDNN algorithms chosen for each convolution
// shape met so far, one line each, sorted: the forward, backward-data and
// backward-filter algorithm numbers, each with its cudnnMathType_t and
// "(fallback)" where the search offered nothing acceptable (see pickAlgo),
// and the workspace. A first run on a new GPU reports what it ran with.
func (b *Backend) ConvPlans() []string {
	var out []string
	for s, p := range b.convs {
		part := func(name string, algo, math int, fell bool) string {
			f := ""
			if fell {
				f = " (fallback)"
			}
			return fmt.Sprintf("%s %d math %d%s", name, algo, math, f)
		}
		out = append(out, fmt.Sprintf("conv %d×%d×%d×%d, %d filters %d×%d: %s, %s, %s; workspace %d bytes", s.N, s.C, s.H, s.W, s.K, s.R, s.S,
			part("fwd", int(p.fwd), p.fwdMath, p.fell[0]), part("bwd data", int(p.bwdData), p.bwdDataMath, p.fell[1]),
			part("bwd filter", int(p.bwdFilter), p.bwdFilterMath, p.fell[2]), p.ws))
	}
	sort.Strings(out)
	return out
}

// pickAlgo returns the first (best ranked) algorithm that can run, is
// deterministic when Options.Deterministic asks for it, and, without
// Options.TF32, runs with CUDNN_FMA_MATH: cudnnFind* also tries
// CUDNN_DEFAULT_MATH, which allows TF32 on sm_80 and later.
func (b *Backend) pickAlgo(choices []algoChoice) (algoChoice, bool) {
	for _, c := range choices {
		if !c.ok || b.opts.Deterministic && !c.deterministic {
			continue
		}
		if !b.opts.TF32 && c.mathType != cuda.CudnnFMAMath {
			continue
		}
		return c, true
	}
	return algoChoice{}, false
}
