// blas.cpp: the emulated cuBLAS (libcublas.so.12's functions package gpu
// calls). cublasSgemm_v2 computes C = alpha·op(A)·op(B) + beta·C in
// column-major order, with the transposes, leading dimensions, alpha and
// beta it is given, in float32: each element of the product is a float sum
// over k in order (cuBLAS's blocking sums in another order). With beta = 0,
// C is not read. The arguments are checked as cuBLAS checks them (an
// invalid one returns CUBLAS_STATUS_INVALID_VALUE at once); the operands'
// extents are checked against their allocations when the work runs (an
// access outside is a sticky CUDA_ERROR_ILLEGAL_ADDRESS).
//
// Only CUBLAS_DEFAULT_MATH (and CUBLAS_PEDANTIC_MATH) are emulated: asking
// for TF32 fails with CUBLAS_STATUS_NOT_SUPPORTED. A gemm recorded into a
// graph needs a workspace set with cublasSetWorkspace_v2, since cuBLAS
// would otherwise allocate during the capture.
#include "emucuda.h"

#include <cstring>
#include <map>
#include <set>

namespace {

enum {
	CUBLAS_STATUS_SUCCESS = 0,
	CUBLAS_STATUS_NOT_INITIALIZED = 1,
	CUBLAS_STATUS_INVALID_VALUE = 7,
	CUBLAS_STATUS_EXECUTION_FAILED = 13,
	CUBLAS_STATUS_NOT_SUPPORTED = 15,
};

struct Blas {
	EmuStream *stream;
	uintptr_t ws;
	size_t wsBytes;
	int math;
};
std::set<Blas *> handles;
std::map<int, std::string> lastMsg; // the last message for each status

int fail(int status, const std::string &msg) {
	emu_log("%s", msg.c_str());
	lastMsg[status] = msg;
	return status;
}

int check(void *h, Blas **b, const char *call) {
	int r = emu_ctx_check(call);
	if (r == CUDA_ERROR_INVALID_CONTEXT || r == CUDA_ERROR_NOT_INITIALIZED) {
		return fail(CUBLAS_STATUS_NOT_INITIALIZED, std::string(call) + ": no current CUDA context");
	}
	if (r != 0) {
		return CUBLAS_STATUS_EXECUTION_FAILED;
	}
	if (handles.count((Blas *)h) == 0) {
		return fail(CUBLAS_STATUS_NOT_INITIALIZED, std::string(call) + ": not a live cuBLAS handle");
	}
	*b = (Blas *)h;
	return 0;
}

thread_local std::vector<float> packA, prod;

// sgemm is the column-major C = alpha·op(A)·op(B) + beta·C: the product
// into a scratch m×n matrix (emu_product, with op(A) copied to a
// contiguous column-major m×k matrix when it is transposed), then scaled
// into C.
void sgemm(bool ta, bool tb, int m, int n, int k, float alpha, const float *A, int lda, const float *B, int ldb,
	float beta, float *C, int ldc) {
	const float *a = A;
	size_t la = (size_t)lda;
	if (ta) {
		packA.resize((size_t)m * k);
		for (int p = 0; p < k; p++) {
			for (int i = 0; i < m; i++) {
				packA[i + (size_t)p * m] = A[p + (size_t)i * lda];
			}
		}
		a = packA.data();
		la = (size_t)m;
	}
	prod.resize((size_t)m * n);
	float *t = prod.data();
	emu_product(m, n, k, a, la, B, tb ? (size_t)ldb : 1, tb ? 1 : (size_t)ldb, t, (size_t)m, false);
	for (int j = 0; j < n; j++) {
		float *cj = C + (size_t)j * ldc;
		const float *tj = t + (size_t)j * m;
		if (beta == 0) {
			for (int i = 0; i < m; i++) {
				cj[i] = alpha * tj[i];
			}
		} else {
			for (int i = 0; i < m; i++) {
				cj[i] = alpha * tj[i] + beta * cj[i];
			}
		}
	}
}

// extent is the bytes a column-major rows×cols operand with leading
// dimension ld spans.
size_t extent(int rows, int cols, int ld) {
	if (rows == 0 || cols == 0) {
		return 0;
	}
	return 4 * ((size_t)(cols - 1) * ld + rows);
}

} // namespace

#define LOCK() std::lock_guard<std::mutex> lock_(emu_mu)

EMU_API int cublasCreate_v2(void **h) {
	LOCK();
	int r = emu_ctx_check("cublasCreate_v2");
	if (r == CUDA_ERROR_INVALID_CONTEXT || r == CUDA_ERROR_NOT_INITIALIZED) {
		return fail(CUBLAS_STATUS_NOT_INITIALIZED, "cublasCreate_v2: no current CUDA context");
	}
	if (r != 0) {
		return CUBLAS_STATUS_NOT_INITIALIZED;
	}
	emu_runtime_hold();
	Blas *b = new Blas{nullptr, 0, 0, 0};
	emu_library_stream(nullptr, &b->stream);
	handles.insert(b);
	*h = b;
	return 0;
}

EMU_API int cublasDestroy_v2(void *h) {
	LOCK();
	if (handles.erase((Blas *)h) == 0) {
		return fail(CUBLAS_STATUS_NOT_INITIALIZED, "cublasDestroy_v2: not a live cuBLAS handle");
	}
	delete (Blas *)h;
	return 0;
}

EMU_API int cublasSetStream_v2(void *h, void *s) {
	LOCK();
	Blas *b;
	if (int r = check(h, &b, "cublasSetStream_v2")) {
		return r;
	}
	if (emu_library_stream(s, &b->stream) != 0) {
		return fail(CUBLAS_STATUS_INVALID_VALUE, "cublasSetStream_v2: not a live stream");
	}
	// As cuBLAS: back to its own workspace pool.
	b->ws = 0;
	b->wsBytes = 0;
	return 0;
}

EMU_API int cublasSetWorkspace_v2(void *h, void *ws, size_t n) {
	LOCK();
	Blas *b;
	if (int r = check(h, &b, "cublasSetWorkspace_v2")) {
		return r;
	}
	if (n > 0) {
		std::string bad = emu_mem_check((uintptr_t)ws, n);
		if (!bad.empty()) {
			return fail(CUBLAS_STATUS_INVALID_VALUE, "cublasSetWorkspace_v2: the workspace is " + bad);
		}
	}
	b->ws = (uintptr_t)ws;
	b->wsBytes = n;
	return 0;
}

EMU_API int cublasSetMathMode(void *h, int mode) {
	LOCK();
	Blas *b;
	if (int r = check(h, &b, "cublasSetMathMode")) {
		return r;
	}
	int base = mode & ~16; // CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION
	if (base != 0 && base != 2) {
		return fail(CUBLAS_STATUS_NOT_SUPPORTED,
			emu_sprintf("cublasSetMathMode(%d): only CUBLAS_DEFAULT_MATH and CUBLAS_PEDANTIC_MATH are emulated "
			            "(TF32 is not)", mode));
	}
	b->math = mode;
	return 0;
}

EMU_API int cublasGetVersion_v2(void *h, int *v) {
	(void)h;
	*v = 120801;
	return 0;
}

EMU_API int cublasGetProperty(int type, int *v) {
	switch (type) {
	case 0:
		*v = 12;
		return 0;
	case 1:
		*v = 8;
		return 0;
	case 2:
		*v = 1;
		return 0;
	}
	return CUBLAS_STATUS_INVALID_VALUE;
}

EMU_API const char *cublasGetStatusName(int s) {
	switch (s) {
	case 0:
		return "CUBLAS_STATUS_SUCCESS";
	case 1:
		return "CUBLAS_STATUS_NOT_INITIALIZED";
	case 7:
		return "CUBLAS_STATUS_INVALID_VALUE";
	case 13:
		return "CUBLAS_STATUS_EXECUTION_FAILED";
	case 15:
		return "CUBLAS_STATUS_NOT_SUPPORTED";
	}
	return "CUBLAS_STATUS_UNKNOWN";
}

EMU_API const char *cublasGetStatusString(int s) {
	std::lock_guard<std::mutex> lock(emu_mu);
	auto it = lastMsg.find(s);
	if (it != lastMsg.end()) {
		return it->second.c_str();
	}
	return cublasGetStatusName(s);
}

EMU_API int cublasSgemm_v2(void *h, int ta, int tb, int m, int n, int k, const float *alpha, const float *A,
	int lda, const float *B, int ldb, const float *beta, float *C, int ldc) {
	LOCK();
	Blas *b;
	if (int r = check(h, &b, "cublasSgemm_v2")) {
		return r;
	}
	auto op = [](int t) { return t == 0 ? 'N' : 'T'; };
	std::string call = emu_sprintf("cublasSgemm_v2(transa=%c transb=%c m=%d n=%d k=%d alpha=%g lda=%d ldb=%d beta=%g ldc=%d)",
		op(ta), op(tb), m, n, k, alpha ? (double)*alpha : 0.0, lda, ldb, beta ? (double)*beta : 0.0, ldc);
	if (ta < 0 || ta > 2 || tb < 0 || tb > 2 || m < 0 || n < 0 || k < 0 || alpha == nullptr || beta == nullptr ||
	    lda < std::max(1, ta == 0 ? m : k) || ldb < std::max(1, tb == 0 ? k : n) || ldc < std::max(1, m)) {
		return fail(CUBLAS_STATUS_INVALID_VALUE, call + ": invalid arguments");
	}
	if (m == 0 || n == 0) {
		return 0;
	}
	if (b->ws == 0 && emu_stream_capturing(b->stream)) {
		// cuBLAS would allocate its workspace while a graph records.
		return fail(CUBLAS_STATUS_NOT_SUPPORTED, call + ": recorded into a graph without cublasSetWorkspace_v2");
	}
	bool tA = ta != 0, tB = tb != 0;
	float al = *alpha, be = *beta; // host pointer mode: read now
	uintptr_t a = (uintptr_t)A, bp = (uintptr_t)B, c = (uintptr_t)C;
	size_t ea = tA ? extent(k, m, lda) : extent(m, k, lda);
	size_t eb = tB ? extent(n, k, ldb) : extent(k, n, ldb);
	size_t ec = extent(m, n, ldc);
	int r = emu_submit(b->stream, EmuOp{[=] {
		emu_require("A", a, k > 0 ? ea : 0);
		emu_require("B", bp, k > 0 ? eb : 0);
		emu_require("C", c, ec);
		sgemm(tA, tB, m, n, k, al, (const float *)a, lda, (const float *)bp, ldb, be, (float *)c, ldc);
	}, [=] { return call; }});
	return r == 0 ? 0 : CUBLAS_STATUS_EXECUTION_FAILED;
}
