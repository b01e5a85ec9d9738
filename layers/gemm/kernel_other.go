//go:build !amd64 || purego

package gemm

// kernels lists the kernels this machine can run, fastest first.
func kernels() []*kernel { return []*kernel{&genericKernel} }

// rowsBKernel is nil here: SgemmRowsB gathers B and calls Sgemm.
func rowsBKernel() func(k int, a *float32, lda int, b *float32, offs *int, c *float32, ldc int, mr, nr int) {
	return nil
}
