package checkpoint

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
)

// ReadFile reads and decodes the safetensors file at path. A file that is
// not valid gives a *FormatError whose Path is path; other errors come from
// reading the file. Every error names path.
func ReadFile(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	f, err := decode(data)
	if err != nil {
		return nil, &FormatError{Path: path, Msg: err.Error()}
	}
	return f, nil
}

// WriteFile encodes f and writes it to path atomically. It writes a
// temporary file in path's directory, syncs it to disk, renames it over path
// and syncs the directory. Until the rename, a failure leaves any previous
// file at path untouched and removes the temporary file. An error from the
// final directory sync means that path holds the new content but it may not
// yet be durable.
//
// A new file gets mode 0666 less the umask.
func WriteFile(path string, f *File) error {
	data, err := encode(f)
	if err != nil {
		return fmt.Errorf("checkpoint: %s: %w", path, err)
	}
	return writeAtomic(path, data, nil)
}

// writeAtomic does the work of WriteFile. If fail is not nil, it is called
// with the name of each step ("create", "write", "sync", "close", "rename",
// "syncdir") before the step is taken, and a non-nil result is taken as that
// step's error; tests use it to inject failures.
func writeAtomic(path string, data []byte, fail func(step string) error) (err error) {
	step := func(name string) error {
		if fail == nil {
			return nil
		}
		return fail(name)
	}
	wrap := func(err error) error {
		return fmt.Errorf("checkpoint: write %s: %w", path, err)
	}
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}

	if err := step("create"); err != nil {
		return wrap(err)
	}
	tmp, err := createTemp(dir, base)
	if err != nil {
		return wrap(err)
	}
	renamed := false
	defer func() {
		if !renamed {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := step("write"); err != nil {
		return wrap(err)
	}
	if _, err := tmp.Write(data); err != nil {
		return wrap(err)
	}
	if err := step("sync"); err != nil {
		return wrap(err)
	}
	if err := tmp.Sync(); err != nil {
		return wrap(err)
	}
	if err := step("close"); err != nil {
		return wrap(err)
	}
	if err := tmp.Close(); err != nil {
		return wrap(err)
	}
	if err := step("rename"); err != nil {
		return wrap(err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return wrap(err)
	}
	renamed = true

	if err := step("syncdir"); err != nil {
		return wrap(fmt.Errorf("sync directory: %w", err))
	}
	d, err := os.Open(dir)
	if err != nil {
		return wrap(fmt.Errorf("sync directory: %w", err))
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return wrap(fmt.Errorf("sync directory: %w", err))
	}
	return nil
}

// createTemp creates a new file in dir with a name derived from base, hidden
// and marked as temporary, with mode 0666 less the umask.
func createTemp(dir, base string) (*os.File, error) {
	for range 100 {
		name := filepath.Join(dir, "."+base+".tmp"+strconv.FormatUint(rand.Uint64(), 36))
		f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o666)
		if errors.Is(err, os.ErrExist) {
			continue
		}
		return f, err
	}
	return nil, fmt.Errorf("cannot create a temporary file in %s", dir)
}
