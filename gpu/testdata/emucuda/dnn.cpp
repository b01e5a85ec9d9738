// dnn.cpp: the emulated cuDNN 9 (the functions of libcudnn.so.9 and its
// sub-libraries that package gpu calls).
//
// Emulated: handles bound to a stream; NCHW float tensor and filter
// descriptors; 2-D cross-correlation descriptors (any padding, stride and
// dilation) with their math type; the output shape; algorithm counts,
// heuristics and "benchmarks", which return a fixed list (see algos) whose
// first entries are ones the backend must skip (TF32, or not deterministic);
// workspace sizes; and convolution forward, backward data, backward filter
// and backward bias with the alpha, beta, algorithm and workspace they are
// given.
//
// Each convolution is an im2col into the workspace the caller passes (so a
// workspace too small, or not the caller's to give, is caught) and a float32
// product, summed in a fixed order that is not cuDNN's. Every algorithm the
// list offers computes the same way. The descriptors are checked against
// each other and against the data's allocations; a math type that allows
// TF32 (CUDNN_DEFAULT_MATH on this sm_80 device, or the tensor-op types)
// fails with CUDNN_STATUS_NOT_SUPPORTED, as do pooling, softmax and
// cudnnAddTensor, which the emulation does not do.
#include "emucuda.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <set>

namespace {

enum {
	CUDNN_STATUS_SUCCESS = 0,
	CUDNN_STATUS_NOT_INITIALIZED = 1001,
	CUDNN_STATUS_BAD_PARAM = 2000,
	CUDNN_STATUS_BAD_PARAM_SIZE_INSUFFICIENT = 2006,
	CUDNN_STATUS_BAD_PARAM_SHAPE_MISMATCH = 2008,
	CUDNN_STATUS_NOT_SUPPORTED = 3000,
	CUDNN_STATUS_EXECUTION_FAILED = 5000,
};

struct Handle {
	EmuStream *stream;
};
struct Tensor {
	int n = 0, c = 0, h = 0, w = 0;
};
struct Filter {
	int k = 0, c = 0, h = 0, w = 0;
};
struct Conv {
	int padh = 0, padw = 0, u = 1, v = 1, dh = 1, dw = 1;
	int math = 0;
	bool set = false;
};

std::set<Handle *> handles;
std::set<Tensor *> tensors;
std::set<Filter *> filters;
std::set<Conv *> convs;
std::map<int, std::string> lastMsg;

int fail(int status, const std::string &msg) {
	emu_log("%s", msg.c_str());
	lastMsg[status] = msg;
	return status;
}

#define LOCK() std::lock_guard<std::mutex> lock_(emu_mu)

// Shape is one convolution's sizes, checked.
struct Shape {
	int N, C, H, W, K, R, S, OH, OW;
	int padh, padw, u, v, dh, dw;
	int CRS() const { return C * R * S; }
	int P() const { return OH * OW; }
	size_t xBytes() const { return 4 * (size_t)N * C * H * W; }
	size_t wBytes() const { return 4 * (size_t)K * C * R * S; }
	size_t yBytes() const { return 4 * (size_t)N * K * OH * OW; }
	size_t ws() const { return 4 * (size_t)CRS() * P(); }
	std::string text() const {
		return emu_sprintf("x %d×%d×%d×%d, w %d×%d×%d×%d, y %d×%d×%d×%d, pad %d,%d stride %d,%d dilation %d,%d", N, C,
			H, W, K, C, R, S, N, K, OH, OW, padh, padw, u, v, dh, dw);
	}
};

// shape checks the descriptors of one convolution; y may be null (output
// dimension query).
int shape(const char *call, void *xd, void *wd, void *cd, void *yd, Shape *s) {
	Tensor *x = (Tensor *)xd, *y = (Tensor *)yd;
	Filter *w = (Filter *)wd;
	Conv *c = (Conv *)cd;
	if (tensors.count(x) == 0 || filters.count(w) == 0 || convs.count(c) == 0 || (y != nullptr && tensors.count(y) == 0)) {
		return fail(CUDNN_STATUS_BAD_PARAM, std::string(call) + ": a descriptor is not live");
	}
	if (x->n == 0 || w->k == 0 || !c->set || (y != nullptr && y->n == 0)) {
		return fail(CUDNN_STATUS_BAD_PARAM, std::string(call) + ": a descriptor was never set");
	}
	*s = Shape{x->n, x->c, x->h, x->w, w->k, w->h, w->w, 0, 0, c->padh, c->padw, c->u, c->v, c->dh, c->dw};
	s->OH = (x->h + 2 * c->padh - (c->dh * (w->h - 1) + 1)) / c->u + 1;
	s->OW = (x->w + 2 * c->padw - (c->dw * (w->w - 1) + 1)) / c->v + 1;
	if (w->c != x->c || s->OH <= 0 || s->OW <= 0) {
		return fail(CUDNN_STATUS_BAD_PARAM_SHAPE_MISMATCH, std::string(call) + ": " + s->text() + " do not fit");
	}
	if (y != nullptr && (y->n != x->n || y->c != w->k || y->h != s->OH || y->w != s->OW)) {
		return fail(CUDNN_STATUS_BAD_PARAM_SHAPE_MISMATCH,
			emu_sprintf("%s: the output descriptor is %d×%d×%d×%d, the convolution gives %d×%d×%d×%d", call, y->n,
				y->c, y->h, y->w, s->N, s->K, s->OH, s->OW));
	}
	return 0;
}

// ---- the arithmetic -----------------------------------------------------------------

// im2col writes image n's columns: col[q][p], q = (c, r, s), p = (oh, ow).
// With stride 1 along w, each run of valid positions is one copy.
void im2col(const Shape &s, const float *x, float *col) {
	const int P = s.P();
	for (int c = 0; c < s.C; c++) {
		for (int r = 0; r < s.R; r++) {
			for (int t = 0; t < s.S; t++) {
				float *cq = col + (size_t)((c * s.R + r) * s.S + t) * P;
				for (int oh = 0; oh < s.OH; oh++) {
					int ih = oh * s.u - s.padh + r * s.dh;
					float *out = cq + (size_t)oh * s.OW;
					if (ih < 0 || ih >= s.H) {
						std::fill(out, out + s.OW, 0.0f);
						continue;
					}
					const float *row = x + ((size_t)c * s.H + ih) * s.W;
					if (s.v == 1) {
						int off = t * s.dw - s.padw; // iw = ow + off
						int lo = std::min(s.OW, std::max(0, -off)), hi = std::max(lo, std::min(s.OW, s.W - off));
						std::fill(out, out + lo, 0.0f);
						std::copy(row + lo + off, row + hi + off, out + lo);
						std::fill(out + hi, out + s.OW, 0.0f);
						continue;
					}
					for (int ow = 0; ow < s.OW; ow++) {
						int iw = ow * s.v - s.padw + t * s.dw;
						out[ow] = iw >= 0 && iw < s.W ? row[iw] : 0.0f;
					}
				}
			}
		}
	}
}

// blend writes out = alpha·t (beta = 0: out is not read) or alpha·t + beta·out.
void blend(float *out, const float *t, size_t n, float alpha, float beta) {
	if (beta == 0) {
		for (size_t i = 0; i < n; i++) {
			out[i] = alpha * t[i];
		}
	} else {
		for (size_t i = 0; i < n; i++) {
			out[i] = alpha * t[i] + beta * out[i];
		}
	}
}

thread_local std::vector<float> scratch;

// forward: y = alpha·conv(x, w) + beta·y, per image: y_n[k][p] = Σ_q w[k][q]·col[q][p].
void forward(const Shape &s, float alpha, const float *x, const float *w, float *col, float beta, float *y) {
	const int P = s.P(), CRS = s.CRS();
	scratch.resize((size_t)s.K * P);
	for (int n = 0; n < s.N; n++) {
		im2col(s, x + (size_t)n * s.C * s.H * s.W, col);
		emu_product(P, s.K, CRS, col, (size_t)P, w, 1, (size_t)CRS, scratch.data(), (size_t)P, false);
		blend(y + (size_t)n * s.K * P, scratch.data(), scratch.size(), alpha, beta);
	}
}

// backwardData: dx = alpha·convᵀ(dy, w) + beta·dx, per image: col[q][p] =
// Σ_k w[k][q]·dy_n[k][p], then col2im.
void backwardData(const Shape &s, float alpha, const float *w, const float *dy, float *col, float beta, float *dx) {
	const int P = s.P(), CRS = s.CRS();
	const size_t img = (size_t)s.C * s.H * s.W;
	scratch.resize(img);
	float *dimg = scratch.data();
	for (int n = 0; n < s.N; n++) {
		emu_product(P, CRS, s.K, dy + (size_t)n * s.K * P, (size_t)P, w, (size_t)CRS, 1, col, (size_t)P, false);
		std::fill(dimg, dimg + img, 0.0f);
		for (int c = 0; c < s.C; c++) {
			for (int r = 0; r < s.R; r++) {
				for (int t = 0; t < s.S; t++) {
					const float *cq = col + (size_t)((c * s.R + r) * s.S + t) * P;
					for (int oh = 0; oh < s.OH; oh++) {
						int ih = oh * s.u - s.padh + r * s.dh;
						if (ih < 0 || ih >= s.H) {
							continue;
						}
						float *row = dimg + ((size_t)c * s.H + ih) * s.W;
						const float *in = cq + (size_t)oh * s.OW;
						if (s.v == 1) {
							int off = t * s.dw - s.padw; // iw = ow + off
							int lo = std::min(s.OW, std::max(0, -off)), hi = std::max(lo, std::min(s.OW, s.W - off));
							for (int ow = lo; ow < hi; ow++) {
								row[ow + off] += in[ow];
							}
							continue;
						}
						for (int ow = 0; ow < s.OW; ow++) {
							int iw = ow * s.v - s.padw + t * s.dw;
							if (iw >= 0 && iw < s.W) {
								row[iw] += in[ow];
							}
						}
					}
				}
			}
		}
		blend(dx + (size_t)n * img, dimg, img, alpha, beta);
	}
}

// backwardFilter: dw = alpha·Σ_n dy_n·col_nᵀ + beta·dw, each element summed
// over images and then positions in order: acc[k][q] += dy_n[k][p]·col[q][p]
// (with dy_n transposed, so that the product runs along k).
void backwardFilter(const Shape &s, float alpha, const float *x, const float *dy, float *col, float beta, float *dw) {
	const int P = s.P(), CRS = s.CRS(), K = s.K;
	std::vector<float> acc((size_t)K * CRS, 0.0f), dyT((size_t)P * K);
	for (int n = 0; n < s.N; n++) {
		im2col(s, x + (size_t)n * s.C * s.H * s.W, col);
		const float *dyn = dy + (size_t)n * K * P;
		for (int k = 0; k < K; k++) {
			for (int p = 0; p < P; p++) {
				dyT[(size_t)p * K + k] = dyn[(size_t)k * P + p];
			}
		}
		emu_product(K, CRS, P, dyT.data(), (size_t)K, col, 1, (size_t)P, acc.data(), (size_t)K, true);
	}
	scratch.resize(acc.size());
	for (int k = 0; k < K; k++) {
		for (int q = 0; q < CRS; q++) {
			scratch[(size_t)k * CRS + q] = acc[k + (size_t)q * K];
		}
	}
	blend(dw, scratch.data(), scratch.size(), alpha, beta);
}

// ---- the algorithm list -------------------------------------------------------------

struct Perf {
	int algo, status;
	float time;
	size_t memory;
	int determinism, mathType, reserved[3];
};
static_assert(sizeof(Perf) == 48, "cudnn perf struct");

enum Kind { FWD, BWD_DATA, BWD_FILTER };

struct Algo {
	int algo, status, det, math;
	float time;
};

// The fixed lists: the first entries are ones a backend without TF32, or
// one asking for determinism, must skip; all entries that can run compute
// the same way. CUDNN_FMA_MATH is 3, CUDNN_TENSOR_OP_MATH 1.
const std::vector<Algo> algos[3] = {
	{{1, 0, 1, 1, 0.010f}, {1, 0, 1, 3, 0.020f}, {0, 0, 1, 3, 0.030f}, {6, CUDNN_STATUS_NOT_SUPPORTED, 1, 3, -1}},
	{{0, 0, 0, 3, 0.010f}, {1, 0, 1, 1, 0.015f}, {1, 0, 1, 3, 0.020f}, {4, CUDNN_STATUS_NOT_SUPPORTED, 1, 3, -1}},
	{{0, 0, 0, 3, 0.010f}, {3, 0, 0, 3, 0.012f}, {1, 0, 1, 3, 0.020f}, {4, CUDNN_STATUS_NOT_SUPPORTED, 1, 3, -1}},
};

bool runnable(Kind kind, int algo) {
	for (const Algo &a : algos[kind]) {
		if (a.algo == algo && a.status == 0) {
			return true;
		}
	}
	return false;
}

int listAlgos(Kind kind, bool find, const char *call, void *h, void *xd, void *wd, void *cd, void *yd, int req,
	int *ret, void *out) {
	LOCK();
	if (handles.count((Handle *)h) == 0) {
		return fail(CUDNN_STATUS_BAD_PARAM, std::string(call) + ": not a live cuDNN handle");
	}
	Shape s;
	if (int r = shape(call, xd, wd, cd, yd, &s)) {
		return r;
	}
	if (req < 1 || ret == nullptr || out == nullptr) {
		return fail(CUDNN_STATUS_BAD_PARAM, std::string(call) + ": bad result arguments");
	}
	if (find && emu_sticky() != 0) {
		return CUDNN_STATUS_EXECUTION_FAILED;
	}
	Perf *p = (Perf *)out;
	int n = 0;
	for (const Algo &a : algos[kind]) {
		if (n == req) {
			break;
		}
		p[n] = Perf{a.algo, a.status, find ? a.time : -1.0f, a.status == 0 ? s.ws() : 0, a.det, a.math, {0, 0, 0}};
		n++;
	}
	*ret = n;
	return 0;
}

int workspace(Kind kind, const char *call, void *h, void *xd, void *wd, void *cd, void *yd, int algo, size_t *n) {
	LOCK();
	if (handles.count((Handle *)h) == 0) {
		return fail(CUDNN_STATUS_BAD_PARAM, std::string(call) + ": not a live cuDNN handle");
	}
	Shape s;
	if (int r = shape(call, xd, wd, cd, yd, &s)) {
		return r;
	}
	if (!runnable(kind, algo)) {
		return fail(CUDNN_STATUS_NOT_SUPPORTED, emu_sprintf("%s: algorithm %d is not emulated", call, algo));
	}
	*n = s.ws();
	return 0;
}

// convCall checks and queues one convolution of kind, its descriptors
// given as (x, w, conv, y) whatever the kind: in1 and in2 are its inputs
// (x and w forward, w and dy backward data, x and dy backward filter), out
// its output.
int convCall(Kind kind, const char *call, void *h, const void *alpha, void *xd, void *wd, void *cd, void *yd,
	int algo, void *ws, size_t wsBytes, const void *beta, uintptr_t in1, uintptr_t in2, uintptr_t out) {
	LOCK();
	int r = emu_ctx_check(call);
	if (r != 0) {
		return r == CUDA_ERROR_INVALID_CONTEXT ? CUDNN_STATUS_NOT_INITIALIZED : CUDNN_STATUS_EXECUTION_FAILED;
	}
	Handle *hd = (Handle *)h;
	if (handles.count(hd) == 0) {
		return fail(CUDNN_STATUS_BAD_PARAM, std::string(call) + ": not a live cuDNN handle");
	}
	Shape s;
	if (int r2 = shape(call, xd, wd, cd, yd, &s)) {
		return r2;
	}
	int math = ((Conv *)cd)->math;
	if (math != 3) {
		return fail(CUDNN_STATUS_NOT_SUPPORTED,
			emu_sprintf("%s: math type %d allows TF32 on this device; only CUDNN_FMA_MATH (3) is emulated", call, math));
	}
	if (!runnable(kind, algo)) {
		return fail(CUDNN_STATUS_NOT_SUPPORTED, emu_sprintf("%s: algorithm %d is not emulated", call, algo));
	}
	if (alpha == nullptr || beta == nullptr) {
		return fail(CUDNN_STATUS_BAD_PARAM, std::string(call) + ": null alpha or beta");
	}
	if (wsBytes < s.ws() || (s.ws() > 0 && ws == nullptr)) {
		return fail(CUDNN_STATUS_BAD_PARAM_SIZE_INSUFFICIENT,
			emu_sprintf("%s: algorithm %d needs %zu bytes of workspace, got %zu at %p", call, algo, s.ws(), wsBytes, ws));
	}
	float al = *(const float *)alpha, be = *(const float *)beta; // host pointers: read now
	uintptr_t wsp = (uintptr_t)ws;
	std::string what = emu_sprintf("%s(algorithm %d, %s, alpha=%g, beta=%g, workspace %zu bytes at 0x%llx)", call, algo,
		s.text().c_str(), (double)al, (double)be, wsBytes, (unsigned long long)wsp);
	r = emu_submit(hd->stream, EmuOp{[=] {
		emu_require("workspace", wsp, wsBytes);
		float *col = (float *)wsp;
		switch (kind) {
		case FWD:
			emu_require("x", in1, s.xBytes());
			emu_require("w", in2, s.wBytes());
			emu_require("y", out, s.yBytes());
			forward(s, al, (const float *)in1, (const float *)in2, col, be, (float *)out);
			break;
		case BWD_DATA:
			emu_require("w", in1, s.wBytes());
			emu_require("dy", in2, s.yBytes());
			emu_require("dx", out, s.xBytes());
			backwardData(s, al, (const float *)in1, (const float *)in2, col, be, (float *)out);
			break;
		case BWD_FILTER:
			emu_require("x", in1, s.xBytes());
			emu_require("dy", in2, s.yBytes());
			emu_require("dw", out, s.wBytes());
			backwardFilter(s, al, (const float *)in1, (const float *)in2, col, be, (float *)out);
			break;
		}
	}, [=] { return what; }});
	return r == 0 ? 0 : CUDNN_STATUS_EXECUTION_FAILED;
}

int notEmulated(const char *call) {
	std::lock_guard<std::mutex> lock(emu_mu);
	return fail(CUDNN_STATUS_NOT_SUPPORTED, std::string(call) + " is not emulated (package gpu's backend does not call it)");
}

} // namespace

// ---- handles and descriptors ------------------------------------------------------------

EMU_API size_t cudnnGetVersion(void) { return 90800; }

EMU_API const char *cudnnGetErrorString(int s) {
	std::lock_guard<std::mutex> lock(emu_mu);
	auto it = lastMsg.find(s);
	if (it != lastMsg.end()) {
		return it->second.c_str();
	}
	switch (s) {
	case 0:
		return "CUDNN_STATUS_SUCCESS";
	case CUDNN_STATUS_NOT_INITIALIZED:
		return "CUDNN_STATUS_NOT_INITIALIZED";
	case CUDNN_STATUS_BAD_PARAM:
		return "CUDNN_STATUS_BAD_PARAM";
	case CUDNN_STATUS_NOT_SUPPORTED:
		return "CUDNN_STATUS_NOT_SUPPORTED";
	case CUDNN_STATUS_EXECUTION_FAILED:
		return "CUDNN_STATUS_EXECUTION_FAILED";
	}
	return "CUDNN_STATUS_UNKNOWN";
}

EMU_API int cudnnCreate(void **h) {
	LOCK();
	int r = emu_ctx_check("cudnnCreate");
	if (r != 0) {
		return fail(CUDNN_STATUS_NOT_INITIALIZED, "cudnnCreate: no usable current CUDA context");
	}
	emu_runtime_hold();
	Handle *hd = new Handle;
	emu_library_stream(nullptr, &hd->stream);
	handles.insert(hd);
	*h = hd;
	return 0;
}

EMU_API int cudnnDestroy(void *h) {
	LOCK();
	if (handles.erase((Handle *)h) == 0) {
		return fail(CUDNN_STATUS_BAD_PARAM, "cudnnDestroy: not a live cuDNN handle");
	}
	delete (Handle *)h;
	return 0;
}

EMU_API int cudnnSetStream(void *h, void *s) {
	LOCK();
	Handle *hd = (Handle *)h;
	if (handles.count(hd) == 0) {
		return fail(CUDNN_STATUS_BAD_PARAM, "cudnnSetStream: not a live cuDNN handle");
	}
	if (emu_library_stream(s, &hd->stream) != 0) {
		return fail(CUDNN_STATUS_BAD_PARAM, "cudnnSetStream: not a live stream");
	}
	return 0;
}

EMU_API int cudnnCreateTensorDescriptor(void **t) {
	LOCK();
	Tensor *d = new Tensor;
	tensors.insert(d);
	*t = d;
	return 0;
}

EMU_API int cudnnSetTensor4dDescriptor(void *t, int format, int dtype, int n, int c, int h, int w) {
	LOCK();
	if (tensors.count((Tensor *)t) == 0) {
		return fail(CUDNN_STATUS_BAD_PARAM, "cudnnSetTensor4dDescriptor: not a live descriptor");
	}
	if (format != 0 || dtype != 0) {
		return fail(CUDNN_STATUS_NOT_SUPPORTED,
			emu_sprintf("cudnnSetTensor4dDescriptor: format %d, data type %d: only NCHW float is emulated", format, dtype));
	}
	if (n <= 0 || c <= 0 || h <= 0 || w <= 0) {
		return fail(CUDNN_STATUS_BAD_PARAM, emu_sprintf("cudnnSetTensor4dDescriptor: %d×%d×%d×%d", n, c, h, w));
	}
	*(Tensor *)t = Tensor{n, c, h, w};
	return 0;
}

EMU_API int cudnnDestroyTensorDescriptor(void *t) {
	LOCK();
	if (tensors.erase((Tensor *)t) == 0) {
		return fail(CUDNN_STATUS_BAD_PARAM, "cudnnDestroyTensorDescriptor: not a live descriptor");
	}
	delete (Tensor *)t;
	return 0;
}

EMU_API int cudnnCreateFilterDescriptor(void **f) {
	LOCK();
	Filter *d = new Filter;
	filters.insert(d);
	*f = d;
	return 0;
}

EMU_API int cudnnSetFilter4dDescriptor(void *f, int dtype, int format, int k, int c, int h, int w) {
	LOCK();
	if (filters.count((Filter *)f) == 0) {
		return fail(CUDNN_STATUS_BAD_PARAM, "cudnnSetFilter4dDescriptor: not a live descriptor");
	}
	if (format != 0 || dtype != 0) {
		return fail(CUDNN_STATUS_NOT_SUPPORTED,
			emu_sprintf("cudnnSetFilter4dDescriptor: format %d, data type %d: only NCHW float is emulated", format, dtype));
	}
	if (k <= 0 || c <= 0 || h <= 0 || w <= 0) {
		return fail(CUDNN_STATUS_BAD_PARAM, emu_sprintf("cudnnSetFilter4dDescriptor: %d×%d×%d×%d", k, c, h, w));
	}
	*(Filter *)f = Filter{k, c, h, w};
	return 0;
}

EMU_API int cudnnDestroyFilterDescriptor(void *f) {
	LOCK();
	if (filters.erase((Filter *)f) == 0) {
		return fail(CUDNN_STATUS_BAD_PARAM, "cudnnDestroyFilterDescriptor: not a live descriptor");
	}
	delete (Filter *)f;
	return 0;
}

EMU_API int cudnnCreateConvolutionDescriptor(void **c) {
	LOCK();
	Conv *d = new Conv;
	convs.insert(d);
	*c = d;
	return 0;
}

EMU_API int cudnnSetConvolution2dDescriptor(void *c, int padh, int padw, int u, int v, int dh, int dw, int mode,
	int ctype) {
	LOCK();
	Conv *d = (Conv *)c;
	if (convs.count(d) == 0) {
		return fail(CUDNN_STATUS_BAD_PARAM, "cudnnSetConvolution2dDescriptor: not a live descriptor");
	}
	if (mode != 1 || ctype != 0) {
		return fail(CUDNN_STATUS_NOT_SUPPORTED,
			emu_sprintf("cudnnSetConvolution2dDescriptor: mode %d, compute type %d: only CUDNN_CROSS_CORRELATION in "
			            "float is emulated", mode, ctype));
	}
	if (padh < 0 || padw < 0 || u < 1 || v < 1 || dh < 1 || dw < 1) {
		return fail(CUDNN_STATUS_BAD_PARAM, emu_sprintf("cudnnSetConvolution2dDescriptor: pad %d,%d stride %d,%d "
		                                                "dilation %d,%d", padh, padw, u, v, dh, dw));
	}
	d->padh = padh;
	d->padw = padw;
	d->u = u;
	d->v = v;
	d->dh = dh;
	d->dw = dw;
	d->set = true;
	return 0;
}

EMU_API int cudnnSetConvolutionMathType(void *c, int math) {
	LOCK();
	Conv *d = (Conv *)c;
	if (convs.count(d) == 0) {
		return fail(CUDNN_STATUS_BAD_PARAM, "cudnnSetConvolutionMathType: not a live descriptor");
	}
	if (math < 0 || math > 3) {
		return fail(CUDNN_STATUS_BAD_PARAM, emu_sprintf("cudnnSetConvolutionMathType(%d)", math));
	}
	d->math = math;
	return 0;
}

EMU_API int cudnnDestroyConvolutionDescriptor(void *c) {
	LOCK();
	if (convs.erase((Conv *)c) == 0) {
		return fail(CUDNN_STATUS_BAD_PARAM, "cudnnDestroyConvolutionDescriptor: not a live descriptor");
	}
	delete (Conv *)c;
	return 0;
}

EMU_API int cudnnGetConvolution2dForwardOutputDim(void *c, void *xd, void *wd, int *n, int *ch, int *h, int *w) {
	LOCK();
	Shape s;
	if (int r = shape("cudnnGetConvolution2dForwardOutputDim", xd, wd, c, nullptr, &s)) {
		return r;
	}
	*n = s.N;
	*ch = s.K;
	*h = s.OH;
	*w = s.OW;
	return 0;
}

// ---- algorithms and workspaces -------------------------------------------------------------

EMU_API int cudnnGetConvolutionForwardAlgorithmMaxCount(void *h, int *n) {
	(void)h;
	*n = 8;
	return 0;
}
EMU_API int cudnnGetConvolutionBackwardDataAlgorithmMaxCount(void *h, int *n) {
	(void)h;
	*n = 6;
	return 0;
}
EMU_API int cudnnGetConvolutionBackwardFilterAlgorithmMaxCount(void *h, int *n) {
	(void)h;
	*n = 7;
	return 0;
}

// The argument order of the three kinds differs; each passes (x, w, conv,
// y) to the shared code.
EMU_API int cudnnGetConvolutionForwardAlgorithm_v7(void *h, void *x, void *w, void *c, void *y, int req, int *ret, void *p) {
	return listAlgos(FWD, false, "cudnnGetConvolutionForwardAlgorithm_v7", h, x, w, c, y, req, ret, p);
}
EMU_API int cudnnFindConvolutionForwardAlgorithm(void *h, void *x, void *w, void *c, void *y, int req, int *ret, void *p) {
	return listAlgos(FWD, true, "cudnnFindConvolutionForwardAlgorithm", h, x, w, c, y, req, ret, p);
}
EMU_API int cudnnGetConvolutionBackwardDataAlgorithm_v7(void *h, void *w, void *dy, void *c, void *dx, int req, int *ret,
	void *p) {
	return listAlgos(BWD_DATA, false, "cudnnGetConvolutionBackwardDataAlgorithm_v7", h, dx, w, c, dy, req, ret, p);
}
EMU_API int cudnnFindConvolutionBackwardDataAlgorithm(void *h, void *w, void *dy, void *c, void *dx, int req, int *ret,
	void *p) {
	return listAlgos(BWD_DATA, true, "cudnnFindConvolutionBackwardDataAlgorithm", h, dx, w, c, dy, req, ret, p);
}
EMU_API int cudnnGetConvolutionBackwardFilterAlgorithm_v7(void *h, void *x, void *dy, void *c, void *dw, int req,
	int *ret, void *p) {
	return listAlgos(BWD_FILTER, false, "cudnnGetConvolutionBackwardFilterAlgorithm_v7", h, x, dw, c, dy, req, ret, p);
}
EMU_API int cudnnFindConvolutionBackwardFilterAlgorithm(void *h, void *x, void *dy, void *c, void *dw, int req, int *ret,
	void *p) {
	return listAlgos(BWD_FILTER, true, "cudnnFindConvolutionBackwardFilterAlgorithm", h, x, dw, c, dy, req, ret, p);
}

EMU_API int cudnnGetConvolutionForwardWorkspaceSize(void *h, void *x, void *w, void *c, void *y, int algo, size_t *n) {
	return workspace(FWD, "cudnnGetConvolutionForwardWorkspaceSize", h, x, w, c, y, algo, n);
}
EMU_API int cudnnGetConvolutionBackwardDataWorkspaceSize(void *h, void *w, void *dy, void *c, void *dx, int algo,
	size_t *n) {
	return workspace(BWD_DATA, "cudnnGetConvolutionBackwardDataWorkspaceSize", h, dx, w, c, dy, algo, n);
}
EMU_API int cudnnGetConvolutionBackwardFilterWorkspaceSize(void *h, void *x, void *dy, void *c, void *dw, int algo,
	size_t *n) {
	return workspace(BWD_FILTER, "cudnnGetConvolutionBackwardFilterWorkspaceSize", h, x, dw, c, dy, algo, n);
}

// ---- convolutions ------------------------------------------------------------------------------

EMU_API int cudnnConvolutionForward(void *h, const void *alpha, void *xd, const void *x, void *wd, const void *w, void *cd,
	int algo, void *ws, size_t wsBytes, const void *beta, void *yd, void *y) {
	return convCall(FWD, "cudnnConvolutionForward", h, alpha, xd, wd, cd, yd, algo, ws, wsBytes, beta, (uintptr_t)x,
		(uintptr_t)w, (uintptr_t)y);
}

EMU_API int cudnnConvolutionBackwardData(void *h, const void *alpha, void *wd, const void *w, void *dyd, const void *dy,
	void *cd, int algo, void *ws, size_t wsBytes, const void *beta, void *dxd, void *dx) {
	return convCall(BWD_DATA, "cudnnConvolutionBackwardData", h, alpha, dxd, wd, cd, dyd, algo, ws, wsBytes, beta,
		(uintptr_t)w, (uintptr_t)dy, (uintptr_t)dx);
}

EMU_API int cudnnConvolutionBackwardFilter(void *h, const void *alpha, void *xd, const void *x, void *dyd, const void *dy,
	void *cd, int algo, void *ws, size_t wsBytes, const void *beta, void *dwd, void *dw) {
	return convCall(BWD_FILTER, "cudnnConvolutionBackwardFilter", h, alpha, xd, dwd, cd, dyd, algo, ws, wsBytes, beta,
		(uintptr_t)x, (uintptr_t)dy, (uintptr_t)dw);
}

// cudnnConvolutionBackwardBias: db = alpha·Σ_{n,h,w} dy + beta·db, db 1×K×1×1.
EMU_API int cudnnConvolutionBackwardBias(void *h, const void *alpha, void *dyd, const void *dy, const void *beta, void *dbd,
	void *db) {
	LOCK();
	const char *call = "cudnnConvolutionBackwardBias";
	int r = emu_ctx_check(call);
	if (r != 0) {
		return r == CUDA_ERROR_INVALID_CONTEXT ? CUDNN_STATUS_NOT_INITIALIZED : CUDNN_STATUS_EXECUTION_FAILED;
	}
	Handle *hd = (Handle *)h;
	Tensor *y = (Tensor *)dyd, *b = (Tensor *)dbd;
	if (handles.count(hd) == 0 || tensors.count(y) == 0 || tensors.count(b) == 0) {
		return fail(CUDNN_STATUS_BAD_PARAM, std::string(call) + ": a handle or descriptor is not live");
	}
	if (b->n != 1 || b->c != y->c || b->h != 1 || b->w != 1) {
		return fail(CUDNN_STATUS_BAD_PARAM_SHAPE_MISMATCH,
			emu_sprintf("%s: db %d×%d×%d×%d for dy %d×%d×%d×%d", call, b->n, b->c, b->h, b->w, y->n, y->c, y->h, y->w));
	}
	if (alpha == nullptr || beta == nullptr) {
		return fail(CUDNN_STATUS_BAD_PARAM, std::string(call) + ": null alpha or beta");
	}
	float al = *(const float *)alpha, be = *(const float *)beta;
	Tensor ys = *y;
	uintptr_t dyp = (uintptr_t)dy, dbp = (uintptr_t)db;
	std::string what = emu_sprintf("%s(dy %d×%d×%d×%d, alpha=%g, beta=%g)", call, ys.n, ys.c, ys.h, ys.w, (double)al,
		(double)be);
	r = emu_submit(hd->stream, EmuOp{[=] {
		size_t P = (size_t)ys.h * ys.w;
		emu_require("dy", dyp, 4 * (size_t)ys.n * ys.c * P);
		emu_require("db", dbp, 4 * (size_t)ys.c);
		const float *d = (const float *)dyp;
		std::vector<float> sum((size_t)ys.c, 0.0f);
		for (int n = 0; n < ys.n; n++) {
			for (int c = 0; c < ys.c; c++) {
				const float *row = d + ((size_t)n * ys.c + c) * P;
				float s = sum[c];
				for (size_t p = 0; p < P; p++) {
					s += row[p];
				}
				sum[c] = s;
			}
		}
		blend((float *)dbp, sum.data(), sum.size(), al, be);
	}, [=] { return what; }});
	return r == 0 ? 0 : CUDNN_STATUS_EXECUTION_FAILED;
}

// ---- what the emulation does not do -------------------------------------------------------------

EMU_API int cudnnCreatePoolingDescriptor(void **p) {
	(void)p;
	return notEmulated("cudnnCreatePoolingDescriptor");
}
EMU_API int cudnnSetPooling2dDescriptor(void *, int, int, int, int, int, int, int, int) {
	return notEmulated("cudnnSetPooling2dDescriptor");
}
EMU_API int cudnnDestroyPoolingDescriptor(void *) { return notEmulated("cudnnDestroyPoolingDescriptor"); }
EMU_API int cudnnPoolingForward(void *, void *, const void *, void *, const void *, const void *, void *, void *) {
	return notEmulated("cudnnPoolingForward");
}
EMU_API int cudnnPoolingBackward(void *, void *, const void *, void *, const void *, void *, const void *, void *,
	const void *, const void *, void *, void *) {
	return notEmulated("cudnnPoolingBackward");
}
EMU_API int cudnnSoftmaxForward(void *, int, int, const void *, void *, const void *, const void *, void *, void *) {
	return notEmulated("cudnnSoftmaxForward");
}
EMU_API int cudnnSoftmaxBackward(void *, int, int, const void *, void *, const void *, void *, const void *, const void *,
	void *, void *) {
	return notEmulated("cudnnSoftmaxBackward");
}
EMU_API int cudnnAddTensor(void *, const void *, void *, const void *, const void *, void *, void *) {
	return notEmulated("cudnnAddTensor");
}
