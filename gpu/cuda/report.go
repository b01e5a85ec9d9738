package cuda

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"text/tabwriter"
)

// Report is what Probe found: which NVIDIA libraries loaded from where, and
// which GPUs the driver sees. Fields that could not be determined are empty
// and the matching Error field says why.
type Report struct {
	Cgo bool // built with cgo; without it nothing else is probed

	Driver        LibraryReport
	DriverVersion string // the kernel driver's version, e.g. "580.65.06"
	CUDAVersion   int    // newest CUDA the driver supports, 1000*major + 10*minor (13000 is 13.0)
	InitError     string // why cuInit or the device queries failed
	Devices       []DeviceInfo

	CUBLAS LibraryReport
	CUDNN  LibraryReport
}

// LibraryReport says whether and from where one library was loaded.
type LibraryReport struct {
	Lib     Library
	Loaded  bool
	Path    string   // the library file, e.g. ".../nvidia/cudnn/lib/libcudnn.so.9"
	Paths   []string // every file loaded for it, dependencies first
	Origin  string   // where in the search order it was found
	Version string   // e.g. "9.13.0", "" if unknown
	Error   string   // why it was not loaded
}

// Usable reports whether Open can be expected to work: the three libraries
// loaded and at least one GPU was found.
func (r Report) Usable() bool {
	return r.Driver.Loaded && r.CUBLAS.Loaded && r.CUDNN.Loaded && r.InitError == "" && len(r.Devices) > 0
}

// Probe looks for the CUDA driver, cuBLAS, cuDNN and GPUs. It never fails:
// what it cannot find it records, with the reason. It creates no context.
func Probe() Report {
	r := Report{Cgo: cgoEnabled}
	if !cgoEnabled {
		msg := errNoCgo.Error()
		r.Driver = LibraryReport{Lib: Driver, Error: msg}
		r.CUBLAS = LibraryReport{Lib: CUBLAS, Error: msg}
		r.CUDNN = LibraryReport{Lib: CUDNN, Error: msg}
		return r
	}
	r.Driver = libraryReport(library(Driver))
	if r.Driver.Loaded {
		r.DriverVersion = kernelDriverVersion(r.Driver.Path)
		r.Driver.Version = r.DriverVersion
		r.probeDevices()
	}
	r.CUBLAS = libraryReport(library(CUBLAS))
	if r.CUBLAS.Loaded {
		r.CUBLAS.Version = cublasVersion()
	}
	r.CUDNN = libraryReport(library(CUDNN))
	if r.CUDNN.Loaded {
		r.CUDNN.Version = formatCUDNNVersion(cudnnGetVersion())
	}
	return r
}

func (r *Report) probeDevices() {
	if v, code := cuDriverGetVersion(); code == 0 {
		r.CUDAVersion = v
	}
	if err := cuCheck("cuInit", "", cuInit()); err != nil {
		r.InitError = errText(err)
		return
	}
	n, code := cuDeviceGetCount()
	if err := cuCheck("cuDeviceGetCount", "", code); err != nil {
		r.InitError = errText(err)
		return
	}
	for i := 0; i < n; i++ {
		info, _, err := deviceInfo(i)
		if err != nil {
			r.InitError = fmt.Sprintf("device %d: %s", i, errText(err))
			return
		}
		r.Devices = append(r.Devices, info)
	}
}

// errText is err's message without the "gpu: " prefix.
func errText(err error) string { return strings.TrimPrefix(err.Error(), "gpu: ") }

func libraryReport(l *loadedLib) LibraryReport {
	lr := LibraryReport{Lib: l.Lib}
	if l.Err != nil {
		lr.Error = l.Err.Error()
		if l.NotFound {
			lr.Error = "not found: " + lr.Error
		}
		return lr
	}
	lr.Loaded, lr.Path, lr.Paths, lr.Origin = true, l.Path, l.Paths, l.Origin
	return lr
}

// cublasVersion asks cublasGetProperty, which needs no GPU.
func cublasVersion() string {
	var v [3]int
	for i, t := range []int{libraryMajorVersion, libraryMinorVersion, libraryPatchLevel} {
		x, code, ok := cublasGetProperty(t)
		if !ok || code != 0 {
			return ""
		}
		v[i] = x
	}
	return fmt.Sprintf("%d.%d.%d", v[0], v[1], v[2])
}

// formatCUDNNVersion decodes cudnnGetVersion: cuDNN 9 returns
// major*10000 + minor*100 + patch (90600 is 9.6.0), cuDNN 8
// major*1000 + minor*100 + patch (8907 is 8.9.7).
func formatCUDNNVersion(v int) string {
	if v <= 0 {
		return ""
	}
	if v >= 10000 {
		return fmt.Sprintf("%d.%d.%d", v/10000, v%10000/100, v%100)
	}
	return fmt.Sprintf("%d.%d.%d", v/1000, v%1000/100, v%100)
}

// formatCUDAVersion writes cuDriverGetVersion's 12080 as "12.8".
func formatCUDAVersion(v int) string {
	if v <= 0 {
		return ""
	}
	return fmt.Sprintf("%d.%d", v/1000, v%1000/10)
}

var nvrmVersion = regexp.MustCompile(`Kernel Module(?: for [^ ]+)?\s+([0-9]+(?:\.[0-9]+)+)`)

// kernelDriverVersion reads the NVIDIA kernel module's version from
// /proc/driver/nvidia/version, or else from the name libcuda.so.1 links to
// (libcuda.so.580.65.06).
func kernelDriverVersion(libcuda string) string {
	if b, err := os.ReadFile("/proc/driver/nvidia/version"); err == nil {
		if m := nvrmVersion.FindSubmatch(b); m != nil {
			return string(m[1])
		}
	}
	if real, err := filepath.EvalSymlinks(libcuda); err == nil {
		if v, ok := strings.CutPrefix(filepath.Base(real), "libcuda.so."); ok && v != "1" {
			return v
		}
	}
	return ""
}

// LibraryPath lists the folders a process needs on LD_LIBRARY_PATH so that
// what cuBLAS and cuDNN load later by soname, on their own, is found: cuDNN
// loads NVRTC for its runtime-compiled engines, for one, which the pip
// wheels put in a folder of their own. They are the folders cuBLAS and
// cuDNN were loaded from (unless the loader found them itself) and, where
// one is a Python nvidia/<package>/lib folder, every nvidia/*/lib folder
// beside it, in that order. The loader
// reads LD_LIBRARY_PATH once, when a process starts, so it must be set
// before the program runs: `vatgpu devices --ld-library-path` prints it.
func (r Report) LibraryPath() []string {
	var dirs []string
	for _, l := range []LibraryReport{r.CUBLAS, r.CUDNN} {
		if l.Origin == originLoader {
			continue // the loader found it, and finds what it loads
		}
		for _, p := range l.Paths {
			dir := filepath.Dir(p)
			if !filepath.IsAbs(dir) {
				continue
			}
			dirs = append(dirs, dir)
			if nvidia := filepath.Dir(filepath.Dir(dir)); filepath.Base(dir) == "lib" && filepath.Base(nvidia) == "nvidia" {
				dirs = append(dirs, globSorted(filepath.Join(nvidia, "*", "lib"))...)
			}
		}
	}
	return dedupe(dirs)
}

// String formats the report as a table for the vatgpu devices command.
func (r Report) String() string {
	if !r.Cgo {
		return errNoCgo.Error() + "\nstatus: not usable; the CPU backend still works\n"
	}
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "LIBRARY\tVERSION\tLOADED FROM")
	for _, l := range []LibraryReport{r.Driver, r.CUBLAS, r.CUDNN} {
		version := l.Version
		if l.Lib == Driver && r.CUDAVersion > 0 {
			version = strings.TrimSpace(version + " (CUDA " + formatCUDAVersion(r.CUDAVersion) + ")")
		}
		switch {
		case l.Loaded:
			fmt.Fprintf(tw, "%v\t%s\t%s\n", l.Lib, dash(version), l.Path)
		default:
			fmt.Fprintf(tw, "%v\t-\t%s\n", l.Lib, l.Error)
		}
	}
	tw.Flush()
	for _, l := range []LibraryReport{r.Driver, r.CUBLAS, r.CUDNN} {
		if len(l.Paths) > 1 {
			fmt.Fprintf(&b, "%v also loaded: %s\n", l.Lib, strings.Join(l.Paths[:len(l.Paths)-1], ", "))
		}
	}
	b.WriteString("\n")
	switch {
	case !r.Driver.Loaded:
		b.WriteString("GPUs: unknown (no CUDA driver)\n")
	case r.InitError != "" && len(r.Devices) == 0:
		fmt.Fprintf(&b, "GPUs: none usable: %s\n", r.InitError)
	case len(r.Devices) == 0:
		b.WriteString("GPUs: none found\n")
	default:
		tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "GPU\tNAME\tMEMORY\tCOMPUTE\tSMS")
		for _, d := range r.Devices {
			fmt.Fprintf(tw, "%d\t%s\t%.1f GiB\t%d.%d\t%d\n", d.Index, d.Name, float64(d.Memory)/(1<<30),
				d.ComputeMajor, d.ComputeMinor, d.SMs)
		}
		tw.Flush()
		if r.InitError != "" {
			fmt.Fprintf(&b, "error: %s\n", r.InitError)
		}
	}
	if r.Usable() {
		b.WriteString("status: usable\n")
	} else {
		b.WriteString("status: not usable; the CPU backend still works\n")
	}
	return b.String()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
