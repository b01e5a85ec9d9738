// emucuda.h: the internals shared by the emulated GPU's translation units.
//
// The emulated GPU (libemucuda.so, with libcuda.so.1, libcublas.so.12,
// libcudnn.so.9 and their companions as shims that need it) stands in for
// the CUDA driver, cuBLAS and cuDNN in package gpu's tests, and does the work
// it is asked for on the host:
//
//   - device memory is host memory at the address the device pointer
//     names, each allocation between guard pages (see memory.cpp), so that an
//     access outside it faults and is reported as CUDA would report it, a
//     sticky CUDA_ERROR_ILLEGAL_ADDRESS, with a message naming the call;
//     copies and the cuBLAS and cuDNN operands are checked before use;
//   - work issued to a stream is queued and runs, in order, when something
//     waits for it (driver.cpp), as on a GPU a host that forgets to wait
//     reads stale memory;
//   - kernels are those of kernels.cu built for the host (kernels.cpp),
//     run over the grid and block they were launched with;
//   - cuBLAS's SGEMM (blas.cpp) and cuDNN's convolutions (dnn.cpp) compute
//     in float32 with the arguments they are given;
//   - stream capture records the calls and a graph launch replays them,
//     reading the memory of replay time.
//
// Anything package gpu can call that the emulation does not do fails with an
// error status and a line on stderr starting "emucuda: ".
#ifndef EMUCUDA_H
#define EMUCUDA_H

#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#define EMU_API extern "C" __attribute__((visibility("default")))

// CUresult values the emulation returns.
enum {
	CUDA_SUCCESS = 0,
	CUDA_ERROR_INVALID_VALUE = 1,
	CUDA_ERROR_OUT_OF_MEMORY = 2,
	CUDA_ERROR_NOT_INITIALIZED = 3,
	CUDA_ERROR_NO_DEVICE = 100,
	CUDA_ERROR_INVALID_DEVICE = 101,
	CUDA_ERROR_INVALID_CONTEXT = 201,
	CUDA_ERROR_INVALID_PTX = 218,
	CUDA_ERROR_INVALID_HANDLE = 400,
	CUDA_ERROR_NOT_FOUND = 500,
	CUDA_ERROR_NOT_READY = 600,
	CUDA_ERROR_ILLEGAL_ADDRESS = 700,
	CUDA_ERROR_LAUNCH_FAILED = 719,
	CUDA_ERROR_NOT_SUPPORTED = 801,
	CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED = 900,
	CUDA_ERROR_STREAM_CAPTURE_INVALIDATED = 901,
	CUDA_ERROR_STREAM_CAPTURE_WRONG_THREAD = 908,
	CUDA_ERROR_STREAM_CAPTURE_IMPLICIT = 906,
};

// emu_log prints one line to stderr, prefixed "emucuda: ".
void emu_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
std::string emu_sprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

// ---- device memory (memory.cpp) ----

struct EmuAlloc {
	uintptr_t start; // the device pointer
	size_t bytes;    // as asked
	size_t padded;   // bytes rounded up to 4: the data's end, at the guard page
	uintptr_t pages; // the first page of the readable region
	size_t npages;   // its length in bytes
	uint64_t id;     // 1, 2, ... in allocation order
	bool live;
	std::string freed_by; // the call that freed it
};

// emu_mem_alloc returns a new allocation's start, 0 when out of memory.
uintptr_t emu_mem_alloc(size_t bytes);
// emu_mem_free frees the allocation starting at p; false if there is none.
bool emu_mem_free(uintptr_t p, const char *call);
// emu_mem_find returns the allocation (live or freed) whose guarded region
// holds p, or nullptr.
const EmuAlloc *emu_mem_find(uintptr_t p);
// emu_mem_check returns "" if [p, p+bytes) lies inside one live allocation,
// else a description of where it lies.
std::string emu_mem_check(uintptr_t p, size_t bytes);
// emu_mem_where describes address p: the allocation it is in or near.
std::string emu_mem_where(uintptr_t p);
// emu_mem_canaries returns "" if the padding around the live allocation
// holding p is intact, else what was overwritten.
std::string emu_mem_canaries(uintptr_t p);
size_t emu_mem_live_bytes();
size_t emu_mem_total_bytes();
// emu_mem_reset frees every live allocation (the context was destroyed).
void emu_mem_reset();

// ---- execution (driver.cpp) ----

// EmuFault is thrown by an operation that found an illegal access before
// making it: the device then reports CUDA_ERROR_ILLEGAL_ADDRESS.
struct EmuFault {
	std::string msg;
};

// emu_require throws EmuFault unless [p, p+bytes) lies in one live
// allocation; what names the operand (the executor adds the call).
void emu_require(const char *what, uintptr_t p, size_t bytes);

// EmuOp is one piece of device work: run does it; what describes it for
// error messages.
struct EmuOp {
	std::function<void()> run;
	std::function<std::string()> what;
};

struct EmuStream;

// emu_mu guards all emulator state; every API function holds it.
extern std::mutex emu_mu;

// emu_stream resolves a stream handle (nullptr and CU_STREAM_LEGACY name the
// legacy stream); it sets *ok to false for an unknown handle.
EmuStream *emu_stream(void *handle, bool *ok);

// emu_stream_capturing reports whether s is recording a graph.
bool emu_stream_capturing(EmuStream *s);

// emu_submit queues op on stream s (or records it, if s is capturing; or
// runs it at once on the legacy stream). It returns a CUresult: the sticky
// error, or CUDA_ERROR_STREAM_CAPTURE_* for work that cannot be captured.
int emu_submit(EmuStream *s, EmuOp op);

// emu_ctx_check returns CUDA_SUCCESS if the primary context is current on
// this thread and has no sticky error.
int emu_ctx_check(const char *call);

// emu_sticky is the context's sticky error (0 if none).
int emu_sticky();

// emu_runtime_hold takes the CUDA runtime's own retain of the primary
// context, once per process (cuBLAS and cuDNN handles call it; see
// driver.cpp); the caller holds the emulator's lock.
void emu_runtime_hold();

// ---- kernels (kernels.cpp) ----

// EmuKernel is one kernel of kernels.cu as kernel_table.inc describes it.
struct EmuKernel {
	const char *name;
	void (*run)(const uint64_t *args); // one thread: unpack args, call the kernel
	int nparams;
	const int *sizes;    // bytes of each parameter
	const char *kinds;   // 'p' pointer, 'i' signed, 'u' unsigned, 'f' float, 'd' double
	const char *const *pnames; // parameter names, for messages
};
const EmuKernel *emu_kernel(const char *name);
int emu_nkernels();
const EmuKernel *emu_kernel_at(int i);
const char *emu_kernels_sha256();

// emu_run_kernel runs k on grid×block threads with args (one 8-byte slot
// per parameter), throwing EmuFault on a barrier misuse. A memory fault
// inside the kernel is caught by the executor (driver.cpp).
void emu_run_kernel(const EmuKernel *k, unsigned grid, unsigned block, const uint64_t *args);
// emu_kernel_position describes the block and thread running, for faults.
std::string emu_kernel_position();
// emu_fiber_reset forgets the fibers of a kernel abandoned by a fault.
void emu_fiber_reset();
// emu_fiber_guard reports whether p lies in a fiber stack's guard page.
bool emu_fiber_guard(uintptr_t p);

// ---- arithmetic (arith.cpp) ----

// emu_product computes, for i < m and j < n,
//
//	out[i + j·ldo] = (accumulate ? out[i + j·ldo] : 0) + Σ_{p<kdim} A[i + p·lda]·B[p·bsp + j·bsj]
//
// each element a float32 sum over p in order, products rounded before they
// are added (no fused multiply-add), whatever the vector width.
void emu_product(int m, int n, int kdim, const float *A, size_t lda, const float *B, size_t bsp, size_t bsj, float *out,
	size_t ldo, bool accumulate);

// ---- cuBLAS and cuDNN helpers ----

// emu_library_stream resolves stream handle s for a cuBLAS or cuDNN handle
// bound to it: 0, or CUDA_ERROR_INVALID_HANDLE for an unknown stream.
int emu_library_stream(void *s, EmuStream **out);

#endif
