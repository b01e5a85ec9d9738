// arith.cpp: the one matrix product behind the emulated cuBLAS and cuDNN.
#include "emucuda.h"

namespace {

// v16 is 16 floats (one AVX-512 register, two AVX ones); v16u the same,
// at any 4-byte aligned address.
typedef float v16 __attribute__((vector_size(64)));
typedef float v16u __attribute__((vector_size(64), aligned(4), may_alias));

inline v16 load(const float *p) { return *(const v16u *)p; }
inline void store(float *p, v16 v) { *(v16u *)p = v; }

// block computes rows [i, i+16·R) and columns [j, j+NJ) of the product, in
// registers: R·NJ accumulators of 16 rows.
template <int R, int NJ>
inline void block(int i, int j, int kdim, const float *A, size_t lda, const float *B, size_t bsp, size_t bsj, float *out,
	size_t ldo, bool accumulate) {
	v16 c[R][NJ];
	for (int r = 0; r < R; r++) {
		for (int s = 0; s < NJ; s++) {
			c[r][s] = accumulate ? load(out + i + 16 * r + (j + s) * ldo) : v16{};
		}
	}
	const float *a = A + i, *b = B + j * bsj;
	for (int p = 0; p < kdim; p++) {
		v16 av[R];
		for (int r = 0; r < R; r++) {
			av[r] = load(a + 16 * r);
		}
		for (int s = 0; s < NJ; s++) {
			float bv = b[s * bsj];
			for (int r = 0; r < R; r++) {
				c[r][s] += av[r] * bv;
			}
		}
		a += lda;
		b += bsp;
	}
	for (int r = 0; r < R; r++) {
		for (int s = 0; s < NJ; s++) {
			store(out + i + 16 * r + (j + s) * ldo, c[r][s]);
		}
	}
}

template <int NJ>
void columns(int j, int m, int kdim, const float *A, size_t lda, const float *B, size_t bsp, size_t bsj, float *out,
	size_t ldo, bool accumulate) {
	int i = 0;
	for (; i + 32 <= m; i += 32) {
		block<2, NJ>(i, j, kdim, A, lda, B, bsp, bsj, out, ldo, accumulate);
	}
	for (; i + 16 <= m; i += 16) {
		block<1, NJ>(i, j, kdim, A, lda, B, bsp, bsj, out, ldo, accumulate);
	}
	for (; i < m; i++) {
		for (int s = 0; s < NJ; s++) {
			float t = accumulate ? out[i + (j + s) * ldo] : 0.0f;
			const float *a = A + i, *b = B + (j + s) * bsj;
			for (int p = 0; p < kdim; p++) {
				t += a[p * lda] * b[p * bsp];
			}
			out[i + (j + s) * ldo] = t;
		}
	}
}

} // namespace

void emu_product(int m, int n, int kdim, const float *A, size_t lda, const float *B, size_t bsp, size_t bsj, float *out,
	size_t ldo, bool accumulate) {
	int j = 0;
	for (; j + 4 <= n; j += 4) {
		columns<4>(j, m, kdim, A, lda, B, bsp, bsj, out, ldo, accumulate);
	}
	switch (n - j) {
	case 3:
		columns<3>(j, m, kdim, A, lda, B, bsp, bsj, out, ldo, accumulate);
		break;
	case 2:
		columns<2>(j, m, kdim, A, lda, B, bsp, bsj, out, ldo, accumulate);
		break;
	case 1:
		columns<1>(j, m, kdim, A, lda, B, bsp, bsj, out, ldo, accumulate);
		break;
	}
}
