// driver.cpp: the emulated CUDA driver (libcuda.so.1's functions): one
// device, its primary context, streams, events, modules, kernel launches,
// stream capture and graphs, and the executor that runs queued work.
//
// Work issued to a stream is queued, not run: it runs in issue order when
// the host waits for it (cuStreamSynchronize, cuCtxSynchronize,
// cuEventSynchronize), when the legacy default stream is used (its work
// waits for every blocking stream's, as CUDA's does; non-blocking streams
// are not waited for), or when a stream's queue grows long. A host that
// forgets to wait therefore reads memory the device has not written yet.
//
// A fault while running work (an access outside device memory, caught as
// SIGSEGV on the guard pages, or an operand found outside its allocation)
// makes the context's error sticky, as on a GPU: every later call returns
// CUDA_ERROR_ILLEGAL_ADDRESS, and cuGetErrorString gives the emulator's
// description of the fault, naming the call and the address. Releasing the
// primary context (cuDevicePrimaryCtxRelease_v2 to zero) destroys it and
// everything in it; the next retain starts a fresh one. But as on a GPU,
// where the CUDA runtime inside cuBLAS and cuDNN retains the primary
// context for itself and keeps it until cudaDeviceReset, the first
// cublasCreate_v2 or cudnnCreate takes a hold of its own that no release
// gives back (for the process's life): only cuDevicePrimaryCtxReset_v2 then
// clears the context (and a sticky error with it).
#include "emucuda.h"

#include <chrono>
#include <csetjmp>
#include <csignal>
#include <cstdarg>
#include <cstring>
#include <deque>
#include <map>
#include <set>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

std::mutex emu_mu;

void emu_log(const char *fmt, ...) {
	char buf[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	fprintf(stderr, "emucuda: %s\n", buf);
	fflush(stderr);
}

std::string emu_sprintf(const char *fmt, ...) {
	va_list ap;
	va_start(ap, fmt);
	char *s = nullptr;
	int n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0) {
		return "?";
	}
	std::string out(s, (size_t)n);
	free(s);
	return out;
}

// ---- the context ----------------------------------------------------------

struct EmuStream {
	unsigned flags = 0; // 1: CU_STREAM_NON_BLOCKING
	bool legacy = false;
	std::deque<EmuOp> queue;
	bool capturing = false;
	bool capInvalid = false;
	std::string capWhy;
	std::shared_ptr<std::vector<EmuOp>> cap;
};

struct EmuEvent {
	bool recorded = false;
	bool done = false;
	EmuStream *stream = nullptr;
	double t = 0; // seconds, host clock, when the stream reached it
};

struct EmuModule;
struct EmuFunction {
	EmuModule *m;
	const EmuKernel *k;
};
struct EmuModule {
	std::vector<std::unique_ptr<EmuFunction>> fns;
};

struct EmuGraph {
	std::shared_ptr<std::vector<EmuOp>> ops;
};
struct EmuGraphExec {
	std::shared_ptr<const std::vector<EmuOp>> ops;
	uint64_t launches = 0;
};

namespace {

int ctxToken; // its address is the primary context
thread_local void *current;
int refs;     // retains of the primary context
bool runtimeHold; // one of refs is the CUDA runtime's (emu_runtime_hold)
bool initialized;
int sticky;
std::string stickyText; // cuGetErrorString's text for the sticky error

EmuStream legacyStream;
std::set<EmuStream *> streams;
std::map<EmuEvent *, std::shared_ptr<EmuEvent>> events;
std::set<EmuModule *> modules;
std::set<EmuFunction *> functions;
std::set<EmuGraph *> graphs;
std::set<EmuGraphExec *> execs;

const size_t maxQueue = 1024; // like a GPU's queue: longer, and the oldest work runs

double now() {
	return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// ---- the executor -----------------------------------------------------------

volatile sig_atomic_t execActive;
volatile pid_t execTid;
sigjmp_buf execJmp;
void *volatile faultAddr;
volatile int faultWrite;
struct sigaction prevSegv;

const EmuOp *curOp;      // the operation running
std::string curPrefix;   // "graph launch ...: " while a graph runs

void onSegv(int sig, siginfo_t *si, void *uc) {
	if (execActive && execTid == (pid_t)syscall(SYS_gettid)) {
		execActive = 0;
		faultAddr = si->si_addr;
#if defined(__x86_64__)
		faultWrite = (((ucontext_t *)uc)->uc_mcontext.gregs[REG_ERR] & 2) != 0;
#else
		faultWrite = -1;
#endif
		siglongjmp(execJmp, 1);
	}
	// Not the emulated device's: whoever handled SIGSEGV before (the Go
	// runtime) handles it.
	if (prevSegv.sa_flags & SA_SIGINFO) {
		if (prevSegv.sa_sigaction != nullptr) {
			prevSegv.sa_sigaction(sig, si, uc);
			return;
		}
	} else if (prevSegv.sa_handler != SIG_DFL && prevSegv.sa_handler != SIG_IGN) {
		prevSegv.sa_handler(sig);
		return;
	}
	signal(sig, SIG_DFL); // the fault recurs on return, now fatal
}

void installHandler() {
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = onSegv;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGSEGV, &sa, &prevSegv);
}

void setSticky(int code, const std::string &msg) {
	if (sticky != 0) {
		return;
	}
	sticky = code;
	stickyText = code == CUDA_ERROR_ILLEGAL_ADDRESS ? "an illegal memory access was encountered"
	                                                : "unspecified launch failure";
	stickyText += " (emucuda: " + msg + ")";
	emu_log("%s", msg.c_str());
	for (EmuStream *s : streams) {
		s->queue.clear();
	}
}

std::string describeFault() {
	uintptr_t a = (uintptr_t)faultAddr;
	const char *how = faultWrite == 1 ? "wrote" : faultWrite == 0 ? "read" : "accessed";
	std::string where = emu_fiber_guard(a) ? emu_sprintf("0x%llx: the kernel thread's stack overflowed", (unsigned long long)a)
	                                       : emu_mem_where(a);
	std::string pos = emu_kernel_position();
	return emu_sprintf("%s%s at %s", pos.empty() ? "" : (pos + " ").c_str(), how, where.c_str());
}

// runOp runs op, catching its faults; on one it returns false with a message.
bool runOp(const EmuOp &op, std::string *msg) {
	curOp = &op;
	execTid = (pid_t)syscall(SYS_gettid);
	if (sigsetjmp(execJmp, 1) != 0) {
		std::string fault = describeFault();
		emu_fiber_reset();
		*msg = curPrefix + (curOp != nullptr ? curOp->what() : std::string("?")) + ": " + fault;
		curOp = nullptr;
		curPrefix.clear();
		return false;
	}
	execActive = 1;
	try {
		op.run();
	} catch (const EmuFault &f) {
		execActive = 0;
		*msg = curPrefix + (curOp != nullptr ? curOp->what() : std::string("?")) + ": " + f.msg;
		curOp = nullptr;
		curPrefix.clear();
		return false;
	}
	execActive = 0;
	curOp = nullptr;
	return true;
}

void execute(const EmuOp &op) {
	if (sticky != 0) {
		return;
	}
	std::string msg;
	if (!runOp(op, &msg)) {
		setSticky(CUDA_ERROR_ILLEGAL_ADDRESS, msg);
	}
}

void flush(EmuStream *s) {
	while (!s->queue.empty() && sticky == 0) {
		EmuOp op = std::move(s->queue.front());
		s->queue.pop_front();
		execute(op);
	}
	s->queue.clear();
}

void flushAll() {
	for (EmuStream *s : streams) {
		flush(s);
	}
}

// flushBlocking runs the work of the blocking streams: what the legacy
// stream waits for.
void flushBlocking() {
	for (EmuStream *s : streams) {
		if ((s->flags & 1) == 0) {
			flush(s);
		}
	}
}

bool anyCapture() {
	for (EmuStream *s : streams) {
		if (s->capturing) {
			return true;
		}
	}
	return false;
}

// invalidateCaptures fails the captures under way: call made a call that
// cannot be captured.
int invalidateCaptures(const char *call, int code) {
	for (EmuStream *s : streams) {
		if (s->capturing && !s->capInvalid) {
			s->capInvalid = true;
			s->capWhy = call;
			emu_log("%s during stream capture: the capture is invalidated", call);
		}
	}
	return code;
}

void destroyContext() {
	for (EmuStream *s : streams) {
		delete s;
	}
	streams.clear();
	events.clear();
	functions.clear();
	for (EmuModule *m : modules) {
		delete m;
	}
	modules.clear();
	for (EmuGraph *g : graphs) {
		delete g;
	}
	graphs.clear();
	for (EmuGraphExec *e : execs) {
		delete e;
	}
	execs.clear();
	emu_mem_reset();
	sticky = 0;
	stickyText.clear();
}

#define LOCK() std::lock_guard<std::mutex> lock_(emu_mu)
#define CTX(call) \
	do { \
		int r_ = emu_ctx_check(call); \
		if (r_ != 0) return r_; \
	} while (0)

} // namespace

int emu_sticky() { return sticky; }

int emu_ctx_check(const char *call) {
	if (!initialized) {
		return CUDA_ERROR_NOT_INITIALIZED;
	}
	if (current != &ctxToken || refs == 0) {
		emu_log("%s: no current context on this thread", call);
		return CUDA_ERROR_INVALID_CONTEXT;
	}
	return sticky;
}

void emu_require(const char *what, uintptr_t p, size_t bytes) {
	if (bytes == 0) {
		return;
	}
	std::string bad = emu_mem_check(p, bytes);
	if (!bad.empty()) {
		throw EmuFault{std::string(what) + " is " + bad};
	}
}

EmuStream *emu_stream(void *h, bool *ok) {
	*ok = true;
	if (h == nullptr || h == (void *)1) { // CU_STREAM_LEGACY
		return &legacyStream;
	}
	if (streams.count((EmuStream *)h) == 0) {
		*ok = false;
		return nullptr;
	}
	return (EmuStream *)h;
}

int emu_library_stream(void *h, EmuStream **out) {
	bool ok;
	*out = emu_stream(h, &ok);
	return ok ? 0 : CUDA_ERROR_INVALID_HANDLE;
}

bool emu_stream_capturing(EmuStream *s) { return s != nullptr && s->capturing; }

int emu_submit(EmuStream *s, EmuOp op) {
	if (sticky != 0) {
		return sticky;
	}
	if (s->capturing) {
		if (!s->capInvalid) {
			s->cap->push_back(std::move(op));
		}
		return s->capInvalid ? CUDA_ERROR_STREAM_CAPTURE_INVALIDATED : 0;
	}
	if (s->legacy) {
		for (EmuStream *t : streams) {
			if (t->capturing && (t->flags & 1) == 0) {
				return invalidateCaptures("work on the legacy stream (it would wait for a capturing blocking stream)",
					CUDA_ERROR_STREAM_CAPTURE_IMPLICIT);
			}
		}
		flushBlocking();
		execute(op);
		return sticky;
	}
	s->queue.push_back(std::move(op));
	if (s->queue.size() > maxQueue) {
		EmuOp first = std::move(s->queue.front());
		s->queue.pop_front();
		execute(first);
	}
	return 0;
}

// ---- device queries -----------------------------------------------------------

EMU_API int cuInit(unsigned flags) {
	LOCK();
	if (flags != 0) {
		return CUDA_ERROR_INVALID_VALUE;
	}
	if (!initialized) {
		legacyStream.legacy = true;
		installHandler();
		initialized = true;
	}
	return 0;
}

EMU_API int cuDriverGetVersion(int *v) {
	*v = 12080;
	return 0;
}

EMU_API int cuDeviceGetCount(int *n) {
	if (!initialized) {
		return CUDA_ERROR_NOT_INITIALIZED;
	}
	*n = 1;
	return 0;
}

EMU_API int cuDeviceGet(int *dev, int ordinal) {
	if (!initialized) {
		return CUDA_ERROR_NOT_INITIALIZED;
	}
	if (ordinal != 0) {
		return CUDA_ERROR_INVALID_DEVICE;
	}
	*dev = 0;
	return 0;
}

EMU_API int cuDeviceGetName(char *buf, int len, int dev) {
	if (dev != 0) {
		return CUDA_ERROR_INVALID_DEVICE;
	}
	snprintf(buf, (size_t)len, "Emulated GPU (emucuda, host CPU)");
	return 0;
}

EMU_API int cuDeviceTotalMem_v2(size_t *bytes, int dev) {
	if (dev != 0) {
		return CUDA_ERROR_INVALID_DEVICE;
	}
	*bytes = emu_mem_total_bytes();
	return 0;
}

EMU_API int cuDeviceGetAttribute(int *v, int attr, int dev) {
	if (dev != 0) {
		return CUDA_ERROR_INVALID_DEVICE;
	}
	switch (attr) {
	case 16: // CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT
		*v = 1;
		return 0;
	case 75: // CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR
		*v = 8;
		return 0;
	case 76: // CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR
		*v = 0;
		return 0;
	}
	emu_log("cuDeviceGetAttribute: attribute %d is not emulated", attr);
	return CUDA_ERROR_NOT_SUPPORTED;
}

// ---- contexts -----------------------------------------------------------------

EMU_API int cuDevicePrimaryCtxRetain(void **ctx, int dev) {
	LOCK();
	if (!initialized) {
		return CUDA_ERROR_NOT_INITIALIZED;
	}
	if (dev != 0) {
		return CUDA_ERROR_INVALID_DEVICE;
	}
	refs++;
	*ctx = &ctxToken;
	return 0;
}

EMU_API int cuDevicePrimaryCtxRelease_v2(int dev) {
	LOCK();
	if (dev != 0) {
		return CUDA_ERROR_INVALID_DEVICE;
	}
	if (refs == 0) {
		emu_log("cuDevicePrimaryCtxRelease_v2: the primary context is not retained");
		return CUDA_ERROR_INVALID_CONTEXT;
	}
	if (--refs == 0) {
		destroyContext();
	}
	return 0;
}

void emu_runtime_hold() {
	if (!runtimeHold && refs > 0) {
		runtimeHold = true;
		refs++;
	}
}

// cuDevicePrimaryCtxReset_v2 destroys the primary context's state (its
// memory, streams, modules, graphs and sticky error) whatever its retains,
// as cudaDeviceReset does; like the driver's, it releases nothing, so the
// retains (the runtime's among them) stay and may still be released.
EMU_API int cuDevicePrimaryCtxReset_v2(int dev) {
	LOCK();
	if (!initialized) {
		return CUDA_ERROR_NOT_INITIALIZED;
	}
	if (dev != 0) {
		return CUDA_ERROR_INVALID_DEVICE;
	}
	destroyContext();
	return 0;
}

EMU_API int cuCtxSetCurrent(void *ctx) {
	if (ctx != nullptr && ctx != &ctxToken) {
		return CUDA_ERROR_INVALID_CONTEXT;
	}
	current = ctx;
	return 0;
}

EMU_API int cuCtxSynchronize(void) {
	LOCK();
	CTX("cuCtxSynchronize");
	if (anyCapture()) {
		return invalidateCaptures("cuCtxSynchronize", CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED);
	}
	flushAll();
	return sticky;
}

// ---- memory -----------------------------------------------------------------------

EMU_API int cuMemAlloc_v2(unsigned long long *p, size_t n) {
	LOCK();
	CTX("cuMemAlloc_v2");
	if (anyCapture()) {
		return invalidateCaptures("cuMemAlloc_v2", CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED);
	}
	if (n == 0) {
		return CUDA_ERROR_INVALID_VALUE;
	}
	uintptr_t a = emu_mem_alloc(n);
	if (a == 0) {
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	*p = a;
	return 0;
}

EMU_API int cuMemFree_v2(unsigned long long p) {
	LOCK();
	CTX("cuMemFree_v2");
	if (anyCapture()) {
		return invalidateCaptures("cuMemFree_v2", CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED);
	}
	// The queued work is not run first: work still queued that uses p
	// faults when it runs, as a freed buffer may be reused on a GPU.
	if (!emu_mem_free(p, "cuMemFree_v2")) {
		emu_log("cuMemFree_v2(0x%llx): not the start of a live allocation: %s", p, emu_mem_where(p).c_str());
		return CUDA_ERROR_INVALID_VALUE;
	}
	return 0;
}

EMU_API int cuMemGetInfo_v2(size_t *free_, size_t *total) {
	LOCK();
	CTX("cuMemGetInfo_v2");
	*total = emu_mem_total_bytes();
	*free_ = *total - emu_mem_live_bytes();
	return 0;
}

// The synchronous copies run on the legacy stream: after the work of every
// blocking stream, before the host continues.
EMU_API int cuMemcpyHtoD_v2(unsigned long long dst, const void *src, size_t n) {
	LOCK();
	CTX("cuMemcpyHtoD_v2");
	std::string call = emu_sprintf("cuMemcpyHtoD_v2(0x%llx, %zu bytes)", dst, n);
	auto data = std::make_shared<std::vector<char>>((const char *)src, (const char *)src + n);
	return emu_submit(&legacyStream, EmuOp{[=] {
		emu_require("destination", dst, n);
		memcpy((void *)dst, data->data(), n);
	}, [=] { return call; }});
}

EMU_API int cuMemcpyDtoH_v2(void *dst, unsigned long long src, size_t n) {
	LOCK();
	CTX("cuMemcpyDtoH_v2");
	std::string call = emu_sprintf("cuMemcpyDtoH_v2(0x%llx, %zu bytes)", src, n);
	return emu_submit(&legacyStream, EmuOp{[=] {
		emu_require("source", src, n);
		memcpy(dst, (const void *)src, n);
	}, [=] { return call; }});
}

EMU_API int cuMemcpyHtoDAsync_v2(unsigned long long dst, const void *src, size_t n, void *hs) {
	LOCK();
	CTX("cuMemcpyHtoDAsync_v2");
	bool ok;
	EmuStream *s = emu_stream(hs, &ok);
	if (!ok) {
		return CUDA_ERROR_INVALID_HANDLE;
	}
	if (s->capturing) {
		return invalidateCaptures("cuMemcpyHtoDAsync_v2 from pageable memory", CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED);
	}
	// Pageable host memory is staged before the call returns.
	std::string call = emu_sprintf("cuMemcpyHtoDAsync_v2(0x%llx, %zu bytes)", dst, n);
	auto data = std::make_shared<std::vector<char>>((const char *)src, (const char *)src + n);
	return emu_submit(s, EmuOp{[=] {
		emu_require("destination", dst, n);
		memcpy((void *)dst, data->data(), n);
	}, [=] { return call; }});
}

EMU_API int cuMemcpyDtoDAsync_v2(unsigned long long dst, unsigned long long src, size_t n, void *hs) {
	LOCK();
	CTX("cuMemcpyDtoDAsync_v2");
	bool ok;
	EmuStream *s = emu_stream(hs, &ok);
	if (!ok) {
		return CUDA_ERROR_INVALID_HANDLE;
	}
	std::string call = emu_sprintf("cuMemcpyDtoDAsync_v2(0x%llx <- 0x%llx, %zu bytes)", dst, src, n);
	return emu_submit(s, EmuOp{[=] {
		emu_require("destination", dst, n);
		emu_require("source", src, n);
		memmove((void *)dst, (const void *)src, n);
	}, [=] { return call; }});
}

EMU_API int cuMemsetD32Async(unsigned long long dst, unsigned v, size_t n, void *hs) {
	LOCK();
	CTX("cuMemsetD32Async");
	bool ok;
	EmuStream *s = emu_stream(hs, &ok);
	if (!ok) {
		return CUDA_ERROR_INVALID_HANDLE;
	}
	if (dst % 4 != 0) {
		emu_log("cuMemsetD32Async(0x%llx): not 4-byte aligned", dst);
		return CUDA_ERROR_INVALID_VALUE;
	}
	std::string call = emu_sprintf("cuMemsetD32Async(0x%llx, 0x%x, %zu words)", dst, v, n);
	return emu_submit(s, EmuOp{[=] {
		emu_require("destination", dst, 4 * n);
		uint32_t *w = (uint32_t *)dst;
		for (size_t i = 0; i < n; i++) {
			w[i] = v;
		}
	}, [=] { return call; }});
}

// ---- streams and events --------------------------------------------------------------

EMU_API int cuStreamCreate(void **s, unsigned flags) {
	LOCK();
	CTX("cuStreamCreate");
	if (flags > 1) {
		emu_log("cuStreamCreate: flags %u are not emulated", flags);
		return CUDA_ERROR_NOT_SUPPORTED;
	}
	EmuStream *st = new EmuStream;
	st->flags = flags;
	streams.insert(st);
	*s = st;
	return 0;
}

EMU_API int cuStreamDestroy_v2(void *hs) {
	LOCK();
	CTX("cuStreamDestroy_v2");
	bool ok;
	EmuStream *s = emu_stream(hs, &ok);
	if (!ok || s->legacy) {
		return CUDA_ERROR_INVALID_HANDLE;
	}
	if (s->capturing) {
		emu_log("cuStreamDestroy_v2: the stream is capturing");
		return CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
	}
	flush(s); // its work still completes
	streams.erase(s);
	for (auto &kv : events) {
		if (kv.second->stream == s) {
			kv.second->stream = nullptr;
		}
	}
	delete s;
	return sticky;
}

EMU_API int cuStreamSynchronize(void *hs) {
	LOCK();
	CTX("cuStreamSynchronize");
	bool ok;
	EmuStream *s = emu_stream(hs, &ok);
	if (!ok) {
		return CUDA_ERROR_INVALID_HANDLE;
	}
	if (s->capturing) {
		return invalidateCaptures("cuStreamSynchronize of the capturing stream", CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED);
	}
	if (s->legacy) {
		flushBlocking();
	} else {
		flush(s);
	}
	return sticky;
}

EMU_API int cuEventCreate(void **e, unsigned flags) {
	LOCK();
	CTX("cuEventCreate");
	if (flags != 0) {
		emu_log("cuEventCreate: flags %u are not emulated", flags);
		return CUDA_ERROR_NOT_SUPPORTED;
	}
	auto ev = std::make_shared<EmuEvent>();
	events[ev.get()] = ev;
	*e = ev.get();
	return 0;
}

EMU_API int cuEventRecord(void *he, void *hs) {
	LOCK();
	CTX("cuEventRecord");
	auto it = events.find((EmuEvent *)he);
	bool ok;
	EmuStream *s = emu_stream(hs, &ok);
	if (it == events.end() || !ok) {
		return CUDA_ERROR_INVALID_HANDLE;
	}
	if (s->capturing) {
		return invalidateCaptures("cuEventRecord on a capturing stream (not emulated)", CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED);
	}
	std::shared_ptr<EmuEvent> ev = it->second;
	ev->recorded = true;
	ev->done = false;
	ev->stream = s;
	return emu_submit(s, EmuOp{[ev] {
		ev->done = true;
		ev->t = now();
	}, [] { return std::string("cuEventRecord"); }});
}

EMU_API int cuEventSynchronize(void *he) {
	LOCK();
	CTX("cuEventSynchronize");
	auto it = events.find((EmuEvent *)he);
	if (it == events.end()) {
		return CUDA_ERROR_INVALID_HANDLE;
	}
	std::shared_ptr<EmuEvent> ev = it->second;
	while (ev->recorded && !ev->done && ev->stream != nullptr && !ev->stream->queue.empty() && sticky == 0) {
		EmuOp op = std::move(ev->stream->queue.front());
		ev->stream->queue.pop_front();
		execute(op);
	}
	return sticky;
}

EMU_API int cuEventElapsedTime_v2(float *ms, void *ha, void *hb) {
	LOCK();
	CTX("cuEventElapsedTime_v2");
	auto a = events.find((EmuEvent *)ha), b = events.find((EmuEvent *)hb);
	if (a == events.end() || b == events.end() || !a->second->recorded || !b->second->recorded) {
		return CUDA_ERROR_INVALID_HANDLE;
	}
	if (!a->second->done || !b->second->done) {
		return CUDA_ERROR_NOT_READY;
	}
	// Host time: the emulation's, not a GPU's.
	*ms = (float)((b->second->t - a->second->t) * 1e3);
	return 0;
}

EMU_API int cuEventDestroy_v2(void *he) {
	LOCK();
	CTX("cuEventDestroy_v2");
	if (events.erase((EmuEvent *)he) == 0) {
		return CUDA_ERROR_INVALID_HANDLE;
	}
	return 0;
}

// ---- modules -----------------------------------------------------------------

namespace {

int ptxParamSize(const std::string &p) {
	// ".param .u64 name" (possibly with .align or .ptr attributes)
	size_t i = p.find(".param");
	if (i == std::string::npos) {
		return -1;
	}
	static const struct {
		const char *type;
		int size;
	} types[] = {{".u64", 8}, {".s64", 8}, {".b64", 8}, {".f64", 8}, {".u32", 4}, {".s32", 4}, {".b32", 4},
		{".f32", 4}, {".u16", 2}, {".s16", 2}, {".b16", 2}, {".u8", 1}, {".s8", 1}, {".b8", 1}};
	for (const auto &t : types) {
		size_t j = p.find(t.type, i + 6);
		if (j != std::string::npos && (j + strlen(t.type) == p.size() || p[j + strlen(t.type)] == ' ' ||
		                                  p[j + strlen(t.type)] == '\t')) {
			return t.size;
		}
	}
	return -1;
}

// loadPTX checks the PTX against the host build of kernels.cu: the hash of
// the source it was made from, and every .entry's name and parameter sizes.
int loadPTX(const char *image, std::string *log, std::vector<const EmuKernel *> *out) {
	std::string s(image);
	if (s.size() >= 4 && memcmp(s.data(), "\x7f" "ELF", 4) == 0) {
		*log = "emucuda: cubin images are not emulated; load the PTX of kernels.cu";
		return CUDA_ERROR_NOT_SUPPORTED;
	}
	const std::string prefix = "// kernels.cu sha256: ";
	size_t eol = s.find('\n');
	std::string first = s.substr(0, eol);
	if (first.compare(0, prefix.size(), prefix) != 0) {
		*log = "emucuda: the PTX does not start with \"" + prefix +
		       "...\": the emulated GPU runs only kernels.cu, built for the host";
		return CUDA_ERROR_INVALID_PTX;
	}
	std::string hash = first.substr(prefix.size());
	while (!hash.empty() && (hash.back() == ' ' || hash.back() == '\r')) {
		hash.pop_back();
	}
	if (hash != emu_kernels_sha256()) {
		*log = "emucuda: the PTX was made from kernels.cu with sha256 " + hash +
		       ", but the emulator's host build is of kernels.cu with sha256 " + emu_kernels_sha256();
		return CUDA_ERROR_INVALID_PTX;
	}
	std::set<std::string> seen;
	std::string errs;
	for (size_t i = s.find(".entry "); i != std::string::npos; i = s.find(".entry ", i + 1)) {
		size_t open = s.find('(', i), close = s.find(')', i);
		if (open == std::string::npos || close == std::string::npos || close < open) {
			*log = "emucuda: PTX .entry without a parameter list";
			return CUDA_ERROR_INVALID_PTX;
		}
		std::string name = s.substr(i + 7, open - i - 7);
		while (!name.empty() && (name.back() == ' ' || name.back() == '\n' || name.back() == '\t')) {
			name.pop_back();
		}
		std::vector<int> sizes;
		std::string params = s.substr(open + 1, close - open - 1);
		size_t a = 0;
		while (a < params.size()) {
			size_t b = params.find(',', a);
			if (b == std::string::npos) {
				b = params.size();
			}
			std::string p = params.substr(a, b - a);
			if (p.find(".param") != std::string::npos) {
				sizes.push_back(ptxParamSize(p));
			}
			a = b + 1;
		}
		seen.insert(name);
		const EmuKernel *k = emu_kernel(name.c_str());
		if (k == nullptr) {
			errs += "emucuda: PTX kernel " + name + " has no host build in kernels.cu\n";
			continue;
		}
		bool same = (int)sizes.size() == k->nparams;
		for (int j = 0; same && j < k->nparams; j++) {
			same = sizes[j] == k->sizes[j];
		}
		if (!same) {
			std::string ps, hs;
			for (int v : sizes) {
				ps += emu_sprintf("%s%d", ps.empty() ? "" : ",", v);
			}
			for (int j = 0; j < k->nparams; j++) {
				hs += emu_sprintf("%s%d", hs.empty() ? "" : ",", k->sizes[j]);
			}
			errs += "emucuda: kernel " + name + ": PTX parameter sizes [" + ps + "], host build [" + hs + "]\n";
			continue;
		}
		out->push_back(k);
	}
	for (int i = 0; i < emu_nkernels(); i++) {
		if (seen.count(emu_kernel_at(i)->name) == 0) {
			errs += std::string("emucuda: host kernel ") + emu_kernel_at(i)->name + " is not in the PTX\n";
		}
	}
	if (!errs.empty()) {
		*log = errs;
		return CUDA_ERROR_INVALID_PTX;
	}
	return 0;
}

int moduleLoad(void **m, const void *image, char *logbuf, unsigned loglen) {
	std::string log;
	std::vector<const EmuKernel *> ks;
	int r = loadPTX((const char *)image, &log, &ks);
	if (r != 0) {
		fprintf(stderr, "%s%s", log.c_str(), log.empty() || log.back() == '\n' ? "" : "\n");
		if (logbuf != nullptr && loglen > 0) {
			snprintf(logbuf, loglen, "%s", log.c_str());
		}
		return r;
	}
	EmuModule *mod = new EmuModule;
	for (const EmuKernel *k : ks) {
		mod->fns.push_back(std::unique_ptr<EmuFunction>(new EmuFunction{mod, k}));
		functions.insert(mod->fns.back().get());
	}
	modules.insert(mod);
	*m = mod;
	return 0;
}

} // namespace

EMU_API int cuModuleLoadData(void **m, const void *image) {
	LOCK();
	CTX("cuModuleLoadData");
	return moduleLoad(m, image, nullptr, 0);
}

EMU_API int cuModuleLoadDataEx(void **m, const void *image, unsigned n, int *opts, void **vals) {
	LOCK();
	CTX("cuModuleLoadDataEx");
	char *log = nullptr;
	unsigned loglen = 0;
	for (unsigned i = 0; i < n; i++) {
		if (opts[i] == 5) { // CU_JIT_ERROR_LOG_BUFFER
			log = (char *)vals[i];
		} else if (opts[i] == 6) { // CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES
			loglen = (unsigned)(uintptr_t)vals[i];
		} else {
			emu_log("cuModuleLoadDataEx: JIT option %d is not emulated", opts[i]);
			return CUDA_ERROR_NOT_SUPPORTED;
		}
	}
	return moduleLoad(m, image, log, loglen);
}

EMU_API int cuModuleUnload(void *hm) {
	LOCK();
	CTX("cuModuleUnload");
	EmuModule *m = (EmuModule *)hm;
	if (modules.erase(m) == 0) {
		return CUDA_ERROR_INVALID_HANDLE;
	}
	for (auto &f : m->fns) {
		functions.erase(f.get());
	}
	delete m;
	return 0;
}

EMU_API int cuModuleGetFunction(void **f, void *hm, const char *name) {
	LOCK();
	CTX("cuModuleGetFunction");
	EmuModule *m = (EmuModule *)hm;
	if (modules.count(m) == 0) {
		return CUDA_ERROR_INVALID_HANDLE;
	}
	for (auto &fn : m->fns) {
		if (strcmp(fn->k->name, name) == 0) {
			*f = fn.get();
			return 0;
		}
	}
	return CUDA_ERROR_NOT_FOUND;
}

// ---- kernel launches -----------------------------------------------------------

namespace {

std::string argText(const EmuKernel *k, const uint64_t *args) {
	std::string s;
	for (int i = 0; i < k->nparams; i++) {
		uint64_t v = args[i];
		std::string one;
		switch (k->kinds[i]) {
		case 'p':
			one = emu_sprintf("0x%llx", (unsigned long long)v);
			break;
		case 'i':
			one = k->sizes[i] == 8 ? emu_sprintf("%lld", (long long)v) : emu_sprintf("%d", (int32_t)(uint32_t)v);
			break;
		case 'u':
			one = k->sizes[i] == 8 ? emu_sprintf("%llu", (unsigned long long)v) : emu_sprintf("%u", (uint32_t)v);
			break;
		case 'f': {
			float f;
			uint32_t b = (uint32_t)v;
			memcpy(&f, &b, 4);
			one = emu_sprintf("%g", (double)f);
			break;
		}
		case 'd': {
			double d;
			memcpy(&d, &v, 8);
			one = emu_sprintf("%g", d);
			break;
		}
		}
		s += emu_sprintf("%s%s=%s", i ? ", " : "", k->pnames[i], one.c_str());
	}
	return s;
}

} // namespace

EMU_API int cuLaunchKernel(void *hf, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
	unsigned shmem, void *hs, void **params, void **extra) {
	LOCK();
	CTX("cuLaunchKernel");
	EmuFunction *f = (EmuFunction *)hf;
	bool ok;
	EmuStream *s = emu_stream(hs, &ok);
	if (functions.count(f) == 0 || !ok) {
		emu_log("cuLaunchKernel: %s handle", !ok ? "an invalid stream" : "an invalid (or unloaded) function");
		return CUDA_ERROR_INVALID_HANDLE;
	}
	const EmuKernel *k = f->k;
	if (extra != nullptr) {
		emu_log("cuLaunchKernel %s: the extra argument is not emulated", k->name);
		return CUDA_ERROR_NOT_SUPPORTED;
	}
	if (gx == 0 || gy == 0 || gz == 0 || bx == 0 || by == 0 || bz == 0 || (uint64_t)bx * by * bz > 1024 ||
	    gy > 65535 || gz > 65535 || gx > 0x7fffffffu) {
		emu_log("cuLaunchKernel %s: grid %u×%u×%u, block %u×%u×%u is not a valid launch", k->name, gx, gy, gz, bx, by, bz);
		return CUDA_ERROR_INVALID_VALUE;
	}
	if (gy != 1 || gz != 1 || by != 1 || bz != 1) {
		emu_log("cuLaunchKernel %s: grid %u×%u×%u, block %u×%u×%u: only one-dimensional grids and blocks are emulated",
			k->name, gx, gy, gz, bx, by, bz);
		return CUDA_ERROR_NOT_SUPPORTED;
	}
	if (shmem != 0) {
		emu_log("cuLaunchKernel %s: %u bytes of dynamic shared memory: not emulated (kernels.cu declares none)", k->name, shmem);
		return CUDA_ERROR_NOT_SUPPORTED;
	}
	if (k->nparams > 0 && params == nullptr) {
		emu_log("cuLaunchKernel %s: no kernelParams", k->name);
		return CUDA_ERROR_INVALID_VALUE;
	}
	// The parameter values are copied now, as the driver copies them.
	auto args = std::make_shared<std::vector<uint64_t>>(k->nparams, 0);
	for (int i = 0; i < k->nparams; i++) {
		memcpy(&(*args)[i], params[i], (size_t)k->sizes[i]);
	}
	auto what = [k, args, gx, bx] {
		return emu_sprintf("kernel %s(%s) grid %u, block %u", k->name, argText(k, args->data()).c_str(), gx, bx);
	};
	return emu_submit(s, EmuOp{[k, args, gx, bx] {
		const uint64_t *a = args->data();
		for (int i = 0; i < k->nparams; i++) {
			if (k->kinds[i] == 'p' && a[i] != 0) {
				std::string bad = emu_mem_check(a[i], 1);
				if (!bad.empty()) {
					throw EmuFault{emu_sprintf("argument %s is %s", k->pnames[i], bad.c_str())};
				}
			}
		}
		emu_run_kernel(k, gx, bx, a);
		for (int i = 0; i < k->nparams; i++) {
			if (k->kinds[i] == 'p' && a[i] != 0) {
				std::string bad = emu_mem_canaries(a[i]);
				if (!bad.empty()) {
					throw EmuFault{"the kernel " + bad};
				}
			}
		}
	}, what});
}

// ---- stream capture and graphs -----------------------------------------------------

EMU_API int cuStreamBeginCapture_v2(void *hs, int mode) {
	LOCK();
	CTX("cuStreamBeginCapture_v2");
	bool ok;
	EmuStream *s = emu_stream(hs, &ok);
	if (!ok || s->legacy) {
		emu_log("cuStreamBeginCapture_v2: %s", ok ? "the legacy stream cannot be captured" : "invalid stream");
		return ok ? CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED : CUDA_ERROR_INVALID_HANDLE;
	}
	if (s->capturing) {
		emu_log("cuStreamBeginCapture_v2: the stream is already capturing");
		return CUDA_ERROR_INVALID_VALUE;
	}
	if (mode < 0 || mode > 2) {
		return CUDA_ERROR_INVALID_VALUE;
	}
	// Work queued before the capture is not part of it.
	s->capturing = true;
	s->capInvalid = false;
	s->capWhy.clear();
	s->cap = std::make_shared<std::vector<EmuOp>>();
	return 0;
}

EMU_API int cuStreamEndCapture(void *hs, void **g) {
	LOCK();
	CTX("cuStreamEndCapture");
	bool ok;
	EmuStream *s = emu_stream(hs, &ok);
	if (!ok) {
		return CUDA_ERROR_INVALID_HANDLE;
	}
	if (!s->capturing) {
		emu_log("cuStreamEndCapture: the stream is not capturing");
		return CUDA_ERROR_INVALID_VALUE;
	}
	s->capturing = false;
	*g = nullptr;
	if (s->capInvalid) {
		emu_log("cuStreamEndCapture: the capture was invalidated by %s", s->capWhy.c_str());
		s->cap.reset();
		return CUDA_ERROR_STREAM_CAPTURE_INVALIDATED;
	}
	EmuGraph *gr = new EmuGraph{s->cap};
	s->cap.reset();
	graphs.insert(gr);
	*g = gr;
	return 0;
}

EMU_API int cuGraphInstantiateWithFlags(void **exec, void *hg, unsigned long long flags) {
	LOCK();
	CTX("cuGraphInstantiateWithFlags");
	EmuGraph *g = (EmuGraph *)hg;
	if (graphs.count(g) == 0) {
		return CUDA_ERROR_INVALID_HANDLE;
	}
	if (flags != 0) {
		emu_log("cuGraphInstantiateWithFlags: flags %llu are not emulated", flags);
		return CUDA_ERROR_NOT_SUPPORTED;
	}
	EmuGraphExec *e = new EmuGraphExec;
	e->ops = std::make_shared<const std::vector<EmuOp>>(*g->ops); // a copy: the graph may be destroyed
	execs.insert(e);
	*exec = e;
	return 0;
}

EMU_API int cuGraphLaunch(void *he, void *hs) {
	LOCK();
	CTX("cuGraphLaunch");
	EmuGraphExec *e = (EmuGraphExec *)he;
	bool ok;
	EmuStream *s = emu_stream(hs, &ok);
	if (execs.count(e) == 0 || !ok) {
		return CUDA_ERROR_INVALID_HANDLE;
	}
	if (s->capturing) {
		return invalidateCaptures("cuGraphLaunch on a capturing stream (not emulated)", CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED);
	}
	uint64_t n = ++e->launches;
	std::shared_ptr<const std::vector<EmuOp>> ops = e->ops;
	// One piece of work that replays every node in order, reading the
	// device memory of the time it runs.
	return emu_submit(s, EmuOp{[ops, n] {
		for (size_t i = 0; i < ops->size(); i++) {
			curOp = &(*ops)[i];
			curPrefix = emu_sprintf("graph launch %llu, node %zu of %zu: ", (unsigned long long)n, i + 1, ops->size());
			(*ops)[i].run();
		}
		curPrefix.clear();
	}, [n] { return emu_sprintf("graph launch %llu", (unsigned long long)n); }});
}

EMU_API int cuGraphExecDestroy(void *he) {
	LOCK();
	CTX("cuGraphExecDestroy");
	EmuGraphExec *e = (EmuGraphExec *)he;
	if (execs.erase(e) == 0) {
		return CUDA_ERROR_INVALID_HANDLE;
	}
	delete e; // queued launches hold the nodes
	return 0;
}

EMU_API int cuGraphDestroy(void *hg) {
	LOCK();
	CTX("cuGraphDestroy");
	EmuGraph *g = (EmuGraph *)hg;
	if (graphs.erase(g) == 0) {
		return CUDA_ERROR_INVALID_HANDLE;
	}
	delete g;
	return 0;
}

// ---- error texts ------------------------------------------------------------------

namespace {

const struct {
	int code;
	const char *name, *text;
} cuErrors[] = {
	{0, "CUDA_SUCCESS", "no error"},
	{1, "CUDA_ERROR_INVALID_VALUE", "invalid argument"},
	{2, "CUDA_ERROR_OUT_OF_MEMORY", "out of memory"},
	{3, "CUDA_ERROR_NOT_INITIALIZED", "initialization error"},
	{100, "CUDA_ERROR_NO_DEVICE", "no CUDA-capable device is detected"},
	{101, "CUDA_ERROR_INVALID_DEVICE", "invalid device ordinal"},
	{201, "CUDA_ERROR_INVALID_CONTEXT", "invalid device context"},
	{218, "CUDA_ERROR_INVALID_PTX", "a PTX JIT compilation failed"},
	{400, "CUDA_ERROR_INVALID_HANDLE", "invalid resource handle"},
	{500, "CUDA_ERROR_NOT_FOUND", "named symbol not found"},
	{600, "CUDA_ERROR_NOT_READY", "device not ready"},
	{700, "CUDA_ERROR_ILLEGAL_ADDRESS", "an illegal memory access was encountered"},
	{719, "CUDA_ERROR_LAUNCH_FAILED", "unspecified launch failure"},
	{801, "CUDA_ERROR_NOT_SUPPORTED", "operation not supported"},
	{900, "CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED", "operation not permitted when stream is capturing"},
	{901, "CUDA_ERROR_STREAM_CAPTURE_INVALIDATED", "operation failed due to a previous error during capture"},
	{906, "CUDA_ERROR_STREAM_CAPTURE_IMPLICIT",
		"operation would make the legacy stream depend on a capturing blocking stream"},
};

} // namespace

EMU_API int cuGetErrorName(int code, const char **s) {
	for (const auto &e : cuErrors) {
		if (e.code == code) {
			*s = e.name;
			return 0;
		}
	}
	*s = nullptr;
	return CUDA_ERROR_INVALID_VALUE;
}

EMU_API int cuGetErrorString(int code, const char **s) {
	std::lock_guard<std::mutex> lock(emu_mu);
	if (code == sticky && code != 0) {
		*s = stickyText.c_str();
		return 0;
	}
	for (const auto &e : cuErrors) {
		if (e.code == code) {
			*s = e.text;
			return 0;
		}
	}
	*s = nullptr;
	return CUDA_ERROR_INVALID_VALUE;
}
