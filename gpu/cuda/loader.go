package cuda

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
)

// loadedLib is the outcome of loading one library. It is created once per
// process (see library) and never changes afterwards.
type loadedLib struct {
	Lib    Library
	Soname string   // the soname that was loaded, e.g. "libcublas.so.13"
	Path   string   // the file the loader opened for it
	Paths  []string // every file loaded for it, dependencies first
	Origin string   // where it was found (one of the origin constants)
	Err    error    // why no candidate could be used; nil on success

	// NotFound is set when no candidate existed at all, as opposed to
	// candidates that failed to load.
	NotFound bool
}

// The process-wide function table: one entry per library, loaded lazily on
// first use and kept for the life of the process (libraries are never
// unloaded once their symbols are in the table). Nothing else is global.
var libraries [3]struct {
	once sync.Once
	lib  *loadedLib
}

// library loads l on first use and returns the outcome.
func library(l Library) *loadedLib {
	e := &libraries[l]
	e.once.Do(func() {
		spec := driverSpec
		switch l {
		case CUBLAS:
			spec = blasSpec
		case CUDNN:
			spec = dnnSpec
		}
		e.lib = loadLibrary(spec, defaultSearchConfig())
	})
	return e.lib
}

var errNoCgo = errors.New("gpu: built without cgo (CGO_ENABLED=0): rebuild with CGO_ENABLED=1 and a C compiler to use NVIDIA GPUs")

// loadLibrary tries each candidate in turn and fills the function table
// for spec.lib from the first that loads with every required symbol.
func loadLibrary(spec libSpec, cfg searchConfig) *loadedLib {
	out := &loadedLib{Lib: spec.lib}
	if !cgoEnabled {
		out.Err = errNoCgo
		return out
	}
	var failures []string
	for _, c := range cfg.candidates(spec.sonames) {
		handles, paths, err := openCandidate(spec, c, cfg)
		if err != nil {
			if c.Dir == "" && strings.HasPrefix(err.Error(), c.Path+": cannot open shared object file") {
				continue // the loader does not know it: not found, not a failure
			}
			failures = append(failures, err.Error())
			continue
		}
		if missing := resolveSymbols(spec.lib, handles); len(missing) > 0 {
			clearSymbols(spec.lib)
			for i := len(handles) - 1; i >= 0; i-- {
				dlClose(handles[i])
			}
			failures = append(failures, fmt.Sprintf("%s lacks %s", c.Path, strings.Join(missing, ", ")))
			continue
		}
		out.Soname, out.Origin, out.Paths = c.Soname, c.Origin, paths
		out.Path = paths[len(paths)-1]
		return out
	}
	if len(failures) == 0 {
		out.NotFound = true
		out.Err = fmt.Errorf("%s", spec.notFoundMessage())
	} else {
		out.Err = fmt.Errorf("%s found but not loadable: %s", strings.Join(spec.sonames, "/"), strings.Join(failures, "; "))
	}
	return out
}

// openCandidate preloads c's dependencies from its folder and then opens c.
// It returns the handles with c's first (symbols are looked up in that
// order) and the loaded paths with c's last.
func openCandidate(spec libSpec, c candidate, cfg searchConfig) (handles []uintptr, paths []string, err error) {
	o := &opener{cfg: cfg, tried: map[string]bool{}}
	// Dependencies may need each other; load them in passes until a pass
	// makes no progress, so that their order in the list does not matter.
	pending := spec.dependencies(c)
	lastErr := map[string]string{}
	for len(pending) > 0 {
		var next []dependency
		for _, d := range pending {
			if h, msg := o.open(d.Path, !d.Local, true); h == 0 {
				lastErr[d.Path] = msg
				next = append(next, d)
			}
		}
		if len(next) == len(pending) {
			for _, d := range next {
				if d.Required {
					o.closeAll()
					return nil, nil, fmt.Errorf("%s", lastErr[d.Path]) // dlerror names the file
				}
			}
			break
		}
		pending = next
	}
	h, msg := o.open(c.Path, spec.lib == Driver, false)
	if h == 0 {
		o.closeAll()
		return nil, nil, fmt.Errorf("%s", msg)
	}
	if c.Dir == "" {
		// The loader brought in what the library links against; record
		// the dependencies it has loaded so far.
		for _, d := range spec.dependencyNames(c.Soname) {
			if p := dlLoaded(d.Path); p != "" {
				o.paths = append(o.paths, p)
			}
		}
	}
	o.paths = append(o.paths, loadedPath(h, c.Path))
	return append([]uintptr{h}, o.handles...), o.paths, nil
}

// opener opens libraries for one candidate and keeps what it opened.
type opener struct {
	cfg     searchConfig
	handles []uintptr // dependencies, in load order (the candidate's own handle is not kept here)
	paths   []string
	tried   map[string]bool // sonames already looked for in the search folders
}

// missingSoname matches dlerror's message for a library that needs a
// soname the loader cannot find: "libnvrtc.so.12: cannot open shared
// object file: No such file or directory".
var missingSoname = regexp.MustCompile(`^(lib[^/: ]+\.so[0-9.]*): cannot open shared object file`)

// open dlopens path. When that fails because path needs a soname the
// loader cannot find, open looks for that soname in the search folders
// (VATGPU_CUDA_PATH, CUDA and Python package folders), preloads it with
// RTLD_GLOBAL and tries again; the wheels put, say, libnvrtc and
// libcublasLt in folders next to cuDNN's. With keep set the handle and
// path are recorded in o (dependencies); otherwise the caller keeps them.
func (o *opener) open(path string, global, keep bool) (uintptr, string) {
	for {
		h, msg := dlOpen(path, global)
		if h != 0 {
			if keep {
				o.handles = append(o.handles, h)
				o.paths = append(o.paths, loadedPath(h, path))
			}
			return h, ""
		}
		m := missingSoname.FindStringSubmatch(msg)
		if m == nil || m[1] == filepath.Base(path) || o.tried[m[1]] || len(o.tried) >= 16 {
			return 0, msg
		}
		o.tried[m[1]] = true
		found := false
		for _, dep := range o.cfg.candidates([]string{m[1]}) {
			if dep.Dir == "" {
				continue // the loader already failed to find it
			}
			if dh, _ := o.open(dep.Path, true, true); dh != 0 {
				found = true
				break
			}
		}
		if !found {
			return 0, msg
		}
	}
}

func (o *opener) closeAll() {
	for i := len(o.handles) - 1; i >= 0; i-- {
		dlClose(o.handles[i])
	}
	o.handles, o.paths = nil, nil
}

// loadedPath is the file the loader opened for h, or fallback.
func loadedPath(h uintptr, fallback string) string {
	if p := dlPath(h); p != "" {
		return p
	}
	return fallback
}

// resolveSymbols fills the function table entries of lib from handles,
// trying each symbol's name in every handle before its fallback name. It
// returns the required symbols that were found nowhere.
func resolveSymbols(lib Library, handles []uintptr) (missing []string) {
	for i, s := range symTable() {
		if s.Lib != lib {
			continue
		}
		var p uintptr
		for _, name := range []string{s.Name, s.Alt} {
			if name == "" {
				continue
			}
			for _, h := range handles {
				if p = dlSym(h, name); p != 0 {
					break
				}
			}
			if p != 0 {
				break
			}
		}
		symSet(i, p)
		if p == 0 && s.Required {
			missing = append(missing, s.Name)
		}
	}
	return missing
}

func clearSymbols(lib Library) {
	for i, s := range symTable() {
		if s.Lib == lib {
			symSet(i, 0)
		}
	}
}

// symbol describes one entry of the C function table (vg_cuda.h).
type symbol struct {
	Lib      Library
	Required bool
	Name     string // looked up first
	Alt      string // looked up when Name is in no handle; "" for none
	ID       string // the C identifier whose type vg_cuda.h declares (pf_<ID>)
}

// loadError turns a failed library load into the error Open returns.
func loadError(l *loadedLib) error {
	if errors.Is(l.Err, errNoCgo) {
		return errNoCgo
	}
	switch {
	case l.Lib == Driver && l.NotFound:
		return fmt.Errorf("gpu: no CUDA driver found (%v)", l.Err)
	case l.NotFound:
		return fmt.Errorf("gpu: %v not found (%v)", l.Lib, l.Err)
	default:
		return fmt.Errorf("gpu: %v not usable: %v", l.Lib, l.Err)
	}
}
