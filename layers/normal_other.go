//go:build !amd64 || purego

package layers

func normalBlocks(z []float32, r Rand, b0 uint32, step uint64) bool { return false }
