// Package gpu runs vatgpu's computations on an NVIDIA GPU: Backend is
// layers.Backend over package gpu/cuda's bindings (the CUDA driver API,
// cuBLAS, cuDNN, loaded at run time) and the kernels of kernels.cu,
// compiled to the embedded kernels.ptx. The kernel table (kernels.go)
// names each kernel and its parameters, checked against the PTX; every op
// of layers.Backend has its CPU twin of the same name in layers/cpu.go.
//
// Conditions of the world (no GPU, a failed CUDA call) are errors, and an
// op that fails on the device records the first error, after which the
// backend's ops do nothing and Sync or Err return it; programmer errors
// (buffers of the wrong size or kind, kernel arguments of the wrong type)
// panic with a "gpu: " message.
//
// # CUDA graphs
//
// Backend.Capture records a training step as a CUDA graph once and replays
// it. If a recording fails, the backend says so in one line on stderr (or
// to Options.Warn), records no error, and runs every later step without
// graphs; the step whose recording failed was already computed by the
// ordinary run that precedes each recording. VATGPU_GRAPHS=off in the
// environment (or Options.NoGraphs) runs without graphs from the start,
// VATGPU_GRAPHS=on (the default) with them; any other value makes
// NewBackend fail.
//
// # Tests
//
// Tests that need a GPU skip with "gpu: no usable GPU: <reason>" where
// there is none. emu_test.go runs the backend end to end on an emulated
// GPU (internal/emucuda: the driver, cuBLAS and cuDNN done on the host,
// with kernels.cu built for it) in a child process, and the GPU tests that
// the emulation can serve with it. gpu/cuda's verify_test.go compiles vg_cuda.h
// (embedded in the test binary) against NVIDIA's real headers when they
// are installed, in the CUDA folders or the pip wheels' include folders
// (or named by VATGPU_CUDA_INCLUDE), which checks every function-pointer
// type, enum value, struct layout and the status names the headers define.
package gpu
