package gpu

import (
	_ "embed"
	"fmt"
	"strconv"
	"strings"
)

// kernelsPTX is ../kernels.cu compiled to PTX (see the command at the top
// of kernels.cu), with the SHA-256 of the source on its first line.
//
//go:embed kernels.ptx
var kernelsPTX string

// ptxHashPrefix starts the first line of kernels.ptx; the hex SHA-256 of
// kernels.cu follows it.
const ptxHashPrefix = "// kernels.cu sha256: "

// ptxSourceHash returns the hash of kernels.cu recorded on the first line
// of ptx, or "" if the line is missing.
func ptxSourceHash(ptx string) string {
	line, _, _ := strings.Cut(ptx, "\n")
	h, ok := strings.CutPrefix(strings.TrimSpace(line), ptxHashPrefix)
	if !ok {
		return ""
	}
	return strings.TrimSpace(h)
}

// ptxEntries parses the .entry declarations of ptx and returns, for each
// kernel, the sizes in bytes of its parameters in order.
func ptxEntries(ptx string) (map[string][]int, error) {
	entries := map[string][]int{}
	rest := ptx
	for {
		i := strings.Index(rest, ".entry ")
		if i < 0 {
			return entries, nil
		}
		rest = rest[i+len(".entry "):]
		open := strings.IndexByte(rest, '(')
		end := strings.IndexByte(rest, ')')
		if open < 0 || end < open {
			return nil, fmt.Errorf("gpu: ptx: .entry without a parameter list near %.40q", rest)
		}
		name := strings.TrimSpace(rest[:open])
		var sizes []int
		for _, p := range strings.Split(rest[open+1:end], ",") {
			if p = strings.TrimSpace(p); p == "" {
				continue
			}
			n, err := ptxParamSize(p)
			if err != nil {
				return nil, fmt.Errorf("gpu: ptx: %s: %v", name, err)
			}
			sizes = append(sizes, n)
		}
		if _, dup := entries[name]; dup {
			return nil, fmt.Errorf("gpu: ptx: two entries named %s", name)
		}
		entries[name] = sizes
		rest = rest[end:]
	}
}

// ptxParamSize returns the size in bytes of one parameter declaration such
// as ".param .u64 f_param_0" or ".param .align 8 .b8 f_param_1[16]".
func ptxParamSize(decl string) (int, error) {
	f := strings.Fields(decl)
	if len(f) < 3 || f[0] != ".param" {
		return 0, fmt.Errorf("parameter %q: not a .param declaration", decl)
	}
	ty, name := f[len(f)-2], f[len(f)-1]
	elem := 0
	switch ty {
	case ".u8", ".s8", ".b8":
		elem = 1
	case ".u16", ".s16", ".b16", ".f16":
		elem = 2
	case ".u32", ".s32", ".b32", ".f32":
		elem = 4
	case ".u64", ".s64", ".b64", ".f64":
		elem = 8
	default:
		return 0, fmt.Errorf("parameter %q: unknown type %s", decl, ty)
	}
	if i := strings.IndexByte(name, '['); i >= 0 {
		n, err := strconv.Atoi(strings.TrimSuffix(name[i+1:], "]"))
		if err != nil {
			return 0, fmt.Errorf("parameter %q: bad array length", decl)
		}
		return elem * n, nil
	}
	return elem, nil
}
