// Package cuda is vatgpu's bindings to the CUDA driver API, cuBLAS and
// cuDNN: the C declarations (vg_cuda.h), the library search and load
// report, the error tables, and a Device with its memory, streams, events,
// graphs, modules and the cuBLAS and cuDNN calls package gpu's backend
// makes. Package gpu holds the backend itself (layers.Backend on a GPU),
// its kernel table and PTX; it calls no C.
//
// # Loading
//
// The package has its own bindings: vg_cuda.h declares the few types,
// enums (as ints) and functions it uses, and the libraries are opened with
// dlopen at run time, on first use (Open or Probe), never in init. Building
// needs no CUDA header or library, only a C compiler; one binary runs with
// CUDA 11.8 to 13.x and cuDNN 8 or 9. Without cgo (CGO_ENABLED=0) the
// package still builds, and Open and Probe say it was built without cgo.
//
// Each library is looked for in this order, newest soname first within
// each place, and the first candidate that loads with every required
// symbol is used:
//
//  1. the folders of VATGPU_CUDA_PATH (colon-separated);
//  2. the system loader (dlopen of the bare soname: LD_LIBRARY_PATH,
//     ld.so.cache, ...);
//  3. /usr/local/cuda/lib64 and /usr/local/cuda*/lib64;
//  4. the nvidia/*/lib folders of Python site-packages (the pip wheels
//     PyTorch installs, e.g. nvidia/cublas/lib, nvidia/cudnn/lib,
//     nvidia/cu13/lib) under $VIRTUAL_ENV, $CONDA_PREFIX, the prefixes
//     of the python3 programs on PATH (a virtualenv such as
//     /opt/torch/.venv, found from its bin/ folder without running
//     Python), ~/.local, the usual system prefixes, /opt/*/.venv and
//     $PYTHONPATH.
//
// The sonames are libcuda.so.1; libcublas.so.13, .12, .11 (with the
// libcublasLt of the same version preloaded from the same folder); and
// libcudnn.so.9, .8 (with its sub-libraries preloaded from the same folder
// with RTLD_GLOBAL, since libcudnn.so.9 dlopens them by soname). Probe
// reports every file loaded. What cuDNN loads later on its own by soname
// (NVRTC, for its runtime-compiled engines) is found only where the loader
// looks: in a pip-wheel installation, set LD_LIBRARY_PATH before starting
// the program to what Report.LibraryPath lists (`vatgpu devices
// --ld-library-path` prints it); the loader reads it only at start. Driver symbols are looked up by their
// explicitly versioned names (cuMemAlloc_v2, ...), the ABI every newer
// driver keeps.
//
// # Conventions
//
// Conditions of the world return errors: missing libraries or GPU, and
// every failed CUDA, cuBLAS or cuDNN call, as an *Error naming the call and
// the status, e.g.
//
//	gpu: cuMemAlloc_v2(4096 bytes): CUDA_ERROR_OUT_OF_MEMORY: out of memory
//
// Programmer errors panic with a "gpu: " message: negative sizes, gemm
// leading dimensions too small, kernel arguments of the wrong type, copies
// outside the allocation they start in, freeing a pointer the Device did
// not allocate. Nothing panics or exits because a library or a GPU is
// missing.
//
// A Device owns a primary context, one stream, a cuBLAS handle and a cuDNN
// handle bound to that stream, and everything made through it
// (allocations, modules, graphs, events, cuDNN descriptors): Device.Close
// frees them all, so an error path needs only that one call. The package
// holds no devices or handles in globals; the only global state is the
// table of library functions, filled once per process.
//
// All work is issued to the device's stream and runs asynchronously, in
// order. The stream is non-blocking (CU_STREAM_NON_BLOCKING): it does not
// wait for the legacy default stream, so a library that queues work there
// while the stream records a graph cannot invalidate the capture. The
// synchronous copies (Device.Upload*, Device.Download*) order themselves
// with the stream and wait for it: Upload* queues its copy there and
// waits, Download* waits for the work before it, then copies.
// Goroutines may call a Device from any OS thread: each call makes the
// device's context current on its thread first.
//
// Matrices are row-major and tensors dense NCHW float32, like the CPU
// backend. cuBLAS and cuDNN calls follow the BLAS rule y = alpha*op(x) +
// beta*y: beta = 0 assigns, beta = 1 accumulates. Arithmetic is IEEE fp32
// unless SetMathMode(MathTF32) is asked for.
//
// Kernels are launched with Stream.Launch, whose arguments must have
// exactly the kernel's parameter types (int32, uint32, int64, uint64,
// float32, float64 or DevicePtr); they are copied into C memory, never
// passed as Go pointers. Work can be recorded into a CUDA graph with
// Stream.BeginCapture and Stream.EndCapture and replayed with Graph.Launch.
package cuda
