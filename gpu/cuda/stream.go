package cuda

import (
	"fmt"
	"math"
	"runtime"
	"sync"
	"time"
	"unsafe"
)

// maxKernelArgs is the most arguments Launch passes to one kernel.
const maxKernelArgs = 32

// Stream is a CUDA stream: work issued to it runs in order, asynchronously
// with the host. Each Device has one (Device.Stream).
type Stream struct {
	d *Device
	h uintptr // CUstream

	mu        sync.Mutex     // guards the argument arena and capturing
	arena     unsafe.Pointer // C memory: maxKernelArgs 8-byte slots, then pointers to them
	slots     []uint64       // the slots, as Go sees them
	capturing bool
}

// newStream creates a non-blocking stream (CU_STREAM_NON_BLOCKING): its work
// is not ordered with the legacy default stream's, so that nothing a
// library queues on the legacy stream while s records a graph joins s and
// invalidates the capture. Device.Upload* and Download* order themselves
// with s explicitly.
func newStream(d *Device) (*Stream, error) {
	h, r := cuStreamCreate(d.ctx, cuStreamNonBlocking)
	if err := cuCheck("cuStreamCreate", "", r); err != nil {
		return nil, err
	}
	s := &Stream{d: d, h: h}
	if s.arena = arenaNew(maxKernelArgs); s.arena == nil {
		cuStreamDestroy(d.ctx, h)
		return nil, fmt.Errorf("gpu: cannot allocate %d kernel argument slots", maxKernelArgs)
	}
	s.slots = arenaSlots(s.arena, maxKernelArgs)
	return s, nil
}

func (s *Stream) destroy() error {
	err := cuCheck("cuStreamDestroy_v2", "", cuStreamDestroy(s.d.ctx, s.h))
	s.mu.Lock()
	arenaFree(s.arena)
	s.arena, s.slots = nil, nil
	s.mu.Unlock()
	return err
}

// Synchronize waits until the work issued to s has finished.
func (s *Stream) Synchronize() error {
	if s.d.closed.Load() {
		return errClosed
	}
	return cuCheck("cuStreamSynchronize", "", cuStreamSynchronize(s.d.ctx, s.h))
}

// Launch queues kernel f on s with grid×block threads and shmem bytes of
// dynamic shared memory. Each argument must have exactly the type of the
// kernel's parameter: int32 or uint32 (int, unsigned: 4 bytes), int64 or
// uint64 (8 bytes), float32 (float), float64 (double) or DevicePtr (any
// pointer, 8 bytes). Arguments are copied into a C-allocated arena that
// the driver reads during the call, so Launch allocates nothing in C and
// passes no Go pointer to C. Launch panics on an argument of another type
// or on more than 32 arguments.
func (s *Stream) Launch(f Function, grid, block [3]uint32, shmem uint32, args ...any) error {
	if len(args) > maxKernelArgs {
		panic(fmt.Sprintf("gpu: Launch %s: %d arguments, at most %d", f.name, len(args), maxKernelArgs))
	}
	if s.d.closed.Load() {
		return errClosed
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	packArgs(s.slots, f.name, args)
	r := cuLaunchKernel(s.d.ctx, f.h, grid, block, shmem, s.h, s.arena, maxKernelArgs)
	if r != 0 {
		return cuCheck("cuLaunchKernel", fmt.Sprintf("%s, grid %v, block %v, %d bytes shared", f.name, grid, block, shmem), r)
	}
	return nil
}

// packArgs writes each kernel argument into the low bytes of its 8-byte
// slot, as the kernel's parameter of that type reads it (every CUDA host
// is little-endian). It panics on a type that is not a kernel parameter
// type or on more arguments than slots.
func packArgs(slots []uint64, kernel string, args []any) {
	if len(args) > len(slots) {
		panic(fmt.Sprintf("gpu: Launch %s: %d arguments, at most %d", kernel, len(args), len(slots)))
	}
	for i, a := range args {
		switch v := a.(type) {
		case int32:
			slots[i] = uint64(uint32(v))
		case uint32:
			slots[i] = uint64(v)
		case int64:
			slots[i] = uint64(v)
		case uint64:
			slots[i] = v
		case float32:
			slots[i] = uint64(math.Float32bits(v))
		case float64:
			slots[i] = math.Float64bits(v)
		case DevicePtr:
			slots[i] = uint64(v)
		default:
			panic(fmt.Sprintf("gpu: Launch %s: argument %d has type %T; want int32, uint32, int64, uint64, float32, float64 or DevicePtr", kernel, i, a))
		}
	}
}

// MemsetD32 sets count 32-bit words at dst to value, in stream order.
func (s *Stream) MemsetD32(dst DevicePtr, value uint32, count int) error {
	if s.d.closed.Load() {
		return errClosed
	}
	s.d.checkRange("MemsetD32", dst, 4*count)
	if count == 0 {
		return nil
	}
	return cuCheck("cuMemsetD32Async", fmt.Sprintf("%d words", count), cuMemsetD32Async(s.d.ctx, dst, value, count, s.h))
}

// Zero sets count float32 or int32 values at dst to zero, in stream order.
func (s *Stream) Zero(dst DevicePtr, count int) error { return s.MemsetD32(dst, 0, count) }

// Copy copies bytes of device memory from src to dst, in stream order.
func (s *Stream) Copy(dst, src DevicePtr, bytes int) error {
	if s.d.closed.Load() {
		return errClosed
	}
	s.d.checkRange("Copy", dst, bytes)
	s.d.checkRange("Copy", src, bytes)
	if bytes == 0 {
		return nil
	}
	return cuCheck("cuMemcpyDtoDAsync_v2", fmt.Sprintf("%d bytes", bytes), cuMemcpyDtoDAsync(s.d.ctx, dst, src, bytes, s.h))
}

// UploadFloat32 queues a copy of src to dst on s without waiting for the
// stream. The driver stages src (pageable memory) before returning, so src
// may be reused at once. It is refused while s is capturing a graph, as a
// graph would keep a pointer to src.
func (s *Stream) UploadFloat32(dst DevicePtr, src []float32) error {
	return s.upload("UploadFloat32", dst, unsafe.Pointer(unsafe.SliceData(src)), 4*len(src))
}

// UploadInt32 is UploadFloat32 for int32 data.
func (s *Stream) UploadInt32(dst DevicePtr, src []int32) error {
	return s.upload("UploadInt32", dst, unsafe.Pointer(unsafe.SliceData(src)), 4*len(src))
}

func (s *Stream) upload(op string, dst DevicePtr, src unsafe.Pointer, n int) error {
	if s.d.closed.Load() {
		return errClosed
	}
	s.d.checkRange(op, dst, n)
	if n == 0 {
		return nil
	}
	s.mu.Lock()
	capturing := s.capturing
	s.mu.Unlock()
	if capturing {
		return fmt.Errorf("gpu: Stream.%s: host-to-device copies from Go memory cannot be captured in a graph", op)
	}
	return cuCheck("cuMemcpyHtoDAsync_v2", fmt.Sprintf("%d bytes", n), cuMemcpyHtoDAsync(s.d.ctx, dst, src, n, s.h))
}

// BeginCapture starts recording the work issued to s into a CUDA graph
// instead of running it, in CU_STREAM_CAPTURE_MODE_GLOBAL (calls that are
// unsafe during capture, such as Alloc, fail). The calling goroutine stays
// locked to its OS thread until EndCapture, which it must call itself.
func (s *Stream) BeginCapture() error {
	if s.d.closed.Load() {
		return errClosed
	}
	runtime.LockOSThread()
	if err := cuCheck("cuStreamBeginCapture_v2", "", cuStreamBeginCapture(s.d.ctx, s.h, cuCaptureModeGlobal)); err != nil {
		runtime.UnlockOSThread()
		return err
	}
	s.mu.Lock()
	s.capturing = true
	s.mu.Unlock()
	return nil
}

// EndCapture stops recording and instantiates the recorded work as a Graph
// owned by the device.
func (s *Stream) EndCapture() (*Graph, error) {
	defer runtime.UnlockOSThread()
	s.mu.Lock()
	s.capturing = false
	s.mu.Unlock()
	if s.d.closed.Load() {
		return nil, errClosed
	}
	ctx := s.d.ctx
	g, r := cuStreamEndCapture(ctx, s.h)
	if err := cuCheck("cuStreamEndCapture", "", r); err != nil {
		if g != 0 {
			cuGraphDestroy(ctx, g)
		}
		return nil, err
	}
	exec, r := cuGraphInstantiate(ctx, g)
	cuGraphDestroy(ctx, g) // the executable graph does not need it
	if err := cuCheck("cuGraphInstantiateWithFlags", "", r); err != nil {
		return nil, err
	}
	graph := &Graph{d: s.d, exec: exec}
	if err := s.d.track(graph); err != nil {
		cuGraphExecDestroy(ctx, exec)
		return nil, err
	}
	return graph, nil
}

// Graph is an executable CUDA graph captured from the device's stream.
type Graph struct {
	d    *Device
	exec uintptr // CUgraphExec
}

// Launch queues one run of g on the device's stream.
func (g *Graph) Launch() error {
	if g.d.closed.Load() {
		return errClosed
	}
	return cuCheck("cuGraphLaunch", "", cuGraphLaunch(g.d.ctx, g.exec, g.d.stream.h))
}

// Close frees g. The device's Close frees it too.
func (g *Graph) Close() error { return g.d.closeResource(g) }

func (g *Graph) rank() int { return 0 }
func (g *Graph) release() error {
	return cuCheck("cuGraphExecDestroy", "", cuGraphExecDestroy(g.d.ctx, g.exec))
}

// Event marks a point in the device's stream, for timing and waiting.
type Event struct {
	d *Device
	h uintptr // CUevent
}

// NewEvent creates a timing event owned by the device.
func (d *Device) NewEvent() (*Event, error) {
	if d.closed.Load() {
		return nil, errClosed
	}
	h, r := cuEventCreate(d.ctx, cuEventDefault)
	if err := cuCheck("cuEventCreate", "", r); err != nil {
		return nil, err
	}
	e := &Event{d: d, h: h}
	if err := d.track(e); err != nil {
		cuEventDestroy(d.ctx, h)
		return nil, err
	}
	return e, nil
}

// Record marks the current end of the device's stream.
func (e *Event) Record() error {
	if e.d.closed.Load() {
		return errClosed
	}
	return cuCheck("cuEventRecord", "", cuEventRecord(e.d.ctx, e.h, e.d.stream.h))
}

// Synchronize waits until the work before the recorded point has finished.
func (e *Event) Synchronize() error {
	if e.d.closed.Load() {
		return errClosed
	}
	return cuCheck("cuEventSynchronize", "", cuEventSynchronize(e.d.ctx, e.h))
}

// Since returns the GPU time from start's recorded point to e's; both must
// have completed (call e.Synchronize first). Resolution is about 0.5 µs.
func (e *Event) Since(start *Event) (time.Duration, error) {
	if e.d.closed.Load() {
		return 0, errClosed
	}
	ms, r := cuEventElapsedTime(e.d.ctx, start.h, e.h)
	if err := cuCheck("cuEventElapsedTime", "", r); err != nil {
		return 0, err
	}
	return time.Duration(float64(ms) * float64(time.Millisecond)), nil
}

// Close frees e. The device's Close frees it too.
func (e *Event) Close() error { return e.d.closeResource(e) }

func (e *Event) rank() int { return 1 }
func (e *Event) release() error {
	return cuCheck("cuEventDestroy_v2", "", cuEventDestroy(e.d.ctx, e.h))
}

// Module is loaded device code: PTX, which the driver compiles for the GPU
// on load, or a cubin or fatbin.
type Module struct {
	d *Device
	h uintptr // CUmodule
}

// Function is a kernel of a Module, to pass to Stream.Launch.
type Function struct {
	h    uintptr // CUfunction
	name string
}

// Name is the kernel's name as looked up.
func (f Function) Name() string { return f.name }

// LoadModule loads image, PTX text or a cubin/fatbin, into the device. On a
// PTX compile error the error includes the JIT log.
func (d *Device) LoadModule(image []byte) (*Module, error) {
	if len(image) == 0 {
		panic("gpu: LoadModule: empty image")
	}
	if d.closed.Load() {
		return nil, errClosed
	}
	// PTX must end in a NUL byte; one more byte after a binary image is
	// ignored. The copy is read by the driver during the call only.
	buf := make([]byte, len(image)+1)
	copy(buf, image)
	h, log, r := cuModuleLoad(d.ctx, buf)
	if err := cuCheck("cuModuleLoadData", fmt.Sprintf("%d bytes", len(image)), r); err != nil {
		if log != "" {
			return nil, fmt.Errorf("%w\nJIT log:\n%s", err, log)
		}
		return nil, err
	}
	m := &Module{d: d, h: h}
	if err := d.track(m); err != nil {
		cuModuleUnload(d.ctx, h)
		return nil, err
	}
	return m, nil
}

// Function looks up kernel name (its extern "C" name) in m.
func (m *Module) Function(name string) (Function, error) {
	if m.d.closed.Load() {
		return Function{}, errClosed
	}
	h, r := cuModuleGetFunction(m.d.ctx, m.h, name)
	if err := cuCheck("cuModuleGetFunction", name, r); err != nil {
		return Function{}, err
	}
	return Function{h: h, name: name}, nil
}

// Close unloads m. The device's Close unloads it too.
func (m *Module) Close() error { return m.d.closeResource(m) }

func (m *Module) rank() int      { return 3 }
func (m *Module) release() error { return cuCheck("cuModuleUnload", "", cuModuleUnload(m.d.ctx, m.h)) }
