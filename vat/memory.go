package vat

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"syscall"

	"github.com/vatgpu/vatgpu/layers"
	"github.com/vatgpu/vatgpu/mnist"
)

// DeviceMemory is implemented by backends whose buffers live in memory of
// their own (a GPU's): FreeMemory returns the bytes free there.
type DeviceMemory interface {
	FreeMemory() (uint64, error)
}

// MemoryNeeded returns the bytes a trainer with configuration cfg on train
// and test allocates through its backend: the model's parameters,
// gradients and activations for its batch, the optimiser's state, VAT's
// buffers and the data sets. It counts them by building the trainer on a
// backend that only adds up the sizes it is asked for, so it follows the
// trainer as it changes. On the CPU these are nearly all of a run's memory
// (the measured peak RSS of a VAT run was 0.51 GB at batch 1,024 and 1.66
// GB at 4,096: about 375 KB per image, the model's activations).
func MemoryNeeded(cfg Config, train, test *mnist.Set) (uint64, error) {
	var s sizer
	net, err := layers.NetNamed(cfg.Net)
	if err != nil {
		return 0, err
	}
	t, err := NewTrainer(&s, cfg, train, test, make([]float32, net.NumParams()))
	if err != nil {
		return 0, err
	}
	t.Free()
	return s.peak, nil
}

// CheckMemory refuses a run whose buffers would not fit: on a backend with
// memory of its own (DeviceMemory) against its free memory, else against
// what the host still lets this process allocate (hostMemoryAvailable).
// The error names what the run needs and what is available, and where that
// limit comes from.
func CheckMemory(b layers.Backend, cfg Config, train, test *mnist.Set) error {
	need, err := MemoryNeeded(cfg, train, test)
	if err != nil {
		return err
	}
	var avail uint64
	var source string
	if d, ok := b.(DeviceMemory); ok {
		if avail, err = d.FreeMemory(); err != nil {
			return err
		}
		source = "free memory of " + b.Name()
	} else {
		if avail, source = availableMemory(); avail == 0 {
			return nil // nothing known: let the run try
		}
		// The Go heap may reach about twice its live size before a
		// collection (GOGC=100) for the short-lived buffers of a step; the
		// run's own are long-lived, so a tenth more covers the slack.
		need += need / 10
	}
	if need > avail {
		return fmt.Errorf("not enough memory for --batch %d%s: the run needs about %s, %s allows %s (try a smaller --batch)",
			cfg.Batch, ulNote(cfg), gib(need), source, gib(avail))
	}
	return nil
}

func ulNote(cfg Config) string {
	if cfg.Labeled > 0 {
		return fmt.Sprintf(" and --ul-batch %d", cfg.ULBatch)
	}
	return ""
}

func gib(b uint64) string { return fmt.Sprintf("%.2f GiB", float64(b)/(1<<30)) }

// hostMemoryAvailable returns how many more bytes this process may
// allocate, the least of: the cgroup's limit less its usage (v2
// memory.max, v1 memory.limit_in_bytes), the address-space rlimit less the
// address space in use (ulimit -v), and the kernel's MemAvailable; and
// which of them it is. It returns 0 when none is known.
func hostMemoryAvailable() (uint64, string) {
	best, source := uint64(math.MaxUint64), ""
	take := func(v uint64, s string) {
		if v < best {
			best, source = v, s
		}
	}
	if v, ok := cgroupAvailable(); ok {
		take(v, "the cgroup's memory limit")
	}
	var rl syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_AS, &rl) == nil && rl.Cur != math.MaxUint64 && rl.Cur < 1<<62 {
		used := procStatusBytes("/proc/self/status", "VmSize:")
		if used < rl.Cur {
			take(rl.Cur-used, "the address-space limit (ulimit -v)")
		} else {
			take(0, "the address-space limit (ulimit -v)")
		}
	}
	if v, ok := memInfoAvailable("/proc/meminfo"); ok {
		take(v, "the system's available memory (MemAvailable)")
	}
	if source == "" {
		return 0, ""
	}
	return best, source
}

// cgroupAvailable reads this process's cgroup memory limit less its usage.
func cgroupAvailable() (uint64, bool) {
	for _, p := range [][2]string{
		{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"},
		{"/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes"},
	} {
		limit, err1 := readUint(p[0])
		usage, err2 := readUint(p[1])
		if err1 != nil || err2 != nil || limit >= 1<<60 {
			continue
		}
		if usage > limit {
			return 0, true
		}
		return limit - usage, true
	}
	return 0, false
}

func readUint(path string) (uint64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	s := strings.TrimSpace(string(b))
	if s == "max" {
		return math.MaxUint64, nil
	}
	return strconv.ParseUint(s, 10, 64)
}

// memInfoAvailable reads MemAvailable from a /proc/meminfo file.
func memInfoAvailable(path string) (uint64, bool) {
	v := procStatusBytes(path, "MemAvailable:")
	return v, v > 0
}

// procStatusBytes returns the value of the line starting with key in a
// /proc file of "key: N kB" lines, in bytes; 0 if absent.
func procStatusBytes(path, key string) uint64 {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, key) {
			continue
		}
		fields := strings.Fields(line[len(key):])
		if len(fields) == 0 {
			return 0
		}
		v, err := strconv.ParseUint(fields[0], 10, 64)
		if err != nil {
			return 0
		}
		if len(fields) > 1 && fields[1] == "kB" {
			v *= 1024
		}
		return v
	}
	return 0
}

// sizer is a layers.Backend that allocates nothing and runs nothing: it
// adds up the sizes of the buffers it is asked for (peak is the most held
// at once). Only the calls a trainer makes while it is built and freed are
// implemented; any other is a programmer error and panics on the nil
// embedded Backend.
type sizer struct {
	layers.Backend
	held, peak uint64
}

type sizedBuf struct {
	n    int
	view bool // made by Slice: frees nothing
}

func (b sizedBuf) Len() int { return b.n }

func (s *sizer) Name() string { return "sizer" }
func (s *sizer) Alloc(n int) layers.Buf {
	s.held += 4 * uint64(n)
	s.peak = max(s.peak, s.held)
	return sizedBuf{n: n}
}
func (s *sizer) AllocInt(n int) layers.Buf                 { return s.Alloc(n) }
func (s *sizer) Slice(b layers.Buf, off, n int) layers.Buf { return sizedBuf{n: n, view: true} }
func (s *sizer) Free(b layers.Buf) {
	if sb := b.(sizedBuf); !sb.view {
		s.held -= 4 * uint64(sb.n)
	}
}
func (s *sizer) Upload(layers.Buf, []float32)  {}
func (s *sizer) UploadInt(layers.Buf, []int32) {}
func (s *sizer) Copy(layers.Buf, layers.Buf)   {}
func (s *sizer) Zero(layers.Buf)               {}
func (s *sizer) SetStep(uint64)                {}
func (s *sizer) Sync() error                   { return nil }
func (s *sizer) Err() error                    { return nil }
func (s *sizer) Close() error                  { return nil }
