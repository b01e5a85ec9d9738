package gpu

import (
	"crypto/sha256"
	"encoding/hex"
	"github.com/vatgpu/vatgpu/gpu/cuda"
	"os"
	"strings"
	"testing"
)

const makeKernels = "run the command at the top of kernels.cu (make kernels) to regenerate gpu/kernels.ptx"

// TestPTXMatchesSource fails when gpu/kernels.ptx was not generated from
// the current kernels.cu.
func TestPTXMatchesSource(t *testing.T) {
	src, err := os.ReadFile("../kernels.cu")
	if err != nil {
		t.Fatalf("reading kernels.cu: %v", err)
	}
	sum := sha256.Sum256(src)
	want := hex.EncodeToString(sum[:])
	got := ptxSourceHash(kernelsPTX)
	if got == "" {
		t.Fatalf("gpu/kernels.ptx has no %q line: %s", ptxHashPrefix, makeKernels)
	}
	if got != want {
		t.Fatalf("gpu/kernels.ptx is of kernels.cu with sha256 %s, but kernels.cu has %s: %s", got, want, makeKernels)
	}
}

// TestPTXEntries checks every kernel the backend launches against its
// .entry declaration in the PTX: the name exists and the parameters agree
// in number and size with kernelSpecs, which launch checks every call's
// Go arguments against.
func TestPTXEntries(t *testing.T) {
	entries, err := ptxEntries(kernelsPTX)
	if err != nil {
		t.Fatal(err)
	}
	used := map[string]bool{}
	for k, spec := range kernelSpecs {
		if spec.name == "" {
			t.Errorf("kernel %d has no spec", k)
			continue
		}
		used[spec.name] = true
		sizes, ok := entries[spec.name]
		if !ok {
			t.Errorf("kernel %s: no .entry %s in gpu/kernels.ptx (%s)", spec.name, spec.name, makeKernels)
			continue
		}
		if len(sizes) != len(spec.params) {
			t.Errorf("kernel %s: PTX has %d parameters %v, Go passes %d (%q)", spec.name, len(sizes), sizes, len(spec.params), spec.params)
			continue
		}
		for i := range sizes {
			if sizes[i] != paramSize(spec.params[i]) {
				t.Errorf("kernel %s parameter %d: PTX has %d bytes, Go passes %q (%d bytes)",
					spec.name, i, sizes[i], spec.params[i], paramSize(spec.params[i]))
			}
		}
	}
	for name := range entries {
		if !used[name] {
			t.Errorf("kernels.cu defines kernel %s, which the Go code never loads", name)
		}
	}
}

func TestPTXParser(t *testing.T) {
	ptx := `// kernels.cu sha256: abc
.visible .entry f(
	.param .u64 f_param_0,
	.param .f32 f_param_1,
	.param .align 8 .b8 f_param_2[16]
)
{
	ret;
}
.visible .entry g()
{
}
`
	if h := ptxSourceHash(ptx); h != "abc" {
		t.Errorf("hash %q, want abc", h)
	}
	e, err := ptxEntries(ptx)
	if err != nil {
		t.Fatal(err)
	}
	if got := e["f"]; len(got) != 3 || got[0] != 8 || got[1] != 4 || got[2] != 16 {
		t.Errorf("f: %v, want [8 4 16]", got)
	}
	if got, ok := e["g"]; !ok || len(got) != 0 {
		t.Errorf("g: %v %v, want no parameters", got, ok)
	}
	if ptxSourceHash(strings.TrimPrefix(ptx, "// kernels.cu sha256: abc\n")) != "" {
		t.Error("hash found without the line")
	}
}

func TestCheckKernelArgs(t *testing.T) {
	checkKernelArgs(kReLUForward, []any{cuda.DevicePtr(1), cuda.DevicePtr(2), int32(3)})
	for _, bad := range [][]any{
		{cuda.DevicePtr(1), cuda.DevicePtr(2)},            // too few
		{cuda.DevicePtr(1), cuda.DevicePtr(2), int(3)},    // Go int is 8 bytes
		{cuda.DevicePtr(1), cuda.DevicePtr(2), uint64(3)}, // wrong size
		{cuda.DevicePtr(1), int32(2), int32(3)},           // wrong kind
		{uint64(1), cuda.DevicePtr(2), int32(3)},          // a pointer must be a cuda.DevicePtr
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("checkKernelArgs(relu_forward, %v) did not panic", bad)
				}
			}()
			checkKernelArgs(kReLUForward, bad)
		}()
	}
}
