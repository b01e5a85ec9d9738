//go:build !amd64 || purego

package gemm

func addKernel(m, n int, a []float32, lda int, c []float32, ldc int) bool { return false }

// vectorized reports whether the element-wise loops run in AVX-512: never
// in this build.
func vectorized() bool { return false }
