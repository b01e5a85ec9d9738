package cuda

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Where libraries are looked for, in order. Within one place, sonames are
// tried in the order given (newest version first), and folders in the order
// listed; the first candidate that loads and has every required symbol wins.
const (
	originUser   = "VATGPU_CUDA_PATH"
	originLoader = "the loader path"
	originCUDA   = "/usr/local/cuda*/lib64"
	originPython = "Python nvidia/ packages"
)

// searchPlaces is the list of places, for messages.
const searchPlaces = originUser + ", " + originLoader + ", " + originCUDA + " or " + originPython

// candidate is one library file to try to dlopen. A candidate from the
// loader has a bare soname as Path and no Dir.
type candidate struct {
	Path   string // what to pass to dlopen
	Dir    string // the folder holding Path, "" for the loader
	Soname string // e.g. "libcublas.so.12"
	Origin string // one of the origin constants
}

// searchConfig says where to look; defaultSearchConfig reads it from the
// environment, tests build their own over temporary folders.
type searchConfig struct {
	UserDirs   []string // VATGPU_CUDA_PATH, in order
	Loader     bool     // try dlopen of the bare soname
	CUDAGlobs  []string // patterns of CUDA toolkit library folders
	SiteGlobs  []string // patterns of Python site-packages folders
	PythonPath []string // PYTHONPATH entries, each possibly a site-packages folder
}

// defaultSearchConfig is the search configuration for this process.
func defaultSearchConfig() searchConfig {
	c := searchConfig{
		UserDirs:   splitPathList(os.Getenv("VATGPU_CUDA_PATH")),
		Loader:     true,
		CUDAGlobs:  []string{"/usr/local/cuda/lib64", "/usr/local/cuda*/lib64", "/usr/local/cuda*/targets/*/lib"},
		PythonPath: splitPathList(os.Getenv("PYTHONPATH")),
	}
	var prefixes []string
	for _, env := range []string{"VIRTUAL_ENV", "CONDA_PREFIX"} {
		if p := os.Getenv(env); p != "" {
			prefixes = append(prefixes, p)
		}
	}
	prefixes = append(prefixes, pythonPrefixes(filepath.SplitList(os.Getenv("PATH")))...)
	for _, p := range prefixes {
		c.SiteGlobs = append(c.SiteGlobs, filepath.Join(p, "lib/python3*/site-packages"))
	}
	if home, err := os.UserHomeDir(); err == nil && home != "" {
		c.SiteGlobs = append(c.SiteGlobs, filepath.Join(home, ".local/lib/python3*/site-packages"))
	}
	c.SiteGlobs = append(c.SiteGlobs,
		"/usr/local/lib/python3*/site-packages",
		"/usr/local/lib/python3*/dist-packages",
		"/usr/lib/python3*/site-packages",
		"/usr/lib/python3*/dist-packages",
		"/usr/lib/python3/dist-packages",
		"/opt/conda/lib/python3*/site-packages",
		"/opt/*/.venv/lib/python3*/site-packages",
		"/opt/*/venv/lib/python3*/site-packages",
		"/opt/*/lib/python3*/site-packages",
		"/root/.pyenv/versions/*/lib/python3*/site-packages",
	)
	c.SiteGlobs = dedupe(c.SiteGlobs)
	return c
}

// pythonPrefixes returns the installation prefixes of the python3 (or
// python) programs in the PATH folders, in PATH order, without running
// them: the parent of each folder holding one (a virtualenv's bin/, as
// /opt/torch/.venv/bin), and the parent of the folder its symbolic links
// lead to (/usr/local/bin/python3 -> ../lib/python3.12/... is
// /usr/local). A virtualenv's site-packages is under its own prefix, not
// under the interpreter's it links to, so both are listed.
func pythonPrefixes(path []string) []string {
	var out []string
	for _, dir := range path {
		if dir == "" {
			continue
		}
		for _, name := range []string{"python3", "python"} {
			exe := filepath.Join(dir, name)
			st, err := os.Stat(exe)
			if err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
				continue
			}
			out = append(out, filepath.Dir(filepath.Clean(dir)))
			if real, err := filepath.EvalSymlinks(exe); err == nil {
				out = append(out, filepath.Dir(filepath.Dir(real)))
			}
		}
	}
	return dedupe(out)
}

// dedupe keeps the first of equal strings, in order.
func dedupe(list []string) []string {
	seen := map[string]bool{}
	out := list[:0:0]
	for _, s := range list {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

func splitPathList(s string) []string {
	var out []string
	for _, p := range filepath.SplitList(s) {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// pythonLibDirs lists the nvidia/*/lib folders of the Python packages, in
// the order of SiteGlobs then PYTHONPATH; within a site-packages folder the
// nvidia/ subfolders are in lexical order (cublas, cu13, cudnn, ...).
func (c searchConfig) pythonLibDirs() []string {
	var sites []string
	for _, g := range c.SiteGlobs {
		sites = append(sites, globSorted(g)...)
	}
	sites = append(sites, c.PythonPath...)
	var dirs []string
	for _, s := range sites {
		dirs = append(dirs, globSorted(filepath.Join(s, "nvidia", "*", "lib"))...)
	}
	return dirs
}

// cudaLibDirs lists the CUDA toolkit library folders. /usr/local/cuda*
// sorts newest version last lexically, so the matches of each pattern are
// taken in reverse order, newest first (cuda-13.0 before cuda-12.8).
func (c searchConfig) cudaLibDirs() []string {
	var dirs []string
	for _, g := range c.CUDAGlobs {
		m := globSorted(g)
		for i := len(m) - 1; i >= 0; i-- {
			dirs = append(dirs, m[i])
		}
	}
	return dirs
}

func globSorted(pattern string) []string {
	m, err := filepath.Glob(pattern)
	if err != nil {
		return nil
	}
	sort.Strings(m)
	return m
}

// candidates lists, in the order to try them, every place one of sonames
// may be loaded from. Folders contribute only files that exist; the loader
// contributes each bare soname. A file reached twice (through a symlinked
// folder, say) is listed once, at its first place.
func (c searchConfig) candidates(sonames []string) []candidate {
	var out []candidate
	seen := map[string]bool{}
	addDirs := func(origin string, dirs []string) {
		for _, so := range sonames {
			for _, d := range dirs {
				p := filepath.Join(d, so)
				st, err := os.Stat(p)
				if err != nil || st.IsDir() {
					continue
				}
				key := p
				if r, err := filepath.EvalSymlinks(p); err == nil {
					key = r
				}
				if seen[key] {
					continue
				}
				seen[key] = true
				out = append(out, candidate{Path: p, Dir: d, Soname: so, Origin: origin})
			}
		}
	}
	addDirs(originUser, c.UserDirs)
	if c.Loader {
		for _, so := range sonames {
			out = append(out, candidate{Path: so, Soname: so, Origin: originLoader})
		}
	}
	addDirs(originCUDA, c.cudaLibDirs())
	addDirs(originPython, c.pythonLibDirs())
	return out
}

// libSpec describes how to load one library.
type libSpec struct {
	lib     Library
	sonames []string // newest first
}

var (
	driverSpec = libSpec{lib: Driver, sonames: []string{"libcuda.so.1"}}
	blasSpec   = libSpec{lib: CUBLAS, sonames: []string{"libcublas.so.13", "libcublas.so.12", "libcublas.so.11"}}
	dnnSpec    = libSpec{lib: CUDNN, sonames: []string{"libcudnn.so.9", "libcudnn.so.8"}}
)

// soVersion is the part of a soname after ".so.", e.g. "12".
func soVersion(soname string) string {
	if i := strings.LastIndex(soname, ".so."); i >= 0 {
		return soname[i+len(".so."):]
	}
	return ""
}

// dependency is a library to dlopen with RTLD_GLOBAL from the candidate's
// folder before the candidate itself, so that the candidate (or the
// libraries it dlopens by soname) finds it already loaded.
type dependency struct {
	Path     string
	Required bool // a failure to load it fails the candidate
	// Local loads it with RTLD_LOCAL: its symbols stay out of the global
	// scope, and a later dlopen of its soname still finds it.
	Local bool
}

// dependencyNames lists the sonames a library needs loaded beside it,
// with whether each is required; patterns (with *) name optional families.
//
//   - libcublas.so.N needs libcublasLt.so.N.
//   - libcudnn.so.9 is a dispatcher that dlopens libcudnn_graph, _ops and
//     _cnn .so.9 by soname (required) and, where present, _engines_*,
//     _heuristic and _adv (optional). Its runtime-compiled engines later
//     dlopen NVRTC by soname, which LD_LIBRARY_PATH alone would point to:
//     NVRTC and its builtins are preloaded (optional, RTLD_LOCAL, so that
//     two majors cannot interpose on each other) from the same folder or,
//     for the pip wheels (cuDNN in nvidia/cudnn/lib), from the sibling
//     nvidia/*/lib folders (nvidia/cu13/lib; nvidia/cuda_nvrtc/lib for
//     CUDA 12).
//   - libcudnn.so.8 dlopens libcudnn_ops_infer/_ops_train/_cnn_infer/
//     _cnn_train .so.8 (required) and _adv_infer/_adv_train (optional).
func (s libSpec) dependencyNames(soname string) []dependency {
	v := soVersion(soname)
	switch {
	case s.lib == CUBLAS:
		return []dependency{{"libcublasLt.so." + v, true, false}}
	case s.lib == CUDNN && v == "9":
		return []dependency{
			{"libcudnn_graph.so.9", true, false},
			{"libcudnn_engines_*.so.9", false, false},
			{"libcudnn_heuristic.so.9", false, false},
			{"libcudnn_ops.so.9", true, false},
			{"libcudnn_cnn.so.9", true, false},
			{"libcudnn_adv.so.9", false, false},
			{"libnvrtc.so.*", false, true},
			{"libnvrtc-builtins.so.*", false, true},
			{wheelSibling + "libnvrtc.so.*", false, true},
			{wheelSibling + "libnvrtc-builtins.so.*", false, true},
		}
	case s.lib == CUDNN && v == "8":
		return []dependency{
			{"libcudnn_ops_infer.so.8", true, false},
			{"libcudnn_ops_train.so.8", true, false},
			{"libcudnn_cnn_infer.so.8", true, false},
			{"libcudnn_cnn_train.so.8", true, false},
			{"libcudnn_adv_infer.so.8", false, false},
			{"libcudnn_adv_train.so.8", false, false},
		}
	}
	return nil
}

// wheelSibling prefixes a dependency looked for in the other library
// folders of a pip wheels' tree (site-packages/nvidia/*/lib), and only
// when the candidate's own folder is one of them.
const wheelSibling = "../../*/lib/"

// dependencies lists the files to preload for a candidate found in a
// folder, in order; names that match no file are left out. A loader
// candidate has none: the loader finds them itself.
func (s libSpec) dependencies(c candidate) []dependency {
	if c.Dir == "" {
		return nil
	}
	inWheels := filepath.Base(c.Dir) == "lib" && filepath.Base(filepath.Dir(filepath.Dir(c.Dir))) == "nvidia"
	var deps []dependency
	for _, d := range s.dependencyNames(c.Soname) {
		if strings.HasPrefix(d.Path, wheelSibling) && !inWheels {
			continue
		}
		for _, p := range globSorted(filepath.Join(c.Dir, d.Path)) {
			if st, err := os.Stat(p); err == nil && !st.IsDir() {
				deps = append(deps, dependency{Path: p, Required: d.Required, Local: d.Local})
			}
		}
	}
	return deps
}

// notFoundMessage explains that none of sonames was found anywhere, e.g.
// "libcublas.so.13, libcublas.so.12 or libcublas.so.11 not in VATGPU_CUDA_PATH, ...".
func (s libSpec) notFoundMessage() string {
	names := s.sonames
	var list string
	switch len(names) {
	case 1:
		list = names[0]
	default:
		list = strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
	}
	return list + " not in " + searchPlaces
}
