package gpu

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"sort"
	"strings"
)

//go:embed *.go kernels.ptx cuda/*.go cuda/vg_cuda.h
var sources embed.FS

// SourceHash returns the SHA-256 of this build's GPU code: the Go files
// of gpu/ and of its bindings gpu/cuda/ (tests excluded), vg_cuda.h and
// gpu/kernels.ptx, which records the hash of kernels.cu. Parity fixtures store it, so that a later test can tell when
// the GPU code changed since they were recorded.
func SourceHash() string { return HashSources(sources) }

// HashSources computes SourceHash over the files of fsys (gpu/'s folder).
func HashSources(fsys fs.FS) string {
	names, _ := fs.Glob(fsys, "*.go")
	bindings, _ := fs.Glob(fsys, "cuda/*.go")
	names = append(append(names, bindings...), "kernels.ptx", "cuda/vg_cuda.h")
	sort.Strings(names)
	h := sha256.New()
	for _, n := range names {
		if strings.HasSuffix(n, "_test.go") {
			continue
		}
		b, err := fs.ReadFile(fsys, n)
		if err != nil {
			continue
		}
		h.Write([]byte(n + "\n"))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))
}
