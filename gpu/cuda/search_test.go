package cuda

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// touch creates an empty file (and its folders) under root.
func touch(t *testing.T, root string, rel ...string) {
	t.Helper()
	for _, r := range rel {
		p := filepath.Join(root, r)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// candidateList renders candidates as "origin: path" with root shortened
// to "$R", for readable comparisons.
func candidateList(root string, cs []candidate) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Origin+": "+strings.ReplaceAll(c.Path, root, "$R"))
	}
	return out
}

func TestSearchOrder(t *testing.T) {
	root := t.TempDir()
	touch(t, root,
		"user1/libcublas.so.11",
		"user2/libcublas.so.12",
		"cuda-12.4/lib64/libcublas.so.12",
		"cuda-13.0/lib64/libcublas.so.13",
		"py/lib/python3.11/site-packages/nvidia/cublas/lib/libcublas.so.12",
		"py/lib/python3.11/site-packages/nvidia/cublas/lib/libcublasLt.so.12",
		"py/lib/python3.12/site-packages/nvidia/cu13/lib/libcublas.so.13",
		"pp/nvidia/cublas/lib/libcublas.so.11",
		"unrelated/libcublas.so.12",
	)
	// /usr/local/cuda is usually a symlink to one of the versioned folders:
	// the file it reaches is listed once, at its first place.
	if err := os.Symlink(filepath.Join(root, "cuda-13.0"), filepath.Join(root, "cuda")); err != nil {
		t.Fatal(err)
	}
	// A folder with a library's name is not a library.
	if err := os.MkdirAll(filepath.Join(root, "user1/libcublas.so.13"), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := searchConfig{
		UserDirs:   []string{filepath.Join(root, "user1"), filepath.Join(root, "missing"), filepath.Join(root, "user2")},
		Loader:     true,
		CUDAGlobs:  []string{filepath.Join(root, "cuda/lib64"), filepath.Join(root, "cuda*/lib64")},
		SiteGlobs:  []string{filepath.Join(root, "py/lib/python3*/site-packages")},
		PythonPath: []string{filepath.Join(root, "pp")},
	}
	got := candidateList(root, cfg.candidates(blasSpec.sonames))
	want := []string{
		// VATGPU_CUDA_PATH: newest soname first, then folders in order.
		"VATGPU_CUDA_PATH: $R/user2/libcublas.so.12",
		"VATGPU_CUDA_PATH: $R/user1/libcublas.so.11",
		// The system loader, by soname.
		"the loader path: libcublas.so.13",
		"the loader path: libcublas.so.12",
		"the loader path: libcublas.so.11",
		// CUDA toolkits: /usr/local/cuda first, then cuda* newest first.
		"/usr/local/cuda*/lib64: $R/cuda/lib64/libcublas.so.13",
		"/usr/local/cuda*/lib64: $R/cuda-12.4/lib64/libcublas.so.12",
		// Python packages: site-packages folders, then PYTHONPATH.
		"Python nvidia/ packages: $R/py/lib/python3.12/site-packages/nvidia/cu13/lib/libcublas.so.13",
		"Python nvidia/ packages: $R/py/lib/python3.11/site-packages/nvidia/cublas/lib/libcublas.so.12",
		"Python nvidia/ packages: $R/pp/nvidia/cublas/lib/libcublas.so.11",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("candidates:\n got %s\nwant %s", strings.Join(got, "\n     "), strings.Join(want, "\n     "))
	}

	cfg.Loader = false
	got = candidateList(root, cfg.candidates(driverSpec.sonames))
	if len(got) != 0 {
		t.Errorf("libcuda.so.1 candidates = %v, want none", got)
	}
}

func TestSearchPythonLayouts(t *testing.T) {
	// The wheels of CUDA 12 and 13 lay out their libraries differently;
	// every nvidia/*/lib folder is searched.
	root := t.TempDir()
	site := "home/.local/lib/python3.12/site-packages/nvidia/"
	touch(t, root,
		site+"cudnn/lib/libcudnn.so.9",
		site+"cu13/lib/libcublas.so.13",
		site+"cuda_nvrtc/lib/libnvrtc.so.12",
		site+"cudnn/include/cudnn.h",
		"opt/conda/lib/python3.10/site-packages/nvidia/cudnn/lib/libcudnn.so.8",
	)
	cfg := searchConfig{SiteGlobs: []string{
		filepath.Join(root, "home/.local/lib/python3*/site-packages"),
		filepath.Join(root, "opt/conda/lib/python3*/site-packages"),
	}}
	got := candidateList(root, cfg.candidates(dnnSpec.sonames))
	want := []string{
		"Python nvidia/ packages: $R/" + site + "cudnn/lib/libcudnn.so.9",
		"Python nvidia/ packages: $R/opt/conda/lib/python3.10/site-packages/nvidia/cudnn/lib/libcudnn.so.8",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("candidates:\n got %v\nwant %v", got, want)
	}
	if got := candidateList(root, cfg.candidates([]string{"libnvrtc.so.12"})); len(got) != 1 {
		t.Errorf("libnvrtc.so.12 candidates = %v, want the cuda_nvrtc one", got)
	}
}

func TestDefaultSearchConfig(t *testing.T) {
	t.Setenv("VATGPU_CUDA_PATH", "/a/lib: :/b/lib::")
	t.Setenv("PYTHONPATH", "/p1:/p2")
	t.Setenv("VIRTUAL_ENV", "/venv")
	t.Setenv("CONDA_PREFIX", "")
	cfg := defaultSearchConfig()
	if want := []string{"/a/lib", "/b/lib"}; !reflect.DeepEqual(cfg.UserDirs, want) {
		t.Errorf("UserDirs = %q, want %q", cfg.UserDirs, want)
	}
	if want := []string{"/p1", "/p2"}; !reflect.DeepEqual(cfg.PythonPath, want) {
		t.Errorf("PythonPath = %q, want %q", cfg.PythonPath, want)
	}
	if !cfg.Loader {
		t.Error("the system loader is not searched")
	}
	if cfg.SiteGlobs[0] != "/venv/lib/python3*/site-packages" {
		t.Errorf("first site-packages pattern = %q, want the virtualenv's", cfg.SiteGlobs[0])
	}
	for _, want := range []string{
		"/usr/local/lib/python3*/dist-packages", "/usr/local/lib/python3*/site-packages",
		"/usr/lib/python3*/dist-packages", "/opt/conda/lib/python3*/site-packages",
		"/root/.pyenv/versions/*/lib/python3*/site-packages",
	} {
		if !contains(cfg.SiteGlobs, want) {
			t.Errorf("site-packages patterns lack %q", want)
		}
	}
	for _, want := range []string{"/usr/local/cuda/lib64", "/usr/local/cuda*/lib64"} {
		if !contains(cfg.CUDAGlobs, want) {
			t.Errorf("CUDA patterns lack %q", want)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestDependencies(t *testing.T) {
	root := t.TempDir()
	touch(t, root,
		"blas/libcublas.so.12", "blas/libcublasLt.so.12", "blas/libcublasLt.so.13",
		"dnn9/libcudnn.so.9", "dnn9/libcudnn_graph.so.9", "dnn9/libcudnn_ops.so.9", "dnn9/libcudnn_cnn.so.9",
		"dnn9/libcudnn_engines_runtime_compiled.so.9", "dnn9/libcudnn_engines_precompiled.so.9",
		"dnn9/libcudnn_adv.so.9", "dnn9/libcudnn_heuristic.so.9",
		"wheels/nvidia/cudnn/lib/libcudnn.so.9", "wheels/nvidia/cudnn/lib/libcudnn_graph.so.9",
		"wheels/nvidia/cudnn/lib/libcudnn_ops.so.9", "wheels/nvidia/cudnn/lib/libcudnn_cnn.so.9",
		"wheels/nvidia/cu13/lib/libcublas.so.13", "wheels/nvidia/cu13/lib/libnvrtc.so.13",
		"wheels/nvidia/cu13/lib/libnvrtc-builtins.so.13.0",
		"odd/dnn/lib/libcudnn.so.9", "odd/dnn/lib/libcudnn_graph.so.9", "odd/dnn/lib/libnvrtc.so.12",
		"odd/other/lib/libnvrtc.so.13",
		"dnn8/libcudnn.so.8", "dnn8/libcudnn_ops_infer.so.8", "dnn8/libcudnn_ops_train.so.8",
		"dnn8/libcudnn_cnn_infer.so.8", "dnn8/libcudnn_cnn_train.so.8",
	)
	render := func(deps []dependency) []string {
		var out []string
		for _, d := range deps {
			s := strings.ReplaceAll(d.Path, root+"/", "")
			if d.Required {
				s += " (required)"
			}
			if d.Local {
				s += " (local)"
			}
			out = append(out, s)
		}
		return out
	}
	for _, tc := range []struct {
		spec libSpec
		c    candidate
		want []string
	}{
		{blasSpec, candidate{Dir: root + "/blas", Soname: "libcublas.so.12"}, []string{"blas/libcublasLt.so.12 (required)"}},
		{blasSpec, candidate{Soname: "libcublas.so.12"}, nil}, // the loader finds them itself
		{dnnSpec, candidate{Dir: root + "/dnn9", Soname: "libcudnn.so.9"}, []string{
			"dnn9/libcudnn_graph.so.9 (required)",
			"dnn9/libcudnn_engines_precompiled.so.9",
			"dnn9/libcudnn_engines_runtime_compiled.so.9",
			"dnn9/libcudnn_heuristic.so.9",
			"dnn9/libcudnn_ops.so.9 (required)",
			"dnn9/libcudnn_cnn.so.9 (required)",
			"dnn9/libcudnn_adv.so.9",
		}},
		// The pip wheels: NVRTC for cuDNN's runtime-compiled engines lies in
		// a sibling folder.
		{dnnSpec, candidate{Dir: root + "/wheels/nvidia/cudnn/lib", Soname: "libcudnn.so.9"}, []string{
			"wheels/nvidia/cudnn/lib/libcudnn_graph.so.9 (required)",
			"wheels/nvidia/cudnn/lib/libcudnn_ops.so.9 (required)",
			"wheels/nvidia/cudnn/lib/libcudnn_cnn.so.9 (required)",
			"wheels/nvidia/cu13/lib/libnvrtc.so.13 (local)",
			"wheels/nvidia/cu13/lib/libnvrtc-builtins.so.13.0 (local)",
		}},
		// Outside a wheels' tree nothing is looked for beyond cuDNN's folder:
		// here NVRTC lies in "other/lib", two levels up from "odd/dnn/lib".
		{dnnSpec, candidate{Dir: root + "/odd/dnn/lib", Soname: "libcudnn.so.9"}, []string{
			"odd/dnn/lib/libcudnn_graph.so.9 (required)",
			"odd/dnn/lib/libnvrtc.so.12 (local)",
		}},
		{dnnSpec, candidate{Dir: root + "/dnn8", Soname: "libcudnn.so.8"}, []string{
			"dnn8/libcudnn_ops_infer.so.8 (required)",
			"dnn8/libcudnn_ops_train.so.8 (required)",
			"dnn8/libcudnn_cnn_infer.so.8 (required)",
			"dnn8/libcudnn_cnn_train.so.8 (required)",
		}},
		{driverSpec, candidate{Dir: root + "/blas", Soname: "libcuda.so.1"}, nil},
	} {
		if got := render(tc.spec.dependencies(tc.c)); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%v %s in %q: dependencies\n got %q\nwant %q", tc.spec.lib, tc.c.Soname, tc.c.Dir, got, tc.want)
		}
	}
}

func TestNotFoundMessages(t *testing.T) {
	for _, tc := range []struct {
		spec libSpec
		want string
	}{
		{driverSpec, "libcuda.so.1 not in VATGPU_CUDA_PATH, the loader path, /usr/local/cuda*/lib64 or Python nvidia/ packages"},
		{blasSpec, "libcublas.so.13, libcublas.so.12 or libcublas.so.11 not in VATGPU_CUDA_PATH, the loader path, /usr/local/cuda*/lib64 or Python nvidia/ packages"},
		{dnnSpec, "libcudnn.so.9 or libcudnn.so.8 not in VATGPU_CUDA_PATH, the loader path, /usr/local/cuda*/lib64 or Python nvidia/ packages"},
	} {
		if got := tc.spec.notFoundMessage(); got != tc.want {
			t.Errorf("%v: %q, want %q", tc.spec.lib, got, tc.want)
		}
	}
	l := &loadedLib{Lib: Driver, NotFound: true}
	l.Err = errorString(driverSpec.notFoundMessage())
	want := "gpu: no CUDA driver found (libcuda.so.1 not in VATGPU_CUDA_PATH, the loader path, /usr/local/cuda*/lib64 or Python nvidia/ packages)"
	if got := loadError(l).Error(); got != want {
		t.Errorf("loadError = %q, want %q", got, want)
	}
	l = &loadedLib{Lib: CUDNN, Err: errorString("libcudnn.so.9/libcudnn.so.8 found but not loadable: x")}
	if got, want := loadError(l).Error(), "gpu: cuDNN not usable: libcudnn.so.9/libcudnn.so.8 found but not loadable: x"; got != want {
		t.Errorf("loadError = %q, want %q", got, want)
	}
}

type errorString string

func (e errorString) Error() string { return string(e) }

func TestMissingSoname(t *testing.T) {
	for msg, want := range map[string]string{
		"libnvrtc.so.12: cannot open shared object file: No such file or directory":     "libnvrtc.so.12",
		"libcublasLt.so.13: cannot open shared object file: No such file or directory":  "libcublasLt.so.13",
		"/x/libcudnn.so.9: cannot open shared object file: No such file or directory":   "",
		"/x/libcudnn_cnn.so.9: undefined symbol: cudnnFoo, version libcudnn_graph.so.9": "",
		"/x/libcudnn.so.9: file too short":                                              "",
	} {
		got := ""
		if m := missingSoname.FindStringSubmatch(msg); m != nil {
			got = m[1]
		}
		if got != want {
			t.Errorf("missing soname of %q = %q, want %q", msg, got, want)
		}
	}
}

// TestPythonPrefixes: the python3 programs on PATH give the prefixes whose
// site-packages hold the pip wheels, a virtualenv's own (found through
// its bin/ folder) and the interpreter's it links to, without running
// Python.
func TestPythonPrefixes(t *testing.T) {
	root := t.TempDir()
	touch(t, root, "usr/bin/python3.12", "opt/torch/.venv/pyvenv.cfg", "noexec/bin/python3", "empty/bin/ls")
	for _, p := range []string{"usr/bin/python3.12"} {
		if err := os.Chmod(filepath.Join(root, p), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	venvBin := filepath.Join(root, "opt/torch/.venv/bin")
	if err := os.MkdirAll(venvBin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(root, "usr/bin/python3.12"), filepath.Join(venvBin, "python3")); err != nil {
		t.Fatal(err)
	}
	path := []string{filepath.Join(root, "empty/bin"), venvBin, filepath.Join(root, "noexec/bin"), "", venvBin}
	got := pythonPrefixes(path)
	want := []string{filepath.Join(root, "opt/torch/.venv"), filepath.Join(root, "usr")}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("pythonPrefixes = %q, want %q", got, want)
	}

	// defaultSearchConfig looks under them.
	t.Setenv("PATH", venvBin)
	t.Setenv("VIRTUAL_ENV", "")
	t.Setenv("CONDA_PREFIX", "")
	cfg := defaultSearchConfig()
	if first := filepath.Join(root, "opt/torch/.venv/lib/python3*/site-packages"); cfg.SiteGlobs[0] != first {
		t.Errorf("first site-packages pattern %q, want %q", cfg.SiteGlobs[0], first)
	}
	if !contains(cfg.SiteGlobs, "/opt/*/.venv/lib/python3*/site-packages") {
		t.Errorf("site-packages patterns lack the virtualenvs of /opt: %q", cfg.SiteGlobs)
	}
}

// TestLibraryPath: the folders of cuBLAS and cuDNN, and the wheels' other
// library folders beside a Python one, for LD_LIBRARY_PATH.
func TestLibraryPath(t *testing.T) {
	root := t.TempDir()
	site := filepath.Join(root, "venv/lib/python3.12/site-packages/nvidia")
	touch(t, root, "venv/lib/python3.12/site-packages/nvidia/cuda_nvrtc/lib/libnvrtc.so.13",
		"venv/lib/python3.12/site-packages/nvidia/cudnn/lib/libcudnn.so.9",
		"cuda/lib64/libcublas.so.13")
	r := Report{
		CUBLAS: LibraryReport{Lib: CUBLAS, Loaded: true, Origin: originCUDA,
			Paths: []string{filepath.Join(root, "cuda/lib64/libcublasLt.so.13"), filepath.Join(root, "cuda/lib64/libcublas.so.13")}},
		CUDNN: LibraryReport{Lib: CUDNN, Loaded: true, Origin: originPython,
			Paths: []string{"libcudnn_graph.so.9", filepath.Join(site, "cudnn/lib/libcudnn.so.9")}},
	}
	want := []string{filepath.Join(root, "cuda/lib64"), filepath.Join(site, "cudnn/lib"), filepath.Join(site, "cuda_nvrtc/lib")}
	if got := r.LibraryPath(); !reflect.DeepEqual(got, want) {
		t.Errorf("LibraryPath:\n got %q\nwant %q", got, want)
	}
	r.CUBLAS.Origin = originLoader // found by the loader: not needed on the path
	if got := r.LibraryPath(); !reflect.DeepEqual(got, want[1:]) {
		t.Errorf("LibraryPath with cuBLAS from the loader:\n got %q\nwant %q", got, want[1:])
	}
	if got := (Report{}).LibraryPath(); len(got) != 0 {
		t.Errorf("nothing loaded: LibraryPath %q", got)
	}
}
