// fake.c builds stand-ins for libcuda.so.1, libcublas(Lt).so.N and the cuDNN 9
// libraries, for fake_test.go. "Device memory" is host memory, so copies,
// gemm and convolution really compute; the rest logs its arguments to the
// file named by FAKE_LOG, one line per call, for the test to check.
//
// Compile with one of -DFAKE_DRIVER, -DFAKE_CUBLASLT, -DFAKE_CUBLAS
// (-DFAKE_MAJOR=N, -DFAKE_INCOMPLETE), -DFAKE_CUDNN_SHIM, -DFAKE_CUDNN_GRAPH,
// -DFAKE_CUDNN_OPS, -DFAKE_CUDNN_CNN, -DFAKE_NVRTC.
//
// Signatures are those of NVIDIA's headers with handles as void * and enums
// as int; the ABI is the same.

#define _GNU_SOURCE
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef unsigned long long devptr;

__attribute__((unused)) static void logf_(const char *fmt, ...) {
	const char *path = getenv("FAKE_LOG");
	if (path == NULL) {
		return;
	}
	FILE *f = fopen(path, "a");
	if (f == NULL) {
		return;
	}
	va_list ap;
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	fputc('\n', f);
	fclose(f);
}

// ---------------------------------------------------------------- driver
#ifdef FAKE_DRIVER

static int ctx_token;               // its address is the one context
static __thread void *cur_ctx;      // the context current on this thread
static int stream_token;            // its address is the one stream
static long live_allocs, live_bytes;
static int capturing, invalidated;

// FAKE_CAPTURE_FAIL makes a capture fail as a real one can: "begin" (the
// driver refuses to begin it), "launch" (a kernel launch is refused and
// invalidates the capture), "end" (ending it reports it invalidated) or
// "instantiate" (the graph does not instantiate).
static int capture_fails(const char *how) {
	const char *v = getenv("FAKE_CAPTURE_FAIL");
	return v != NULL && strcmp(v, how) == 0;
}

#define CTX() \
	do { \
		if (cur_ctx != &ctx_token) { \
			logf_("%s: no current context", __func__); \
			return 201; /* CUDA_ERROR_INVALID_CONTEXT */ \
		} \
	} while (0)
#define STREAM(s) \
	do { \
		if ((s) != &stream_token) { \
			logf_("%s: wrong stream", __func__); \
			return 400; /* CUDA_ERROR_INVALID_HANDLE */ \
		} \
	} while (0)

int cuInit(unsigned int flags) {
	if (flags != 0) {
		return 1;
	}
	return getenv("FAKE_NO_DEVICE") != NULL ? 100 : 0;
}
int cuDriverGetVersion(int *v) {
	*v = 13000;
	return 0;
}
int cuDeviceGetCount(int *n) {
	*n = 1;
	return 0;
}
int cuDeviceGet(int *dev, int ordinal) {
	if (ordinal != 0) {
		return 101;
	}
	*dev = 0;
	return 0;
}
int cuDeviceGetName(char *buf, int len, int dev) {
	snprintf(buf, (size_t)len, "Fake GPU %d", dev);
	return 0;
}
int cuDeviceTotalMem_v2(size_t *bytes, int dev) {
	(void)dev;
	*bytes = (size_t)1 << 30;
	return 0;
}
int cuDeviceGetAttribute(int *v, int attr, int dev) {
	(void)dev;
	switch (attr) {
	case 16: *v = 132; return 0; // multiprocessors
	case 75: *v = 9; return 0;   // compute capability major
	case 76: *v = 0; return 0;   // minor
	}
	return 1;
}
int cuDevicePrimaryCtxRetain(void **ctx, int dev) {
	(void)dev;
	*ctx = &ctx_token;
	logf_("retain");
	return 0;
}
int cuDevicePrimaryCtxRelease_v2(int dev) {
	(void)dev;
	logf_("release live_allocs=%ld live_bytes=%ld", live_allocs, live_bytes);
	return 0;
}
int cuDevicePrimaryCtxReset_v2(int dev) {
	(void)dev;
	logf_("reset");
	return 0;
}
int cuCtxSetCurrent(void *ctx) {
	cur_ctx = ctx;
	return 0;
}
int cuCtxSynchronize(void) {
	CTX();
	if (capturing) {
		return 900; // CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED: not while a stream captures
	}
	return 0;
}
int cuMemAlloc_v2(devptr *p, size_t n) {
	CTX();
	if (n > ((size_t)1 << 28)) {
		return 2; // CUDA_ERROR_OUT_OF_MEMORY
	}
	// The size is kept in the 16 bytes before the memory handed out.
	size_t *m = calloc(1, n + 16);
	if (m == NULL) {
		return 2;
	}
	m[0] = n;
	live_allocs++;
	live_bytes += (long)n;
	*p = (devptr)(uintptr_t)((char *)m + 16);
	logf_("alloc %zu", n);
	return 0;
}
int cuMemFree_v2(devptr p) {
	CTX();
	size_t *m = (size_t *)((char *)(uintptr_t)p - 16);
	live_allocs--;
	live_bytes -= (long)m[0];
	logf_("free %zu", m[0]);
	free(m);
	return 0;
}
int cuMemcpyDtoH_v2(void *dst, devptr src, size_t n) {
	CTX();
	memcpy(dst, (void *)(uintptr_t)src, n);
	return 0;
}
int cuMemcpyDtoDAsync_v2(devptr dst, devptr src, size_t n, void *s) {
	CTX();
	STREAM(s);
	if (capturing) { // recorded, not run (and not replayed by this fake)
		logf_("capture copy %zu", n);
		return 0;
	}
	memmove((void *)(uintptr_t)dst, (void *)(uintptr_t)src, n);
	return 0;
}
int cuMemcpyHtoDAsync_v2(devptr dst, const void *src, size_t n, void *s) {
	CTX();
	STREAM(s);
	if (capturing) {
		return 900; // CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED
	}
	memcpy((void *)(uintptr_t)dst, src, n);
	return 0;
}
int cuMemsetD32Async(devptr dst, unsigned int v, size_t n, void *s) {
	CTX();
	STREAM(s);
	if (capturing) {
		logf_("capture memset %zu", n);
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		((unsigned int *)(uintptr_t)dst)[i] = v;
	}
	return 0;
}
int cuMemGetInfo_v2(size_t *free_, size_t *total) {
	CTX();
	*total = (size_t)1 << 30;
	*free_ = *total - (size_t)live_bytes;
	return 0;
}
int cuStreamCreate(void **s, unsigned int flags) {
	CTX();
	logf_("stream create flags=%u", flags);
	*s = &stream_token;
	return 0;
}
int cuStreamDestroy_v2(void *s) {
	CTX();
	STREAM(s);
	logf_("stream destroy");
	return 0;
}
int cuStreamSynchronize(void *s) {
	CTX();
	STREAM(s);
	if (capturing) {
		return 900; // CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED
	}
	return 0;
}
int cuEventCreate(void **e, unsigned int flags) {
	CTX();
	logf_("event create flags=%u", flags);
	*e = calloc(1, 8);
	return 0;
}
int cuEventRecord(void *e, void *s) {
	CTX();
	STREAM(s);
	(void)e;
	return 0;
}
int cuEventSynchronize(void *e) {
	CTX();
	(void)e;
	return 0;
}
int cuEventElapsedTime_v2(float *ms, void *a, void *b) {
	CTX();
	(void)a;
	(void)b;
	*ms = 2.5f;
	return 0;
}
int cuEventDestroy_v2(void *e) {
	CTX();
	free(e);
	logf_("event destroy");
	return 0;
}
static int load(void **m, const void *image, char *log, unsigned int loglen) {
	const char *s = (const char *)image;
	if (strncmp(s, "bad", 3) == 0) {
		if (log != NULL) {
			snprintf(log, loglen, "ptxas fatal   : fake syntax error");
		}
		return 218; // CUDA_ERROR_INVALID_PTX
	}
	*m = strdup(s);
	logf_("module load %zu bytes", strlen(s));
	return 0;
}
int cuModuleLoadData(void **m, const void *image) {
	CTX();
	return load(m, image, NULL, 0);
}
int cuModuleLoadDataEx(void **m, const void *image, unsigned int n, int *opts, void **vals) {
	CTX();
	char *log = NULL;
	unsigned int loglen = 0;
	for (unsigned int i = 0; i < n; i++) {
		if (opts[i] == 5) {
			log = (char *)vals[i];
		} else if (opts[i] == 6) {
			loglen = (unsigned int)(uintptr_t)vals[i];
		}
	}
	return load(m, image, log, loglen);
}
int cuModuleUnload(void *m) {
	CTX();
	free(m);
	logf_("module unload");
	return 0;
}
int cuModuleGetFunction(void **f, void *m, const char *name) {
	CTX();
	if (strstr((const char *)m, name) == NULL) {
		return 500; // CUDA_ERROR_NOT_FOUND
	}
	*f = strdup(name); // leaked, like the module's functions
	return 0;
}

// A kernel named k_<letters> takes one parameter per letter: i int32,
// u uint32, l int64, q uint64, f float, d double, p pointer.
struct graph {
	int n;
	char lines[16][512];
};
static struct graph recording;

int cuLaunchKernel(void *f, unsigned int gx, unsigned int gy, unsigned int gz, unsigned int bx, unsigned int by,
	unsigned int bz, unsigned int shmem, void *s, void **params, void **extra) {
	CTX();
	STREAM(s);
	if (extra != NULL) {
		return 1;
	}
	const char *name = (const char *)f;
	const char *types = strchr(name, '_');
	char line[512];
	int k = snprintf(line, sizeof line, "%s grid=%u,%u,%u block=%u,%u,%u shmem=%u args=", name, gx, gy, gz, bx,
		by, bz, shmem);
	for (int i = 0; types != NULL && types[i + 1] != 0; i++) {
		void *p = params[i];
		switch (types[i + 1]) {
		case 'i': k += snprintf(line + k, sizeof line - (size_t)k, "%d,", *(int32_t *)p); break;
		case 'u': k += snprintf(line + k, sizeof line - (size_t)k, "%u,", *(uint32_t *)p); break;
		case 'l': k += snprintf(line + k, sizeof line - (size_t)k, "%lld,", (long long)*(int64_t *)p); break;
		case 'q': k += snprintf(line + k, sizeof line - (size_t)k, "%llu,", (unsigned long long)*(uint64_t *)p); break;
		case 'f': k += snprintf(line + k, sizeof line - (size_t)k, "%g,", (double)*(float *)p); break;
		case 'd': k += snprintf(line + k, sizeof line - (size_t)k, "%g,", *(double *)p); break;
		case 'p': k += snprintf(line + k, sizeof line - (size_t)k, "%#llx,", *(devptr *)p); break;
		}
	}
	if (capturing && capture_fails("launch")) {
		invalidated = 1;
		logf_("capture refused %s", line);
		return 900; // CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED
	}
	if (capturing) {
		if (recording.n < 16) {
			snprintf(recording.lines[recording.n++], 512, "%s", line);
		}
		logf_("capture %s", line);
	} else {
		logf_("launch %s", line);
	}
	return 0;
}
int cuStreamBeginCapture_v2(void *s, int mode) {
	CTX();
	STREAM(s);
	if (capture_fails("begin")) {
		logf_("begin capture refused");
		return 900; // CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED
	}
	capturing = 1;
	recording.n = 0;
	logf_("begin capture mode=%d", mode);
	return 0;
}
int cuStreamEndCapture(void *s, void **g) {
	CTX();
	STREAM(s);
	capturing = 0;
	if (invalidated || capture_fails("end")) {
		invalidated = 0;
		*g = NULL;
		logf_("end capture invalidated");
		return 901; // CUDA_ERROR_STREAM_CAPTURE_INVALIDATED
	}
	struct graph *gr = malloc(sizeof *gr);
	*gr = recording;
	*g = gr;
	logf_("end capture %d nodes", gr->n);
	return 0;
}
int cuGraphInstantiateWithFlags(void **exec, void *g, unsigned long long flags) {
	CTX();
	if (capture_fails("instantiate")) {
		logf_("instantiate refused");
		return 1; // CUDA_ERROR_INVALID_VALUE
	}
	struct graph *e = malloc(sizeof *e);
	*e = *(struct graph *)g;
	*exec = e;
	logf_("instantiate flags=%llu", flags);
	return 0;
}
int cuGraphLaunch(void *exec, void *s) {
	CTX();
	STREAM(s);
	struct graph *e = exec;
	for (int i = 0; i < e->n; i++) {
		logf_("replay %s", e->lines[i]);
	}
	return 0;
}
int cuGraphExecDestroy(void *exec) {
	CTX();
	free(exec);
	logf_("graph exec destroy");
	return 0;
}
int cuGraphDestroy(void *g) {
	CTX();
	free(g);
	logf_("graph destroy");
	return 0;
}
int cuGetErrorName(int code, const char **s) {
	switch (code) {
	case 2: *s = "CUDA_ERROR_OUT_OF_MEMORY"; return 0;
	case 100: *s = "CUDA_ERROR_NO_DEVICE"; return 0;
	case 201: *s = "CUDA_ERROR_INVALID_CONTEXT"; return 0;
	case 218: *s = "CUDA_ERROR_INVALID_PTX"; return 0;
	case 500: *s = "CUDA_ERROR_NOT_FOUND"; return 0;
	case 900: *s = "CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED"; return 0;
	case 901: *s = "CUDA_ERROR_STREAM_CAPTURE_INVALIDATED"; return 0;
	}
	*s = NULL;
	return 1;
}
int cuGetErrorString(int code, const char **s) {
	switch (code) {
	case 2: *s = "out of memory"; return 0;
	case 100: *s = "no CUDA-capable device is detected"; return 0;
	case 218: *s = "a PTX JIT compilation failed"; return 0;
	case 500: *s = "named symbol not found"; return 0;
	}
	*s = NULL;
	return 1;
}
#endif // FAKE_DRIVER

// ---------------------------------------------------------------- cuBLAS
#ifdef FAKE_CUBLASLT
int cublasLtFakeMarker(void) { return 0; }
#endif

#ifdef FAKE_CUBLAS
int cublasLtFakeMarker(void); // from libcublasLt, so that it is a real dependency

struct blas {
	void *stream;
	devptr ws;
	size_t wsbytes;
	int math;
};
int cublasCreate_v2(void **h) {
	*h = calloc(1, sizeof(struct blas));
	logf_("cublas create lt=%d", cublasLtFakeMarker());
	return 0;
}
int cublasDestroy_v2(void *h) {
	free(h);
	logf_("cublas destroy");
	return 0;
}
int cublasSetStream_v2(void *h, void *s) {
	struct blas *b = h;
	b->stream = s;
	b->ws = 0; // like cuBLAS: back to the default workspace
	b->wsbytes = 0;
	return 0;
}
int cublasSetWorkspace_v2(void *h, void *ws, size_t n) {
	struct blas *b = h;
	b->ws = (devptr)(uintptr_t)ws;
	b->wsbytes = n;
	return 0;
}
int cublasSetMathMode(void *h, int mode) {
	((struct blas *)h)->math = mode;
	logf_("cublas math %d", mode);
	return 0;
}
int cublasGetProperty(int type, int *v) {
	*v = type == 0 ? FAKE_MAJOR : type == 1 ? 1 : 7;
	return 0;
}
int cublasGetVersion_v2(void *h, int *v) {
	(void)h;
	*v = FAKE_MAJOR * 10000 + 107;
	return 0;
}
const char *cublasGetStatusName(int s) { return s == 7 ? "CUBLAS_STATUS_INVALID_VALUE" : "CUBLAS_STATUS_OTHER"; }
const char *cublasGetStatusString(int s) { return s == 7 ? "an invalid value was used as an argument" : "other"; }
#ifndef FAKE_INCOMPLETE
// Column-major C = alpha*op(A)*op(B) + beta*C, as cuBLAS.
int cublasSgemm_v2(void *h, int ta, int tb, int m, int n, int k, const float *alpha, const float *A, int lda,
	const float *B, int ldb, const float *beta, float *C, int ldc) {
	struct blas *bl = h;
	if (m < 0 || n < 0 || k < 0 || lda < (ta ? (k > 1 ? k : 1) : (m > 1 ? m : 1)) ||
		ldb < (tb ? (n > 1 ? n : 1) : (k > 1 ? k : 1)) || ldc < (m > 1 ? m : 1)) {
		return 7; // CUBLAS_STATUS_INVALID_VALUE
	}
	logf_("sgemm ta=%d tb=%d m=%d n=%d k=%d alpha=%g lda=%d ldb=%d beta=%g ldc=%d ws=%zu math=%d", ta, tb, m, n, k,
		(double)*alpha, lda, ldb, (double)*beta, ldc, bl->wsbytes, bl->math);
	for (int j = 0; j < n; j++) {
		for (int i = 0; i < m; i++) {
			float sum = 0;
			for (int p = 0; p < k; p++) {
				float av = ta ? A[p + i * lda] : A[i + p * lda];
				float bv = tb ? B[j + p * ldb] : B[p + j * ldb];
				sum += av * bv;
			}
			C[i + j * ldc] = *beta == 0 ? *alpha * sum : *alpha * sum + *beta * C[i + j * ldc];
		}
	}
	return 0;
}
#endif
#endif // FAKE_CUBLAS

// ---------------------------------------------------------------- cuDNN
#if defined(FAKE_CUDNN_GRAPH) || defined(FAKE_CUDNN_OPS) || defined(FAKE_CUDNN_CNN)
struct tensor {
	int n, c, h, w;
};
struct conv {
	int padh, padw, u, v, dh, dw, math;
};
#endif

#ifdef FAKE_CUDNN_SHIM
int cudnnFakeShim(void) { return 0; }
#endif

#ifdef FAKE_CUDNN_GRAPH
long fake_dnn_live; // descriptors alive, shared with _ops and _cnn
size_t cudnnGetVersion(void) { return 91300; }
const char *cudnnGetErrorString(int s) { return s == 2000 ? "CUDNN_STATUS_BAD_PARAM" : "fake cuDNN error"; }
int cudnnCreate(void **h) {
	*h = calloc(1, 8);
	logf_("cudnn create");
	return 0;
}
int cudnnDestroy(void *h) {
	free(h);
	logf_("cudnn destroy live_descriptors=%ld", fake_dnn_live);
	return 0;
}
int cudnnSetStream(void *h, void *s) {
	(void)h;
	(void)s;
	return 0;
}
#endif

#if defined(FAKE_CUDNN_OPS) || defined(FAKE_CUDNN_CNN)
extern long fake_dnn_live;
#endif

#ifdef FAKE_CUDNN_OPS
int cudnnCreateTensorDescriptor(void **t) {
	*t = calloc(1, sizeof(struct tensor));
	fake_dnn_live++;
	return 0;
}
int cudnnSetTensor4dDescriptor(void *t, int format, int dtype, int n, int c, int h, int w) {
	if (format != 0 || dtype != 0 || n <= 0 || c <= 0 || h <= 0 || w <= 0) {
		return 2000;
	}
	*(struct tensor *)t = (struct tensor){n, c, h, w};
	return 0;
}
int cudnnDestroyTensorDescriptor(void *t) {
	free(t);
	fake_dnn_live--;
	return 0;
}
int cudnnCreateFilterDescriptor(void **f) {
	*f = calloc(1, sizeof(struct tensor));
	fake_dnn_live++;
	return 0;
}
int cudnnSetFilter4dDescriptor(void *f, int dtype, int format, int k, int c, int h, int w) {
	if (format != 0 || dtype != 0) {
		return 2000;
	}
	*(struct tensor *)f = (struct tensor){k, c, h, w};
	return 0;
}
int cudnnDestroyFilterDescriptor(void *f) {
	free(f);
	fake_dnn_live--;
	return 0;
}
#endif // FAKE_CUDNN_OPS

#ifdef FAKE_CUDNN_CNN
int fakeNvrtcMarker(void); // from libfakenvrtc.so.1, found in another folder

int cudnnCreateConvolutionDescriptor(void **c) {
	*c = calloc(1, sizeof(struct conv));
	fake_dnn_live += 1 + 0 * fakeNvrtcMarker();
	return 0;
}
int cudnnSetConvolution2dDescriptor(void *c, int padh, int padw, int u, int v, int dh, int dw, int mode, int ctype) {
	if (mode != 1 || ctype != 0) { // CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT
		return 2000;
	}
	struct conv *cv = c;
	*cv = (struct conv){padh, padw, u, v, dh, dw, 0};
	return 0;
}
int cudnnSetConvolutionMathType(void *c, int math) {
	((struct conv *)c)->math = math;
	logf_("conv math %d", math);
	return 0;
}
int cudnnDestroyConvolutionDescriptor(void *c) {
	free(c);
	fake_dnn_live--;
	return 0;
}
int cudnnGetConvolution2dForwardOutputDim(void *c, void *xd, void *wd, int *n, int *ch, int *h, int *w) {
	struct conv *cv = c;
	struct tensor *x = xd, *f = wd;
	*n = x->n;
	*ch = f->n;
	*h = (x->h + 2 * cv->padh - cv->dh * (f->h - 1) - 1) / cv->u + 1;
	*w = (x->w + 2 * cv->padw - cv->dw * (f->w - 1) - 1) / cv->v + 1;
	return 0;
}
struct perf {
	int algo, status;
	float time;
	size_t memory;
	int determinism, mathType, reserved[3];
};
static int perfs(int requested, int *returned, struct perf *p, int find) {
	logf_("algos requested=%d find=%d", requested, find);
	if (requested < 2) {
		return 2000;
	}
	p[0] = (struct perf){1, 0, find ? 0.25f : -1.0f, 4096, 1, 3, {0, 0, 0}};
	p[1] = (struct perf){6, 3000, 0.125f, 1 << 20, 0, 1, {0, 0, 0}};
	*returned = 2;
	return 0;
}
int cudnnGetConvolutionForwardAlgorithmMaxCount(void *h, int *n) {
	(void)h;
	*n = 8;
	return 0;
}
int cudnnGetConvolutionForwardAlgorithm_v7(void *h, void *x, void *w, void *c, void *y, int req, int *ret, void *p) {
	(void)h, (void)x, (void)w, (void)c, (void)y;
	return perfs(req, ret, p, 0);
}
int cudnnFindConvolutionForwardAlgorithm(void *h, void *x, void *w, void *c, void *y, int req, int *ret, void *p) {
	(void)h, (void)x, (void)w, (void)c, (void)y;
	return perfs(req, ret, p, 1);
}
int cudnnGetConvolutionBackwardDataAlgorithm_v7(void *h, void *w, void *dy, void *c, void *dx, int req, int *ret,
	void *p) {
	(void)h, (void)w, (void)dy, (void)c, (void)dx;
	return perfs(req, ret, p, 0);
}
int cudnnFindConvolutionBackwardDataAlgorithm(void *h, void *w, void *dy, void *c, void *dx, int req, int *ret,
	void *p) {
	(void)h, (void)w, (void)dy, (void)c, (void)dx;
	return perfs(req, ret, p, 1);
}
int cudnnGetConvolutionBackwardFilterAlgorithm_v7(void *h, void *x, void *dy, void *c, void *dw, int req, int *ret,
	void *p) {
	(void)h, (void)x, (void)dy, (void)c, (void)dw;
	return perfs(req, ret, p, 0);
}
int cudnnFindConvolutionBackwardFilterAlgorithm(void *h, void *x, void *dy, void *c, void *dw, int req, int *ret,
	void *p) {
	(void)h, (void)x, (void)dy, (void)c, (void)dw;
	return perfs(req, ret, p, 1);
}
int cudnnGetConvolutionForwardWorkspaceSize(void *h, void *x, void *w, void *c, void *y, int algo, size_t *n) {
	(void)h, (void)x, (void)w, (void)c, (void)y;
	*n = 1000 + (size_t)algo;
	return 0;
}
int cudnnGetConvolutionBackwardDataWorkspaceSize(void *h, void *w, void *dy, void *c, void *dx, int algo, size_t *n) {
	(void)h, (void)w, (void)dy, (void)c, (void)dx;
	*n = 2000 + (size_t)algo;
	return 0;
}
int cudnnGetConvolutionBackwardFilterWorkspaceSize(void *h, void *x, void *dy, void *c, void *dw, int algo,
	size_t *n) {
	(void)h, (void)x, (void)dy, (void)c, (void)dw;
	*n = 3000 + (size_t)algo;
	return 0;
}
// y = alpha*conv(x, w) + beta*y, NCHW cross-correlation.
int cudnnConvolutionForward(void *h, const void *alpha, void *xd, const void *x, void *wd, const void *w, void *cd,
	int algo, void *ws, size_t wsBytes, const void *beta, void *yd, void *y) {
	(void)h;
	struct tensor *xt = xd, *ft = wd, *yt = yd;
	struct conv *cv = cd;
	const float *X = x, *W = w;
	float *Y = y, a = *(const float *)alpha, b = *(const float *)beta;
	logf_("conv forward algo=%d ws=%zu ws_set=%d math=%d", algo, wsBytes, ws != NULL, cv->math);
	for (int n = 0; n < yt->n; n++)
		for (int k = 0; k < yt->c; k++)
			for (int i = 0; i < yt->h; i++)
				for (int j = 0; j < yt->w; j++) {
					float sum = 0;
					for (int c = 0; c < xt->c; c++)
						for (int r = 0; r < ft->h; r++)
							for (int s = 0; s < ft->w; s++) {
								int ii = i * cv->u - cv->padh + r * cv->dh;
								int jj = j * cv->v - cv->padw + s * cv->dw;
								if (ii < 0 || ii >= xt->h || jj < 0 || jj >= xt->w) continue;
								sum += X[((n * xt->c + c) * xt->h + ii) * xt->w + jj] *
								       W[((k * ft->c + c) * ft->h + r) * ft->w + s];
							}
					float *out = &Y[((n * yt->c + k) * yt->h + i) * yt->w + j];
					*out = b == 0 ? a * sum : a * sum + b * *out;
				}
	return 0;
}
int cudnnConvolutionBackwardData(void *h, const void *alpha, void *wd, const void *w, void *dyd, const void *dy,
	void *cd, int algo, void *ws, size_t wsBytes, const void *beta, void *dxd, void *dx) {
	(void)h, (void)wd, (void)w, (void)dyd, (void)dy, (void)cd, (void)ws, (void)dxd, (void)dx;
	logf_("conv backward data algo=%d ws=%zu alpha=%g beta=%g", algo, wsBytes, (double)*(const float *)alpha,
		(double)*(const float *)beta);
	return 0;
}
int cudnnConvolutionBackwardFilter(void *h, const void *alpha, void *xd, const void *x, void *dyd, const void *dy,
	void *cd, int algo, void *ws, size_t wsBytes, const void *beta, void *dwd, void *dw) {
	(void)h, (void)xd, (void)x, (void)dyd, (void)dy, (void)cd, (void)ws, (void)dwd, (void)dw;
	logf_("conv backward filter algo=%d ws=%zu alpha=%g beta=%g", algo, wsBytes, (double)*(const float *)alpha,
		(double)*(const float *)beta);
	return 0;
}
int cudnnConvolutionBackwardBias(void *h, const void *alpha, void *dyd, const void *dy, const void *beta, void *dbd,
	void *db) {
	(void)h, (void)dyd, (void)dy, (void)dbd, (void)db;
	logf_("conv backward bias alpha=%g beta=%g", (double)*(const float *)alpha, (double)*(const float *)beta);
	return 0;
}
#endif // FAKE_CUDNN_CNN

#ifdef FAKE_NVRTC
int fakeNvrtcMarker(void) { return 0; }
#endif
