//go:build cgo

package cuda

// This file is the only one that talks to C. Each function here wraps one
// trampoline of vg_cuda.h and converts between Go and C types; it returns the
// library's status code as an int and leaves error formatting to the callers.
// gpu_nocgo.go has the same functions for builds without cgo.

/*
#cgo LDFLAGS: -ldl
#define _GNU_SOURCE
#include "vg_cuda.h"
*/
import "C"

import (
	"sync"
	"unsafe"
)

const cgoEnabled = true

// ---- symbol table and dynamic loading ----

var symTableOnce = sync.OnceValue(func() []symbol {
	n := int(C.vg_nsym())
	t := make([]symbol, n)
	for i := range t {
		ci := C.int(i)
		t[i] = symbol{
			Lib:      Library(C.vg_sym_lib(ci)),
			Required: C.vg_sym_required(ci) != 0,
			Name:     C.GoString(C.vg_sym_name(ci)),
			Alt:      C.GoString(C.vg_sym_alt(ci)),
			ID:       C.GoString(C.vg_sym_id(ci)),
		}
	}
	return t
})

// symTable describes the C function table, in slot order.
func symTable() []symbol { return symTableOnce() }

// symSet stores the address of a resolved symbol (0 to clear) in slot i.
func symSet(i int, p uintptr) { C.vg_sym_set(C.int(i), C.uintptr_t(p)) }

// The C constants the Go side relies on, checked by TestCConstants.
var cConstants = map[string]int{
	"VG_LIB_CUDA":        C.VG_LIB_CUDA,
	"VG_LIB_CUBLAS":      C.VG_LIB_CUBLAS,
	"VG_LIB_CUDNN":       C.VG_LIB_CUDNN,
	"VG_CONV_FWD":        C.VG_CONV_FWD,
	"VG_CONV_BWD_DATA":   C.VG_CONV_BWD_DATA,
	"VG_CONV_BWD_FILTER": C.VG_CONV_BWD_FILTER,
	"sizeof_algoPerf":    C.sizeof_struct_vg_algoPerf,
}

// dlOpen opens a library file or, for a bare soname, asks the system loader.
// It returns 0 and dlerror's message on failure.
func dlOpen(path string, global bool) (uintptr, string) {
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	var errbuf [1024]C.char
	g := C.int(0)
	if global {
		g = 1
	}
	h := C.vg_dlopen(cpath, g, &errbuf[0], C.size_t(len(errbuf)))
	if h == 0 {
		return 0, C.GoString(&errbuf[0])
	}
	return uintptr(h), ""
}

func dlSym(h uintptr, name string) uintptr {
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	return uintptr(C.vg_dlsym(C.uintptr_t(h), cname))
}

func dlClose(h uintptr) { C.vg_dlclose(C.uintptr_t(h)) }

// dlPath is the file the loader opened for h, or "".
func dlPath(h uintptr) string {
	var buf [4096]C.char
	if C.vg_dlpath(C.uintptr_t(h), &buf[0], C.size_t(len(buf))) != 0 {
		return ""
	}
	return C.GoString(&buf[0])
}

// dlLoaded is the path of the loaded library with this soname, or "" if
// none is loaded (it loads nothing).
func dlLoaded(soname string) string {
	cname := C.CString(soname)
	defer C.free(unsafe.Pointer(cname))
	var buf [4096]C.char
	if C.vg_dlloaded(cname, &buf[0], C.size_t(len(buf))) != 0 {
		return ""
	}
	return C.GoString(&buf[0])
}

// ---- status texts ----

// driverErrorText asks the driver for a CUresult's name and description;
// both are "" when the driver is not loaded or does not know the code.
func driverErrorText(code int) (name, msg string) {
	var n, m *C.char
	C.vg_cuErrorText(C.int(code), &n, &m)
	if n != nil {
		name = C.GoString(n)
	}
	if m != nil {
		msg = C.GoString(m)
	}
	return name, msg
}

// cublasStatusText asks cuBLAS (11.4 and later) for a status's name and text.
func cublasStatusText(code int) (name, msg string) {
	if n := C.vg_cublasStatusName(C.int(code)); n != nil {
		name = C.GoString(n)
	}
	if m := C.vg_cublasStatusString(C.int(code)); m != nil {
		msg = C.GoString(m)
	}
	return name, msg
}

// cudnnErrorText asks cuDNN for a status's description.
func cudnnErrorText(code int) string {
	if m := C.vg_cudnnErrorString(C.int(code)); m != nil {
		return C.GoString(m)
	}
	return ""
}

// ---- CUDA driver ----

func uptr(h uintptr) C.uintptr_t   { return C.uintptr_t(h) }
func cdev(p DevicePtr) C.vg_devptr { return C.vg_devptr(p) }

func cuInit() int { return int(C.vg_cuInit()) }

func cuDriverGetVersion() (int, int) {
	var v C.int
	r := C.vg_cuDriverGetVersion(&v)
	return int(v), int(r)
}

func cuDeviceGetCount() (int, int) {
	var n C.int
	r := C.vg_cuDeviceGetCount(&n)
	return int(n), int(r)
}

func cuDeviceGet(ordinal int) (int, int) {
	var d C.int
	r := C.vg_cuDeviceGet(&d, C.int(ordinal))
	return int(d), int(r)
}

func cuDeviceGetName(dev int) (string, int) {
	var buf [256]C.char
	r := C.vg_cuDeviceGetName(&buf[0], C.int(len(buf)), C.int(dev))
	if r != 0 {
		return "", int(r)
	}
	return C.GoString(&buf[0]), 0
}

func cuDeviceTotalMem(dev int) (int64, int) {
	var b C.size_t
	r := C.vg_cuDeviceTotalMem(&b, C.int(dev))
	return int64(b), int(r)
}

func cuDeviceGetAttribute(attr, dev int) (int, int) {
	var v C.int
	r := C.vg_cuDeviceGetAttribute(&v, C.int(attr), C.int(dev))
	return int(v), int(r)
}

func cuDevicePrimaryCtxRetain(dev int) (uintptr, int) {
	var c C.uintptr_t
	r := C.vg_cuDevicePrimaryCtxRetain(&c, C.int(dev))
	return uintptr(c), int(r)
}

func cuDevicePrimaryCtxRelease(dev int) int { return int(C.vg_cuDevicePrimaryCtxRelease(C.int(dev))) }

func cuDevicePrimaryCtxReset(dev int) int { return int(C.vg_cuDevicePrimaryCtxReset(C.int(dev))) }

func cuCtxSynchronize(ctx uintptr) int { return int(C.vg_cuCtxSynchronize(uptr(ctx))) }

func cuMemAlloc(ctx uintptr, n int) (DevicePtr, int) {
	var p C.vg_devptr
	r := C.vg_cuMemAlloc(uptr(ctx), &p, C.size_t(n))
	return DevicePtr(p), int(r)
}

func cuMemFree(ctx uintptr, p DevicePtr) int { return int(C.vg_cuMemFree(uptr(ctx), cdev(p))) }

func cuMemcpyDtoH(ctx uintptr, dst unsafe.Pointer, src DevicePtr, n int) int {
	return int(C.vg_cuMemcpyDtoH(uptr(ctx), dst, cdev(src), C.size_t(n)))
}

func cuMemcpyHtoDAsync(ctx uintptr, dst DevicePtr, src unsafe.Pointer, n int, s uintptr) int {
	return int(C.vg_cuMemcpyHtoDAsync(uptr(ctx), cdev(dst), src, C.size_t(n), uptr(s)))
}

func cuMemcpyDtoDAsync(ctx uintptr, dst, src DevicePtr, n int, s uintptr) int {
	return int(C.vg_cuMemcpyDtoDAsync(uptr(ctx), cdev(dst), cdev(src), C.size_t(n), uptr(s)))
}

func cuMemsetD32Async(ctx uintptr, dst DevicePtr, v uint32, n int, s uintptr) int {
	return int(C.vg_cuMemsetD32Async(uptr(ctx), cdev(dst), C.uint(v), C.size_t(n), uptr(s)))
}

func cuMemGetInfo(ctx uintptr) (free, total int64, code int) {
	var f, t C.size_t
	r := C.vg_cuMemGetInfo(uptr(ctx), &f, &t)
	return int64(f), int64(t), int(r)
}

func cuStreamCreate(ctx uintptr, flags uint32) (uintptr, int) {
	var s C.uintptr_t
	r := C.vg_cuStreamCreate(uptr(ctx), &s, C.uint(flags))
	return uintptr(s), int(r)
}

func cuStreamDestroy(ctx, s uintptr) int { return int(C.vg_cuStreamDestroy(uptr(ctx), uptr(s))) }

func cuStreamSynchronize(ctx, s uintptr) int {
	return int(C.vg_cuStreamSynchronize(uptr(ctx), uptr(s)))
}

func cuEventCreate(ctx uintptr, flags uint32) (uintptr, int) {
	var e C.uintptr_t
	r := C.vg_cuEventCreate(uptr(ctx), &e, C.uint(flags))
	return uintptr(e), int(r)
}

func cuEventRecord(ctx, e, s uintptr) int {
	return int(C.vg_cuEventRecord(uptr(ctx), uptr(e), uptr(s)))
}

func cuEventSynchronize(ctx, e uintptr) int { return int(C.vg_cuEventSynchronize(uptr(ctx), uptr(e))) }

func cuEventElapsedTime(ctx, a, b uintptr) (float32, int) {
	var ms C.float
	r := C.vg_cuEventElapsedTime(uptr(ctx), &ms, uptr(a), uptr(b))
	return float32(ms), int(r)
}

func cuEventDestroy(ctx, e uintptr) int { return int(C.vg_cuEventDestroy(uptr(ctx), uptr(e))) }

// cuModuleLoad loads image, which must end in a NUL byte when it is PTX. It
// returns the JIT error log where the driver provides one.
func cuModuleLoad(ctx uintptr, image []byte) (uintptr, string, int) {
	var m C.uintptr_t
	var log [16384]C.char
	r := C.vg_cuModuleLoad(uptr(ctx), &m, unsafe.Pointer(&image[0]), &log[0], C.uint(len(log)))
	return uintptr(m), C.GoString(&log[0]), int(r)
}

func cuModuleUnload(ctx, m uintptr) int { return int(C.vg_cuModuleUnload(uptr(ctx), uptr(m))) }

func cuModuleGetFunction(ctx, m uintptr, name string) (uintptr, int) {
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	var f C.uintptr_t
	r := C.vg_cuModuleGetFunction(uptr(ctx), &f, uptr(m), cname)
	return uintptr(f), int(r)
}

// arenaNew allocates C memory for n kernel-argument slots of 8 bytes each,
// followed by the n pointers to them that cuLaunchKernel reads.
func arenaNew(n int) unsafe.Pointer { return C.vg_arena_new(C.int(n)) }

func arenaFree(a unsafe.Pointer) { C.vg_arena_free(a) }

// arenaSlots is the value part of an arena of n slots.
func arenaSlots(a unsafe.Pointer, n int) []uint64 { return unsafe.Slice((*uint64)(a), n) }

func cuLaunchKernel(ctx, f uintptr, grid, block [3]uint32, shmem uint32, s uintptr, arena unsafe.Pointer, nslots int) int {
	return int(C.vg_cuLaunchKernel(uptr(ctx), uptr(f),
		C.uint(grid[0]), C.uint(grid[1]), C.uint(grid[2]),
		C.uint(block[0]), C.uint(block[1]), C.uint(block[2]),
		C.uint(shmem), uptr(s), arena, C.int(nslots)))
}

func cuStreamBeginCapture(ctx, s uintptr, mode int) int {
	return int(C.vg_cuStreamBeginCapture(uptr(ctx), uptr(s), C.int(mode)))
}

func cuStreamEndCapture(ctx, s uintptr) (uintptr, int) {
	var g C.uintptr_t
	r := C.vg_cuStreamEndCapture(uptr(ctx), uptr(s), &g)
	return uintptr(g), int(r)
}

func cuGraphInstantiate(ctx, g uintptr) (uintptr, int) {
	var e C.uintptr_t
	r := C.vg_cuGraphInstantiate(uptr(ctx), &e, uptr(g))
	return uintptr(e), int(r)
}

func cuGraphLaunch(ctx, exec, s uintptr) int {
	return int(C.vg_cuGraphLaunch(uptr(ctx), uptr(exec), uptr(s)))
}

func cuGraphExecDestroy(ctx, exec uintptr) int {
	return int(C.vg_cuGraphExecDestroy(uptr(ctx), uptr(exec)))
}

func cuGraphDestroy(ctx, g uintptr) int { return int(C.vg_cuGraphDestroy(uptr(ctx), uptr(g))) }

// ---- cuBLAS ----

func cublasCreate(ctx uintptr) (uintptr, int) {
	var h C.uintptr_t
	r := C.vg_cublasCreate(uptr(ctx), &h)
	return uintptr(h), int(r)
}

func cublasDestroy(ctx, h uintptr) int { return int(C.vg_cublasDestroy(uptr(ctx), uptr(h))) }

func cublasSetStream(ctx, h, s uintptr) int {
	return int(C.vg_cublasSetStream(uptr(ctx), uptr(h), uptr(s)))
}

func cublasSetMathMode(ctx, h uintptr, mode int) int {
	return int(C.vg_cublasSetMathMode(uptr(ctx), uptr(h), C.int(mode)))
}

// cublasSetWorkspace reports ok=false when the library lacks the call.
func cublasSetWorkspace(ctx, h uintptr, p DevicePtr, n int) (code int, ok bool) {
	if C.vg_sym_ok(C.VG_cublasSetWorkspace_v2) == 0 {
		return 0, false
	}
	return int(C.vg_cublasSetWorkspace(uptr(ctx), uptr(h), cdev(p), C.size_t(n))), true
}

func cublasSgemm(ctx, h uintptr, ta, tb bool, m, n, k int, alpha float32, a DevicePtr, lda int,
	b DevicePtr, ldb int, beta float32, c DevicePtr, ldc int) int {
	op := func(t bool) C.int {
		if t {
			return cublasOpT
		}
		return cublasOpN
	}
	return int(C.vg_cublasSgemm(uptr(ctx), uptr(h), op(ta), op(tb), C.int(m), C.int(n), C.int(k),
		C.float(alpha), cdev(a), C.int(lda), cdev(b), C.int(ldb), C.float(beta), cdev(c), C.int(ldc)))
}

// cublasGetProperty reports ok=false when the library lacks the call.
func cublasGetProperty(typ int) (v, code int, ok bool) {
	if C.vg_sym_ok(C.VG_cublasGetProperty) == 0 {
		return 0, 0, false
	}
	var cv C.int
	r := C.vg_cublasGetProperty(C.int(typ), &cv)
	return int(cv), int(r), true
}

// ---- cuDNN ----

func cudnnGetVersion() int { return int(C.vg_cudnnGetVersion()) }

func cudnnCreate(ctx uintptr) (uintptr, int) {
	var h C.uintptr_t
	r := C.vg_cudnnCreate(uptr(ctx), &h)
	return uintptr(h), int(r)
}

func cudnnDestroy(ctx, h uintptr) int { return int(C.vg_cudnnDestroy(uptr(ctx), uptr(h))) }

func cudnnSetStream(ctx, h, s uintptr) int {
	return int(C.vg_cudnnSetStream(uptr(ctx), uptr(h), uptr(s)))
}

func cudnnNewTensor4d(n, c, h, w int) (uintptr, int) {
	var t C.uintptr_t
	r := C.vg_cudnnNewTensor4d(&t, C.int(n), C.int(c), C.int(h), C.int(w))
	return uintptr(t), int(r)
}

func cudnnDestroyTensor(t uintptr) int { return int(C.vg_cudnnDestroyTensor(uptr(t))) }

func cudnnNewFilter4d(k, c, h, w int) (uintptr, int) {
	var f C.uintptr_t
	r := C.vg_cudnnNewFilter4d(&f, C.int(k), C.int(c), C.int(h), C.int(w))
	return uintptr(f), int(r)
}

func cudnnDestroyFilter(f uintptr) int { return int(C.vg_cudnnDestroyFilter(uptr(f))) }

func cudnnNewConv2d(padH, padW, strideH, strideW, dilH, dilW, math int) (uintptr, int) {
	var cd C.uintptr_t
	r := C.vg_cudnnNewConv2d(&cd, C.int(padH), C.int(padW), C.int(strideH), C.int(strideW),
		C.int(dilH), C.int(dilW), C.int(math))
	return uintptr(cd), int(r)
}

func cudnnSetConvMath(cd uintptr, math int) int {
	return int(C.vg_cudnnSetConvMath(uptr(cd), C.int(math)))
}

func cudnnDestroyConv(cd uintptr) int { return int(C.vg_cudnnDestroyConv(uptr(cd))) }

func cudnnConvOutputDim(cd, x, w uintptr) ([4]int, int) {
	var n, c, h, wd C.int
	r := C.vg_cudnnConvOutputDim(uptr(cd), uptr(x), uptr(w), &n, &c, &h, &wd)
	return [4]int{int(n), int(c), int(h), int(wd)}, int(r)
}

func cudnnConvAlgoMax(ctx, h uintptr, kind int) (int, int) {
	var n C.int
	r := C.vg_cudnnConvAlgoMax(uptr(ctx), uptr(h), C.int(kind), &n)
	return int(n), int(r)
}

// cudnnConvAlgos returns up to requested ranked algorithms of a kind.
func cudnnConvAlgos(ctx, h uintptr, kind int, find bool, a, b, conv, c uintptr, requested int) ([]algoPerf, int) {
	perf := make([]C.struct_vg_algoPerf, requested)
	var got C.int
	f := C.int(0)
	if find {
		f = 1
	}
	r := C.vg_cudnnConvAlgos(uptr(ctx), uptr(h), C.int(kind), f, uptr(a), uptr(b), uptr(conv), uptr(c),
		C.int(requested), &got, &perf[0])
	if r != 0 {
		return nil, int(r)
	}
	out := make([]algoPerf, 0, int(got))
	for _, p := range perf[:int(got)] {
		out = append(out, algoPerf{
			Algo: int(p.algo), Status: int(p.status), Time: float32(p.time), Memory: int64(p.memory),
			Determinism: int(p.determinism), MathType: int(p.mathType),
		})
	}
	return out, 0
}

func cudnnConvWorkspace(ctx, h uintptr, kind int, a, b, conv, c uintptr, algo int) (int64, int) {
	var n C.size_t
	r := C.vg_cudnnConvWorkspace(uptr(ctx), uptr(h), C.int(kind), uptr(a), uptr(b), uptr(conv), uptr(c),
		C.int(algo), &n)
	return int64(n), int(r)
}

func cudnnConvForward(ctx, h uintptr, alpha float32, xd uintptr, x DevicePtr, wd uintptr, w DevicePtr,
	conv uintptr, algo int, ws DevicePtr, wsBytes int, beta float32, yd uintptr, y DevicePtr) int {
	return int(C.vg_cudnnConvForward(uptr(ctx), uptr(h), C.float(alpha), uptr(xd), cdev(x), uptr(wd), cdev(w),
		uptr(conv), C.int(algo), cdev(ws), C.size_t(wsBytes), C.float(beta), uptr(yd), cdev(y)))
}

func cudnnConvBackwardData(ctx, h uintptr, alpha float32, wd uintptr, w DevicePtr, dyd uintptr, dy DevicePtr,
	conv uintptr, algo int, ws DevicePtr, wsBytes int, beta float32, dxd uintptr, dx DevicePtr) int {
	return int(C.vg_cudnnConvBackwardData(uptr(ctx), uptr(h), C.float(alpha), uptr(wd), cdev(w), uptr(dyd),
		cdev(dy), uptr(conv), C.int(algo), cdev(ws), C.size_t(wsBytes), C.float(beta), uptr(dxd), cdev(dx)))
}

func cudnnConvBackwardFilter(ctx, h uintptr, alpha float32, xd uintptr, x DevicePtr, dyd uintptr, dy DevicePtr,
	conv uintptr, algo int, ws DevicePtr, wsBytes int, beta float32, dwd uintptr, dw DevicePtr) int {
	return int(C.vg_cudnnConvBackwardFilter(uptr(ctx), uptr(h), C.float(alpha), uptr(xd), cdev(x), uptr(dyd),
		cdev(dy), uptr(conv), C.int(algo), cdev(ws), C.size_t(wsBytes), C.float(beta), uptr(dwd), cdev(dw)))
}

func cudnnConvBackwardBias(ctx, h uintptr, alpha float32, dyd uintptr, dy DevicePtr, beta float32, dbd uintptr,
	db DevicePtr) int {
	return int(C.vg_cudnnConvBackwardBias(uptr(ctx), uptr(h), C.float(alpha), uptr(dyd), cdev(dy), C.float(beta),
		uptr(dbd), cdev(db)))
}
