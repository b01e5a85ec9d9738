//go:build amd64 && !purego

package gemm

import "golang.org/x/sys/cpu"

// addAVX512 is Add's loop (add_amd64.s): 16 columns at a time, the last
// n%16 under a mask.
//
//go:noescape
func addAVX512(m, n int, a *float32, lda int, c *float32, ldc int)

var hasAddAVX512 = cpu.X86.HasAVX512F

// vectorized reports whether the element-wise loops run in AVX-512 here
// (tests that compare them with their Go loops skip where they do not).
func vectorized() bool { return hasAddAVX512 }

func addKernel(m, n int, a []float32, lda int, c []float32, ldc int) bool {
	if !hasAddAVX512 {
		return false
	}
	addAVX512(m, n, &a[0], lda, &c[0], ldc)
	return true
}
