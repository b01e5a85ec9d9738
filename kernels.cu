// kernels.cu: the custom CUDA kernels of vatgpu's GPU backend (package gpu).
//
// Every kernel has a CPU twin in layers/cpu.go with the same name in Go
// spelling (relu_forward is (*CPU).ReLUForward) and the same arithmetic, in
// the same precision and, where a loop is sequential there, in the same
// order. Convolutions and matrix products are cuDNN's and cuBLAS's; what is
// here is everything else.
//
// Build (run from the repository root after every edit; the PTX is
// committed and embedded, so building the Go code needs no nvcc):
//
//	nvcc -ptx -arch=compute_80 -fmad=false -o gpu/kernels.ptx kernels.cu
//	sed -i "1i // kernels.cu sha256: $(sha256sum kernels.cu | cut -d' ' -f1)" gpu/kernels.ptx
//
// (`make kernels` runs the same.) gpu.TestPTXMatchesSource fails when the
// hash on the first line of gpu/kernels.ptx is not that of this file.
//
// compute_80: the driver JIT-compiles this PTX for the GPU it runs on, so it
// serves A100, H100/H200 and later (CUDA 13 no longer targets Volta).
//
// Floating point: IEEE division and square root (nvcc's defaults
// -prec-div=true -prec-sqrt=true -ftz=false; never --use_fast_math) and
// -fmad=false, so that a*b + c is rounded twice as Go rounds it on amd64.
// With these, every kernel here gives the CPU's bits except where a comment
// says otherwise (tree reductions, and double-precision exp, log, sin and
// cos, whose last-bit errors can differ from Go's).
//
// Kernel parameters are only pointers (8 bytes), int, unsigned and float
// (4 bytes) and unsigned long long (8 bytes); gpu/kernels.go declares each
// kernel's parameter list and gpu.TestPTXEntries checks it against the
// .entry declarations of the PTX.
//
// The training step: it completes every Philox counter and sets Adam's
// bias correction, and it is read from device memory (const unsigned long
// long *step), never passed by value. The backend keeps one device word for
// it; SetStep queues set_step on the backend's stream, which writes the new
// value in stream order. A CUDA graph captured once therefore holds only
// the pointer, and a replay after the next SetStep reads the new step.

// Philox4x32-10 constants (Salmon et al. 2011), as layers/rng.go.
#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

// REDUCE_THREADS is the block size of every block reduction (perturb,
// perturb_backward, sum_into, count_correct): the launcher must use it,
// and a fixed block size fixes the order of the sums.
#define REDUCE_THREADS 256

// philox computes one Philox4x32-10 block, as layers.Philox.
__device__ uint4 philox(uint4 c, uint2 k) {
	for (int r = 0; r < 10; r++) {
		if (r > 0) {
			k.x += PHILOX_W0;
			k.y += PHILOX_W1;
		}
		unsigned long long p0 = (unsigned long long)PHILOX_M0 * c.x;
		unsigned long long p1 = (unsigned long long)PHILOX_M1 * c.z;
		unsigned hi0 = (unsigned)(p0 >> 32), lo0 = (unsigned)p0;
		unsigned hi1 = (unsigned)(p1 >> 32), lo1 = (unsigned)p1;
		c = make_uint4(hi1 ^ c.y ^ k.x, lo1, hi0 ^ c.w ^ k.y, lo0);
	}
	return c;
}

// rand_block is block b of the stream (seed, tensor) at step:
// counter (b, tensor, step lo, step hi), key (seed lo, seed hi).
__device__ uint4 rand_block(unsigned b, unsigned long long seed, unsigned tensor,
                            unsigned long long step) {
	uint4 c = make_uint4(b, tensor, (unsigned)step, (unsigned)(step >> 32));
	uint2 k = make_uint2((unsigned)seed, (unsigned)(seed >> 32));
	return philox(c, k);
}

// word_uniform is u = (w >> 8) * 2^-24, in [0, 1), exact in float.
__device__ float word_uniform(unsigned w) {
	return (float)(w >> 8) * (1.0f / 16777216.0f);
}

// box_muller turns two words into two standard normals, in double, rounded
// to float once. Go's math.Log and math.Sincos and CUDA's log and sincos
// may differ in the last bit of the double; the float results then differ
// by at most 1 ulp, and only when the double lies next to a float rounding
// boundary (about one element in 10^8).
__device__ void box_muller(unsigned w0, unsigned w1, float *z0, float *z1) {
	const double two32inv = 1.0 / 4294967296.0;
	double u1 = ((double)w0 + 1.0) * two32inv;
	double u2 = (double)w1 * two32inv;
	double rad = sqrt(-2.0 * log(u1));
	double s, c;
	sincos(6.283185307179586 * u2, &s, &c); // 2π rounded to double, as Go's 2*math.Pi
	*z0 = (float)(rad * c);
	*z1 = (float)(rad * s);
}

// go_max is Go's built-in max for two floats: NaN if either is NaN, +0 for
// max(-0, +0), else the larger.
__device__ float go_max(float a, float b) {
	if (a != a || b != b)
		return a + b; // NaN
	if (a == b)
		return signbit(a) ? b : a;
	return a > b ? a : b;
}

extern "C" {

// set_step stores the training step in the backend's device word; every
// Philox kernel below reads it from there (see the top of this file).
__global__ void set_step(unsigned long long *step, unsigned long long value) {
	*step = value;
}

// fill_bias sets y[o][k][i] = bias[k] for o < outer, k < channels, i <
// inner: the bias rows that (*CPU).DenseForward (inner 1) and ConvForward
// (inner OH·OW) write before adding the product with beta = 1.
__global__ void fill_bias(float *y, const float *bias, int outer, int channels, int inner) {
	long long total = (long long)outer * channels * inner;
	for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total;
	     i += (long long)gridDim.x * blockDim.x)
		y[i] = bias[(i / inner) % channels];
}

// dense_backward_bias adds the column sums of dy[n×out] to db, row by row
// in order, in float: (*CPU).DenseBackward's loop of addTo calls, bit for
// bit. One thread per column.
__global__ void dense_backward_bias(float *db, const float *dy, int n, int out) {
	int j = blockIdx.x * blockDim.x + threadIdx.x;
	if (j >= out)
		return;
	float s = db[j];
	for (int i = 0; i < n; i++)
		s += dy[(long long)i * out + j];
	db[j] = s;
}

// relu_forward computes y = max(x, 0) (Go's max: NaN stays NaN, -0 gives
// +0); y may be x.
__global__ void relu_forward(float *y, const float *x, int n) {
	for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
	     i += (long long)gridDim.x * blockDim.x)
		y[i] = go_max(x[i], 0.0f);
}

// relu_backward computes dx = dy * [y > 0]; dx may be dy.
__global__ void relu_backward(float *dx, const float *dy, const float *y, int n) {
	for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
	     i += (long long)gridDim.x * blockDim.x)
		dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}

// max_pool_forward computes 2×2 stride-2 max pooling of planes (N·C of
// them) of h×w, one thread per output element.
__global__ void max_pool_forward(float *y, const float *x, int planes, int h, int w) {
	int oh = h / 2, ow = w / 2;
	long long total = (long long)planes * oh * ow;
	for (long long o = blockIdx.x * (long long)blockDim.x + threadIdx.x; o < total;
	     o += (long long)gridDim.x * blockDim.x) {
		long long p = o / (oh * ow);
		int rem = (int)(o % (oh * ow));
		int i = rem / ow, j = rem % ow;
		const float *r0 = x + p * h * w + (long long)(2 * i) * w + 2 * j;
		const float *r1 = r0 + w;
		y[o] = go_max(go_max(go_max(r0[0], r0[1]), r1[0]), r1[1]);
	}
}

// max_pool_backward routes dy to the first maximum of each window in
// row-major order (a later element wins only when strictly greater) and
// zeroes the other three: windows tile the input, so every dx element is
// written exactly once, as (*CPU).MaxPoolBackward's clear-then-assign.
__global__ void max_pool_backward(float *dx, const float *dy, const float *x, int planes,
                                  int h, int w) {
	int oh = h / 2, ow = w / 2;
	long long total = (long long)planes * oh * ow;
	for (long long o = blockIdx.x * (long long)blockDim.x + threadIdx.x; o < total;
	     o += (long long)gridDim.x * blockDim.x) {
		long long p = o / (oh * ow);
		int rem = (int)(o % (oh * ow));
		int i = rem / ow, j = rem % ow;
		long long base = p * h * w + (long long)(2 * i) * w + 2 * j;
		long long k[4] = {base, base + 1, base + w, base + w + 1};
		int best = 0;
		for (int t = 1; t < 4; t++)
			if (x[k[t]] > x[k[best]])
				best = t;
		for (int t = 0; t < 4; t++)
			dx[k[t]] = t == best ? dy[o] : 0.0f;
	}
}

} // extern "C"

// dropout_mask is layers' dropoutMask: out[i] = in[i]/(1-p) where u_i >= p,
// else 0, u the uniform stream (seed, tensor) at *step. One thread per
// Philox block of four elements.
__device__ void dropout_mask(float *out, const float *in, int n, float p, unsigned long long seed,
                             unsigned tensor, const unsigned long long *step) {
	float scale = 1.0f / (1.0f - p);
	unsigned long long st = *step;
	int blocks = n / 4 + (n % 4 != 0); // (n + 3) / 4 overflows for n near 2^31
	for (int b = blockIdx.x * blockDim.x + threadIdx.x; b < blocks; b += gridDim.x * blockDim.x) {
		uint4 r = rand_block((unsigned)b, seed, tensor, st);
		unsigned w[4] = {r.x, r.y, r.z, r.w};
		for (int j = 0; j < 4 && 4 * b + j < n; j++) {
			int k = 4 * b + j;
			out[k] = word_uniform(w[j]) >= p ? in[k] * scale : 0.0f;
		}
	}
}

extern "C" {

// dropout_forward computes y = x * [u >= p] / (1 - p); y may be x.
__global__ void dropout_forward(float *y, const float *x, int n, float p, unsigned long long seed,
                                unsigned tensor, const unsigned long long *step) {
	dropout_mask(y, x, n, p, seed, tensor, step);
}

// dropout_backward applies dropout_forward's mask to dy; dx may be dy.
__global__ void dropout_backward(float *dx, const float *dy, int n, float p,
                                 unsigned long long seed, unsigned tensor,
                                 const unsigned long long *step) {
	dropout_mask(dx, dy, n, p, seed, tensor, step);
}

// rand_normal fills d[0..n-1] with the normal stream (seed, tensor) at
// *step: words 0, 1 of block b give elements 4b, 4b+1 and words 2, 3 give
// 4b+2, 4b+3 (layers.Rand.Normal). One thread per block.
__global__ void rand_normal(float *d, int n, unsigned long long seed, unsigned tensor,
                            const unsigned long long *step) {
	unsigned long long st = *step;
	int blocks = n / 4 + (n % 4 != 0); // (n + 3) / 4 overflows for n near 2^31
	for (int b = blockIdx.x * blockDim.x + threadIdx.x; b < blocks; b += gridDim.x * blockDim.x) {
		uint4 r = rand_block((unsigned)b, seed, tensor, st);
		float z[4];
		box_muller(r.x, r.y, &z[0], &z[1]);
		box_muller(r.z, r.w, &z[2], &z[3]);
		for (int j = 0; j < 4 && 4 * b + j < n; j++)
			d[4 * b + j] = z[j];
	}
}

} // extern "C"

// block_sum returns, in every thread, the sum of v over the block's
// REDUCE_THREADS threads, by a tree in a fixed order (so the same inputs
// give the same bits). sh has REDUCE_THREADS elements.
__device__ double block_sum(double v, double *sh) {
	int t = threadIdx.x;
	sh[t] = v;
	__syncthreads();
	for (int s = REDUCE_THREADS / 2; s > 0; s /= 2) {
		if (t < s)
			sh[t] += sh[t + s];
		__syncthreads();
	}
	double r = sh[0];
	__syncthreads(); // sh may be reused at once
	return r;
}

// block_max returns, in every thread, the maximum of v over the block.
__device__ double block_max(double v, double *sh) {
	int t = threadIdx.x;
	sh[t] = v;
	__syncthreads();
	for (int s = REDUCE_THREADS / 2; s > 0; s /= 2) {
		if (t < s)
			sh[t] = fmax(sh[t], sh[t + s]);
		__syncthreads();
	}
	double r = sh[0];
	__syncthreads();
	return r;
}

// Norms, as layers.Norm.
#define NORM_L2 0
#define NORM_MAXABS_L2 1

// norm_factors is layers' normFactors for row d of dim elements, in double:
// normalise(d) = f·d, and for NORM_L2 *l2 = ‖d‖₂. The sums are tree sums
// (block_sum) where the CPU adds in order; results agree to double
// rounding, which is far below float's.
__device__ double norm_factors(const float *d, int dim, int norm, double *l2, double *sh) {
	int t = threadIdx.x;
	if (norm == NORM_L2) {
		double s = 0;
		for (int j = t; j < dim; j += REDUCE_THREADS)
			s += (double)d[j] * (double)d[j];
		*l2 = sqrt(block_sum(s, sh));
		return 1.0 / (*l2 + 1e-7);
	}
	double m = 0;
	for (int j = t; j < dim; j += REDUCE_THREADS)
		m = fmax(m, fabs((double)d[j]));
	m = block_max(m, sh);
	double a = 1.0 / (1e-12 + m);
	double s = 0;
	for (int j = t; j < dim; j += REDUCE_THREADS) {
		double v = (double)d[j] * a;
		s += v * v;
	}
	s = block_sum(s, sh);
	*l2 = 0;
	return a / sqrt(1e-6 + s);
}

extern "C" {

// perturb computes xr = x + scale·normalise(d) for one row of dim elements
// per block (grid = rows, block = REDUCE_THREADS).
__global__ void perturb(float *xr, const float *x, const float *d, int dim, float scale, int norm) {
	__shared__ double sh[REDUCE_THREADS];
	long long row = (long long)blockIdx.x * dim;
	double l2;
	double f = norm_factors(d + row, dim, norm, &l2, sh) * (double)scale;
	for (int j = threadIdx.x; j < dim; j += REDUCE_THREADS)
		xr[row + j] = x[row + j] + (float)(f * (double)d[row + j]);
}

// perturb_backward computes dd from dxr for one row per block: for NORM_L2
// the gradient through r = scale·d/(‖d‖+1e-7),
//
//	dd = scale·[f·g - d·(d·g)·f²/‖d‖],  f = 1/(‖d‖+1e-7)  (0 for the second term when ‖d‖ = 0),
//
// and for NORM_MAXABS_L2 (the gradient with respect to the perturbation)
// dd = dxr, a copy. dd may not alias d.
__global__ void perturb_backward(float *dd, const float *dxr, const float *d, int dim, float scale,
                                 int norm) {
	__shared__ double sh[REDUCE_THREADS];
	long long row = (long long)blockIdx.x * dim;
	const float *di = d + row, *gi = dxr + row;
	float *ddi = dd + row;
	if (norm != NORM_L2) {
		for (int j = threadIdx.x; j < dim; j += REDUCE_THREADS)
			ddi[j] = gi[j];
		return;
	}
	double l2;
	double f = norm_factors(di, dim, norm, &l2, sh);
	double dg = 0;
	for (int j = threadIdx.x; j < dim; j += REDUCE_THREADS)
		dg += (double)di[j] * (double)gi[j];
	dg = block_sum(dg, sh);
	double k = l2 > 0 ? dg * f * f / l2 : 0.0;
	for (int j = threadIdx.x; j < dim; j += REDUCE_THREADS)
		ddi[j] = (float)((double)scale * (f * (double)gi[j] - k * (double)di[j]));
}

} // extern "C"

// row_lse returns the log-sum-exp of one row of c logits as layers'
// logSoftmax computes it: m the float maximum, Σ exp(double(v - m)) in
// order, lse = double(m) + log(sum). log p_j is then float(double(v_j) - lse).
__device__ double row_lse(const float *l, int c) {
	float m = l[0];
	for (int j = 1; j < c; j++)
		m = go_max(m, l[j]);
	double s = 0;
	for (int j = 0; j < c; j++)
		s += exp((double)(l[j] - m));
	return (double)m + log(s);
}

extern "C" {

// softmax_xent computes, one thread per row, loss[i] = -log softmax(l_i)[y_i]
// and, unless dlogits is NULL, dlogits = scale·(softmax - onehot). A label
// outside [0, c) gives a NaN loss (the CPU panics).
__global__ void softmax_xent(float *loss, float *dlogits, const float *logits, const int *labels,
                             int n, int c, float scale) {
	int i = blockIdx.x * blockDim.x + threadIdx.x;
	if (i >= n)
		return;
	const float *l = logits + (long long)i * c;
	double lse = row_lse(l, c);
	int y = labels[i];
	loss[i] = (y >= 0 && y < c) ? -(float)((double)l[y] - lse) : __int_as_float(0x7fc00000);
	if (dlogits == 0)
		return;
	float *dl = dlogits + (long long)i * c;
	for (int j = 0; j < c; j++) {
		float lp = (float)((double)l[j] - lse);
		float g = (float)exp((double)lp);
		if (j == y)
			g -= 1.0f;
		dl[j] = scale * g;
	}
}

// kl_div computes, one thread per row, kl[i] = Σ_j p_j (log p_j - log q_j)
// in double, and, unless dq is NULL, dq = scale·(q - p) (p held constant).
__global__ void kl_div(float *kl, float *dq, const float *logits_p, const float *logits_q, int n,
                       int c, float scale) {
	int i = blockIdx.x * blockDim.x + threadIdx.x;
	if (i >= n)
		return;
	const float *lP = logits_p + (long long)i * c, *lQ = logits_q + (long long)i * c;
	double lseP = row_lse(lP, c), lseQ = row_lse(lQ, c);
	double s = 0;
	for (int j = 0; j < c; j++) {
		float lp = (float)((double)lP[j] - lseP);
		float lq = (float)((double)lQ[j] - lseQ);
		double p = exp((double)lp);
		s += p * (double)(lp - lq);
		if (dq != 0)
			dq[(long long)i * c + j] = scale * (float)(exp((double)lq) - p);
	}
	kl[i] = (float)s;
}

// softmax computes p = softmax(logits), one thread per row: p_j =
// float(exp(double(log p_j))), as (*CPU).Softmax.
__global__ void softmax(float *p, const float *logits, int n, int c) {
	int i = blockIdx.x * blockDim.x + threadIdx.x;
	if (i >= n)
		return;
	const float *l = logits + (long long)i * c;
	double lse = row_lse(l, c);
	for (int j = 0; j < c; j++) {
		float lp = (float)((double)l[j] - lse);
		p[(long long)i * c + j] = (float)exp((double)lp);
	}
}

// entropy computes, one thread per row, h[i] = -Σ_j p_j log p_j in double
// (p = softmax(logits), log p_j the float of layers' logSoftmax) and, unless
// dlogits is NULL, dlogits = scale·(-p ⊙ (log p + h)) with h in double, as
// (*CPU).Entropy.
__global__ void entropy(float *h, float *dlogits, const float *logits, int n, int c, float scale) {
	int i = blockIdx.x * blockDim.x + threadIdx.x;
	if (i >= n)
		return;
	const float *l = logits + (long long)i * c;
	double lse = row_lse(l, c);
	double s = 0;
	for (int j = 0; j < c; j++) {
		float lp = (float)((double)l[j] - lse);
		s -= exp((double)lp) * (double)lp;
	}
	h[i] = (float)s;
	if (dlogits == 0)
		return;
	float *dl = dlogits + (long long)i * c;
	for (int j = 0; j < c; j++) {
		float lp = (float)((double)l[j] - lse);
		dl[j] = scale * (float)(-exp((double)lp) * ((double)lp + s));
	}
}

// gather copies rows idx[off..off+n-1] of src (rows of row elements) to dst.
__global__ void gather(float *dst, const float *src, const int *idx, int off, int n, int row) {
	long long total = (long long)n * row;
	for (long long e = blockIdx.x * (long long)blockDim.x + threadIdx.x; e < total;
	     e += (long long)gridDim.x * blockDim.x) {
		long long i = e / row, j = e % row;
		dst[e] = src[(long long)idx[off + i] * row + j];
	}
}

// translate copies n h×w images of src to dst, image i moved by the offset
// (dx, dy) that word i of the stream (seed, tensor) at *step gives
// (layers.TranslateOffset: k = 2·shift+1, dx = w mod k - shift,
// dy = (w div k) mod k - shift), zeros where the moved image does not
// reach. One thread per output pixel; each recomputes its image's block.
__global__ void translate(float *dst, const float *src, int n, int h, int w, int shift,
                          unsigned long long seed, unsigned tensor, const unsigned long long *step) {
	unsigned long long st = *step;
	long long plane = (long long)h * w, total = (long long)n * plane;
	unsigned k = 2u * (unsigned)shift + 1u;
	for (long long e = blockIdx.x * (long long)blockDim.x + threadIdx.x; e < total;
	     e += (long long)gridDim.x * blockDim.x) {
		long long i = e / plane;
		int rem = (int)(e % plane), y = rem / w, x = rem % w;
		uint4 r = rand_block((unsigned)(i / 4), seed, tensor, st);
		unsigned words[4] = {r.x, r.y, r.z, r.w};
		unsigned word = words[i % 4];
		int dx = (int)(word % k) - shift, dy = (int)(word / k % k) - shift;
		int sy = y - dy, sx = x - dx;
		dst[e] = sy >= 0 && sy < h && sx >= 0 && sx < w ? src[i * plane + (long long)sy * w + sx] : 0.0f;
	}
}

// gather_int is gather for int32 elements, rows of one.
__global__ void gather_int(int *dst, const int *src, const int *idx, int off, int n) {
	for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
	     i += (long long)gridDim.x * blockDim.x)
		dst[i] = src[idx[off + i]];
}

// sum_into adds Σ x[0..n-1] to acc[slot]: one block of REDUCE_THREADS, each
// thread summing a strided part in double, then a tree (fixed order, so
// deterministic; the CPU adds in order in double, which agrees to double
// rounding), rounded to float once and added to acc[slot] in float.
__global__ void sum_into(float *acc, int slot, const float *x, int n) {
	__shared__ double sh[REDUCE_THREADS];
	double s = 0;
	for (int i = threadIdx.x; i < n; i += REDUCE_THREADS)
		s += (double)x[i];
	s = block_sum(s, sh);
	if (threadIdx.x == 0)
		acc[slot] += (float)s;
}

// count_correct adds to acc[slot] the number of the n rows of c logits
// whose first maximum is at the label: one block of REDUCE_THREADS, a
// thread per row in turn; integer counts, so the result is exact.
__global__ void count_correct(float *acc, int slot, const float *logits, const int *labels, int n,
                              int c) {
	__shared__ double sh[REDUCE_THREADS];
	int correct = 0;
	for (int i = threadIdx.x; i < n; i += REDUCE_THREADS) {
		const float *row = logits + (long long)i * c;
		int best = 0;
		for (int j = 1; j < c; j++)
			if (row[j] > row[best])
				best = j;
		if (best == labels[i])
			correct++;
	}
	double total = block_sum((double)correct, sh); // exact: integers below 2^53
	if (threadIdx.x == 0)
		acc[slot] += (float)total;
}

// adadelta updates n parameters in place (Keras 1.2.2), in float, as
// (*CPU).Adadelta:
//
//	a = rho·a + (1-rho)·g²;  u = g·(sqrt(da+eps)/sqrt(a+eps));  p -= lr·u;  da = rho·da + (1-rho)·u²
__global__ void adadelta(float *p, const float *g, float *a, float *da, int n, float lr, float rho,
                         float eps) {
	for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
	     i += (long long)gridDim.x * blockDim.x) {
		float gi = g[i];
		float ai = rho * a[i] + (1.0f - rho) * gi * gi;
		float u = gi * (sqrtf(da[i] + eps) / sqrtf(ai + eps));
		p[i] -= lr * u;
		a[i] = ai;
		da[i] = rho * da[i] + (1.0f - rho) * u * u;
	}
}

// average updates the running average of n parameters, as
// (*CPU).Average: avg = decay·avg + (1-decay)·p (no fused multiply-add:
// the PTX is built with -fmad=false).
__global__ void average(float *avg, const float *p, int n, float decay) {
	float rest = 1.0f - decay;
	for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
	     i += (long long)gridDim.x * blockDim.x)
		avg[i] = decay * avg[i] + rest * p[i];
}

} // extern "C"

// adam_correction is layers.AdamCorrection: Adam's bias-corrected step
// size at t = step+1, lr·sqrt(1-b2^t)/(1-b1^t) in double, rounded to float
// once. CUDA's pow and sqrt and Go's math.Pow and math.Sqrt may differ in
// the last bit of the double; the float then differs by at most 1 ulp, and
// only next to a float rounding boundary.
__device__ float adam_correction(float lr, float beta1, float beta2, unsigned long long step) {
	double t = (double)step + 1.0;
	return (float)((double)lr * sqrt(1.0 - pow((double)beta2, t)) / (1.0 - pow((double)beta1, t)));
}

extern "C" {

// adam updates n parameters in place (Kingma & Ba 2015), in float, as
// (*CPU).Adam, at t = *step + 1:
//
//	m = b1·m + (1-b1)·g;  v = b2·v + (1-b2)·g·g;  p -= lrT·m/(sqrt(v) + eps)
//
// lrT = adam_correction(lr, b1, b2, *step). The step is read from the
// backend's device word, never passed by value, so that a graph captured
// once applies the right correction at every replay (see the top of this
// file).
__global__ void adam(float *p, const float *g, float *m, float *v, int n, float lr, float beta1,
                     float beta2, float eps, const unsigned long long *step) {
	float lrT = adam_correction(lr, beta1, beta2, *step);
	for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
	     i += (long long)gridDim.x * blockDim.x) {
		float gi = g[i];
		float mi = beta1 * m[i] + (1.0f - beta1) * gi;
		float vi = beta2 * v[i] + (1.0f - beta2) * gi * gi;
		p[i] -= lrT * mi / (sqrtf(vi) + eps);
		m[i] = mi;
		v[i] = vi;
	}
}

} // extern "C"

// Modes of batch normalisation, as layers.BNMode.
#define BN_BATCH 0
#define BN_BATCH_UPDATE 1
#define BN_RUNNING 2

extern "C" {

// batch_norm_forward is (*CPU).BatchNormForward: it normalises each of the
// c features (columns) of x[n×c], one thread per feature (a few blocks at
// most, but each column's sums run over the rows in order, in double, as
// the CPU's, which gives its bits). In modes BN_BATCH and BN_BATCH_UPDATE
// the statistics are the batch's: mean = Σx/n, var = Σ(x - mean)²/n, rstd
// = 1/sqrt(var + eps); BN_BATCH_UPDATE also sets run_mean = ratio·run_mean
// + (1-ratio)·mean and run_var = ratio·run_var + (1-ratio)·var·n/(n-1) in
// float. BN_RUNNING takes mean = run_mean, rstd = 1/sqrt(run_var + eps).
// mean and rstd are written in every mode; then y = gamma·xhat + beta with
// xhat = (x - mean)·rstd, in float. run_mean and run_var may be NULL in
// mode BN_BATCH.
__global__ void batch_norm_forward(float *y, const float *x, const float *gamma, const float *beta,
                                   float *mean, float *rstd, float *run_mean, float *run_var, int n,
                                   int c, float eps, float ratio, int mode) {
	int j = blockIdx.x * blockDim.x + threadIdx.x;
	if (j >= c)
		return;
	float m, r;
	if (mode == BN_RUNNING) {
		m = run_mean[j];
		r = (float)(1.0 / sqrt((double)run_var[j] + (double)eps));
	} else {
		double s = 0;
		for (int i = 0; i < n; i++)
			s += (double)x[(long long)i * c + j];
		s /= (double)n;
		double v = 0;
		for (int i = 0; i < n; i++) {
			double d = (double)x[(long long)i * c + j] - s;
			v += d * d;
		}
		v /= (double)n;
		m = (float)s;
		r = (float)(1.0 / sqrt(v + (double)eps));
		if (mode == BN_BATCH_UPDATE) {
			float rest = 1.0f - ratio;
			double unbias = n > 1 ? (double)n / (double)(n - 1) : 1.0;
			float uv = (float)(v * unbias);
			run_mean[j] = ratio * run_mean[j] + rest * m;
			run_var[j] = ratio * run_var[j] + rest * uv;
		}
	}
	mean[j] = m;
	rstd[j] = r;
	for (int i = 0; i < n; i++) {
		long long k = (long long)i * c + j;
		float xh = (x[k] - m) * r;
		y[k] = gamma[j] * xh + beta[j];
	}
}

// batch_norm_backward is (*CPU).BatchNormBackward, one thread per feature:
// with xhat = (x - mean)·rstd as the forward pass computed it, Σdy and
// Σdy·xhat over the rows in order, in double; unless dgamma is NULL,
// dgamma += Σdy·xhat and dbeta += Σdy; unless dx is NULL (dx may be dy),
//
//	dx = gamma·rstd/n · (n·dy - Σdy - xhat·Σdy·xhat)   batch != 0 (through the batch's statistics)
//	dx = gamma·rstd·dy                                 batch == 0 (statistics held fixed)
//
// in double, rounded to float once.
__global__ void batch_norm_backward(float *dx, float *dgamma, float *dbeta, const float *dy,
                                    const float *x, const float *gamma, const float *mean,
                                    const float *rstd, int n, int c, int batch) {
	int j = blockIdx.x * blockDim.x + threadIdx.x;
	if (j >= c)
		return;
	float m = mean[j], r = rstd[j];
	double sdy = 0, sdyx = 0;
	for (int i = 0; i < n; i++) {
		long long k = (long long)i * c + j;
		float xh = (x[k] - m) * r;
		double g = (double)dy[k];
		sdy += g;
		sdyx += g * (double)xh; // exact: a product of two floats
	}
	if (dgamma != 0) {
		dgamma[j] += (float)sdyx;
		dbeta[j] += (float)sdy;
	}
	if (dx == 0)
		return;
	double gr = (double)gamma[j] * (double)r; // exact
	double nf = (double)n;
	for (int i = 0; i < n; i++) {
		long long k = (long long)i * c + j;
		double g = (double)dy[k];
		if (!batch) {
			dx[k] = (float)(gr * g);
			continue;
		}
		float xh = (x[k] - m) * r;
		double t = nf * g - sdy - (double)xh * sdyx;
		dx[k] = (float)(gr / nf * t);
	}
}

// add_noise computes y = x + std·z over n elements, z the normal stream
// (seed, tensor) at *step as rand_normal draws it, std·z rounded to float
// before the sum; y may be x. One thread per Philox block of four.
__global__ void add_noise(float *y, const float *x, int n, float std, unsigned long long seed,
                          unsigned tensor, const unsigned long long *step) {
	unsigned long long st = *step;
	int blocks = n / 4 + (n % 4 != 0); // (n + 3) / 4 overflows for n near 2^31
	for (int b = blockIdx.x * blockDim.x + threadIdx.x; b < blocks; b += gridDim.x * blockDim.x) {
		uint4 r = rand_block((unsigned)b, seed, tensor, st);
		float z[4];
		box_muller(r.x, r.y, &z[0], &z[1]);
		box_muller(r.z, r.w, &z[2], &z[3]);
		for (int j = 0; j < 4 && 4 * b + j < n; j++)
			y[4 * b + j] = x[4 * b + j] + std * z[j];
	}
}

} // extern "C"
