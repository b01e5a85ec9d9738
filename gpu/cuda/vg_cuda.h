// vg_cuda.h declares the subset of the CUDA driver, cuBLAS and cuDNN C APIs
// that package gpu uses, without NVIDIA's headers, and small trampolines that
// call through function pointers resolved at run time with dlsym.
//
// Conventions:
//   - Handles are declared with the same struct tags as NVIDIA's headers
//     (struct CUctx_st *, struct cudnnContext *, ...), so the function-pointer
//     types below are the very types of the real functions.
//   - Enums are ints. Defining VG_VERIFY_CUDA, VG_VERIFY_CUBLAS or
//     VG_VERIFY_CUDNN after including cuda.h, cublas_v2.h or cudnn.h
//     replaces that library's enum aliases by the real enum types, so that
//     verify_test.go can check each function-pointer type, enum value and
//     the algorithm-perf struct layout against the real headers.
//   - Trampolines (vg_*) receive handles as uintptr_t and device pointers as
//     unsigned long long, so Go never converts integers to unsafe.Pointer.
//   - Trampolines that act on a device first make its context current on the
//     calling OS thread (goroutines move between threads). If that fails they
//     return the negated CUresult of cuCtxSetCurrent.
//
// Only raw_cgo.go includes this file, so its static functions exist once.
#ifndef VG_CUDA_H
#define VG_CUDA_H

#include <dlfcn.h>
#include <link.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// ---- types ----------------------------------------------------------------

// Each VG_VERIFY_* switch, defined after including that library's real
// headers, swaps its enum aliases for the real enum types.
#ifdef VG_VERIFY_CUDA
typedef CUresult vg_CUresult;
typedef CUdevice_attribute vg_CUdevice_attribute;
typedef CUstreamCaptureMode vg_CUstreamCaptureMode;
typedef CUjit_option vg_CUjit_option;
#else
typedef int vg_CUresult;
typedef int vg_CUdevice_attribute;
typedef int vg_CUstreamCaptureMode;
typedef int vg_CUjit_option;
#endif

#ifdef VG_VERIFY_CUBLAS
typedef cublasStatus_t vg_cublasStatus_t;
typedef cublasOperation_t vg_cublasOperation_t;
typedef cublasMath_t vg_cublasMath_t;
typedef libraryPropertyType vg_libraryPropertyType;
#else
typedef int vg_cublasStatus_t;
typedef int vg_cublasOperation_t;
typedef int vg_cublasMath_t;
typedef int vg_libraryPropertyType;
#endif

#ifdef VG_VERIFY_CUDNN
typedef cudnnStatus_t vg_cudnnStatus_t;
typedef cudnnTensorFormat_t vg_cudnnTensorFormat_t;
typedef cudnnDataType_t vg_cudnnDataType_t;
typedef cudnnConvolutionMode_t vg_cudnnConvolutionMode_t;
typedef cudnnMathType_t vg_cudnnMathType_t;
typedef cudnnConvolutionFwdAlgo_t vg_cudnnConvolutionFwdAlgo_t;
typedef cudnnConvolutionBwdDataAlgo_t vg_cudnnConvolutionBwdDataAlgo_t;
typedef cudnnConvolutionBwdFilterAlgo_t vg_cudnnConvolutionBwdFilterAlgo_t;
typedef cudnnConvolutionFwdAlgoPerf_t vg_fwdPerf;
typedef cudnnConvolutionBwdDataAlgoPerf_t vg_bwdDataPerf;
typedef cudnnConvolutionBwdFilterAlgoPerf_t vg_bwdFilterPerf;
#else
typedef int vg_cudnnStatus_t;
typedef int vg_cudnnTensorFormat_t;
typedef int vg_cudnnDataType_t;
typedef int vg_cudnnConvolutionMode_t;
typedef int vg_cudnnMathType_t;
typedef int vg_cudnnConvolutionFwdAlgo_t;
typedef int vg_cudnnConvolutionBwdDataAlgo_t;
typedef int vg_cudnnConvolutionBwdFilterAlgo_t;
typedef struct vg_algoPerf vg_fwdPerf;
typedef struct vg_algoPerf vg_bwdDataPerf;
typedef struct vg_algoPerf vg_bwdFilterPerf;
#endif

// vg_algoPerf has the layout of cudnnConvolutionFwdAlgoPerf_t,
// cudnnConvolutionBwdDataAlgoPerf_t and cudnnConvolutionBwdFilterAlgoPerf_t
// (identical in cuDNN 8 and 9): algo, status, time (ms), memory (bytes),
// determinism, mathType, reserved[3]. 48 bytes on LP64, memory at offset 16.
struct vg_algoPerf {
	int algo;
	int status;
	float time;
	size_t memory;
	int determinism;
	int mathType;
	int reserved[3];
};
_Static_assert(sizeof(struct vg_algoPerf) == 48, "cudnn perf struct size");
_Static_assert(offsetof(struct vg_algoPerf, memory) == 16, "cudnn perf memory offset");
_Static_assert(offsetof(struct vg_algoPerf, determinism) == 24, "cudnn perf determinism offset");

typedef unsigned long long vg_devptr; // CUdeviceptr (CUdeviceptr_v2)

typedef struct CUctx_st *vg_ctx_t;
typedef struct CUstream_st *vg_stream_t; // also cudaStream_t
typedef struct CUevent_st *vg_event_t;
typedef struct CUmod_st *vg_module_t;
typedef struct CUfunc_st *vg_function_t;
typedef struct CUgraph_st *vg_graph_t;
typedef struct CUgraphExec_st *vg_graphexec_t;
typedef struct cublasContext *vg_blas_t;
typedef struct cudnnContext *vg_dnn_t;
typedef struct cudnnTensorStruct *vg_tensor_t;
typedef struct cudnnFilterStruct *vg_filter_t;
typedef struct cudnnConvolutionStruct *vg_conv_t;

// ---- function-pointer types, one per symbol -------------------------------

// CUDA driver (libcuda.so.1)
typedef vg_CUresult (*pf_cuInit)(unsigned int);
typedef vg_CUresult (*pf_cuDriverGetVersion)(int *);
typedef vg_CUresult (*pf_cuDeviceGetCount)(int *);
typedef vg_CUresult (*pf_cuDeviceGet)(int *, int);
typedef vg_CUresult (*pf_cuDeviceGetName)(char *, int, int);
typedef vg_CUresult (*pf_cuDeviceTotalMem_v2)(size_t *, int);
typedef vg_CUresult (*pf_cuDeviceGetAttribute)(int *, vg_CUdevice_attribute, int);
typedef vg_CUresult (*pf_cuDevicePrimaryCtxRetain)(vg_ctx_t *, int);
typedef vg_CUresult (*pf_cuDevicePrimaryCtxRelease_v2)(int);
typedef vg_CUresult (*pf_cuDevicePrimaryCtxReset_v2)(int);
typedef vg_CUresult (*pf_cuCtxSetCurrent)(vg_ctx_t);
typedef vg_CUresult (*pf_cuCtxSynchronize)(void);
typedef vg_CUresult (*pf_cuMemAlloc_v2)(vg_devptr *, size_t);
typedef vg_CUresult (*pf_cuMemFree_v2)(vg_devptr);
typedef vg_CUresult (*pf_cuMemcpyDtoH_v2)(void *, vg_devptr, size_t);
typedef vg_CUresult (*pf_cuMemcpyDtoDAsync_v2)(vg_devptr, vg_devptr, size_t, vg_stream_t);
typedef vg_CUresult (*pf_cuMemcpyHtoDAsync_v2)(vg_devptr, const void *, size_t, vg_stream_t);
typedef vg_CUresult (*pf_cuMemsetD32Async)(vg_devptr, unsigned int, size_t, vg_stream_t);
typedef vg_CUresult (*pf_cuMemGetInfo_v2)(size_t *, size_t *);
typedef vg_CUresult (*pf_cuStreamCreate)(vg_stream_t *, unsigned int);
typedef vg_CUresult (*pf_cuStreamDestroy_v2)(vg_stream_t);
typedef vg_CUresult (*pf_cuStreamSynchronize)(vg_stream_t);
typedef vg_CUresult (*pf_cuEventCreate)(vg_event_t *, unsigned int);
typedef vg_CUresult (*pf_cuEventRecord)(vg_event_t, vg_stream_t);
typedef vg_CUresult (*pf_cuEventSynchronize)(vg_event_t);
typedef vg_CUresult (*pf_cuEventElapsedTime)(float *, vg_event_t, vg_event_t);
typedef vg_CUresult (*pf_cuEventDestroy_v2)(vg_event_t);
typedef vg_CUresult (*pf_cuModuleLoadData)(vg_module_t *, const void *);
typedef vg_CUresult (*pf_cuModuleLoadDataEx)(vg_module_t *, const void *, unsigned int, vg_CUjit_option *, void **);
typedef vg_CUresult (*pf_cuModuleUnload)(vg_module_t);
typedef vg_CUresult (*pf_cuModuleGetFunction)(vg_function_t *, vg_module_t, const char *);
typedef vg_CUresult (*pf_cuLaunchKernel)(vg_function_t, unsigned int, unsigned int, unsigned int,
	unsigned int, unsigned int, unsigned int, unsigned int, vg_stream_t, void **, void **);
typedef vg_CUresult (*pf_cuStreamBeginCapture_v2)(vg_stream_t, vg_CUstreamCaptureMode);
typedef vg_CUresult (*pf_cuStreamEndCapture)(vg_stream_t, vg_graph_t *);
typedef vg_CUresult (*pf_cuGraphInstantiateWithFlags)(vg_graphexec_t *, vg_graph_t, unsigned long long);
typedef vg_CUresult (*pf_cuGraphLaunch)(vg_graphexec_t, vg_stream_t);
typedef vg_CUresult (*pf_cuGraphExecDestroy)(vg_graphexec_t);
typedef vg_CUresult (*pf_cuGraphDestroy)(vg_graph_t);
typedef vg_CUresult (*pf_cuGetErrorName)(vg_CUresult, const char **);
typedef vg_CUresult (*pf_cuGetErrorString)(vg_CUresult, const char **);

// cuBLAS (libcublas.so.13, .12, .11)
typedef vg_cublasStatus_t (*pf_cublasCreate_v2)(vg_blas_t *);
typedef vg_cublasStatus_t (*pf_cublasDestroy_v2)(vg_blas_t);
typedef vg_cublasStatus_t (*pf_cublasSetStream_v2)(vg_blas_t, vg_stream_t);
typedef vg_cublasStatus_t (*pf_cublasSetMathMode)(vg_blas_t, vg_cublasMath_t);
typedef vg_cublasStatus_t (*pf_cublasSetWorkspace_v2)(vg_blas_t, void *, size_t);
typedef vg_cublasStatus_t (*pf_cublasSgemm_v2)(vg_blas_t, vg_cublasOperation_t, vg_cublasOperation_t,
	int, int, int, const float *, const float *, int, const float *, int, const float *, float *, int);
typedef vg_cublasStatus_t (*pf_cublasGetVersion_v2)(vg_blas_t, int *);
typedef vg_cublasStatus_t (*pf_cublasGetProperty)(vg_libraryPropertyType, int *);
typedef const char *(*pf_cublasGetStatusName)(vg_cublasStatus_t);
typedef const char *(*pf_cublasGetStatusString)(vg_cublasStatus_t);

// cuDNN (libcudnn.so.9 and its sub-libraries, or libcudnn.so.8)
typedef size_t (*pf_cudnnGetVersion)(void);
typedef const char *(*pf_cudnnGetErrorString)(vg_cudnnStatus_t);
typedef vg_cudnnStatus_t (*pf_cudnnCreate)(vg_dnn_t *);
typedef vg_cudnnStatus_t (*pf_cudnnDestroy)(vg_dnn_t);
typedef vg_cudnnStatus_t (*pf_cudnnSetStream)(vg_dnn_t, vg_stream_t);
typedef vg_cudnnStatus_t (*pf_cudnnCreateTensorDescriptor)(vg_tensor_t *);
typedef vg_cudnnStatus_t (*pf_cudnnSetTensor4dDescriptor)(vg_tensor_t, vg_cudnnTensorFormat_t, vg_cudnnDataType_t,
	int, int, int, int);
typedef vg_cudnnStatus_t (*pf_cudnnDestroyTensorDescriptor)(vg_tensor_t);
typedef vg_cudnnStatus_t (*pf_cudnnCreateFilterDescriptor)(vg_filter_t *);
typedef vg_cudnnStatus_t (*pf_cudnnSetFilter4dDescriptor)(vg_filter_t, vg_cudnnDataType_t, vg_cudnnTensorFormat_t,
	int, int, int, int);
typedef vg_cudnnStatus_t (*pf_cudnnDestroyFilterDescriptor)(vg_filter_t);
typedef vg_cudnnStatus_t (*pf_cudnnCreateConvolutionDescriptor)(vg_conv_t *);
typedef vg_cudnnStatus_t (*pf_cudnnSetConvolution2dDescriptor)(vg_conv_t, int, int, int, int, int, int,
	vg_cudnnConvolutionMode_t, vg_cudnnDataType_t);
typedef vg_cudnnStatus_t (*pf_cudnnSetConvolutionMathType)(vg_conv_t, vg_cudnnMathType_t);
typedef vg_cudnnStatus_t (*pf_cudnnDestroyConvolutionDescriptor)(vg_conv_t);
typedef vg_cudnnStatus_t (*pf_cudnnGetConvolution2dForwardOutputDim)(vg_conv_t, vg_tensor_t, vg_filter_t,
	int *, int *, int *, int *);
typedef vg_cudnnStatus_t (*pf_cudnnGetConvolutionForwardAlgorithmMaxCount)(vg_dnn_t, int *);
typedef vg_cudnnStatus_t (*pf_cudnnGetConvolutionBackwardDataAlgorithmMaxCount)(vg_dnn_t, int *);
typedef vg_cudnnStatus_t (*pf_cudnnGetConvolutionBackwardFilterAlgorithmMaxCount)(vg_dnn_t, int *);
typedef vg_cudnnStatus_t (*pf_cudnnGetConvolutionForwardAlgorithm_v7)(vg_dnn_t, vg_tensor_t, vg_filter_t,
	vg_conv_t, vg_tensor_t, int, int *, vg_fwdPerf *);
typedef vg_cudnnStatus_t (*pf_cudnnFindConvolutionForwardAlgorithm)(vg_dnn_t, vg_tensor_t, vg_filter_t,
	vg_conv_t, vg_tensor_t, int, int *, vg_fwdPerf *);
typedef vg_cudnnStatus_t (*pf_cudnnGetConvolutionBackwardDataAlgorithm_v7)(vg_dnn_t, vg_filter_t, vg_tensor_t,
	vg_conv_t, vg_tensor_t, int, int *, vg_bwdDataPerf *);
typedef vg_cudnnStatus_t (*pf_cudnnFindConvolutionBackwardDataAlgorithm)(vg_dnn_t, vg_filter_t, vg_tensor_t,
	vg_conv_t, vg_tensor_t, int, int *, vg_bwdDataPerf *);
typedef vg_cudnnStatus_t (*pf_cudnnGetConvolutionBackwardFilterAlgorithm_v7)(vg_dnn_t, vg_tensor_t, vg_tensor_t,
	vg_conv_t, vg_filter_t, int, int *, vg_bwdFilterPerf *);
typedef vg_cudnnStatus_t (*pf_cudnnFindConvolutionBackwardFilterAlgorithm)(vg_dnn_t, vg_tensor_t, vg_tensor_t,
	vg_conv_t, vg_filter_t, int, int *, vg_bwdFilterPerf *);
typedef vg_cudnnStatus_t (*pf_cudnnGetConvolutionForwardWorkspaceSize)(vg_dnn_t, vg_tensor_t, vg_filter_t,
	vg_conv_t, vg_tensor_t, vg_cudnnConvolutionFwdAlgo_t, size_t *);
typedef vg_cudnnStatus_t (*pf_cudnnGetConvolutionBackwardDataWorkspaceSize)(vg_dnn_t, vg_filter_t, vg_tensor_t,
	vg_conv_t, vg_tensor_t, vg_cudnnConvolutionBwdDataAlgo_t, size_t *);
typedef vg_cudnnStatus_t (*pf_cudnnGetConvolutionBackwardFilterWorkspaceSize)(vg_dnn_t, vg_tensor_t, vg_tensor_t,
	vg_conv_t, vg_filter_t, vg_cudnnConvolutionBwdFilterAlgo_t, size_t *);
typedef vg_cudnnStatus_t (*pf_cudnnConvolutionForward)(vg_dnn_t, const void *, vg_tensor_t, const void *,
	vg_filter_t, const void *, vg_conv_t, vg_cudnnConvolutionFwdAlgo_t, void *, size_t, const void *,
	vg_tensor_t, void *);
typedef vg_cudnnStatus_t (*pf_cudnnConvolutionBackwardData)(vg_dnn_t, const void *, vg_filter_t, const void *,
	vg_tensor_t, const void *, vg_conv_t, vg_cudnnConvolutionBwdDataAlgo_t, void *, size_t, const void *,
	vg_tensor_t, void *);
typedef vg_cudnnStatus_t (*pf_cudnnConvolutionBackwardFilter)(vg_dnn_t, const void *, vg_tensor_t, const void *,
	vg_tensor_t, const void *, vg_conv_t, vg_cudnnConvolutionBwdFilterAlgo_t, void *, size_t, const void *,
	vg_filter_t, void *);
typedef vg_cudnnStatus_t (*pf_cudnnConvolutionBackwardBias)(vg_dnn_t, const void *, vg_tensor_t, const void *,
	const void *, vg_tensor_t, void *);

// ---- the symbol table -------------------------------------------------------

#define VG_LIB_CUDA 0
#define VG_LIB_CUBLAS 1
#define VG_LIB_CUDNN 2

// X(library, id, required, symbol name, fallback symbol name or "").
// id names the pf_ type and the slot; the symbol name is looked up first.
#define VG_SYMBOLS(X) \
	X(CUDA, cuInit, 1, "cuInit", "") \
	X(CUDA, cuDriverGetVersion, 1, "cuDriverGetVersion", "") \
	X(CUDA, cuDeviceGetCount, 1, "cuDeviceGetCount", "") \
	X(CUDA, cuDeviceGet, 1, "cuDeviceGet", "") \
	X(CUDA, cuDeviceGetName, 1, "cuDeviceGetName", "") \
	X(CUDA, cuDeviceTotalMem_v2, 1, "cuDeviceTotalMem_v2", "") \
	X(CUDA, cuDeviceGetAttribute, 1, "cuDeviceGetAttribute", "") \
	X(CUDA, cuDevicePrimaryCtxRetain, 1, "cuDevicePrimaryCtxRetain", "") \
	X(CUDA, cuDevicePrimaryCtxRelease_v2, 1, "cuDevicePrimaryCtxRelease_v2", "cuDevicePrimaryCtxRelease") \
	X(CUDA, cuDevicePrimaryCtxReset_v2, 1, "cuDevicePrimaryCtxReset_v2", "cuDevicePrimaryCtxReset") \
	X(CUDA, cuCtxSetCurrent, 1, "cuCtxSetCurrent", "") \
	X(CUDA, cuCtxSynchronize, 1, "cuCtxSynchronize", "") \
	X(CUDA, cuMemAlloc_v2, 1, "cuMemAlloc_v2", "") \
	X(CUDA, cuMemFree_v2, 1, "cuMemFree_v2", "") \
	X(CUDA, cuMemcpyDtoH_v2, 1, "cuMemcpyDtoH_v2", "") \
	X(CUDA, cuMemcpyDtoDAsync_v2, 1, "cuMemcpyDtoDAsync_v2", "") \
	X(CUDA, cuMemcpyHtoDAsync_v2, 1, "cuMemcpyHtoDAsync_v2", "") \
	X(CUDA, cuMemsetD32Async, 1, "cuMemsetD32Async", "") \
	X(CUDA, cuMemGetInfo_v2, 1, "cuMemGetInfo_v2", "") \
	X(CUDA, cuStreamCreate, 1, "cuStreamCreate", "") \
	X(CUDA, cuStreamDestroy_v2, 1, "cuStreamDestroy_v2", "") \
	X(CUDA, cuStreamSynchronize, 1, "cuStreamSynchronize", "") \
	X(CUDA, cuEventCreate, 1, "cuEventCreate", "") \
	X(CUDA, cuEventRecord, 1, "cuEventRecord", "") \
	X(CUDA, cuEventSynchronize, 1, "cuEventSynchronize", "") \
	X(CUDA, cuEventElapsedTime, 1, "cuEventElapsedTime_v2", "cuEventElapsedTime") \
	X(CUDA, cuEventDestroy_v2, 1, "cuEventDestroy_v2", "") \
	X(CUDA, cuModuleLoadData, 1, "cuModuleLoadData", "") \
	X(CUDA, cuModuleLoadDataEx, 0, "cuModuleLoadDataEx", "") \
	X(CUDA, cuModuleUnload, 1, "cuModuleUnload", "") \
	X(CUDA, cuModuleGetFunction, 1, "cuModuleGetFunction", "") \
	X(CUDA, cuLaunchKernel, 1, "cuLaunchKernel", "") \
	X(CUDA, cuStreamBeginCapture_v2, 1, "cuStreamBeginCapture_v2", "") \
	X(CUDA, cuStreamEndCapture, 1, "cuStreamEndCapture", "") \
	X(CUDA, cuGraphInstantiateWithFlags, 1, "cuGraphInstantiateWithFlags", "") \
	X(CUDA, cuGraphLaunch, 1, "cuGraphLaunch", "") \
	X(CUDA, cuGraphExecDestroy, 1, "cuGraphExecDestroy", "") \
	X(CUDA, cuGraphDestroy, 1, "cuGraphDestroy", "") \
	X(CUDA, cuGetErrorName, 1, "cuGetErrorName", "") \
	X(CUDA, cuGetErrorString, 1, "cuGetErrorString", "") \
	X(CUBLAS, cublasCreate_v2, 1, "cublasCreate_v2", "") \
	X(CUBLAS, cublasDestroy_v2, 1, "cublasDestroy_v2", "") \
	X(CUBLAS, cublasSetStream_v2, 1, "cublasSetStream_v2", "") \
	X(CUBLAS, cublasSetMathMode, 1, "cublasSetMathMode", "") \
	X(CUBLAS, cublasSetWorkspace_v2, 0, "cublasSetWorkspace_v2", "") \
	X(CUBLAS, cublasSgemm_v2, 1, "cublasSgemm_v2", "") \
	X(CUBLAS, cublasGetVersion_v2, 0, "cublasGetVersion_v2", "") \
	X(CUBLAS, cublasGetProperty, 0, "cublasGetProperty", "") \
	X(CUBLAS, cublasGetStatusName, 0, "cublasGetStatusName", "") \
	X(CUBLAS, cublasGetStatusString, 0, "cublasGetStatusString", "") \
	X(CUDNN, cudnnGetVersion, 1, "cudnnGetVersion", "") \
	X(CUDNN, cudnnGetErrorString, 1, "cudnnGetErrorString", "") \
	X(CUDNN, cudnnCreate, 1, "cudnnCreate", "") \
	X(CUDNN, cudnnDestroy, 1, "cudnnDestroy", "") \
	X(CUDNN, cudnnSetStream, 1, "cudnnSetStream", "") \
	X(CUDNN, cudnnCreateTensorDescriptor, 1, "cudnnCreateTensorDescriptor", "") \
	X(CUDNN, cudnnSetTensor4dDescriptor, 1, "cudnnSetTensor4dDescriptor", "") \
	X(CUDNN, cudnnDestroyTensorDescriptor, 1, "cudnnDestroyTensorDescriptor", "") \
	X(CUDNN, cudnnCreateFilterDescriptor, 1, "cudnnCreateFilterDescriptor", "") \
	X(CUDNN, cudnnSetFilter4dDescriptor, 1, "cudnnSetFilter4dDescriptor", "") \
	X(CUDNN, cudnnDestroyFilterDescriptor, 1, "cudnnDestroyFilterDescriptor", "") \
	X(CUDNN, cudnnCreateConvolutionDescriptor, 1, "cudnnCreateConvolutionDescriptor", "") \
	X(CUDNN, cudnnSetConvolution2dDescriptor, 1, "cudnnSetConvolution2dDescriptor", "") \
	X(CUDNN, cudnnSetConvolutionMathType, 1, "cudnnSetConvolutionMathType", "") \
	X(CUDNN, cudnnDestroyConvolutionDescriptor, 1, "cudnnDestroyConvolutionDescriptor", "") \
	X(CUDNN, cudnnGetConvolution2dForwardOutputDim, 1, "cudnnGetConvolution2dForwardOutputDim", "") \
	X(CUDNN, cudnnGetConvolutionForwardAlgorithmMaxCount, 0, "cudnnGetConvolutionForwardAlgorithmMaxCount", "") \
	X(CUDNN, cudnnGetConvolutionBackwardDataAlgorithmMaxCount, 0, "cudnnGetConvolutionBackwardDataAlgorithmMaxCount", "") \
	X(CUDNN, cudnnGetConvolutionBackwardFilterAlgorithmMaxCount, 0, "cudnnGetConvolutionBackwardFilterAlgorithmMaxCount", "") \
	X(CUDNN, cudnnGetConvolutionForwardAlgorithm_v7, 1, "cudnnGetConvolutionForwardAlgorithm_v7", "") \
	X(CUDNN, cudnnFindConvolutionForwardAlgorithm, 1, "cudnnFindConvolutionForwardAlgorithm", "") \
	X(CUDNN, cudnnGetConvolutionBackwardDataAlgorithm_v7, 1, "cudnnGetConvolutionBackwardDataAlgorithm_v7", "") \
	X(CUDNN, cudnnFindConvolutionBackwardDataAlgorithm, 1, "cudnnFindConvolutionBackwardDataAlgorithm", "") \
	X(CUDNN, cudnnGetConvolutionBackwardFilterAlgorithm_v7, 1, "cudnnGetConvolutionBackwardFilterAlgorithm_v7", "") \
	X(CUDNN, cudnnFindConvolutionBackwardFilterAlgorithm, 1, "cudnnFindConvolutionBackwardFilterAlgorithm", "") \
	X(CUDNN, cudnnGetConvolutionForwardWorkspaceSize, 1, "cudnnGetConvolutionForwardWorkspaceSize", "") \
	X(CUDNN, cudnnGetConvolutionBackwardDataWorkspaceSize, 1, "cudnnGetConvolutionBackwardDataWorkspaceSize", "") \
	X(CUDNN, cudnnGetConvolutionBackwardFilterWorkspaceSize, 1, "cudnnGetConvolutionBackwardFilterWorkspaceSize", "") \
	X(CUDNN, cudnnConvolutionForward, 1, "cudnnConvolutionForward", "") \
	X(CUDNN, cudnnConvolutionBackwardData, 1, "cudnnConvolutionBackwardData", "") \
	X(CUDNN, cudnnConvolutionBackwardFilter, 1, "cudnnConvolutionBackwardFilter", "") \
	X(CUDNN, cudnnConvolutionBackwardBias, 1, "cudnnConvolutionBackwardBias", "")

#define VG_ENUM_ROW(lib, id, req, name, alt) VG_##id,
enum { VG_SYMBOLS(VG_ENUM_ROW) VG_NSYM };
#undef VG_ENUM_ROW

typedef struct {
	int lib;
	int required;
	const char *name;
	const char *alt;
	const char *id;
} vg_sym;

#define VG_SYM_ROW(lib, id, req, name, alt) {VG_LIB_##lib, req, name, alt, #id},
static const vg_sym vg_syms[VG_NSYM] = {VG_SYMBOLS(VG_SYM_ROW)};
#undef VG_SYM_ROW

// vg_fn holds the resolved function pointers, indexed by VG_<id>.
static void *vg_fn[VG_NSYM];

#define VG_F(id) ((pf_##id)vg_fn[VG_##id])

static inline int vg_nsym(void) { return VG_NSYM; }
static inline int vg_sym_lib(int i) { return vg_syms[i].lib; }
static inline int vg_sym_required(int i) { return vg_syms[i].required; }
static inline const char *vg_sym_name(int i) { return vg_syms[i].name; }
static inline const char *vg_sym_alt(int i) { return vg_syms[i].alt; }
static inline const char *vg_sym_id(int i) { return vg_syms[i].id; }
static inline void vg_sym_set(int i, uintptr_t p) { vg_fn[i] = (void *)p; }
static inline int vg_sym_ok(int i) { return vg_fn[i] != NULL; }

// ---- dynamic loading --------------------------------------------------------

// vg_dlopen opens path (a file path or a bare soname for the system loader)
// with RTLD_NOW, adding RTLD_GLOBAL when global is set. On failure it returns
// 0 and copies dlerror() into err.
static inline uintptr_t vg_dlopen(const char *path, int global, char *err, size_t errlen) {
	dlerror();
	void *h = dlopen(path, RTLD_NOW | (global ? RTLD_GLOBAL : RTLD_LOCAL));
	if (h == NULL) {
		const char *e = dlerror();
		snprintf(err, errlen, "%s", e != NULL ? e : "dlopen failed");
	}
	return (uintptr_t)h;
}

static inline uintptr_t vg_dlsym(uintptr_t h, const char *name) {
	dlerror();
	return (uintptr_t)dlsym((void *)h, name);
}

static inline void vg_dlclose(uintptr_t h) { dlclose((void *)h); }

// vg_dlpath writes the file the loader actually opened for h.
static inline int vg_dlpath(uintptr_t h, char *buf, size_t n) {
	struct link_map *lm = NULL;
	if (dlinfo((void *)h, RTLD_DI_LINKMAP, &lm) != 0 || lm == NULL || lm->l_name == NULL) {
		return -1;
	}
	snprintf(buf, n, "%s", lm->l_name);
	return 0;
}

// vg_dlloaded writes the path of the already loaded library with this
// soname, without loading it; it returns -1 if none is loaded.
static inline int vg_dlloaded(const char *soname, char *buf, size_t n) {
	void *h = dlopen(soname, RTLD_NOW | RTLD_NOLOAD);
	if (h == NULL) {
		return -1;
	}
	int r = vg_dlpath((uintptr_t)h, buf, n);
	dlclose(h);
	return r;
}

// ---- CUDA driver trampolines ------------------------------------------------

// vg_setctx makes ctx current on this thread: 0, or minus the CUresult.
static inline int vg_setctx(uintptr_t ctx) {
	if (ctx == 0) {
		return 0;
	}
	int r = (int)VG_F(cuCtxSetCurrent)((vg_ctx_t)ctx);
	return r == 0 ? 0 : -r;
}

#define VG_CTX(ctx) \
	do { \
		int vg_r_ = vg_setctx(ctx); \
		if (vg_r_ != 0) return vg_r_; \
	} while (0)

static inline int vg_cuInit(void) { return VG_F(cuInit)(0); }
static inline int vg_cuDriverGetVersion(int *v) { return VG_F(cuDriverGetVersion)(v); }
static inline int vg_cuDeviceGetCount(int *n) { return VG_F(cuDeviceGetCount)(n); }
static inline int vg_cuDeviceGet(int *dev, int ordinal) { return VG_F(cuDeviceGet)(dev, ordinal); }
static inline int vg_cuDeviceGetName(char *buf, int n, int dev) { return VG_F(cuDeviceGetName)(buf, n, dev); }
static inline int vg_cuDeviceTotalMem(size_t *b, int dev) { return VG_F(cuDeviceTotalMem_v2)(b, dev); }
static inline int vg_cuDeviceGetAttribute(int *v, int attr, int dev) {
	return VG_F(cuDeviceGetAttribute)(v, (vg_CUdevice_attribute)attr, dev);
}
static inline int vg_cuDevicePrimaryCtxRetain(uintptr_t *ctx, int dev) {
	vg_ctx_t c = NULL;
	int r = VG_F(cuDevicePrimaryCtxRetain)(&c, dev);
	*ctx = (uintptr_t)c;
	return r;
}
static inline int vg_cuDevicePrimaryCtxRelease(int dev) { return VG_F(cuDevicePrimaryCtxRelease_v2)(dev); }
static inline int vg_cuDevicePrimaryCtxReset(int dev) { return VG_F(cuDevicePrimaryCtxReset_v2)(dev); }
static inline int vg_cuCtxSynchronize(uintptr_t ctx) {
	VG_CTX(ctx);
	return VG_F(cuCtxSynchronize)();
}
static inline int vg_cuMemAlloc(uintptr_t ctx, vg_devptr *p, size_t n) {
	VG_CTX(ctx);
	return VG_F(cuMemAlloc_v2)(p, n);
}
static inline int vg_cuMemFree(uintptr_t ctx, vg_devptr p) {
	VG_CTX(ctx);
	return VG_F(cuMemFree_v2)(p);
}
static inline int vg_cuMemcpyDtoH(uintptr_t ctx, void *dst, vg_devptr src, size_t n) {
	VG_CTX(ctx);
	return VG_F(cuMemcpyDtoH_v2)(dst, src, n);
}
static inline int vg_cuMemcpyHtoDAsync(uintptr_t ctx, vg_devptr dst, const void *src, size_t n, uintptr_t s) {
	VG_CTX(ctx);
	return VG_F(cuMemcpyHtoDAsync_v2)(dst, src, n, (vg_stream_t)s);
}
static inline int vg_cuMemcpyDtoDAsync(uintptr_t ctx, vg_devptr dst, vg_devptr src, size_t n, uintptr_t s) {
	VG_CTX(ctx);
	return VG_F(cuMemcpyDtoDAsync_v2)(dst, src, n, (vg_stream_t)s);
}
static inline int vg_cuMemsetD32Async(uintptr_t ctx, vg_devptr dst, unsigned int v, size_t n, uintptr_t s) {
	VG_CTX(ctx);
	return VG_F(cuMemsetD32Async)(dst, v, n, (vg_stream_t)s);
}
static inline int vg_cuMemGetInfo(uintptr_t ctx, size_t *free, size_t *total) {
	VG_CTX(ctx);
	return VG_F(cuMemGetInfo_v2)(free, total);
}
static inline int vg_cuStreamCreate(uintptr_t ctx, uintptr_t *s, unsigned int flags) {
	VG_CTX(ctx);
	vg_stream_t h = NULL;
	int r = VG_F(cuStreamCreate)(&h, flags);
	*s = (uintptr_t)h;
	return r;
}
static inline int vg_cuStreamDestroy(uintptr_t ctx, uintptr_t s) {
	VG_CTX(ctx);
	return VG_F(cuStreamDestroy_v2)((vg_stream_t)s);
}
static inline int vg_cuStreamSynchronize(uintptr_t ctx, uintptr_t s) {
	VG_CTX(ctx);
	return VG_F(cuStreamSynchronize)((vg_stream_t)s);
}
static inline int vg_cuEventCreate(uintptr_t ctx, uintptr_t *e, unsigned int flags) {
	VG_CTX(ctx);
	vg_event_t h = NULL;
	int r = VG_F(cuEventCreate)(&h, flags);
	*e = (uintptr_t)h;
	return r;
}
static inline int vg_cuEventRecord(uintptr_t ctx, uintptr_t e, uintptr_t s) {
	VG_CTX(ctx);
	return VG_F(cuEventRecord)((vg_event_t)e, (vg_stream_t)s);
}
static inline int vg_cuEventSynchronize(uintptr_t ctx, uintptr_t e) {
	VG_CTX(ctx);
	return VG_F(cuEventSynchronize)((vg_event_t)e);
}
static inline int vg_cuEventElapsedTime(uintptr_t ctx, float *ms, uintptr_t a, uintptr_t b) {
	VG_CTX(ctx);
	return VG_F(cuEventElapsedTime)(ms, (vg_event_t)a, (vg_event_t)b);
}
static inline int vg_cuEventDestroy(uintptr_t ctx, uintptr_t e) {
	VG_CTX(ctx);
	return VG_F(cuEventDestroy_v2)((vg_event_t)e);
}

// vg_cuModuleLoad loads a NUL-terminated PTX or a cubin/fatbin image. Where
// cuModuleLoadDataEx exists it also collects the JIT error log into log.
static inline int vg_cuModuleLoad(uintptr_t ctx, uintptr_t *m, const void *image, char *log, unsigned int loglen) {
	VG_CTX(ctx);
	vg_module_t h = NULL;
	int r;
	if (vg_fn[VG_cuModuleLoadDataEx] != NULL && log != NULL && loglen > 1) {
		log[0] = 0;
		vg_CUjit_option opts[2] = {(vg_CUjit_option)5 /* CU_JIT_ERROR_LOG_BUFFER */,
			(vg_CUjit_option)6 /* CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES */};
		void *vals[2] = {(void *)log, (void *)(uintptr_t)loglen};
		r = VG_F(cuModuleLoadDataEx)(&h, image, 2, opts, vals);
		log[loglen - 1] = 0;
	} else {
		r = VG_F(cuModuleLoadData)(&h, image);
	}
	*m = (uintptr_t)h;
	return r;
}
static inline int vg_cuModuleUnload(uintptr_t ctx, uintptr_t m) {
	VG_CTX(ctx);
	return VG_F(cuModuleUnload)((vg_module_t)m);
}
static inline int vg_cuModuleGetFunction(uintptr_t ctx, uintptr_t *f, uintptr_t m, const char *name) {
	VG_CTX(ctx);
	vg_function_t h = NULL;
	int r = VG_F(cuModuleGetFunction)(&h, (vg_module_t)m, name);
	*f = (uintptr_t)h;
	return r;
}

// Kernel arguments live in a C-allocated arena of nslots 8-byte value slots
// followed by nslots pointers, pointer i addressing slot i. Go writes each
// argument into the first 4 or 8 bytes of its slot; the pointer array is
// passed to cuLaunchKernel as kernelParams, which the driver copies at launch.
static inline void *vg_arena_new(int nslots) {
	char *base = (char *)calloc((size_t)nslots, 8 + sizeof(void *));
	if (base == NULL) {
		return NULL;
	}
	void **ptrs = (void **)(base + 8 * (size_t)nslots);
	for (int i = 0; i < nslots; i++) {
		ptrs[i] = base + 8 * (size_t)i;
	}
	return base;
}
static inline void vg_arena_free(void *base) { free(base); }

static inline int vg_cuLaunchKernel(uintptr_t ctx, uintptr_t f, unsigned int gx, unsigned int gy, unsigned int gz,
	unsigned int bx, unsigned int by, unsigned int bz, unsigned int shmem, uintptr_t s, void *arena, int nslots) {
	VG_CTX(ctx);
	void **params = (void **)((char *)arena + 8 * (size_t)nslots);
	return VG_F(cuLaunchKernel)((vg_function_t)f, gx, gy, gz, bx, by, bz, shmem, (vg_stream_t)s, params, NULL);
}
static inline int vg_cuStreamBeginCapture(uintptr_t ctx, uintptr_t s, int mode) {
	VG_CTX(ctx);
	return VG_F(cuStreamBeginCapture_v2)((vg_stream_t)s, (vg_CUstreamCaptureMode)mode);
}
static inline int vg_cuStreamEndCapture(uintptr_t ctx, uintptr_t s, uintptr_t *g) {
	VG_CTX(ctx);
	vg_graph_t h = NULL;
	int r = VG_F(cuStreamEndCapture)((vg_stream_t)s, &h);
	*g = (uintptr_t)h;
	return r;
}
static inline int vg_cuGraphInstantiate(uintptr_t ctx, uintptr_t *exec, uintptr_t g) {
	VG_CTX(ctx);
	vg_graphexec_t h = NULL;
	int r = VG_F(cuGraphInstantiateWithFlags)(&h, (vg_graph_t)g, 0);
	*exec = (uintptr_t)h;
	return r;
}
static inline int vg_cuGraphLaunch(uintptr_t ctx, uintptr_t exec, uintptr_t s) {
	VG_CTX(ctx);
	return VG_F(cuGraphLaunch)((vg_graphexec_t)exec, (vg_stream_t)s);
}
static inline int vg_cuGraphExecDestroy(uintptr_t ctx, uintptr_t exec) {
	VG_CTX(ctx);
	return VG_F(cuGraphExecDestroy)((vg_graphexec_t)exec);
}
static inline int vg_cuGraphDestroy(uintptr_t ctx, uintptr_t g) {
	VG_CTX(ctx);
	return VG_F(cuGraphDestroy)((vg_graph_t)g);
}

// vg_cuErrorText returns the name and description of a CUresult, or NULLs
// when the driver is not loaded or does not know the code.
static inline void vg_cuErrorText(int code, const char **name, const char **msg) {
	*name = NULL;
	*msg = NULL;
	if (vg_fn[VG_cuGetErrorName] != NULL && VG_F(cuGetErrorName)((vg_CUresult)code, name) != 0) {
		*name = NULL;
	}
	if (vg_fn[VG_cuGetErrorString] != NULL && VG_F(cuGetErrorString)((vg_CUresult)code, msg) != 0) {
		*msg = NULL;
	}
}

// ---- cuBLAS trampolines -------------------------------------------------------

static inline int vg_cublasCreate(uintptr_t ctx, uintptr_t *h) {
	VG_CTX(ctx);
	vg_blas_t b = NULL;
	int r = VG_F(cublasCreate_v2)(&b);
	*h = (uintptr_t)b;
	return r;
}
static inline int vg_cublasDestroy(uintptr_t ctx, uintptr_t h) {
	VG_CTX(ctx);
	return VG_F(cublasDestroy_v2)((vg_blas_t)h);
}
static inline int vg_cublasSetStream(uintptr_t ctx, uintptr_t h, uintptr_t s) {
	VG_CTX(ctx);
	return VG_F(cublasSetStream_v2)((vg_blas_t)h, (vg_stream_t)s);
}
static inline int vg_cublasSetMathMode(uintptr_t ctx, uintptr_t h, int mode) {
	VG_CTX(ctx);
	return VG_F(cublasSetMathMode)((vg_blas_t)h, (vg_cublasMath_t)mode);
}
static inline int vg_cublasSetWorkspace(uintptr_t ctx, uintptr_t h, vg_devptr p, size_t n) {
	VG_CTX(ctx);
	return VG_F(cublasSetWorkspace_v2)((vg_blas_t)h, (void *)(uintptr_t)p, n);
}
static inline int vg_cublasSgemm(uintptr_t ctx, uintptr_t h, int ta, int tb, int m, int n, int k, float alpha,
	vg_devptr a, int lda, vg_devptr b, int ldb, float beta, vg_devptr c, int ldc) {
	VG_CTX(ctx);
	return VG_F(cublasSgemm_v2)((vg_blas_t)h, (vg_cublasOperation_t)ta, (vg_cublasOperation_t)tb, m, n, k, &alpha,
		(const float *)(uintptr_t)a, lda, (const float *)(uintptr_t)b, ldb, &beta, (float *)(uintptr_t)c, ldc);
}
static inline int vg_cublasGetProperty(int type, int *v) { return VG_F(cublasGetProperty)((vg_libraryPropertyType)type, v); }
static inline const char *vg_cublasStatusName(int code) {
	return vg_fn[VG_cublasGetStatusName] != NULL ? VG_F(cublasGetStatusName)((vg_cublasStatus_t)code) : NULL;
}
static inline const char *vg_cublasStatusString(int code) {
	return vg_fn[VG_cublasGetStatusString] != NULL ? VG_F(cublasGetStatusString)((vg_cublasStatus_t)code) : NULL;
}

// ---- cuDNN trampolines ----------------------------------------------------------

#define VG_PTR(p) ((void *)(uintptr_t)(p))

static inline size_t vg_cudnnGetVersion(void) { return VG_F(cudnnGetVersion)(); }
static inline const char *vg_cudnnErrorString(int code) {
	return vg_fn[VG_cudnnGetErrorString] != NULL ? VG_F(cudnnGetErrorString)((vg_cudnnStatus_t)code) : NULL;
}
static inline int vg_cudnnCreate(uintptr_t ctx, uintptr_t *h) {
	VG_CTX(ctx);
	vg_dnn_t d = NULL;
	int r = VG_F(cudnnCreate)(&d);
	*h = (uintptr_t)d;
	return r;
}
static inline int vg_cudnnDestroy(uintptr_t ctx, uintptr_t h) {
	VG_CTX(ctx);
	return VG_F(cudnnDestroy)((vg_dnn_t)h);
}
static inline int vg_cudnnSetStream(uintptr_t ctx, uintptr_t h, uintptr_t s) {
	VG_CTX(ctx);
	return VG_F(cudnnSetStream)((vg_dnn_t)h, (vg_stream_t)s);
}

// Descriptors live in host memory and need no context.
static inline int vg_cudnnNewTensor4d(uintptr_t *t, int n, int c, int h, int w) {
	vg_tensor_t d = NULL;
	int r = VG_F(cudnnCreateTensorDescriptor)(&d);
	if (r != 0) {
		return r;
	}
	r = VG_F(cudnnSetTensor4dDescriptor)(d, (vg_cudnnTensorFormat_t)0 /* CUDNN_TENSOR_NCHW */,
		(vg_cudnnDataType_t)0 /* CUDNN_DATA_FLOAT */, n, c, h, w);
	if (r != 0) {
		VG_F(cudnnDestroyTensorDescriptor)(d);
		return r;
	}
	*t = (uintptr_t)d;
	return 0;
}
static inline int vg_cudnnDestroyTensor(uintptr_t t) { return VG_F(cudnnDestroyTensorDescriptor)((vg_tensor_t)t); }
static inline int vg_cudnnNewFilter4d(uintptr_t *f, int k, int c, int h, int w) {
	vg_filter_t d = NULL;
	int r = VG_F(cudnnCreateFilterDescriptor)(&d);
	if (r != 0) {
		return r;
	}
	r = VG_F(cudnnSetFilter4dDescriptor)(d, (vg_cudnnDataType_t)0 /* CUDNN_DATA_FLOAT */,
		(vg_cudnnTensorFormat_t)0 /* CUDNN_TENSOR_NCHW */, k, c, h, w);
	if (r != 0) {
		VG_F(cudnnDestroyFilterDescriptor)(d);
		return r;
	}
	*f = (uintptr_t)d;
	return 0;
}
static inline int vg_cudnnDestroyFilter(uintptr_t f) { return VG_F(cudnnDestroyFilterDescriptor)((vg_filter_t)f); }
static inline int vg_cudnnNewConv2d(uintptr_t *cd, int padh, int padw, int u, int v, int dh, int dw, int math) {
	vg_conv_t d = NULL;
	int r = VG_F(cudnnCreateConvolutionDescriptor)(&d);
	if (r != 0) {
		return r;
	}
	r = VG_F(cudnnSetConvolution2dDescriptor)(d, padh, padw, u, v, dh, dw,
		(vg_cudnnConvolutionMode_t)1 /* CUDNN_CROSS_CORRELATION */, (vg_cudnnDataType_t)0 /* CUDNN_DATA_FLOAT */);
	if (r == 0) {
		r = VG_F(cudnnSetConvolutionMathType)(d, (vg_cudnnMathType_t)math);
	}
	if (r != 0) {
		VG_F(cudnnDestroyConvolutionDescriptor)(d);
		return r;
	}
	*cd = (uintptr_t)d;
	return 0;
}
static inline int vg_cudnnSetConvMath(uintptr_t cd, int math) {
	return VG_F(cudnnSetConvolutionMathType)((vg_conv_t)cd, (vg_cudnnMathType_t)math);
}
static inline int vg_cudnnDestroyConv(uintptr_t cd) { return VG_F(cudnnDestroyConvolutionDescriptor)((vg_conv_t)cd); }
static inline int vg_cudnnConvOutputDim(uintptr_t cd, uintptr_t x, uintptr_t w, int *n, int *c, int *h, int *wd) {
	return VG_F(cudnnGetConvolution2dForwardOutputDim)((vg_conv_t)cd, (vg_tensor_t)x, (vg_filter_t)w, n, c, h, wd);
}

// Convolution kinds for the algorithm and workspace queries.
#define VG_CONV_FWD 0
#define VG_CONV_BWD_DATA 1
#define VG_CONV_BWD_FILTER 2

// vg_cudnnConvAlgoMax returns the number of algorithms of a kind.
static inline int vg_cudnnConvAlgoMax(uintptr_t ctx, uintptr_t h, int kind, int *n) {
	VG_CTX(ctx);
	*n = kind == VG_CONV_FWD ? 8 : kind == VG_CONV_BWD_DATA ? 6 : 7; // CUDNN_CONVOLUTION_*_ALGO_COUNT
	int idx = kind == VG_CONV_FWD        ? VG_cudnnGetConvolutionForwardAlgorithmMaxCount
		  : kind == VG_CONV_BWD_DATA ? VG_cudnnGetConvolutionBackwardDataAlgorithmMaxCount
					     : VG_cudnnGetConvolutionBackwardFilterAlgorithmMaxCount;
	if (vg_fn[idx] == NULL) {
		return 0;
	}
	return ((pf_cudnnGetConvolutionForwardAlgorithmMaxCount)vg_fn[idx])((vg_dnn_t)h, n);
}

// vg_cudnnConvAlgos ranks algorithms for a convolution: with find set it
// times them (cudnnFind*, which allocates memory itself), otherwise it asks
// the heuristics (cudnnGet*_v7). a, b, c are, for the forward pass, x, w, y;
// for backward data, w, dy, dx; for backward filter, x, dy, dw.
static inline int vg_cudnnConvAlgos(uintptr_t ctx, uintptr_t h, int kind, int find, uintptr_t a, uintptr_t b,
	uintptr_t conv, uintptr_t c, int requested, int *returned, struct vg_algoPerf *perf) {
	VG_CTX(ctx);
	vg_dnn_t d = (vg_dnn_t)h;
	vg_conv_t cd = (vg_conv_t)conv;
	switch (kind) {
	case VG_CONV_FWD:
		if (find) {
			return VG_F(cudnnFindConvolutionForwardAlgorithm)(d, (vg_tensor_t)a, (vg_filter_t)b, cd,
				(vg_tensor_t)c, requested, returned, (vg_fwdPerf *)perf);
		}
		return VG_F(cudnnGetConvolutionForwardAlgorithm_v7)(d, (vg_tensor_t)a, (vg_filter_t)b, cd,
			(vg_tensor_t)c, requested, returned, (vg_fwdPerf *)perf);
	case VG_CONV_BWD_DATA:
		if (find) {
			return VG_F(cudnnFindConvolutionBackwardDataAlgorithm)(d, (vg_filter_t)a, (vg_tensor_t)b, cd,
				(vg_tensor_t)c, requested, returned, (vg_bwdDataPerf *)perf);
		}
		return VG_F(cudnnGetConvolutionBackwardDataAlgorithm_v7)(d, (vg_filter_t)a, (vg_tensor_t)b, cd,
			(vg_tensor_t)c, requested, returned, (vg_bwdDataPerf *)perf);
	default:
		if (find) {
			return VG_F(cudnnFindConvolutionBackwardFilterAlgorithm)(d, (vg_tensor_t)a, (vg_tensor_t)b, cd,
				(vg_filter_t)c, requested, returned, (vg_bwdFilterPerf *)perf);
		}
		return VG_F(cudnnGetConvolutionBackwardFilterAlgorithm_v7)(d, (vg_tensor_t)a, (vg_tensor_t)b, cd,
			(vg_filter_t)c, requested, returned, (vg_bwdFilterPerf *)perf);
	}
}

static inline int vg_cudnnConvWorkspace(uintptr_t ctx, uintptr_t h, int kind, uintptr_t a, uintptr_t b,
	uintptr_t conv, uintptr_t c, int algo, size_t *size) {
	VG_CTX(ctx);
	vg_dnn_t d = (vg_dnn_t)h;
	vg_conv_t cd = (vg_conv_t)conv;
	switch (kind) {
	case VG_CONV_FWD:
		return VG_F(cudnnGetConvolutionForwardWorkspaceSize)(d, (vg_tensor_t)a, (vg_filter_t)b, cd,
			(vg_tensor_t)c, (vg_cudnnConvolutionFwdAlgo_t)algo, size);
	case VG_CONV_BWD_DATA:
		return VG_F(cudnnGetConvolutionBackwardDataWorkspaceSize)(d, (vg_filter_t)a, (vg_tensor_t)b, cd,
			(vg_tensor_t)c, (vg_cudnnConvolutionBwdDataAlgo_t)algo, size);
	default:
		return VG_F(cudnnGetConvolutionBackwardFilterWorkspaceSize)(d, (vg_tensor_t)a, (vg_tensor_t)b, cd,
			(vg_filter_t)c, (vg_cudnnConvolutionBwdFilterAlgo_t)algo, size);
	}
}

// Scaling factors are float for float data; the trampolines hold them in
// locals so that cuDNN reads host memory that lives for the whole call.
static inline int vg_cudnnConvForward(uintptr_t ctx, uintptr_t h, float alpha, uintptr_t xd, vg_devptr x,
	uintptr_t wd, vg_devptr w, uintptr_t conv, int algo, vg_devptr ws, size_t wsBytes, float beta, uintptr_t yd,
	vg_devptr y) {
	VG_CTX(ctx);
	return VG_F(cudnnConvolutionForward)((vg_dnn_t)h, &alpha, (vg_tensor_t)xd, VG_PTR(x), (vg_filter_t)wd,
		VG_PTR(w), (vg_conv_t)conv, (vg_cudnnConvolutionFwdAlgo_t)algo, VG_PTR(ws), wsBytes, &beta,
		(vg_tensor_t)yd, VG_PTR(y));
}
static inline int vg_cudnnConvBackwardData(uintptr_t ctx, uintptr_t h, float alpha, uintptr_t wd, vg_devptr w,
	uintptr_t dyd, vg_devptr dy, uintptr_t conv, int algo, vg_devptr ws, size_t wsBytes, float beta, uintptr_t dxd,
	vg_devptr dx) {
	VG_CTX(ctx);
	return VG_F(cudnnConvolutionBackwardData)((vg_dnn_t)h, &alpha, (vg_filter_t)wd, VG_PTR(w), (vg_tensor_t)dyd,
		VG_PTR(dy), (vg_conv_t)conv, (vg_cudnnConvolutionBwdDataAlgo_t)algo, VG_PTR(ws), wsBytes, &beta,
		(vg_tensor_t)dxd, VG_PTR(dx));
}
static inline int vg_cudnnConvBackwardFilter(uintptr_t ctx, uintptr_t h, float alpha, uintptr_t xd, vg_devptr x,
	uintptr_t dyd, vg_devptr dy, uintptr_t conv, int algo, vg_devptr ws, size_t wsBytes, float beta, uintptr_t dwd,
	vg_devptr dw) {
	VG_CTX(ctx);
	return VG_F(cudnnConvolutionBackwardFilter)((vg_dnn_t)h, &alpha, (vg_tensor_t)xd, VG_PTR(x), (vg_tensor_t)dyd,
		VG_PTR(dy), (vg_conv_t)conv, (vg_cudnnConvolutionBwdFilterAlgo_t)algo, VG_PTR(ws), wsBytes, &beta,
		(vg_filter_t)dwd, VG_PTR(dw));
}
static inline int vg_cudnnConvBackwardBias(uintptr_t ctx, uintptr_t h, float alpha, uintptr_t dyd, vg_devptr dy,
	float beta, uintptr_t dbd, vg_devptr db) {
	VG_CTX(ctx);
	return VG_F(cudnnConvolutionBackwardBias)((vg_dnn_t)h, &alpha, (vg_tensor_t)dyd, VG_PTR(dy), &beta,
		(vg_tensor_t)dbd, VG_PTR(db));
}

#endif // VG_CUDA_H
