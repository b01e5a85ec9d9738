package gpu

import (
	"errors"
	"fmt"
	"github.com/vatgpu/vatgpu/gpu/cuda"

	"github.com/vatgpu/vatgpu/layers"
)

// Backend runs layers.Backend on one NVIDIA GPU: convolutions on cuDNN,
// matrix products on cuBLAS, everything else on the kernels of kernels.cu,
// each the twin of a layers.CPU method. All work goes to the device's one
// stream, in call order, asynchronously: Download, Sync and Close wait.
//
// Buffers are device allocations of float32 or int32; Slice returns a view
// at an offset into one, and Free takes only whole buffers.
//
// Errors. Programmer errors (a short buffer, a buffer of another backend
// or of the wrong element type, a count beyond a kernel's int) panic, as on
// the CPU backend. Conditions of the device are recorded instead: the
// first failed call sets a sticky error that names the operation, e.g.
//
//	gpu: conv forward: cudnnConvolutionForward(CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM): CUDNN_STATUS_EXECUTION_FAILED
//
// after which every operation does nothing and Err, Sync and Capture
// return it. Out of memory is such a condition: Alloc, which returns no
// error, records it and returns a buffer of the asked length that holds no
// memory; as the error is sticky, no operation ever touches that buffer.
// Download after an error leaves its destination unchanged. A kernel that
// fails while running (after its launch was accepted) is reported by the
// next call that waits for the stream: Download, Sync or Close, named as
// that call ("gpu: sync: ..."); Options.CheckEachOp names the kernel.
//
// The step. Dropout and RandNormal read the step that completes their
// Philox counters, and Adam the step that sets its bias correction
// (computed on the device, as layers.AdamCorrection), from a word of device
// memory, never from a kernel argument. SetStep queues the kernel
// set_step, which writes that word in stream order, so work queued before
// SetStep sees the old step and work queued after it the new one, and a
// graph recorded by Capture, which holds only the word's address, draws
// the numbers and applies the correction of whatever step was set before
// each replay.
//
// A Backend is not safe for concurrent use.
type Backend struct {
	d    *cuda.Device
	s    *cuda.Stream
	opts Options
	name string
	fn   [numKernels]cuda.Function
	step cuda.DevicePtr // the device word SetStep writes (uint64), read by the random kernels and adam

	err    error // the first error; every operation is a no-op once set
	closed bool

	convs   map[layers.ConvShape]*convPlan
	ws      cuda.DevicePtr // cuDNN workspace, the largest any plan needs
	wsBytes int

	graphs map[string]*cuda.Graph
	// graphUses holds, for each key of graphs, the whole buffers its f
	// named: Free of one of them forgets the key (see Free).
	graphUses map[string]map[*devBuf]bool
	// calls counts device calls queued (DeviceCalls); graphCalls the calls
	// each graph holds.
	calls      uint64
	graphCalls map[string]int
	inCapture  bool             // inside Capture's f
	keepTape   bool             // inside Capture's first run of f, which keeps its calls
	tape       []tapeStep       // what that run queued, to be replayed under capture
	tapeUses   map[*devBuf]bool // the whole buffers that run named
	warned     bool             // the warning that graphs are off was written

	// dry, set only by tests, receives kernel launches instead of the
	// device, and every other device call is skipped.
	dry     func(k kernelID, grid, block int, args []any)
	dryNext cuda.DevicePtr
}

// Options configures NewBackend.
type Options struct {
	// Deterministic selects cuDNN convolution algorithms that give the
	// same bits on every run: the first deterministic algorithm cuDNN's
	// heuristics rank (no timing, so the choice is the same every run).
	// Otherwise cudnnFind* times every algorithm once per shape and the
	// fastest is used; the choice can then change between runs and so can
	// the last bits of the results. The custom kernels and cuBLAS are
	// deterministic either way.
	Deterministic bool
	// TF32 lets cuBLAS and cuDNN round float32 inputs to TF32 on tensor
	// cores (sm_80 and later): faster, with about 3 decimal digits.
	TF32 bool
	// CheckEachOp waits for the device after every operation outside a
	// capture, so that a kernel failing while it runs is reported under
	// its own name instead of the next waiting call's. For debugging: it
	// removes all overlap of host and device.
	CheckEachOp bool
	// NoGraphs makes Capture run its f every time instead of recording
	// it as a CUDA graph and replaying that. VATGPU_GRAPHS=off in the
	// environment sets it too; a failed recording sets it for the rest of
	// the backend's life (see Capture).
	NoGraphs bool
	// Warn receives the one-line warning Capture gives when a recording
	// fails and graphs are turned off; nil writes it to stderr.
	Warn func(msg string)
}

var _ layers.Backend = (*Backend)(nil)
var _ layers.Capturer = (*Backend)(nil)

// errBackendClosed is the sticky error of a closed Backend.
var errBackendClosed = errors.New("gpu: backend is closed")

// NewBackend opens GPU index and loads the kernels. Without a usable GPU
// (no driver, no device, no cuBLAS or cuDNN) it returns an error saying
// what is missing; it never panics or exits.
func NewBackend(index int, opts Options) (*Backend, error) {
	d, err := cuda.Open(index)
	if err != nil {
		return nil, err
	}
	b, err := newBackend(d, opts)
	if err != nil {
		d.Close()
		return nil, err
	}
	return b, nil
}

func newBackend(d *cuda.Device, opts Options) (*Backend, error) {
	off, err := graphsFromEnv()
	if err != nil {
		return nil, err
	}
	opts.NoGraphs = opts.NoGraphs || off
	b := &Backend{d: d, s: d.Stream(), opts: opts,
		name:   fmt.Sprintf("gpu %d: %s", d.Info().Index, d.Info().Name),
		convs:  map[layers.ConvShape]*convPlan{},
		graphs: map[string]*cuda.Graph{}, graphCalls: map[string]int{}}
	if opts.TF32 {
		if err := d.SetMathMode(cuda.MathTF32); err != nil {
			return nil, err
		}
	}
	mod, err := d.LoadModule([]byte(kernelsPTX))
	if err != nil {
		return nil, cuda.Wrap("loading kernels.ptx", err)
	}
	for k, spec := range kernelSpecs {
		if b.fn[k], err = mod.Function(spec.name); err != nil {
			return nil, cuda.Wrap("loading kernels.ptx", err)
		}
	}
	if b.step, err = d.Alloc(8); err != nil {
		return nil, cuda.Wrap("allocating the step", err)
	}
	if err := b.s.Zero(b.step, 2); err != nil {
		return nil, cuda.Wrap("zeroing the step", err)
	}
	return b, nil
}

// DeviceCalls returns the number of device calls (kernel launches and
// cuBLAS or cuDNN calls) queued so far, counting a replayed graph as the
// calls it holds.
func (b *Backend) DeviceCalls() uint64 { return b.calls }

// Device returns the device the backend runs on.
func (b *Backend) Device() *cuda.Device { return b.d }

func (b *Backend) Name() string { return b.name }

// FreeMemory returns the device's free memory in bytes (vat.DeviceMemory:
// a run is refused before it allocates more than this).
func (b *Backend) FreeMemory() (uint64, error) {
	free, _, err := b.d.MemInfo()
	return uint64(max(free, 0)), err
}

// ---- errors and issuing ----

// fail records err, from operation op, unless an error is already recorded.
func (b *Backend) fail(op string, err error) {
	if b.err == nil && err != nil {
		b.err = cuda.Wrap(op, err)
	}
}

// tapeStep is one call queued during Capture's first run of f.
type tapeStep struct {
	op    string
	issue func() error
}

// do queues issue, which makes the device calls of operation op, unless an
// error is recorded; it records issue's error. Inside Capture's first run
// it also keeps issue, to queue it again while the stream records a graph.
// issue must take everything it uses as arguments that are the same every
// time it is called (device pointers, descriptors, sizes).
func (b *Backend) do(op string, issue func() error) {
	if b.err != nil || b.dry != nil {
		return
	}
	if b.keepTape {
		b.tape = append(b.tape, tapeStep{op, issue})
	}
	b.calls++
	if err := issue(); err != nil {
		b.fail(op, err)
		return
	}
	if b.opts.CheckEachOp && !b.keepTape {
		b.fail(op, b.s.Synchronize())
	}
}

// launch queues kernel k on grid blocks of block threads. The arguments
// are checked against the kernel's parameters first (a panic on mismatch).
func (b *Backend) launch(op string, k kernelID, grid, block int, args ...any) {
	checkKernelArgs(k, args)
	if b.err != nil {
		return
	}
	if b.dry != nil {
		b.dry(k, grid, block, args)
		return
	}
	f := b.fn[k]
	g, t := [3]uint32{uint32(grid), 1, 1}, [3]uint32{uint32(block), 1, 1}
	b.do(op, func() error { return b.s.Launch(f, g, t, 0, args...) })
}

// noCapture panics when op is called inside Capture's f, where it cannot be
// recorded: it allocates, frees, synchronises or reads host memory.
func (b *Backend) noCapture(op string) {
	if b.inCapture {
		panic("gpu: " + op + " inside Capture: f may only queue device work")
	}
}

// ---- buffers ----

// devBuf is a Buf: n elements of float32 or int32 at p. A view made by
// Slice shares the memory of its whole buffer, base.
type devBuf struct {
	owner *Backend
	base  *devBuf // the whole buffer: itself, or the one a view views
	p     cuda.DevicePtr
	n     int
	isInt bool
	freed bool // set on the whole buffer by Free
	empty bool // Alloc failed: no memory behind p (the error is sticky)
}

func (d *devBuf) Len() int { return d.n }

// buf returns b's devBuf behind x, panicking on a nil buffer, a buffer of
// another backend or one already freed.
func (b *Backend) buf(op, what string, x layers.Buf) *devBuf {
	d, ok := x.(*devBuf)
	if !ok || d == nil {
		panic(fmt.Sprintf("gpu: %s: %s is %T, not a buffer of this backend", op, what, x))
	}
	if d.owner != b {
		panic(fmt.Sprintf("gpu: %s: %s belongs to another backend", op, what))
	}
	if d.base.freed {
		panic(fmt.Sprintf("gpu: %s: %s was freed", op, what))
	}
	if b.keepTape {
		b.tapeUses[d.base] = true
	}
	return d
}

// f32 returns the float32 buffer x, panicking unless it has at least n
// elements.
func (b *Backend) f32(op, what string, x layers.Buf, n int) *devBuf {
	d := b.buf(op, what, x)
	if d.isInt {
		panic(fmt.Sprintf("gpu: %s: %s is an int32 buffer", op, what))
	}
	if d.n < n {
		panic(fmt.Sprintf("gpu: %s: %s has %d elements, need %d", op, what, d.n, n))
	}
	return d
}

// i32 is f32 for int32 buffers.
func (b *Backend) i32(op, what string, x layers.Buf, n int) *devBuf {
	d := b.buf(op, what, x)
	if !d.isInt {
		panic(fmt.Sprintf("gpu: %s: %s is a float32 buffer", op, what))
	}
	if d.n < n {
		panic(fmt.Sprintf("gpu: %s: %s has %d elements, need %d", op, what, d.n, n))
	}
	return d
}

// isNil reports whether an optional buffer argument is absent.
func isNil(x layers.Buf) bool {
	d, ok := x.(*devBuf)
	return x == nil || ok && d == nil
}

func (b *Backend) Alloc(n int) layers.Buf    { return b.alloc("alloc", n, false) }
func (b *Backend) AllocInt(n int) layers.Buf { return b.alloc("alloc int", n, true) }

func (b *Backend) alloc(op string, n int, isInt bool) layers.Buf {
	if n < 0 {
		panic(fmt.Sprintf("gpu: %s: negative length %d", op, n))
	}
	b.noCapture(op)
	buf := &devBuf{owner: b, n: n, isInt: isInt}
	buf.base = buf
	if b.err != nil || n == 0 {
		buf.empty = b.err != nil
		return buf
	}
	if b.dry != nil { // an address no other buffer has, for the tests to check
		b.dryNext = max(b.dryNext, 1<<20)
		buf.p = b.dryNext
		b.dryNext += cuda.DevicePtr(4*n+255) &^ 255
		return buf
	}
	p, err := b.d.Alloc(4 * n)
	if err != nil {
		b.fail(fmt.Sprintf("%s %d elements", op, n), err)
		buf.empty = true
		return buf
	}
	buf.p = p
	b.do(op, func() error { return b.s.Zero(p, n) })
	return buf
}

func (b *Backend) Slice(x layers.Buf, off, n int) layers.Buf {
	d := b.buf("slice", "buffer", x)
	if off < 0 || n < 0 || off+n > d.n {
		panic(fmt.Sprintf("gpu: slice [%d:%d] of a buffer of %d", off, off+n, d.n))
	}
	v := *d
	v.n = n
	if !d.empty && d.p != 0 {
		v.p = d.p.Add(4 * off)
	}
	return &v
}

// Free releases a buffer from Alloc or AllocInt. Views from Slice are not
// freed by themselves (Free panics on one). Free forgets the graphs of
// Capture whose f named the buffer (or a view of it): a later Capture with
// their key runs f again instead of replaying work on freed memory.
func (b *Backend) Free(x layers.Buf) {
	d := b.buf("free", "buffer", x)
	if d.base != d {
		panic("gpu: free: the buffer is a view from Slice; free the buffer it views")
	}
	b.noCapture("free")
	d.freed = true
	if b.closed {
		return
	}
	b.forgetGraphsUsing(d)
	if d.p == 0 || b.dry != nil {
		return
	}
	// cuMemFree "may" wait for the device, the driver says, not that it
	// does: wait here, so that no queued work still uses d.
	b.fail("free", b.d.Synchronize())
	b.fail("free", b.d.Free(d.p))
}

// forgetGraphsUsing destroys the graphs whose f named d and forgets their
// keys. Keys name a step's shape, not its buffers: a second trainer on
// this backend, made after the first was freed, asks for the first one's
// keys and must get a graph of its own buffers and its own calls.
func (b *Backend) forgetGraphsUsing(d *devBuf) {
	for key, uses := range b.graphUses {
		if !uses[d] {
			continue
		}
		if g := b.graphs[key]; g != nil {
			b.fail("free: destroying the graph of "+key, g.Close())
		}
		delete(b.graphs, key)
		delete(b.graphCalls, key)
		delete(b.graphUses, key)
	}
}

func (b *Backend) Upload(dst layers.Buf, src []float32) {
	d := b.f32("upload", "dst", dst, len(src))
	b.noCapture("upload")
	if b.err != nil || b.dry != nil || len(src) == 0 {
		return
	}
	b.fail("upload", b.d.UploadFloat32(d.p, src))
}

func (b *Backend) UploadInt(dst layers.Buf, src []int32) {
	d := b.i32("upload int", "dst", dst, len(src))
	b.noCapture("upload int")
	if b.err != nil || b.dry != nil || len(src) == 0 {
		return
	}
	b.fail("upload int", b.d.UploadInt32(d.p, src))
}

func (b *Backend) Download(dst []float32, src layers.Buf) {
	s := b.f32("download", "src", src, len(dst))
	b.noCapture("download")
	if b.err != nil || b.dry != nil || len(dst) == 0 {
		return
	}
	b.fail("download", b.d.DownloadFloat32(dst, s.p))
}

// DownloadInt copies src's first len(dst) elements to dst, waiting for the
// work queued before (Download for int32 buffers).
func (b *Backend) DownloadInt(dst []int32, src layers.Buf) {
	s := b.i32("download int", "src", src, len(dst))
	b.noCapture("download int")
	if b.err != nil || b.dry != nil || len(dst) == 0 {
		return
	}
	b.fail("download int", b.d.DownloadInt32(dst, s.p))
}

func (b *Backend) Zero(x layers.Buf) {
	d := b.buf("zero", "buffer", x)
	if d.n == 0 {
		return
	}
	p, n := d.p, d.n
	b.do("zero", func() error { return b.s.Zero(p, n) })
}

func (b *Backend) Copy(dst, src layers.Buf) {
	d, s := b.buf("copy", "dst", dst), b.buf("copy", "src", src)
	if d.n != s.n || d.isInt != s.isInt {
		panic(fmt.Sprintf("gpu: copy between buffers of %d and %d elements (int32: %v, %v)", d.n, s.n, d.isInt, s.isInt))
	}
	if d.n == 0 {
		return
	}
	dp, sp, n := d.p, s.p, 4*d.n
	b.do("copy", func() error { return b.s.Copy(dp, sp, n) })
}

// SetStep queues the write of step to the device word the random kernels
// and adam read (see Backend). It may not be called inside Capture's f: a recorded
// SetStep would replay the same step every time.
func (b *Backend) SetStep(step uint64) {
	b.noCapture("SetStep")
	b.launch("set step", kSetStep, 1, 1, b.step, step)
}

// ---- synchronisation ----

func (b *Backend) Sync() error {
	b.noCapture("sync")
	if b.err != nil || b.dry != nil {
		return b.err
	}
	b.fail("sync", b.s.Synchronize())
	return b.err
}

func (b *Backend) Err() error { return b.err }

// Close waits for the device and frees everything: buffers, descriptors,
// graphs, the kernels' module, the handles and the context's hold. Later
// operations do nothing and Err returns an error saying the backend is
// closed. A second Close does nothing.
func (b *Backend) Close() error {
	if b.closed {
		return nil
	}
	b.closed = true
	if b.err == nil {
		b.err = errBackendClosed
	}
	b.convs, b.graphs, b.graphUses, b.tape = nil, nil, nil, nil
	if b.d == nil {
		return nil
	}
	return b.d.Close()
}
