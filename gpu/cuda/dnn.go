package cuda

import (
	"fmt"
	"time"
)

// cuDNN operations compute y = alpha*op(x) + beta*y, so beta = 1 adds to
// what y holds (how parameter gradients accumulate) and beta = 0 assigns
// (y is not read). All tensors are dense NCHW float32; all calls run on the
// device's stream. The wrappers panic when a device pointer does not cover
// the tensor its descriptor describes.

// TensorDesc describes a dense NCHW float32 tensor of shape N×C×H×W.
type TensorDesc struct {
	d          *Device
	h          uintptr // cudnnTensorDescriptor_t
	N, C, H, W int
}

// NewTensorDesc describes an n×c×h×w float32 tensor, NCHW.
func (d *Device) NewTensorDesc(n, c, h, w int) (*TensorDesc, error) {
	if d.closed.Load() {
		return nil, errClosed
	}
	t, r := cudnnNewTensor4d(n, c, h, w)
	if err := dnnCheck("cudnnSetTensor4dDescriptor", fmt.Sprintf("NCHW float %d×%d×%d×%d", n, c, h, w), r); err != nil {
		return nil, err
	}
	td := &TensorDesc{d: d, h: t, N: n, C: c, H: h, W: w}
	if err := d.track(td); err != nil {
		cudnnDestroyTensor(t)
		return nil, err
	}
	return td, nil
}

// Bytes is the size of the tensor's data.
func (t *TensorDesc) Bytes() int { return 4 * t.N * t.C * t.H * t.W }

// Close frees t. The device's Close frees it too.
func (t *TensorDesc) Close() error { return t.d.closeResource(t) }

func (t *TensorDesc) rank() int { return 2 }
func (t *TensorDesc) release() error {
	return dnnCheck("cudnnDestroyTensorDescriptor", "", cudnnDestroyTensor(t.h))
}

// FilterDesc describes convolution weights of shape K×C×H×W (output
// channels, input channels, kernel height, kernel width), float32, NCHW.
type FilterDesc struct {
	d          *Device
	h          uintptr // cudnnFilterDescriptor_t
	K, C, H, W int
}

// NewFilterDesc describes k×c×h×w float32 convolution weights.
func (d *Device) NewFilterDesc(k, c, h, w int) (*FilterDesc, error) {
	if d.closed.Load() {
		return nil, errClosed
	}
	f, r := cudnnNewFilter4d(k, c, h, w)
	if err := dnnCheck("cudnnSetFilter4dDescriptor", fmt.Sprintf("float NCHW %d×%d×%d×%d", k, c, h, w), r); err != nil {
		return nil, err
	}
	fd := &FilterDesc{d: d, h: f, K: k, C: c, H: h, W: w}
	if err := d.track(fd); err != nil {
		cudnnDestroyFilter(f)
		return nil, err
	}
	return fd, nil
}

// Bytes is the size of the weights.
func (f *FilterDesc) Bytes() int { return 4 * f.K * f.C * f.H * f.W }

// Close frees f. The device's Close frees it too.
func (f *FilterDesc) Close() error { return f.d.closeResource(f) }

func (f *FilterDesc) rank() int { return 2 }
func (f *FilterDesc) release() error {
	return dnnCheck("cudnnDestroyFilterDescriptor", "", cudnnDestroyFilter(f.h))
}

// ConvDesc describes a 2-D cross-correlation (what deep learning calls
// convolution: the kernel is not flipped) computed in float32.
type ConvDesc struct {
	d                    *Device
	h                    uintptr // cudnnConvolutionDescriptor_t
	PadH, PadW           int
	StrideH, StrideW     int
	DilationH, DilationW int
}

// NewConvDesc describes a convolution with the given zero padding, strides
// and dilations (1 for none), in the device's current MathMode.
func (d *Device) NewConvDesc(padH, padW, strideH, strideW, dilationH, dilationW int) (*ConvDesc, error) {
	if d.closed.Load() {
		return nil, errClosed
	}
	math := d.MathMode()
	c, r := cudnnNewConv2d(padH, padW, strideH, strideW, dilationH, dilationW, math.CUDNN())
	if err := dnnCheck("cudnnSetConvolution2dDescriptor", fmt.Sprintf("pad %d,%d stride %d,%d dilation %d,%d, %v",
		padH, padW, strideH, strideW, dilationH, dilationW, math), r); err != nil {
		return nil, err
	}
	cd := &ConvDesc{d: d, h: c, PadH: padH, PadW: padW, StrideH: strideH, StrideW: strideW,
		DilationH: dilationH, DilationW: dilationW}
	if err := d.track(cd); err != nil {
		cudnnDestroyConv(c)
		return nil, err
	}
	return cd, nil
}

// SetMathMode sets the arithmetic of convolutions run with c.
func (c *ConvDesc) SetMathMode(m MathMode) error {
	return dnnCheck("cudnnSetConvolutionMathType", m.String(), cudnnSetConvMath(c.h, m.CUDNN()))
}

// SetMathType sets cuDNN's math type directly (cudnnMathType_t: 0 default,
// 1 tensor op, 2 tensor op allowing conversion, 3 FMA), for instance to the
// MathType an algorithm search returned, which cuDNN expects the
// convolution to be run with.
func (c *ConvDesc) SetMathType(mathType int) error {
	return dnnCheck("cudnnSetConvolutionMathType", fmt.Sprint(mathType), cudnnSetConvMath(c.h, mathType))
}

// OutputShape is the N×C×H×W shape of the convolution of x with w.
func (c *ConvDesc) OutputShape(x *TensorDesc, w *FilterDesc) (n, ch, h, wd int, err error) {
	dims, r := cudnnConvOutputDim(c.h, x.h, w.h)
	if err := dnnCheck("cudnnGetConvolution2dForwardOutputDim", "", r); err != nil {
		return 0, 0, 0, 0, err
	}
	return dims[0], dims[1], dims[2], dims[3], nil
}

// Close frees c. The device's Close frees it too.
func (c *ConvDesc) Close() error { return c.d.closeResource(c) }

func (c *ConvDesc) rank() int { return 2 }
func (c *ConvDesc) release() error {
	return dnnCheck("cudnnDestroyConvolutionDescriptor", "", cudnnDestroyConv(c.h))
}

// ConvFwdAlgo is a cudnnConvolutionFwdAlgo_t.
type ConvFwdAlgo int

// ConvBwdDataAlgo is a cudnnConvolutionBwdDataAlgo_t.
type ConvBwdDataAlgo int

// ConvBwdFilterAlgo is a cudnnConvolutionBwdFilterAlgo_t.
type ConvBwdFilterAlgo int

var (
	convFwdAlgoNames = []string{"IMPLICIT_GEMM", "IMPLICIT_PRECOMP_GEMM", "GEMM", "DIRECT", "FFT", "FFT_TILING",
		"WINOGRAD", "WINOGRAD_NONFUSED"}
	convBwdDataAlgoNames   = []string{"0", "1", "FFT", "FFT_TILING", "WINOGRAD", "WINOGRAD_NONFUSED"}
	convBwdFilterAlgoNames = []string{"0", "1", "FFT", "3", "WINOGRAD", "WINOGRAD_NONFUSED", "FFT_TILING"}
)

func algoName(prefix string, names []string, a int) string {
	if a >= 0 && a < len(names) {
		return prefix + names[a]
	}
	return fmt.Sprintf("%s%d", prefix, a)
}

func (a ConvFwdAlgo) String() string {
	return algoName("CUDNN_CONVOLUTION_FWD_ALGO_", convFwdAlgoNames, int(a))
}
func (a ConvBwdDataAlgo) String() string {
	return algoName("CUDNN_CONVOLUTION_BWD_DATA_ALGO_", convBwdDataAlgoNames, int(a))
}
func (a ConvBwdFilterAlgo) String() string {
	return algoName("CUDNN_CONVOLUTION_BWD_FILTER_ALGO_", convBwdFilterAlgoNames, int(a))
}

// AlgoSearch says how to rank convolution algorithms.
type AlgoSearch int

const (
	// SearchHeuristic asks cuDNN's heuristics (cudnnGet*Algorithm_v7):
	// fast, runs nothing.
	SearchHeuristic AlgoSearch = iota
	// SearchBenchmark times every algorithm on the GPU
	// (cudnnFind*Algorithm), allocating scratch memory: never during
	// graph capture.
	SearchBenchmark
)

// AlgoPerf is one ranked convolution algorithm.
type AlgoPerf[A ConvFwdAlgo | ConvBwdDataAlgo | ConvBwdFilterAlgo] struct {
	Algo          A
	Err           error         // nil if the algorithm can run this convolution
	Time          time.Duration // measured time (SearchBenchmark) or cuDNN's estimate, -1ms if none
	Workspace     int64         // workspace bytes it needs
	Deterministic bool          // CUDNN_DETERMINISTIC
	MathType      int           // cudnnMathType_t to run it with (see ConvDesc.SetMathType)
}

// algoPerf is the raw content of a cudnnConvolution*AlgoPerf_t.
type algoPerf struct {
	Algo, Status          int
	Time                  float32 // milliseconds
	Memory                int64
	Determinism, MathType int
}

const (
	convFwd       = 0 // VG_CONV_FWD
	convBwdData   = 1 // VG_CONV_BWD_DATA
	convBwdFilter = 2 // VG_CONV_BWD_FILTER
)

var convCalls = [3][2]string{
	{"cudnnGetConvolutionForwardAlgorithm_v7", "cudnnFindConvolutionForwardAlgorithm"},
	{"cudnnGetConvolutionBackwardDataAlgorithm_v7", "cudnnFindConvolutionBackwardDataAlgorithm"},
	{"cudnnGetConvolutionBackwardFilterAlgorithm_v7", "cudnnFindConvolutionBackwardFilterAlgorithm"},
}

func convAlgos[A ConvFwdAlgo | ConvBwdDataAlgo | ConvBwdFilterAlgo](d *Device, kind int, search AlgoSearch,
	a, b, conv, c uintptr) ([]AlgoPerf[A], error) {
	if d.closed.Load() {
		return nil, errClosed
	}
	n, r := cudnnConvAlgoMax(d.ctx, d.dnn, kind)
	if r != 0 || n <= 0 {
		n = 8 // the largest CUDNN_CONVOLUTION_*_ALGO_COUNT
	}
	find := search == SearchBenchmark
	call := convCalls[kind][0]
	if find {
		call = convCalls[kind][1]
	}
	raw, r := cudnnConvAlgos(d.ctx, d.dnn, kind, find, a, b, conv, c, n)
	if err := dnnCheck(call, "", r); err != nil {
		return nil, err
	}
	out := make([]AlgoPerf[A], len(raw))
	for i, p := range raw {
		out[i] = AlgoPerf[A]{
			Algo:          A(p.Algo),
			Err:           dnnCheck(call, fmt.Sprint("algorithm ", p.Algo), p.Status),
			Time:          time.Duration(float64(p.Time) * float64(time.Millisecond)),
			Workspace:     p.Memory,
			Deterministic: p.Determinism == 1,
			MathType:      p.MathType,
		}
	}
	return out, nil
}

// ConvForwardAlgos ranks the algorithms for y = conv(x, w), best first.
func (d *Device) ConvForwardAlgos(x *TensorDesc, w *FilterDesc, conv *ConvDesc, y *TensorDesc, search AlgoSearch) ([]AlgoPerf[ConvFwdAlgo], error) {
	return convAlgos[ConvFwdAlgo](d, convFwd, search, x.h, w.h, conv.h, y.h)
}

// ConvBackwardDataAlgos ranks the algorithms for dx from w and dy.
func (d *Device) ConvBackwardDataAlgos(w *FilterDesc, dy *TensorDesc, conv *ConvDesc, dx *TensorDesc, search AlgoSearch) ([]AlgoPerf[ConvBwdDataAlgo], error) {
	return convAlgos[ConvBwdDataAlgo](d, convBwdData, search, w.h, dy.h, conv.h, dx.h)
}

// ConvBackwardFilterAlgos ranks the algorithms for dw from x and dy.
func (d *Device) ConvBackwardFilterAlgos(x *TensorDesc, dy *TensorDesc, conv *ConvDesc, dw *FilterDesc, search AlgoSearch) ([]AlgoPerf[ConvBwdFilterAlgo], error) {
	return convAlgos[ConvBwdFilterAlgo](d, convBwdFilter, search, x.h, dy.h, conv.h, dw.h)
}

func (d *Device) convWorkspace(call string, kind int, a, b, conv, c uintptr, algo int) (int, error) {
	if d.closed.Load() {
		return 0, errClosed
	}
	n, r := cudnnConvWorkspace(d.ctx, d.dnn, kind, a, b, conv, c, algo)
	if err := dnnCheck(call, fmt.Sprint("algorithm ", algo), r); err != nil {
		return 0, err
	}
	return int(n), nil
}

// ConvForwardWorkspace is the workspace ConvForward needs with algo.
func (d *Device) ConvForwardWorkspace(x *TensorDesc, w *FilterDesc, conv *ConvDesc, y *TensorDesc, algo ConvFwdAlgo) (int, error) {
	return d.convWorkspace("cudnnGetConvolutionForwardWorkspaceSize", convFwd, x.h, w.h, conv.h, y.h, int(algo))
}

// ConvBackwardDataWorkspace is the workspace ConvBackwardData needs with algo.
func (d *Device) ConvBackwardDataWorkspace(w *FilterDesc, dy *TensorDesc, conv *ConvDesc, dx *TensorDesc, algo ConvBwdDataAlgo) (int, error) {
	return d.convWorkspace("cudnnGetConvolutionBackwardDataWorkspaceSize", convBwdData, w.h, dy.h, conv.h, dx.h, int(algo))
}

// ConvBackwardFilterWorkspace is the workspace ConvBackwardFilter needs with algo.
func (d *Device) ConvBackwardFilterWorkspace(x *TensorDesc, dy *TensorDesc, conv *ConvDesc, dw *FilterDesc, algo ConvBwdFilterAlgo) (int, error) {
	return d.convWorkspace("cudnnGetConvolutionBackwardFilterWorkspaceSize", convBwdFilter, x.h, dy.h, conv.h, dw.h, int(algo))
}

// ConvForward computes y = alpha*conv(x, w) + beta*y using algo and
// wsBytes of workspace at ws.
func (d *Device) ConvForward(alpha float32, x *TensorDesc, xp DevicePtr, w *FilterDesc, wp DevicePtr,
	conv *ConvDesc, algo ConvFwdAlgo, ws DevicePtr, wsBytes int, beta float32, y *TensorDesc, yp DevicePtr) error {
	if d.closed.Load() {
		return errClosed
	}
	d.checkRange("ConvForward x", xp, x.Bytes())
	d.checkRange("ConvForward w", wp, w.Bytes())
	d.checkRange("ConvForward workspace", ws, wsBytes)
	d.checkRange("ConvForward y", yp, y.Bytes())
	r := cudnnConvForward(d.ctx, d.dnn, alpha, x.h, xp, w.h, wp, conv.h, int(algo), ws, wsBytes, beta, y.h, yp)
	return dnnCheck("cudnnConvolutionForward", algo.String(), r)
}

// ConvBackwardData computes dx = alpha*∂(conv)/∂x applied to dy + beta*dx.
func (d *Device) ConvBackwardData(alpha float32, w *FilterDesc, wp DevicePtr, dy *TensorDesc, dyp DevicePtr,
	conv *ConvDesc, algo ConvBwdDataAlgo, ws DevicePtr, wsBytes int, beta float32, dx *TensorDesc, dxp DevicePtr) error {
	if d.closed.Load() {
		return errClosed
	}
	d.checkRange("ConvBackwardData w", wp, w.Bytes())
	d.checkRange("ConvBackwardData dy", dyp, dy.Bytes())
	d.checkRange("ConvBackwardData workspace", ws, wsBytes)
	d.checkRange("ConvBackwardData dx", dxp, dx.Bytes())
	r := cudnnConvBackwardData(d.ctx, d.dnn, alpha, w.h, wp, dy.h, dyp, conv.h, int(algo), ws, wsBytes, beta, dx.h, dxp)
	return dnnCheck("cudnnConvolutionBackwardData", algo.String(), r)
}

// ConvBackwardFilter computes dw = alpha*∂(conv)/∂w applied to dy + beta*dw.
func (d *Device) ConvBackwardFilter(alpha float32, x *TensorDesc, xp DevicePtr, dy *TensorDesc, dyp DevicePtr,
	conv *ConvDesc, algo ConvBwdFilterAlgo, ws DevicePtr, wsBytes int, beta float32, dw *FilterDesc, dwp DevicePtr) error {
	if d.closed.Load() {
		return errClosed
	}
	d.checkRange("ConvBackwardFilter x", xp, x.Bytes())
	d.checkRange("ConvBackwardFilter dy", dyp, dy.Bytes())
	d.checkRange("ConvBackwardFilter workspace", ws, wsBytes)
	d.checkRange("ConvBackwardFilter dw", dwp, dw.Bytes())
	r := cudnnConvBackwardFilter(d.ctx, d.dnn, alpha, x.h, xp, dy.h, dyp, conv.h, int(algo), ws, wsBytes, beta, dw.h, dwp)
	return dnnCheck("cudnnConvolutionBackwardFilter", algo.String(), r)
}

// ConvBackwardBias computes db = alpha*Σ dy over N, H and W + beta*db,
// where db is a 1×C×1×1 tensor.
func (d *Device) ConvBackwardBias(alpha float32, dy *TensorDesc, dyp DevicePtr, beta float32, db *TensorDesc, dbp DevicePtr) error {
	if d.closed.Load() {
		return errClosed
	}
	d.checkRange("ConvBackwardBias dy", dyp, dy.Bytes())
	d.checkRange("ConvBackwardBias db", dbp, db.Bytes())
	return dnnCheck("cudnnConvolutionBackwardBias", "", cudnnConvBackwardBias(d.ctx, d.dnn, alpha, dy.h, dyp, beta, db.h, dbp))
}
