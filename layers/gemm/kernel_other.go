//go:build !amd64 || purego

package gemm

// kernels lists the kernels this machine can run, fastest first.
func kernels() []*kernel { return []*kernel{&genericKernel} }
