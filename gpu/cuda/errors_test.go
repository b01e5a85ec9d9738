package cuda

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestErrorMessage(t *testing.T) {
	for _, tc := range []struct {
		err  *Error
		want string
	}{
		{&Error{Lib: Driver, Call: "cuMemAlloc_v2", Args: "4096 bytes", Code: 2, Name: "CUDA_ERROR_OUT_OF_MEMORY", Msg: "out of memory"},
			"gpu: cuMemAlloc_v2(4096 bytes): CUDA_ERROR_OUT_OF_MEMORY: out of memory"},
		{&Error{Lib: Driver, Call: "cuInit", Code: 100, Name: "CUDA_ERROR_NO_DEVICE"},
			"gpu: cuInit: CUDA_ERROR_NO_DEVICE"},
		{&Error{Lib: CUBLAS, Call: "cublasSgemm_v2", Code: 7, Name: "CUBLAS_STATUS_INVALID_VALUE", Msg: "CUBLAS_STATUS_INVALID_VALUE"},
			"gpu: cublasSgemm_v2: CUBLAS_STATUS_INVALID_VALUE"},
		{&Error{Lib: Driver, Call: "cuLaunchKernel", Args: "k", Code: 201, Name: "CUDA_ERROR_INVALID_CONTEXT", SetContext: true},
			"gpu: cuLaunchKernel(k): cuCtxSetCurrent: CUDA_ERROR_INVALID_CONTEXT"},
	} {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("got  %q\nwant %q", got, tc.want)
		}
	}
}

func TestStatusNames(t *testing.T) {
	// The driver, when loaded, names codes itself; the names agree with
	// the fallback table either way.
	e := cuCheck("cuMemAlloc_v2", "4096 bytes", 2).(*Error)
	if e.Name != "CUDA_ERROR_OUT_OF_MEMORY" || e.Lib != Driver || !e.OutOfMemory() {
		t.Errorf("cuCheck(2) = %#v", e)
	}
	if !strings.HasPrefix(e.Error(), "gpu: cuMemAlloc_v2(4096 bytes): CUDA_ERROR_OUT_OF_MEMORY") {
		t.Errorf("message %q", e.Error())
	}
	if err := cuCheck("x", "", 0); err != nil {
		t.Errorf("cuCheck(0) = %v, want nil", err)
	}
	e = cuCheck("cuMemFree_v2", "", -201).(*Error)
	if !e.SetContext || e.Code != 201 || e.Name != "CUDA_ERROR_INVALID_CONTEXT" {
		t.Errorf("cuCheck(-201) = %#v, want a failed context switch", e)
	}
	if got := cuResultName(12345); got != "CUDA_ERROR_12345" {
		t.Errorf("unknown CUresult named %q", got)
	}
	if e := blasCheck("cublasCreate_v2", "", 3).(*Error); e.Lib != CUBLAS || e.Name != "CUBLAS_STATUS_ALLOC_FAILED" || !e.OutOfMemory() {
		t.Errorf("blasCheck(3) = %#v", e)
	}
	if e := blasCheck("cublasCreate_v2", "", -3).(*Error); e.Lib != Driver || !e.SetContext {
		t.Errorf("blasCheck(-3) = %#v, want a failed context switch", e)
	}
	for code, want := range map[int]string{
		3:    "CUDNN_STATUS_BAD_PARAM", // cuDNN 8
		9:    "CUDNN_STATUS_NOT_SUPPORTED",
		2000: "CUDNN_STATUS_BAD_PARAM", // cuDNN 9
		3000: "CUDNN_STATUS_NOT_SUPPORTED",
		4004: "CUDNN_STATUS_INTERNAL_ERROR_DEVICE_ALLOCATION_FAILED",
		77:   "CUDNN_STATUS_77",
	} {
		if got := dnnCheck("cudnnFoo", "", code).(*Error).Name; got != want {
			t.Errorf("cuDNN status %d named %q, want %q", code, got, want)
		}
	}
	if !dnnCheck("cudnnFoo", "", 4004).(*Error).OutOfMemory() || dnnCheck("cudnnFoo", "", 3000).(*Error).OutOfMemory() {
		t.Error("cuDNN OutOfMemory wrong")
	}
}

func TestWrap(t *testing.T) {
	inner := &Error{Lib: Driver, Call: "cuInit", Code: 100, Name: "CUDA_ERROR_NO_DEVICE", Msg: "no CUDA-capable device is detected"}
	err := Wrap("no CUDA device", inner)
	if want := "gpu: no CUDA device: cuInit: CUDA_ERROR_NO_DEVICE: no CUDA-capable device is detected"; err.Error() != want {
		t.Errorf("got  %q\nwant %q", err, want)
	}
	var e *Error
	if !errors.As(err, &e) || e != inner {
		t.Error("wrapped error does not unwrap to the *Error")
	}
	oom := &Error{Lib: Driver, Call: "cuMemAlloc_v2", Code: 2, Name: "CUDA_ERROR_OUT_OF_MEMORY"}
	if !IsOutOfMemory(fmt.Errorf("layer conv1: %w", Wrap("forward", oom))) {
		t.Error("IsOutOfMemory misses a wrapped out-of-memory error")
	}
	if IsOutOfMemory(inner) || IsOutOfMemory(errors.New("x")) || IsOutOfMemory(nil) {
		t.Error("IsOutOfMemory true for other errors")
	}
	if Wrap("x", nil) != nil {
		t.Error("Wrap(nil) != nil")
	}
}

// TestContextFatal: the driver's sticky errors, and only the driver's.
func TestContextFatal(t *testing.T) {
	for _, c := range []struct {
		lib  Library
		code int
		want bool
	}{
		{Driver, 700, true}, {Driver, 702, true}, {Driver, 710, true}, {Driver, 714, true}, {Driver, 719, true},
		{Driver, 2, false}, {Driver, 701, false}, {Driver, 713, false}, {Driver, 720, false}, {Driver, 900, false},
		{CUBLAS, 700, false}, {CUDNN, 719, false},
	} {
		if got := (&Error{Lib: c.lib, Code: c.code}).ContextFatal(); got != c.want {
			t.Errorf("%v %d: ContextFatal %v, want %v", c.lib, c.code, got, c.want)
		}
	}
}
