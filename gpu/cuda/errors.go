package cuda

import (
	"errors"
	"fmt"
	"strconv"
)

// Library names one of the NVIDIA libraries package gpu calls.
type Library int

const (
	// Driver is the CUDA driver API, libcuda.so.1.
	Driver Library = iota
	// CUBLAS is cuBLAS, libcublas.so.N.
	CUBLAS
	// CUDNN is cuDNN, libcudnn.so.N.
	CUDNN
)

func (l Library) String() string {
	switch l {
	case Driver:
		return "CUDA driver"
	case CUBLAS:
		return "cuBLAS"
	case CUDNN:
		return "cuDNN"
	}
	return "Library(" + strconv.Itoa(int(l)) + ")"
}

// Error is a failed call into the CUDA driver, cuBLAS or cuDNN. Its message
// names the call, what it was asked to do where that helps, and the status:
//
//	gpu: cuMemAlloc_v2(4096 bytes): CUDA_ERROR_OUT_OF_MEMORY: out of memory
type Error struct {
	Lib  Library // the library that returned Code
	Call string  // the C function, e.g. "cuMemAlloc_v2"
	Args string  // a short description of the arguments, or ""
	Code int     // the status the call returned (CUresult, cublasStatus_t or cudnnStatus_t)
	Name string  // the status's name, e.g. "CUDA_ERROR_OUT_OF_MEMORY"
	Msg  string  // the library's description of the status, or ""

	// SetContext is set when the call never ran because making the device's
	// context current (cuCtxSetCurrent) failed with Code.
	SetContext bool
}

func (e *Error) Error() string { return "gpu: " + e.describe() }

// describe is the message without the "gpu: " prefix.
func (e *Error) describe() string {
	s := e.Call
	if e.Args != "" {
		s += "(" + e.Args + ")"
	}
	if e.SetContext {
		s += ": cuCtxSetCurrent"
	}
	s += ": " + e.Name
	if e.Msg != "" && e.Msg != e.Name {
		s += ": " + e.Msg
	}
	return s
}

// ContextFatal reports whether the status is one of the CUDA driver's
// sticky errors (an illegal address, a kernel timeout, a device-side
// assert, an illegal instruction or access, a launch failure: 700, 702,
// 710 and 714 to 719), after which every call in the context fails with it
// until the context is reset.
func (e *Error) ContextFatal() bool {
	return e.Lib == Driver && (e.Code == 700 || e.Code == 702 || e.Code == 710 || e.Code >= 714 && e.Code <= 719)
}

// OutOfMemory reports whether the call failed for lack of device memory.
func (e *Error) OutOfMemory() bool {
	switch e.Lib {
	case Driver:
		return e.Code == 2 // CUDA_ERROR_OUT_OF_MEMORY
	case CUBLAS:
		return e.Code == 3 // CUBLAS_STATUS_ALLOC_FAILED
	case CUDNN:
		// cuDNN 8 CUDNN_STATUS_ALLOC_FAILED; cuDNN 9 host and device allocation failures.
		return e.Code == 2 || e.Code == 4003 || e.Code == 4004
	}
	return false
}

// IsOutOfMemory reports whether err is or wraps an *Error for which
// OutOfMemory is true.
func IsOutOfMemory(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.OutOfMemory()
}

// wrapped prefixes an *Error with what failed, without repeating "gpu: ":
//
//	gpu: no CUDA device: cuInit: CUDA_ERROR_NO_DEVICE: no CUDA-capable device is detected
type wrapped struct {
	what string
	err  *Error
}

func (w *wrapped) Error() string { return "gpu: " + w.what + ": " + w.err.describe() }
func (w *wrapped) Unwrap() error { return w.err }

// Wrap returns err prefixed with what; err must be an *Error or nil.
func Wrap(what string, err error) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return &wrapped{what: what, err: e}
	}
	return fmt.Errorf("gpu: %s: %w", what, err)
}

// cuCheck returns nil for CUDA_SUCCESS and an *Error otherwise. A negative
// code means the context switch before the call failed with -code.
func cuCheck(call, args string, code int) error {
	if code == 0 {
		return nil
	}
	e := &Error{Lib: Driver, Call: call, Args: args, Code: code}
	if code < 0 {
		e.Code, e.SetContext = -code, true
	}
	e.Name, e.Msg = cuErrorText(e.Code)
	return e
}

// blasCheck is cuCheck for cuBLAS status codes.
func blasCheck(call, args string, code int) error {
	if code == 0 {
		return nil
	}
	if code < 0 {
		return cuCheck(call, args, code)
	}
	name, msg := cublasStatusText(code)
	if name == "" {
		name = blasStatusName(code)
	}
	return &Error{Lib: CUBLAS, Call: call, Args: args, Code: code, Name: name, Msg: msg}
}

// dnnCheck is cuCheck for cuDNN status codes.
func dnnCheck(call, args string, code int) error {
	if code == 0 {
		return nil
	}
	if code < 0 {
		return cuCheck(call, args, code)
	}
	return &Error{Lib: CUDNN, Call: call, Args: args, Code: code, Name: dnnStatusName(code), Msg: cudnnErrorText(code)}
}

// cuErrorText names a CUresult, asking the driver when it is loaded and
// falling back to the table from cuda.h.
func cuErrorText(code int) (name, msg string) {
	name, msg = driverErrorText(code)
	if name == "" {
		name = cuResultName(code)
	}
	return name, msg
}

// cuResultName names a CUresult from the table in cuda.h (CUDA 12.6).
func cuResultName(code int) string {
	if s, ok := cuResultNames[code]; ok {
		return s
	}
	return "CUDA_ERROR_" + strconv.Itoa(code)
}

var cuResultNames = map[int]string{
	0: "CUDA_SUCCESS", 1: "CUDA_ERROR_INVALID_VALUE", 2: "CUDA_ERROR_OUT_OF_MEMORY",
	3: "CUDA_ERROR_NOT_INITIALIZED", 4: "CUDA_ERROR_DEINITIALIZED", 5: "CUDA_ERROR_PROFILER_DISABLED",
	6: "CUDA_ERROR_PROFILER_NOT_INITIALIZED", 7: "CUDA_ERROR_PROFILER_ALREADY_STARTED",
	8: "CUDA_ERROR_PROFILER_ALREADY_STOPPED", 34: "CUDA_ERROR_STUB_LIBRARY",
	46: "CUDA_ERROR_DEVICE_UNAVAILABLE", 100: "CUDA_ERROR_NO_DEVICE", 101: "CUDA_ERROR_INVALID_DEVICE",
	102: "CUDA_ERROR_DEVICE_NOT_LICENSED", 200: "CUDA_ERROR_INVALID_IMAGE", 201: "CUDA_ERROR_INVALID_CONTEXT",
	202: "CUDA_ERROR_CONTEXT_ALREADY_CURRENT", 205: "CUDA_ERROR_MAP_FAILED", 206: "CUDA_ERROR_UNMAP_FAILED",
	207: "CUDA_ERROR_ARRAY_IS_MAPPED", 208: "CUDA_ERROR_ALREADY_MAPPED", 209: "CUDA_ERROR_NO_BINARY_FOR_GPU",
	210: "CUDA_ERROR_ALREADY_ACQUIRED", 211: "CUDA_ERROR_NOT_MAPPED", 212: "CUDA_ERROR_NOT_MAPPED_AS_ARRAY",
	213: "CUDA_ERROR_NOT_MAPPED_AS_POINTER", 214: "CUDA_ERROR_ECC_UNCORRECTABLE",
	215: "CUDA_ERROR_UNSUPPORTED_LIMIT", 216: "CUDA_ERROR_CONTEXT_ALREADY_IN_USE",
	217: "CUDA_ERROR_PEER_ACCESS_UNSUPPORTED", 218: "CUDA_ERROR_INVALID_PTX",
	219: "CUDA_ERROR_INVALID_GRAPHICS_CONTEXT", 220: "CUDA_ERROR_NVLINK_UNCORRECTABLE",
	221: "CUDA_ERROR_JIT_COMPILER_NOT_FOUND", 222: "CUDA_ERROR_UNSUPPORTED_PTX_VERSION",
	223: "CUDA_ERROR_JIT_COMPILATION_DISABLED", 224: "CUDA_ERROR_UNSUPPORTED_EXEC_AFFINITY",
	225: "CUDA_ERROR_UNSUPPORTED_DEVSIDE_SYNC", 300: "CUDA_ERROR_INVALID_SOURCE",
	301: "CUDA_ERROR_FILE_NOT_FOUND", 302: "CUDA_ERROR_SHARED_OBJECT_SYMBOL_NOT_FOUND",
	303: "CUDA_ERROR_SHARED_OBJECT_INIT_FAILED", 304: "CUDA_ERROR_OPERATING_SYSTEM",
	400: "CUDA_ERROR_INVALID_HANDLE", 401: "CUDA_ERROR_ILLEGAL_STATE", 402: "CUDA_ERROR_LOSSY_QUERY",
	500: "CUDA_ERROR_NOT_FOUND", 600: "CUDA_ERROR_NOT_READY", 700: "CUDA_ERROR_ILLEGAL_ADDRESS",
	701: "CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES", 702: "CUDA_ERROR_LAUNCH_TIMEOUT",
	703: "CUDA_ERROR_LAUNCH_INCOMPATIBLE_TEXTURING", 704: "CUDA_ERROR_PEER_ACCESS_ALREADY_ENABLED",
	705: "CUDA_ERROR_PEER_ACCESS_NOT_ENABLED", 708: "CUDA_ERROR_PRIMARY_CONTEXT_ACTIVE",
	709: "CUDA_ERROR_CONTEXT_IS_DESTROYED", 710: "CUDA_ERROR_ASSERT", 711: "CUDA_ERROR_TOO_MANY_PEERS",
	712: "CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED", 713: "CUDA_ERROR_HOST_MEMORY_NOT_REGISTERED",
	714: "CUDA_ERROR_HARDWARE_STACK_ERROR", 715: "CUDA_ERROR_ILLEGAL_INSTRUCTION",
	716: "CUDA_ERROR_MISALIGNED_ADDRESS", 717: "CUDA_ERROR_INVALID_ADDRESS_SPACE", 718: "CUDA_ERROR_INVALID_PC",
	719: "CUDA_ERROR_LAUNCH_FAILED", 720: "CUDA_ERROR_COOPERATIVE_LAUNCH_TOO_LARGE",
	800: "CUDA_ERROR_NOT_PERMITTED", 801: "CUDA_ERROR_NOT_SUPPORTED", 802: "CUDA_ERROR_SYSTEM_NOT_READY",
	803: "CUDA_ERROR_SYSTEM_DRIVER_MISMATCH", 804: "CUDA_ERROR_COMPAT_NOT_SUPPORTED_ON_DEVICE",
	805: "CUDA_ERROR_MPS_CONNECTION_FAILED", 806: "CUDA_ERROR_MPS_RPC_FAILURE",
	807: "CUDA_ERROR_MPS_SERVER_NOT_READY", 808: "CUDA_ERROR_MPS_MAX_CLIENTS_REACHED",
	809: "CUDA_ERROR_MPS_MAX_CONNECTIONS_REACHED", 810: "CUDA_ERROR_MPS_CLIENT_TERMINATED",
	811: "CUDA_ERROR_CDP_NOT_SUPPORTED", 812: "CUDA_ERROR_CDP_VERSION_MISMATCH",
	900: "CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED", 901: "CUDA_ERROR_STREAM_CAPTURE_INVALIDATED",
	902: "CUDA_ERROR_STREAM_CAPTURE_MERGE", 903: "CUDA_ERROR_STREAM_CAPTURE_UNMATCHED",
	904: "CUDA_ERROR_STREAM_CAPTURE_UNJOINED", 905: "CUDA_ERROR_STREAM_CAPTURE_ISOLATION",
	906: "CUDA_ERROR_STREAM_CAPTURE_IMPLICIT", 907: "CUDA_ERROR_CAPTURED_EVENT",
	908: "CUDA_ERROR_STREAM_CAPTURE_WRONG_THREAD", 909: "CUDA_ERROR_TIMEOUT",
	910: "CUDA_ERROR_GRAPH_EXEC_UPDATE_FAILURE", 911: "CUDA_ERROR_EXTERNAL_DEVICE",
	912: "CUDA_ERROR_INVALID_CLUSTER_SIZE", 913: "CUDA_ERROR_FUNCTION_NOT_LOADED",
	914: "CUDA_ERROR_INVALID_RESOURCE_TYPE", 915: "CUDA_ERROR_INVALID_RESOURCE_CONFIGURATION",
	999: "CUDA_ERROR_UNKNOWN",
}

// blasStatusName names a cublasStatus_t (cublas_api.h, identical in 11 to 13).
func blasStatusName(code int) string {
	switch code {
	case 0:
		return "CUBLAS_STATUS_SUCCESS"
	case 1:
		return "CUBLAS_STATUS_NOT_INITIALIZED"
	case 3:
		return "CUBLAS_STATUS_ALLOC_FAILED"
	case 7:
		return "CUBLAS_STATUS_INVALID_VALUE"
	case 8:
		return "CUBLAS_STATUS_ARCH_MISMATCH"
	case 11:
		return "CUBLAS_STATUS_MAPPING_ERROR"
	case 13:
		return "CUBLAS_STATUS_EXECUTION_FAILED"
	case 14:
		return "CUBLAS_STATUS_INTERNAL_ERROR"
	case 15:
		return "CUBLAS_STATUS_NOT_SUPPORTED"
	case 16:
		return "CUBLAS_STATUS_LICENSE_ERROR"
	}
	return "CUBLAS_STATUS_" + strconv.Itoa(code)
}

// dnnStatusName names a cudnnStatus_t. cuDNN 8 numbers its statuses 0 to 14;
// cuDNN 9 numbers them by category (1000s uncategorized, 2000s bad
// parameter, 3000s not supported, 4000s internal, 5000s execution), so the
// two tables do not overlap.
func dnnStatusName(code int) string {
	if s, ok := dnnStatusNames[code]; ok {
		return s
	}
	return "CUDNN_STATUS_" + strconv.Itoa(code)
}

var dnnStatusNames = map[int]string{
	0: "CUDNN_STATUS_SUCCESS",
	// cuDNN 8 (cudnn_ops_infer.h).
	1: "CUDNN_STATUS_NOT_INITIALIZED", 2: "CUDNN_STATUS_ALLOC_FAILED", 3: "CUDNN_STATUS_BAD_PARAM",
	4: "CUDNN_STATUS_INTERNAL_ERROR", 5: "CUDNN_STATUS_INVALID_VALUE", 6: "CUDNN_STATUS_ARCH_MISMATCH",
	7: "CUDNN_STATUS_MAPPING_ERROR", 8: "CUDNN_STATUS_EXECUTION_FAILED", 9: "CUDNN_STATUS_NOT_SUPPORTED",
	10: "CUDNN_STATUS_LICENSE_ERROR", 11: "CUDNN_STATUS_RUNTIME_PREREQUISITE_MISSING",
	12: "CUDNN_STATUS_RUNTIME_IN_PROGRESS", 13: "CUDNN_STATUS_RUNTIME_FP_OVERFLOW",
	14: "CUDNN_STATUS_VERSION_MISMATCH",
	// cuDNN 9 (cudnn_graph.h).
	1001: "CUDNN_STATUS_NOT_INITIALIZED", 1002: "CUDNN_STATUS_SUBLIBRARY_VERSION_MISMATCH",
	1003: "CUDNN_STATUS_SERIALIZATION_VERSION_MISMATCH", 1004: "CUDNN_STATUS_DEPRECATED",
	1005: "CUDNN_STATUS_LICENSE_ERROR", 1006: "CUDNN_STATUS_RUNTIME_IN_PROGRESS",
	1007: "CUDNN_STATUS_RUNTIME_FP_OVERFLOW", 1008: "CUDNN_STATUS_SUBLIBRARY_LOADING_FAILED",
	2000: "CUDNN_STATUS_BAD_PARAM", 2001: "CUDNN_STATUS_INVALID_VALUE",
	2002: "CUDNN_STATUS_BAD_PARAM_NULL_POINTER", 2003: "CUDNN_STATUS_BAD_PARAM_MISALIGNED_POINTER",
	2004: "CUDNN_STATUS_BAD_PARAM_NOT_FINALIZED", 2005: "CUDNN_STATUS_BAD_PARAM_OUT_OF_BOUND",
	2006: "CUDNN_STATUS_BAD_PARAM_SIZE_INSUFFICIENT", 2007: "CUDNN_STATUS_BAD_PARAM_STREAM_MISMATCH",
	2008: "CUDNN_STATUS_BAD_PARAM_SHAPE_MISMATCH", 2009: "CUDNN_STATUS_BAD_PARAM_DUPLICATED_ENTRIES",
	2010: "CUDNN_STATUS_BAD_PARAM_ATTRIBUTE_TYPE", 2011: "CUDNN_STATUS_BAD_PARAM_CUDA_GRAPH_MISMATCH",
	2012: "CUDNN_STATUS_BAD_PARAM_DESCRIPTOR_TYPE",
	3000: "CUDNN_STATUS_NOT_SUPPORTED", 3001: "CUDNN_STATUS_NOT_SUPPORTED_GRAPH_PATTERN",
	3002: "CUDNN_STATUS_NOT_SUPPORTED_SHAPE", 3003: "CUDNN_STATUS_NOT_SUPPORTED_DATA_TYPE",
	3004: "CUDNN_STATUS_NOT_SUPPORTED_LAYOUT", 3005: "CUDNN_STATUS_NOT_SUPPORTED_INCOMPATIBLE_CUDA_DRIVER",
	3006: "CUDNN_STATUS_NOT_SUPPORTED_INCOMPATIBLE_CUDART", 3007: "CUDNN_STATUS_NOT_SUPPORTED_ARCH_MISMATCH",
	3008: "CUDNN_STATUS_NOT_SUPPORTED_RUNTIME_PREREQUISITE_MISSING",
	3009: "CUDNN_STATUS_NOT_SUPPORTED_SUBLIBRARY_UNAVAILABLE",
	3010: "CUDNN_STATUS_NOT_SUPPORTED_SHARED_MEMORY_INSUFFICIENT", 3011: "CUDNN_STATUS_NOT_SUPPORTED_PADDING",
	3012: "CUDNN_STATUS_NOT_SUPPORTED_BAD_LAUNCH_PARAM",
	3013: "CUDNN_STATUS_NOT_SUPPORTED_CUDA_GRAPH_NATIVE_API",
	4000: "CUDNN_STATUS_INTERNAL_ERROR", 4001: "CUDNN_STATUS_INTERNAL_ERROR_COMPILATION_FAILED",
	4002: "CUDNN_STATUS_INTERNAL_ERROR_UNEXPECTED_VALUE",
	4003: "CUDNN_STATUS_INTERNAL_ERROR_HOST_ALLOCATION_FAILED",
	4004: "CUDNN_STATUS_INTERNAL_ERROR_DEVICE_ALLOCATION_FAILED",
	4005: "CUDNN_STATUS_INTERNAL_ERROR_BAD_LAUNCH_PARAM",
	4006: "CUDNN_STATUS_INTERNAL_ERROR_TEXTURE_CREATION_FAILED",
	5000: "CUDNN_STATUS_EXECUTION_FAILED", 5001: "CUDNN_STATUS_EXECUTION_FAILED_CUDA_DRIVER",
	5002: "CUDNN_STATUS_EXECUTION_FAILED_CUBLAS", 5003: "CUDNN_STATUS_EXECUTION_FAILED_CUDART",
	5004: "CUDNN_STATUS_EXECUTION_FAILED_CURAND",
}
