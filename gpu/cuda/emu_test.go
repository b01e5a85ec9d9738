//go:build cgo && linux

package cuda

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vatgpu/vatgpu/internal/emucuda"
)

// TestEmulatedBindings runs, on the emulated GPU (internal/emucuda; package
// gpu runs the backend on it), the checks of the bindings it can serve: it
// defines every function vg_cuda.h declares, streams and events keep their
// order, and the device-level GPU tests pass. The library table is filled
// once per process, so they run in a child.
func TestEmulatedBindings(t *testing.T) {
	if emucuda.InChild() {
		t.Skip("in the child")
	}
	dir := emucuda.ForTest(t)
	emucuda.RunChild(t, dir, "TestEmulatedBindingsChild", "TestGPUMemory", "TestGPUSgemm")
}

// TestEmulatedBindingsChild is TestEmulatedBindings' child; alone it skips.
func TestEmulatedBindingsChild(t *testing.T) {
	dir := os.Getenv(emucuda.Env)
	if dir == "" {
		t.Skip("run by TestEmulatedBindings")
	}
	t.Run("symbols", func(t *testing.T) { emuSymbols(t, dir) })
	t.Run("streams", emuStreams)
}

// emuSymbols checks that the emulator defines every function vg_cuda.h
// declares, optional ones included, so that none is left to a fallback.
func emuSymbols(t *testing.T, dir string) {
	h, msg := dlOpen(filepath.Join(dir, "libemucuda.so"), false)
	if h == 0 {
		t.Fatal(msg)
	}
	for _, s := range symTable() {
		if dlSym(h, s.Name) == 0 && (s.Alt == "" || dlSym(h, s.Alt) == 0) {
			t.Errorf("the emulator lacks %s", s.Name)
		}
	}
	r := Probe()
	if !r.Usable() || len(r.Devices) != 1 || !strings.Contains(r.Devices[0].Name, "emucuda") {
		t.Errorf("Probe on the emulator: %+v", r)
	}
}

// emuStreams: work waits in its stream until something waits for it. The
// synchronous copies wait for blocking streams only, as CUDA's legacy
// stream does.
func emuStreams(t *testing.T) {
	d, err := Open(0)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	p, _ := d.Alloc(16)
	for _, flags := range []uint32{0, 1} { // CU_STREAM_DEFAULT, CU_STREAM_NON_BLOCKING
		d.UploadFloat32(p, []float32{1, 2, 3, 4})
		s, r := cuStreamCreate(d.ctx, flags)
		if r != 0 {
			t.Fatal(r)
		}
		if r := cuMemsetD32Async(d.ctx, p, math.Float32bits(7), 4, s); r != 0 {
			t.Fatal(r)
		}
		got := make([]float32, 4)
		d.DownloadFloat32(got, p)
		want := "[7 7 7 7]"
		if flags == 1 {
			want = "[1 2 3 4]" // a download that does not wait for the stream reads stale memory
		}
		if fmt.Sprint(got) != want {
			t.Errorf("stream flags %d, no wait: %v, want %s", flags, got, want)
		}
		if r := cuStreamSynchronize(d.ctx, s); r != 0 {
			t.Fatal(r)
		}
		d.DownloadFloat32(got, p)
		if fmt.Sprint(got) != "[7 7 7 7]" {
			t.Errorf("stream flags %d, after its synchronize: %v", flags, got)
		}
		cuStreamDestroy(d.ctx, s)
	}

	// Events mark points in the device's stream.
	e1, _ := d.NewEvent()
	e2, _ := d.NewEvent()
	e1.Record()
	d.Stream().MemsetD32(p, math.Float32bits(9), 4)
	e2.Record()
	if _, err := e2.Since(e1); err == nil {
		t.Error("Since before the events completed: no error")
	}
	if err := e2.Synchronize(); err != nil {
		t.Fatal(err)
	}
	if dt, err := e2.Since(e1); err != nil || dt < 0 {
		t.Errorf("Since = %v, %v", dt, err)
	}
}
