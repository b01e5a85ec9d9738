// main.cpp runs one kernel of kernels.cu on the host (see emu.h), for
// gpu.TestKernelsOnHost.
//
//	emu IN OUT
//
// IN holds the kernel's name, the grid and block sizes and its arguments in
// order, each a kind letter and a value: p an array (int32 element kind, 0
// float32, 1 int32, 2 uint64, or -1 for NULL; int64 length; the elements),
// i u f q a 4- or 8-byte scalar in 8 bytes. OUT receives every array
// argument after the launch, in order, as (int64 length, elements).
#include "emu.h"
#include "kernels.cu"

#include <cstdio>
#include <map>
#include <string>

struct Arg {
	char kind;
	std::vector<unsigned char> data; // array bytes
	int elem = 0;                    // array element kind
	bool null = false;
	uint64_t bits = 0; // scalar bits
};
static std::vector<Arg> A;

static float *F(int i) { return A[i].null ? nullptr : (float *)A[i].data.data(); }
static int *I32(int i) { return A[i].null ? nullptr : (int *)A[i].data.data(); }
static unsigned long long *U64(int i) { return A[i].null ? nullptr : (unsigned long long *)A[i].data.data(); }
static int I(int i) { return (int)(int32_t)A[i].bits; }
static unsigned U(int i) { return (unsigned)A[i].bits; }
static float Fl(int i) {
	float f;
	uint32_t b = (uint32_t)A[i].bits;
	memcpy(&f, &b, 4);
	return f;
}
static unsigned long long Q(int i) { return A[i].bits; }

template <typename T> static T rd(FILE *f) {
	T v;
	if (fread(&v, sizeof v, 1, f) != 1)
		exit(3);
	return v;
}

int main(int argc, char **argv) {
	if (argc != 3)
		return 2;
	FILE *in = fopen(argv[1], "rb");
	if (!in)
		return 2;
	std::string name(rd<int64_t>(in), '\0');
	if (fread(name.data(), 1, name.size(), in) != name.size())
		return 3;
	unsigned grid = rd<uint32_t>(in), block = rd<uint32_t>(in);
	int64_t nargs = rd<int64_t>(in);
	A.resize(nargs);
	for (auto &a : A) {
		a.kind = rd<char>(in);
		if (a.kind != 'p') {
			a.bits = rd<uint64_t>(in);
			continue;
		}
		a.elem = rd<int32_t>(in);
		int64_t n = rd<int64_t>(in);
		if (a.elem < 0) {
			a.null = true;
			continue;
		}
		a.data.resize(n * (a.elem == 2 ? 8 : 4));
		if (fread(a.data.data(), 1, a.data.size(), in) != a.data.size())
			return 3;
	}
	fclose(in);

	std::map<std::string, std::function<void()>> k = {
		{"set_step", [] { set_step(U64(0), Q(1)); }},
		{"fill_bias", [] { fill_bias(F(0), F(1), I(2), I(3), I(4)); }},
		{"dense_backward_bias", [] { dense_backward_bias(F(0), F(1), I(2), I(3)); }},
		{"relu_forward", [] { relu_forward(F(0), F(1), I(2)); }},
		{"relu_backward", [] { relu_backward(F(0), F(1), F(2), I(3)); }},
		{"max_pool_forward", [] { max_pool_forward(F(0), F(1), I(2), I(3), I(4)); }},
		{"max_pool_backward", [] { max_pool_backward(F(0), F(1), F(2), I(3), I(4), I(5)); }},
		{"dropout_forward", [] { dropout_forward(F(0), F(1), I(2), Fl(3), Q(4), U(5), U64(6)); }},
		{"dropout_backward", [] { dropout_backward(F(0), F(1), I(2), Fl(3), Q(4), U(5), U64(6)); }},
		{"rand_normal", [] { rand_normal(F(0), I(1), Q(2), U(3), U64(4)); }},
		{"perturb", [] { perturb(F(0), F(1), F(2), I(3), Fl(4), I(5)); }},
		{"perturb_backward", [] { perturb_backward(F(0), F(1), F(2), I(3), Fl(4), I(5)); }},
		{"softmax_xent", [] { softmax_xent(F(0), F(1), F(2), I32(3), I(4), I(5), Fl(6)); }},
		{"kl_div", [] { kl_div(F(0), F(1), F(2), F(3), I(4), I(5), Fl(6)); }},
		{"softmax", [] { softmax(F(0), F(1), I(2), I(3)); }},
		{"entropy", [] { entropy(F(0), F(1), F(2), I(3), I(4), Fl(5)); }},
		{"gather", [] { gather(F(0), F(1), I32(2), I(3), I(4), I(5)); }},
		{"gather_int", [] { gather_int(I32(0), I32(1), I32(2), I(3), I(4)); }},
		{"average", [] { average(F(0), F(1), I(2), Fl(3)); }},
		{"translate", [] { translate(F(0), F(1), I(2), I(3), I(4), I(5), Q(6), U(7), U64(8)); }},
		{"sum_into", [] { sum_into(F(0), I(1), F(2), I(3)); }},
		{"count_correct", [] { count_correct(F(0), I(1), F(2), I32(3), I(4), I(5)); }},
		{"adadelta", [] { adadelta(F(0), F(1), F(2), F(3), I(4), Fl(5), Fl(6), Fl(7)); }},
		{"adam", [] { adam(F(0), F(1), F(2), F(3), I(4), Fl(5), Fl(6), Fl(7), Fl(8), U64(9)); }},
		{"batch_norm_forward", [] { batch_norm_forward(F(0), F(1), F(2), F(3), F(4), F(5), F(6), F(7), I(8), I(9), Fl(10), Fl(11), I(12)); }},
		{"batch_norm_backward", [] { batch_norm_backward(F(0), F(1), F(2), F(3), F(4), F(5), F(6), F(7), I(8), I(9), I(10)); }},
		{"add_noise", [] { add_noise(F(0), F(1), I(2), Fl(3), Q(4), U(5), U64(6)); }},
	};
	auto it = k.find(name);
	if (it == k.end()) {
		fprintf(stderr, "no kernel %s\n", name.c_str());
		return 4;
	}
	launch(grid, block, it->second);

	FILE *out = fopen(argv[2], "wb");
	for (auto &a : A) {
		if (a.kind != 'p')
			continue;
		int64_t n = a.data.size();
		fwrite(&n, 8, 1, out);
		fwrite(a.data.data(), 1, a.data.size(), out);
	}
	fclose(out);
	return 0;
}
