//go:build !cgo

package cuda

// Without cgo package gpu cannot call C: Open and Probe report that the
// binary was built without cgo, and the raw functions below, which only an
// open Device would reach, fail with noCgo (CUDA_ERROR_NOT_SUPPORTED).

import "unsafe"

const cgoEnabled = false

const noCgo = 801 // CUDA_ERROR_NOT_SUPPORTED

var cConstants = map[string]int{}

func symTable() []symbol                                         { return nil }
func symSet(int, uintptr)                                        {}
func dlOpen(string, bool) (uintptr, string)                      { return 0, errNoCgo.Error() }
func dlSym(uintptr, string) uintptr                              { return 0 }
func dlClose(uintptr)                                            {}
func dlPath(uintptr) string                                      { return "" }
func dlLoaded(string) string                                     { return "" }
func driverErrorText(int) (string, string)                       { return "", "" }
func cublasStatusText(int) (string, string)                      { return "", "" }
func cudnnErrorText(int) string                                  { return "" }
func cuInit() int                                                { return noCgo }
func cuDriverGetVersion() (int, int)                             { return 0, noCgo }
func cuDeviceGetCount() (int, int)                               { return 0, noCgo }
func cuDeviceGet(int) (int, int)                                 { return 0, noCgo }
func cuDeviceGetName(int) (string, int)                          { return "", noCgo }
func cuDeviceTotalMem(int) (int64, int)                          { return 0, noCgo }
func cuDeviceGetAttribute(int, int) (int, int)                   { return 0, noCgo }
func cuDevicePrimaryCtxRetain(int) (uintptr, int)                { return 0, noCgo }
func cuDevicePrimaryCtxRelease(int) int                          { return noCgo }
func cuDevicePrimaryCtxReset(int) int                            { return noCgo }
func cuCtxSynchronize(uintptr) int                               { return noCgo }
func cuMemAlloc(uintptr, int) (DevicePtr, int)                   { return 0, noCgo }
func cuMemFree(uintptr, DevicePtr) int                           { return noCgo }
func cuMemGetInfo(uintptr) (int64, int64, int)                   { return 0, 0, noCgo }
func cuStreamCreate(uintptr, uint32) (uintptr, int)              { return 0, noCgo }
func cuStreamDestroy(uintptr, uintptr) int                       { return noCgo }
func cuStreamSynchronize(uintptr, uintptr) int                   { return noCgo }
func cuEventCreate(uintptr, uint32) (uintptr, int)               { return 0, noCgo }
func cuEventRecord(uintptr, uintptr, uintptr) int                { return noCgo }
func cuEventSynchronize(uintptr, uintptr) int                    { return noCgo }
func cuEventDestroy(uintptr, uintptr) int                        { return noCgo }
func cuModuleUnload(uintptr, uintptr) int                        { return noCgo }
func cuStreamBeginCapture(uintptr, uintptr, int) int             { return noCgo }
func cuStreamEndCapture(uintptr, uintptr) (uintptr, int)         { return 0, noCgo }
func cuGraphInstantiate(uintptr, uintptr) (uintptr, int)         { return 0, noCgo }
func cuGraphLaunch(uintptr, uintptr, uintptr) int                { return noCgo }
func cuGraphExecDestroy(uintptr, uintptr) int                    { return noCgo }
func cuGraphDestroy(uintptr, uintptr) int                        { return noCgo }
func arenaNew(int) unsafe.Pointer                                { return nil }
func arenaFree(unsafe.Pointer)                                   {}
func arenaSlots(unsafe.Pointer, int) []uint64                    { return nil }
func cublasCreate(uintptr) (uintptr, int)                        { return 0, noCgo }
func cublasDestroy(uintptr, uintptr) int                         { return noCgo }
func cublasSetStream(uintptr, uintptr, uintptr) int              { return noCgo }
func cublasSetMathMode(uintptr, uintptr, int) int                { return noCgo }
func cublasGetProperty(int) (int, int, bool)                     { return 0, 0, false }
func cudnnGetVersion() int                                       { return 0 }
func cudnnCreate(uintptr) (uintptr, int)                         { return 0, noCgo }
func cudnnDestroy(uintptr, uintptr) int                          { return noCgo }
func cudnnSetStream(uintptr, uintptr, uintptr) int               { return noCgo }
func cudnnNewTensor4d(int, int, int, int) (uintptr, int)         { return 0, noCgo }
func cudnnDestroyTensor(uintptr) int                             { return noCgo }
func cudnnNewFilter4d(int, int, int, int) (uintptr, int)         { return 0, noCgo }
func cudnnDestroyFilter(uintptr) int                             { return noCgo }
func cudnnSetConvMath(uintptr, int) int                          { return noCgo }
func cudnnDestroyConv(uintptr) int                               { return noCgo }
func cudnnConvOutputDim(uintptr, uintptr, uintptr) ([4]int, int) { return [4]int{}, noCgo }
func cudnnConvAlgoMax(uintptr, uintptr, int) (int, int)          { return 0, noCgo }

func cuMemcpyDtoH(uintptr, unsafe.Pointer, DevicePtr, int) int               { return noCgo }
func cuMemcpyHtoDAsync(uintptr, DevicePtr, unsafe.Pointer, int, uintptr) int { return noCgo }
func cuMemcpyDtoDAsync(uintptr, DevicePtr, DevicePtr, int, uintptr) int      { return noCgo }
func cuMemsetD32Async(uintptr, DevicePtr, uint32, int, uintptr) int          { return noCgo }
func cuEventElapsedTime(uintptr, uintptr, uintptr) (float32, int)            { return 0, noCgo }
func cuModuleLoad(uintptr, []byte) (uintptr, string, int)                    { return 0, "", noCgo }
func cuModuleGetFunction(uintptr, uintptr, string) (uintptr, int)            { return 0, noCgo }
func cublasSetWorkspace(uintptr, uintptr, DevicePtr, int) (int, bool)        { return 0, false }

func cuLaunchKernel(uintptr, uintptr, [3]uint32, [3]uint32, uint32, uintptr, unsafe.Pointer, int) int {
	return noCgo
}

func cublasSgemm(uintptr, uintptr, bool, bool, int, int, int, float32, DevicePtr, int, DevicePtr, int,
	float32, DevicePtr, int) int {
	return noCgo
}

func cudnnNewConv2d(int, int, int, int, int, int, int) (uintptr, int) { return 0, noCgo }
func cudnnConvWorkspace(uintptr, uintptr, int, uintptr, uintptr, uintptr, uintptr, int) (int64, int) {
	return 0, noCgo
}

func cudnnConvAlgos(uintptr, uintptr, int, bool, uintptr, uintptr, uintptr, uintptr, int) ([]algoPerf, int) {
	return nil, noCgo
}

func cudnnConvForward(uintptr, uintptr, float32, uintptr, DevicePtr, uintptr, DevicePtr, uintptr, int,
	DevicePtr, int, float32, uintptr, DevicePtr) int {
	return noCgo
}

func cudnnConvBackwardData(uintptr, uintptr, float32, uintptr, DevicePtr, uintptr, DevicePtr, uintptr, int,
	DevicePtr, int, float32, uintptr, DevicePtr) int {
	return noCgo
}

func cudnnConvBackwardFilter(uintptr, uintptr, float32, uintptr, DevicePtr, uintptr, DevicePtr, uintptr, int,
	DevicePtr, int, float32, uintptr, DevicePtr) int {
	return noCgo
}

func cudnnConvBackwardBias(uintptr, uintptr, float32, uintptr, DevicePtr, float32, uintptr, DevicePtr) int {
	return noCgo
}
