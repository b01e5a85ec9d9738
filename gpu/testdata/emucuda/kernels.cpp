// kernels.cpp: kernels.cu built for the host (through emu.h, as
// gpu.TestKernelsOnHost builds it) and the scheduler that runs a launch.
//
// A launch runs its blocks one after another. A block's threads run as
// fibers on the calling OS thread, one at a time: the first fiber runs
// threads 0, 1, 2, ... to completion, one after another, until one calls
// __syncthreads; that thread's fiber is parked and a new fiber goes on with
// the next thread. When every thread has either finished or reached the
// barrier, the parked threads are resumed in order, each until its next
// barrier or its end. A kernel without barriers thus costs one function
// call per thread; one with barriers one fiber per thread.
//
// A block in which some threads return while others wait at a barrier, or
// whose threads wait at different __syncthreads calls, is reported as an
// error after the launch (on a GPU it hangs or misbehaves).
//
// kernel_table.inc, generated from kernels.cu's signatures by
// internal/emucuda, unpacks each kernel's parameters from the launch's
// 8-byte slots with the kernel's own parameter types.
#define EMU_FIBERS
#include "emucuda.h"

#include "emu.h"
#include "kernels.cu"

#include <sys/mman.h>
#include <unistd.h>
#if !defined(__x86_64__)
#include <ucontext.h>
#endif

dim3 threadIdx, blockIdx, blockDim, gridDim;

template <class T> static inline T emu_arg(const uint64_t *a, int i) {
	T v;
	memcpy(&v, &a[i], sizeof v);
	return v;
}

#include "kernel_table.inc"

const EmuKernel *emu_kernel(const char *name) {
	for (const EmuKernel &k : emu_table) {
		if (strcmp(k.name, name) == 0) {
			return &k;
		}
	}
	return nullptr;
}
int emu_nkernels() { return (int)(sizeof emu_table / sizeof emu_table[0]); }
const EmuKernel *emu_kernel_at(int i) { return &emu_table[i]; }
const char *emu_kernels_sha256() { return EMU_KERNELS_SHA256; }

// ---- fibers -----------------------------------------------------------------------

#if defined(__x86_64__)
// emu_swap saves the callee-saved registers, MXCSR and the x87 control word
// on the current stack, stores the stack pointer in *save and resumes the
// context whose stack pointer is load. emu_fiber_entry starts a fiber:
// r13 holds the function, r12 its argument.
extern "C" void emu_swap(void **save, void *load);
extern "C" void emu_fiber_entry();
asm(R"(
	.text
	.p2align 4
	.globl emu_swap
	.hidden emu_swap
	.type emu_swap, @function
emu_swap:
	pushq %rbp
	pushq %rbx
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	subq $8, %rsp
	stmxcsr (%rsp)
	fnstcw 4(%rsp)
	movq %rsp, (%rdi)
	movq %rsi, %rsp
	ldmxcsr (%rsp)
	fldcw 4(%rsp)
	addq $8, %rsp
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %rbx
	popq %rbp
	ret
	.size emu_swap, .-emu_swap

	.p2align 4
	.globl emu_fiber_entry
	.hidden emu_fiber_entry
	.type emu_fiber_entry, @function
emu_fiber_entry:
	movq %r12, %rdi
	callq *%r13
	ud2
	.size emu_fiber_entry, .-emu_fiber_entry
)");
#endif

namespace {

const unsigned maxThreads = 1024;
const size_t stackBytes = 256 << 10;

struct Fiber {
	char *guard; // the inaccessible page below the stack
	char *top;
	unsigned tid;
#if defined(__x86_64__)
	void *sp;
#else
	ucontext_t uc;
#endif
};

Fiber fibers[maxThreads];
unsigned made;
size_t page;
#if defined(__x86_64__)
void *schedSP;
#else
ucontext_t schedUC;
#endif

// The block being run.
const EmuKernel *K;
const uint64_t *A;
unsigned blockSize, nextTid, exited, arrived, started, nwait;
void *site;
Fiber *cur;
Fiber *waiting[maxThreads], *runlist[maxThreads];
std::string blockErr;
bool inKernel;

void fiberMain(void *p) {
	Fiber *f = (Fiber *)p;
	while (nextTid < blockSize) {
		unsigned t = nextTid++;
		f->tid = t;
		threadIdx.x = t;
		K->run(A);
		exited++;
	}
	// Done: back to the scheduler, never to be resumed.
#if defined(__x86_64__)
	emu_swap(&f->sp, schedSP);
#else
	swapcontext(&f->uc, &schedUC);
#endif
}

#if !defined(__x86_64__)
void fiberMainUC() { fiberMain(cur); }
#endif

Fiber *fiberAt(unsigned i) {
	if (page == 0) {
		page = (size_t)sysconf(_SC_PAGESIZE);
	}
	while (made <= i) {
		char *m = (char *)mmap(nullptr, stackBytes + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (m == MAP_FAILED) {
			emu_log("cannot allocate a fiber stack");
			abort();
		}
		mprotect(m, page, PROT_NONE);
		fibers[made].guard = m;
		fibers[made].top = m + page + stackBytes;
		made++;
	}
	return &fibers[i];
}

// start begins a fresh fiber running fiberMain and switches to it.
void start(Fiber *f) {
	cur = f;
#if defined(__x86_64__)
	uint32_t mxcsr;
	uint16_t fcw;
	asm volatile("stmxcsr %0" : "=m"(mxcsr));
	asm volatile("fnstcw %0" : "=m"(fcw));
	uint64_t *sp = (uint64_t *)(f->top - 64);
	sp[0] = (uint64_t)mxcsr | (uint64_t)fcw << 32;
	sp[1] = 0;                   // r15
	sp[2] = 0;                   // r14
	sp[3] = (uint64_t)fiberMain; // r13
	sp[4] = (uint64_t)f;         // r12
	sp[5] = 0;                   // rbx
	sp[6] = 0;                   // rbp
	sp[7] = (uint64_t)emu_fiber_entry;
	f->sp = sp;
	emu_swap(&schedSP, f->sp);
#else
	getcontext(&f->uc);
	f->uc.uc_stack.ss_sp = f->guard + page;
	f->uc.uc_stack.ss_size = stackBytes;
	f->uc.uc_link = nullptr;
	makecontext(&f->uc, fiberMainUC, 0);
	swapcontext(&schedUC, &f->uc);
#endif
}

void resume(Fiber *f) {
	cur = f;
	threadIdx.x = f->tid;
#if defined(__x86_64__)
	emu_swap(&schedSP, f->sp);
#else
	swapcontext(&schedUC, &f->uc);
#endif
}

void runBlock(unsigned b) {
	blockIdx.x = b;
	nextTid = exited = arrived = started = nwait = 0;
	site = nullptr;
	for (;;) {
		if (nextTid < blockSize) {
			start(fiberAt(started++));
			continue;
		}
		if (nwait == 0) {
			return;
		}
		if (exited > 0 && blockErr.empty()) {
			blockErr = emu_sprintf("block %u: %u of its %u threads returned while the others wait at __syncthreads", b,
				exited, blockSize);
		}
		unsigned n = nwait;
		memcpy(runlist, waiting, n * sizeof waiting[0]);
		nwait = arrived = 0;
		site = nullptr;
		for (unsigned i = 0; i < n; i++) {
			resume(runlist[i]);
		}
	}
}

} // namespace

#if defined(__GNUC__) && !defined(__clang__)
__attribute__((noinline, noipa))
#else
__attribute__((noinline))
#endif
void __syncthreads() {
	void *s = __builtin_return_address(0);
	if (arrived == 0) {
		site = s;
	} else if (s != site && blockErr.empty()) {
		blockErr = emu_sprintf("block %u: threads wait at different __syncthreads calls", blockIdx.x);
	}
	arrived++;
	Fiber *f = cur;
	waiting[nwait++] = f;
#if defined(__x86_64__)
	emu_swap(&f->sp, schedSP);
#else
	swapcontext(&f->uc, &schedUC);
#endif
}

void emu_run_kernel(const EmuKernel *k, unsigned grid, unsigned block, const uint64_t *args) {
	K = k;
	A = args;
	blockSize = block;
	gridDim.x = grid;
	blockDim.x = block;
	threadIdx = blockIdx = dim3();
	blockErr.clear();
	inKernel = true;
	for (unsigned b = 0; b < grid; b++) {
		runBlock(b);
	}
	inKernel = false;
	if (!blockErr.empty()) {
		throw EmuFault{blockErr};
	}
}

std::string emu_kernel_position() {
	if (!inKernel) {
		return "";
	}
	return emu_sprintf("(block %u, thread %u)", blockIdx.x, threadIdx.x);
}

void emu_fiber_reset() {
	inKernel = false;
	nwait = arrived = 0;
}

bool emu_fiber_guard(uintptr_t p) {
	for (unsigned i = 0; i < made; i++) {
		if (p >= (uintptr_t)fibers[i].guard && p < (uintptr_t)fibers[i].guard + page) {
			return true;
		}
	}
	return false;
}
