// emu.h runs kernels.cu on the host: just enough of CUDA (vector types,
// thread and block indices, __syncthreads, double math from the C library)
// to execute each kernel on the CPU. Two users:
//
//   - gpu.TestKernelsOnHost (main.cpp): a launch runs its blocks one after
//     another, each block's threads as std::threads meeting at a
//     std::barrier, so __shared__ can be a static.
//   - the emulated GPU (testdata/emucuda, built with EMU_FIBERS defined),
//     which runs a block's threads as fibers on one OS thread and provides
//     threadIdx, blockIdx, blockDim, gridDim and __syncthreads itself.
#include <cmath>
#include <cstdint>
#include <cstring>

struct uint4 {
	unsigned x, y, z, w;
};
struct uint2 {
	unsigned x, y;
};
static inline uint4 make_uint4(unsigned a, unsigned b, unsigned c, unsigned d) { return {a, b, c, d}; }
static inline uint2 make_uint2(unsigned a, unsigned b) { return {a, b}; }
struct dim3 {
	unsigned x = 1, y = 1, z = 1;
};
static inline float __int_as_float(int i) {
	float f;
	memcpy(&f, &i, 4);
	return f;
}
#define __global__
#define __device__
#define __shared__ static
using std::exp;
using std::fabs;
using std::fmax;
using std::log;
using std::pow;
using std::signbit;
using std::sqrt;

#ifdef EMU_FIBERS
// One block runs at a time, on one OS thread, so the indices are plain
// globals that the fiber scheduler sets before it resumes a thread.
extern dim3 threadIdx, blockIdx, blockDim, gridDim;
void __syncthreads();
#else
#include <barrier>
#include <functional>
#include <thread>
#include <vector>

thread_local dim3 threadIdx, blockIdx;
dim3 blockDim, gridDim;
std::barrier<> *emu_barrier;
static inline void __syncthreads() { emu_barrier->arrive_and_wait(); }

// launch runs f as grid blocks of block threads.
static void launch(unsigned grid, unsigned block, const std::function<void()> &f) {
	gridDim.x = grid;
	blockDim.x = block;
	for (unsigned b = 0; b < grid; b++) {
		std::barrier<> bar(block);
		emu_barrier = &bar;
		std::vector<std::thread> ts;
		for (unsigned t = 0; t < block; t++)
			ts.emplace_back([&f, b, t] {
				blockIdx.x = b;
				threadIdx.x = t;
				f();
			});
		for (auto &t : ts)
			t.join();
	}
}
#endif
