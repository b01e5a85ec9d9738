// Package parity records a backend's outputs on every conformance case
// (layerstest's op cases and vattest's training cases) as fixtures, and
// checks the CPU against them later, on machines without that backend:
// `vatgpu parity --record` writes them on a GPU, and make test verifies
// the CPU against every fixture committed in testdata/parity.
package parity

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/vatgpu/vatgpu/checkpoint"
	"github.com/vatgpu/vatgpu/layers"
	"github.com/vatgpu/vatgpu/layers/layerstest"
	"github.com/vatgpu/vatgpu/vat/vattest"
)

// Cases returns every conformance case: the op cases, then the training
// cases.
func Cases() []layerstest.Case { return append(layerstest.Cases(), vattest.Cases()...) }

type (
	Case    = layerstest.Case
	Tensors = layerstest.Tensors
)

// Fixture files: one safetensors file per case, <case>.safetensors, with
// tensors "in/<name>" (the inputs) and "out/<name>" (the recording
// backend's outputs), and metadata "format" = "vatgpu-parity", "case",
// "seed" (the case's input seed, layerstest.Seed) and whatever the recorder
// adds: device, driver, CUDA, cuBLAS and cuDNN versions, "source_hash"
// (gpu.SourceHash).
const fixtureFormat = "vatgpu-parity"

// Record runs every case on b and writes its inputs and outputs to dir,
// with info added to each file's metadata.
func Record(dir string, b layers.Backend, info map[string]string) error {
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return err
	}
	for _, c := range Cases() {
		in := c.NewInputs()
		out := c.Run(b, in)
		if err := b.Sync(); err != nil {
			return fmt.Errorf("case %s: %v", c.Name, err)
		}
		if err := WriteFixture(dir, c, in, out, info); err != nil {
			return err
		}
	}
	return nil
}

// WriteFixture writes case c's inputs in (from c.NewInputs) and the
// outputs out a backend gave for them to dir, as Record does, with info
// added to the metadata.
func WriteFixture(dir string, c Case, in, out Tensors, info map[string]string) error {
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return err
	}
	f := &checkpoint.File{Metadata: map[string]string{"format": fixtureFormat, "case": c.Name, "seed": strconv.FormatUint(layerstest.Seed(c.Name), 10)}}
	for k, v := range info {
		f.Metadata[k] = v
	}
	for _, side := range []struct {
		prefix string
		t      Tensors
	}{{"in/", in}, {"out/", out}} {
		for k, v := range side.t {
			f.AddF32(side.prefix+k, []int{len(v)}, v)
		}
	}
	return checkpoint.WriteFile(FixturePath(dir, c.Name), f)
}

// FixturePath is the file of case name's fixture in dir.
func FixturePath(dir, name string) string { return filepath.Join(dir, name+".safetensors") }

// Verify checks the CPU backend against every fixture in dir: it runs each
// case on the recorded inputs and compares with the recorded outputs
// within the case's tolerance. It skips when dir holds no fixtures, and
// warns (without failing) when sourceHash differs from the one the
// fixtures were recorded with.
func Verify(t *testing.T, dir, sourceHash string) {
	files, _ := filepath.Glob(filepath.Join(dir, "*.safetensors"))
	if len(files) == 0 {
		t.Skipf("no parity fixtures in %s: record them on a GPU machine with `vatgpu parity --record %s`", dir, dir)
	}
	cases := map[string]Case{}
	for _, c := range Cases() {
		cases[c.Name] = c
	}
	sort.Strings(files)
	warned := false
	for _, path := range files {
		f, err := checkpoint.ReadFile(path)
		if err != nil {
			t.Error(err)
			continue
		}
		md := f.Metadata
		name := md["case"]
		c, ok := cases[name]
		if md["format"] != fixtureFormat || !ok {
			t.Errorf("%s: not a parity fixture of a known case (format %q, case %q)", path, md["format"], name)
			continue
		}
		if !warned && sourceHash != "" && md["source_hash"] != sourceHash {
			t.Logf("WARNING: gpu/ or kernels.cu changed since the fixtures in %s were recorded on %s (source hash %.12s, now %.12s): record them again on a GPU", dir, md["device"], md["source_hash"], sourceHash)
			warned = true
		}
		in, want := Tensors{}, Tensors{}
		for _, tn := range f.Tensors {
			v, _, err := f.F32(tn.Name)
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case strings.HasPrefix(tn.Name, "in/"):
				in[tn.Name[3:]] = v
			case strings.HasPrefix(tn.Name, "out/"):
				want[tn.Name[4:]] = v
			}
		}
		t.Run(name, func(t *testing.T) {
			got := c.Run(layers.NewCPU(0), in)
			layerstest.Check(t, name+" (cpu vs "+md["device"]+")", got, want, c.Tol)
		})
	}
}
