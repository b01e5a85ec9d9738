package cuda

import (
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"unsafe"
)

// Enum values from cuda.h, cublas_api.h, library_types.h and cuDNN's
// headers; verify_test.go checks each against the real headers.
const (
	cuDeviceAttrSMCount = 16 // CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT
	cuDeviceAttrCCMajor = 75 // CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR
	cuDeviceAttrCCMinor = 76 // CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR

	cuStreamNonBlocking = 1 // CU_STREAM_NON_BLOCKING: not ordered with the legacy default stream
	cuEventDefault      = 0 // CU_EVENT_DEFAULT: records timing
	cuCaptureModeGlobal = 0 // CU_STREAM_CAPTURE_MODE_GLOBAL

	cublasOpN              = 0 // CUBLAS_OP_N
	cublasOpT              = 1 // CUBLAS_OP_T
	cublasDefaultMath      = 0 // CUBLAS_DEFAULT_MATH: no reduced-precision inputs (no TF32 for FP32)
	cublasTF32TensorOpMath = 3 // CUBLAS_TF32_TENSOR_OP_MATH

	libraryMajorVersion = 0 // MAJOR_VERSION (libraryPropertyType)
	libraryMinorVersion = 1 // MINOR_VERSION
	libraryPatchLevel   = 2 // PATCH_LEVEL

	cudnnTensorOpMath = 1 // CUDNN_TENSOR_OP_MATH: allows TF32 for FP32 data
	CudnnFMAMath      = 3 // CUDNN_FMA_MATH: FMA kernels only (CUDNN_DEFAULT_MATH would allow TF32 on sm_80+)
)

// cublasWorkspaceBytes is the cuBLAS workspace each Device sets explicitly,
// so that cuBLAS never allocates during CUDA graph capture. 32 MiB is what
// NVIDIA recommends for Hopper; smaller GPUs need less.
const cublasWorkspaceBytes = 32 << 20

// DevicePtr is an address in device memory (a CUdeviceptr). The zero
// DevicePtr is the null pointer.
type DevicePtr uint64

// Add returns p advanced by bytes.
func (p DevicePtr) Add(bytes int) DevicePtr { return p + DevicePtr(bytes) }

// MathMode selects the arithmetic cuBLAS and cuDNN may use for float32 data.
type MathMode int

const (
	// MathFP32 is IEEE single precision throughout (the default):
	// CUBLAS_DEFAULT_MATH and CUDNN_FMA_MATH.
	MathFP32 MathMode = iota
	// MathTF32 lets tensor cores round inputs to TF32 (10-bit mantissa):
	// CUBLAS_TF32_TENSOR_OP_MATH and CUDNN_TENSOR_OP_MATH.
	MathTF32
)

func (m MathMode) String() string {
	switch m {
	case MathFP32:
		return "fp32"
	case MathTF32:
		return "tf32"
	}
	return fmt.Sprintf("MathMode(%d)", int(m))
}

func (m MathMode) cublas() int {
	if m == MathTF32 {
		return cublasTF32TensorOpMath
	}
	return cublasDefaultMath
}

// CUDNN returns the cuDNN math type of m (CUDNN_FMA_MATH or
// CUDNN_TENSOR_OP_MATH), as the convolution descriptors are set.
func (m MathMode) CUDNN() int {
	if m == MathTF32 {
		return cudnnTensorOpMath
	}
	return CudnnFMAMath
}

// DeviceInfo describes one GPU.
type DeviceInfo struct {
	Index        int    // CUDA device ordinal
	Name         string // e.g. "NVIDIA H200"
	Memory       int64  // total memory in bytes
	ComputeMajor int    // compute capability, e.g. 9 for 9.0
	ComputeMinor int
	SMs          int // streaming multiprocessors
}

// deviceInfo queries device ordinal; cuInit must have succeeded.
func deviceInfo(ordinal int) (DeviceInfo, int, error) {
	info := DeviceInfo{Index: ordinal}
	dev, r := cuDeviceGet(ordinal)
	if err := cuCheck("cuDeviceGet", fmt.Sprint(ordinal), r); err != nil {
		return info, 0, err
	}
	if info.Name, r = cuDeviceGetName(dev); r != 0 {
		return info, dev, cuCheck("cuDeviceGetName", "", r)
	}
	if info.Memory, r = cuDeviceTotalMem(dev); r != 0 {
		return info, dev, cuCheck("cuDeviceTotalMem_v2", "", r)
	}
	for _, a := range []struct {
		attr int
		dst  *int
	}{{cuDeviceAttrCCMajor, &info.ComputeMajor}, {cuDeviceAttrCCMinor, &info.ComputeMinor}, {cuDeviceAttrSMCount, &info.SMs}} {
		if *a.dst, r = cuDeviceGetAttribute(a.attr, dev); r != 0 {
			return info, dev, cuCheck("cuDeviceGetAttribute", fmt.Sprint("attribute ", a.attr), r)
		}
	}
	return info, dev, nil
}

// resource is something a Device owns and releases on Close.
type resource interface {
	// release frees the resource's C side; rank orders releases on Close
	// (lower first: graphs before the modules their kernels come from).
	release() error
	rank() int
}

// Device is one GPU opened for computing: its primary context, one stream,
// a cuBLAS handle and a cuDNN handle bound to that stream, and every
// allocation, module, graph, event and descriptor made through it, which
// Close frees. A Device may be used from several goroutines; work is
// ordered by the stream, not by the goroutines.
type Device struct {
	info   DeviceInfo
	dev    int     // CUdevice
	ctx    uintptr // CUcontext (the device's primary context)
	stream *Stream
	blas   uintptr // cublasHandle_t
	dnn    uintptr // cudnnHandle_t
	blasWS DevicePtr
	math   MathMode
	closed atomic.Bool

	mu        sync.Mutex
	allocs    []allocation // sorted by address
	allocated int64
	resources map[resource]struct{}
}

type allocation struct {
	p DevicePtr
	n int
}

var errClosed = errors.New("gpu: use of closed Device")

// Open opens GPU index (a CUDA device ordinal), loading the CUDA driver,
// cuBLAS and cuDNN on first use. It never panics or exits: without them, or
// without a GPU, it returns an error saying what is missing, e.g.
//
//	gpu: no CUDA driver found (libcuda.so.1 not in VATGPU_CUDA_PATH, ...)
//	gpu: no CUDA device: cuInit: CUDA_ERROR_NO_DEVICE: no CUDA-capable device is detected
//	gpu: device 3 does not exist (1 device found)
//
// The Device starts in MathFP32.
func Open(index int) (*Device, error) {
	if !cgoEnabled {
		return nil, errNoCgo
	}
	if lib := library(Driver); lib.Err != nil {
		return nil, loadError(lib)
	}
	if err := cuCheck("cuInit", "", cuInit()); err != nil {
		return nil, Wrap("no CUDA device", err)
	}
	n, r := cuDeviceGetCount()
	if err := cuCheck("cuDeviceGetCount", "", r); err != nil {
		return nil, Wrap("no CUDA device", err)
	}
	if n == 0 {
		return nil, errors.New("gpu: no CUDA device: cuDeviceGetCount found none")
	}
	if index < 0 || index >= n {
		return nil, fmt.Errorf("gpu: device %d does not exist (%d device%s found)", index, n, plural(n))
	}
	for _, l := range []Library{CUBLAS, CUDNN} {
		if lib := library(l); lib.Err != nil {
			return nil, loadError(lib)
		}
	}
	info, dev, err := deviceInfo(index)
	if err != nil {
		return nil, err
	}
	d := &Device{info: info, dev: dev, math: MathFP32, resources: map[resource]struct{}{}}
	if err := d.init(); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// init creates what Open promises; on error the caller closes d.
func (d *Device) init() error {
	ctx, r := cuDevicePrimaryCtxRetain(d.dev)
	if err := cuCheck("cuDevicePrimaryCtxRetain", fmt.Sprint("device ", d.info.Index), r); err != nil {
		return err
	}
	d.ctx = ctx
	s, err := newStream(d)
	if err != nil {
		return err
	}
	d.stream = s

	blas, r := cublasCreate(d.ctx)
	if err := blasCheck("cublasCreate_v2", "", r); err != nil {
		return err
	}
	d.blas = blas
	if err := blasCheck("cublasSetStream_v2", "", cublasSetStream(d.ctx, d.blas, s.h)); err != nil {
		return err
	}
	// cublasSetStream resets the workspace to cuBLAS's own pool, so the
	// explicit workspace is set after it.
	ws, r := cuMemAlloc(d.ctx, cublasWorkspaceBytes)
	if err := cuCheck("cuMemAlloc_v2", fmt.Sprintf("%d bytes for the cuBLAS workspace", cublasWorkspaceBytes), r); err != nil {
		return err
	}
	d.blasWS = ws
	if r, ok := cublasSetWorkspace(d.ctx, d.blas, ws, cublasWorkspaceBytes); !ok {
		cuMemFree(d.ctx, ws)
		d.blasWS = 0
	} else if err := blasCheck("cublasSetWorkspace_v2", "", r); err != nil {
		return err
	}
	if err := blasCheck("cublasSetMathMode", "", cublasSetMathMode(d.ctx, d.blas, d.math.cublas())); err != nil {
		return err
	}

	dnn, r := cudnnCreate(d.ctx)
	if err := dnnCheck("cudnnCreate", "", r); err != nil {
		return err
	}
	d.dnn = dnn
	return dnnCheck("cudnnSetStream", "", cudnnSetStream(d.ctx, d.dnn, s.h))
}

// Info describes the device.
func (d *Device) Info() DeviceInfo { return d.info }

// Stream is the device's stream: every operation of the Device, cuBLAS and
// cuDNN calls included, runs on it in the order issued.
func (d *Device) Stream() *Stream { return d.stream }

// SetMathMode sets the arithmetic of later cuBLAS calls and the default of
// convolution descriptors made afterwards.
func (d *Device) SetMathMode(m MathMode) error {
	if d.closed.Load() {
		return errClosed
	}
	if err := blasCheck("cublasSetMathMode", m.String(), cublasSetMathMode(d.ctx, d.blas, m.cublas())); err != nil {
		return err
	}
	d.mu.Lock()
	d.math = m
	d.mu.Unlock()
	return nil
}

// MathMode is the mode set by SetMathMode.
func (d *Device) MathMode() MathMode {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.math
}

// Synchronize waits until all work issued to the device has finished, and
// returns the first error of that work.
func (d *Device) Synchronize() error {
	if d.closed.Load() {
		return errClosed
	}
	return cuCheck("cuCtxSynchronize", "", cuCtxSynchronize(d.ctx))
}

// MemInfo reports the device's free and total memory in bytes.
func (d *Device) MemInfo() (free, total int64, err error) {
	if d.closed.Load() {
		return 0, 0, errClosed
	}
	free, total, r := cuMemGetInfo(d.ctx)
	return free, total, cuCheck("cuMemGetInfo_v2", "", r)
}

// Close waits for the device's work, then frees everything made through it:
// graphs, events, cuDNN descriptors, modules, the cuDNN and cuBLAS handles,
// every allocation not yet freed, the stream, and its hold on the primary
// context; after a sticky error (Error.ContextFatal) it also resets the
// primary context, which a release alone leaves alive while the CUDA
// runtime inside cuBLAS and cuDNN holds it. It returns the first error met
// but always frees everything. A second Close does nothing.
func (d *Device) Close() error {
	if d.closed.Swap(true) {
		return nil
	}
	d.mu.Lock()
	res := make([]resource, 0, len(d.resources))
	for r := range d.resources {
		res = append(res, r)
	}
	allocs := d.allocs
	d.resources, d.allocs, d.allocated = nil, nil, 0
	d.mu.Unlock()

	var errs []error
	keep := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	fatal := false
	if d.ctx != 0 {
		err := cuCheck("cuCtxSynchronize", "", cuCtxSynchronize(d.ctx))
		var e *Error
		fatal = errors.As(err, &e) && e.ContextFatal()
		keep(err)
	}
	sort.SliceStable(res, func(i, j int) bool { return res[i].rank() < res[j].rank() })
	for _, r := range res {
		keep(r.release())
	}
	if d.dnn != 0 {
		keep(dnnCheck("cudnnDestroy", "", cudnnDestroy(d.ctx, d.dnn)))
	}
	if d.blas != 0 {
		keep(blasCheck("cublasDestroy_v2", "", cublasDestroy(d.ctx, d.blas)))
	}
	if d.blasWS != 0 {
		keep(cuCheck("cuMemFree_v2", "", cuMemFree(d.ctx, d.blasWS)))
	}
	for _, a := range allocs {
		keep(cuCheck("cuMemFree_v2", fmt.Sprintf("%#x", uint64(a.p)), cuMemFree(d.ctx, a.p)))
	}
	if d.stream != nil {
		keep(d.stream.destroy())
	}
	if d.ctx != 0 {
		keep(cuCheck("cuDevicePrimaryCtxRelease_v2", "", cuDevicePrimaryCtxRelease(d.dev)))
		// Releasing our hold destroys the context only if nothing else
		// holds it, and the CUDA runtime inside cuBLAS and cuDNN may: after
		// a sticky error, reset it (as cudaDeviceReset does), so that the
		// next Open in this process can get a working one.
		if fatal {
			keep(cuCheck("cuDevicePrimaryCtxReset_v2", "", cuDevicePrimaryCtxReset(d.dev)))
		}
	}
	if len(errs) > 0 {
		return errs[0]
	}
	return nil
}

// track records r for Close; it fails if the device is closed.
func (d *Device) track(r resource) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.resources == nil {
		return errClosed
	}
	d.resources[r] = struct{}{}
	return nil
}

// untrack forgets r; it reports false if r was not tracked (already closed,
// or released by Device.Close).
func (d *Device) untrack(r resource) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.resources[r]; !ok {
		return false
	}
	delete(d.resources, r)
	return true
}

// closeResource releases r unless Close already did.
func (d *Device) closeResource(r resource) error {
	if !d.untrack(r) {
		return nil
	}
	return r.release()
}

// ---- memory ----

// Alloc allocates bytes of device memory, uninitialized, which Free or
// Close releases. Alloc(0) returns the null pointer. It panics if bytes is
// negative.
func (d *Device) Alloc(bytes int) (DevicePtr, error) {
	if bytes < 0 {
		panic(fmt.Sprintf("gpu: Alloc: negative size %d", bytes))
	}
	if d.closed.Load() {
		return 0, errClosed
	}
	if bytes == 0 {
		return 0, nil
	}
	p, r := cuMemAlloc(d.ctx, bytes)
	if err := cuCheck("cuMemAlloc_v2", fmt.Sprintf("%d bytes", bytes), r); err != nil {
		return 0, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.resources == nil { // closed meanwhile
		cuMemFree(d.ctx, p)
		return 0, errClosed
	}
	i := sort.Search(len(d.allocs), func(i int) bool { return d.allocs[i].p > p })
	d.allocs = append(d.allocs, allocation{})
	copy(d.allocs[i+1:], d.allocs[i:])
	d.allocs[i] = allocation{p: p, n: bytes}
	d.allocated += int64(bytes)
	return p, nil
}

// Free releases memory from Alloc. Free(0) does nothing. It panics if p is
// not the start of a live allocation of d.
func (d *Device) Free(p DevicePtr) error {
	if p == 0 {
		return nil
	}
	if d.closed.Load() {
		return errClosed
	}
	d.mu.Lock()
	i := sort.Search(len(d.allocs), func(i int) bool { return d.allocs[i].p >= p })
	if i == len(d.allocs) || d.allocs[i].p != p {
		d.mu.Unlock()
		panic(fmt.Sprintf("gpu: Free: %#x is not an allocation of this device", uint64(p)))
	}
	d.allocated -= int64(d.allocs[i].n)
	d.allocs = append(d.allocs[:i], d.allocs[i+1:]...)
	d.mu.Unlock()
	return cuCheck("cuMemFree_v2", fmt.Sprintf("%#x", uint64(p)), cuMemFree(d.ctx, p))
}

// checkRange panics unless [p, p+bytes) lies inside one live allocation.
func (d *Device) checkRange(op string, p DevicePtr, bytes int) {
	if bytes < 0 {
		panic(fmt.Sprintf("gpu: %s: negative size %d", op, bytes))
	}
	if bytes == 0 {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	i := sort.Search(len(d.allocs), func(i int) bool { return d.allocs[i].p > p }) - 1
	if i < 0 || p.Add(bytes) > d.allocs[i].p.Add(d.allocs[i].n) {
		panic(fmt.Sprintf("gpu: %s: %d bytes at %#x are not inside one allocation of this device", op, bytes, uint64(p)))
	}
}

// UploadFloat32 copies src to device memory at dst. It is ordered after
// the work already issued to the device's stream and before later work;
// src may be reused as soon as it returns.
func (d *Device) UploadFloat32(dst DevicePtr, src []float32) error {
	return d.upload("UploadFloat32", dst, unsafe.Pointer(unsafe.SliceData(src)), 4*len(src))
}

// UploadInt32 is UploadFloat32 for int32 data.
func (d *Device) UploadInt32(dst DevicePtr, src []int32) error {
	return d.upload("UploadInt32", dst, unsafe.Pointer(unsafe.SliceData(src)), 4*len(src))
}

// DownloadFloat32 waits for the work issued to the device's stream, then
// copies len(dst) values from device memory at src into dst.
func (d *Device) DownloadFloat32(dst []float32, src DevicePtr) error {
	return d.download("DownloadFloat32", unsafe.Pointer(unsafe.SliceData(dst)), src, 4*len(dst))
}

// DownloadInt32 is DownloadFloat32 for int32 data.
func (d *Device) DownloadInt32(dst []int32, src DevicePtr) error {
	return d.download("DownloadInt32", unsafe.Pointer(unsafe.SliceData(dst)), src, 4*len(dst))
}

// The device's stream does not wait for the legacy default stream, where
// the synchronous copies (cuMemcpyHtoD_v2, cuMemcpyDtoH_v2) run, nor the
// legacy stream for it (CU_STREAM_NON_BLOCKING; see newStream). So upload
// queues its copy on the device's stream and waits for it, and download
// waits for the stream before its synchronous copy, which then completes
// before it returns.
func (d *Device) upload(op string, dst DevicePtr, src unsafe.Pointer, n int) error {
	if n == 0 {
		return nil
	}
	if d.closed.Load() {
		return errClosed
	}
	if err := d.stream.upload(op, dst, src, n); err != nil {
		return err
	}
	return d.stream.Synchronize()
}

func (d *Device) download(op string, dst unsafe.Pointer, src DevicePtr, n int) error {
	if n == 0 {
		return nil
	}
	if d.closed.Load() {
		return errClosed
	}
	d.checkRange(op, src, n)
	if err := d.stream.Synchronize(); err != nil {
		return err
	}
	return cuCheck("cuMemcpyDtoH_v2", fmt.Sprintf("%d bytes", n), cuMemcpyDtoH(d.ctx, dst, src, n))
}
