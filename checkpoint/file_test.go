package checkpoint

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// oldContent is what a checkpoint file holds before a WriteFile that must
// fail.
const oldContent = "previous checkpoint"

// newFile returns a small File to write.
func newFile() *File {
	f := &File{Metadata: map[string]string{"epoch": "2"}}
	f.AddF32("w", []int{2}, []float32{1, 2})
	return f
}

// dirNames returns the names in dir, sorted.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func TestWriteFileReplaces(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "model.safetensors")
	if err := os.WriteFile(path, []byte(oldContent), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(path, newFile()); err != nil {
		t.Fatal(err)
	}
	got, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if v, _, err := got.F32("w"); err != nil || !slices.Equal(v, []float32{1, 2}) {
		t.Errorf("w = %v, %v", v, err)
	}
	if names := dirNames(t, dir); !slices.Equal(names, []string{"model.safetensors"}) {
		t.Errorf("directory holds %v", names)
	}

	// A relative path writes in the current directory.
	t.Chdir(dir)
	if err := WriteFile("rel.safetensors", newFile()); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadFile(filepath.Join(dir, "rel.safetensors")); err != nil {
		t.Error(err)
	}
}

// checkUntouched checks that path still holds oldContent and that dir holds
// nothing but want.
func checkUntouched(t *testing.T, dir, path string, want ...string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil || string(b) != oldContent {
		t.Errorf("old file now holds %q (err %v)", b, err)
	}
	if names := dirNames(t, dir); !slices.Equal(names, want) {
		t.Errorf("directory holds %v, want %v", names, want)
	}
}

func TestWriteFileFailureKeepsOld(t *testing.T) {
	data := must(Encode(newFile()))
	injected := errors.New("injected failure")
	for _, step := range []string{"create", "write", "sync", "close", "rename"} {
		t.Run(step, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "model.safetensors")
			if err := os.WriteFile(path, []byte(oldContent), 0o644); err != nil {
				t.Fatal(err)
			}
			err := writeAtomic(path, data, func(s string) error {
				if s == step {
					return injected
				}
				return nil
			})
			if !errors.Is(err, injected) || !strings.Contains(err.Error(), path) {
				t.Errorf("error %v, want the injected one naming %s", err, path)
			}
			checkUntouched(t, dir, path, "model.safetensors")
		})
	}

	// A failure after the rename leaves the new file in place.
	dir := t.TempDir()
	path := filepath.Join(dir, "model.safetensors")
	err := writeAtomic(path, data, func(s string) error {
		if s == "syncdir" {
			return injected
		}
		return nil
	})
	if !errors.Is(err, injected) {
		t.Errorf("error %v, want the injected one", err)
	}
	if _, err := ReadFile(path); err != nil {
		t.Errorf("after a failed directory sync: %v", err)
	}
}

func TestWriteFileOntoDirectory(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "model.safetensors")
	inner := filepath.Join(path, "keep")
	if err := os.Mkdir(path, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(inner, []byte(oldContent), 0o644); err != nil {
		t.Fatal(err)
	}
	err := WriteFile(path, newFile())
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("WriteFile onto a directory: %v, want an error naming %s", err, path)
	}
	if fi, err := os.Stat(path); err != nil || !fi.IsDir() {
		t.Errorf("the directory is gone: %v", err)
	}
	checkUntouched(t, path, inner, "keep")
	if names := dirNames(t, dir); !slices.Equal(names, []string{"model.safetensors"}) {
		t.Errorf("parent directory holds %v", names)
	}
	if _, err := ReadFile(path); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("ReadFile of a directory: %v", err)
	}
}

func TestWriteFileReadOnlyDirectory(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "model.safetensors")
	if err := os.WriteFile(path, []byte(oldContent), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o555); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(dir, 0o755) })
	probe := filepath.Join(dir, "probe")
	if err := os.WriteFile(probe, nil, 0o644); err == nil {
		os.Remove(probe)
		t.Skip("directory permissions are not enforced (running as root?); TestWriteFileFailureKeepsOld covers this path")
	}
	err := WriteFile(path, newFile())
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("WriteFile into a read-only directory: %v, want an error naming %s", err, path)
	}
	checkUntouched(t, dir, path, "model.safetensors")
}

func TestWriteFileMissingDirectory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "no", "such", "dir", "model.safetensors")
	if err := WriteFile(path, newFile()); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("WriteFile: %v, want an error naming %s", err, path)
	}
	if _, err := ReadFile(path); err == nil || !strings.Contains(err.Error(), path) || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ReadFile: %v, want a not-exist error naming %s", err, path)
	}
}
