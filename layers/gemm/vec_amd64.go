//go:build amd64 && !purego

package gemm

// The element-wise loops of vec.go in AVX-512 (vec_amd64.s): 16 elements
// at a time, the last n%16 under a mask. Each element gets the same
// operation as in the Go loop, so results are bit-identical.

//go:noescape
func copyAVX512(m, n int, a *float32, lda int, c *float32, ldc int)

//go:noescape
func fillAVX512(m, n int, v *float32, c *float32, ldc int)

//go:noescape
func reluAVX512(n int, y, x *float32)

//go:noescape
func reluMaskAVX512(n int, dx, dy, y *float32)

func copyKernel(m, n int, a []float32, lda int, c []float32, ldc int) bool {
	if !hasAddAVX512 {
		return false
	}
	copyAVX512(m, n, &a[0], lda, &c[0], ldc)
	return true
}

func fillKernel(m, n int, v []float32, c []float32, ldc int) bool {
	if !hasAddAVX512 {
		return false
	}
	fillAVX512(m, n, &v[0], &c[0], ldc)
	return true
}

func reluKernel(y, x []float32) bool {
	if !hasAddAVX512 {
		return false
	}
	reluAVX512(len(x), &y[0], &x[0])
	return true
}

func reluMaskKernel(dx, dy, y []float32) bool {
	if !hasAddAVX512 {
		return false
	}
	reluMaskAVX512(len(y), &dx[0], &dy[0], &y[0])
	return true
}
