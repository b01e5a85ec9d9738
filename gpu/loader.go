package gpu

import (
	"errors"
	"fmt"
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
		handles, paths, err := openCandidate(spec, c)
		if err != nil {
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
func openCandidate(spec libSpec, c candidate) (handles []uintptr, paths []string, err error) {
	var depHandles []uintptr
	fail := func(err error) ([]uintptr, []string, error) {
		for i := len(depHandles) - 1; i >= 0; i-- {
			dlClose(depHandles[i])
		}
		return nil, nil, err
	}
	// Dependencies may need each other; load them in passes until a pass
	// makes no progress, so that their order in the list does not matter.
	pending := spec.dependencies(c)
	lastErr := map[string]string{}
	for len(pending) > 0 {
		var next []dependency
		for _, d := range pending {
			h, msg := dlOpen(d.Path, true)
			if h == 0 {
				lastErr[d.Path] = msg
				next = append(next, d)
				continue
			}
			depHandles = append(depHandles, h)
			paths = append(paths, loadedPath(h, d.Path))
		}
		if len(next) == len(pending) {
			for _, d := range next {
				if d.Required {
					return fail(fmt.Errorf("%s: %s", d.Path, lastErr[d.Path]))
				}
			}
			break
		}
		pending = next
	}
	h, msg := dlOpen(c.Path, spec.lib == Driver)
	if h == 0 {
		return fail(fmt.Errorf("%s", msg))
	}
	handles = append([]uintptr{h}, depHandles...)
	paths = append(paths, loadedPath(h, c.Path))
	return handles, paths, nil
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
