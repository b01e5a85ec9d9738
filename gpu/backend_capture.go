package gpu

import (
	"fmt"
	"github.com/vatgpu/vatgpu/gpu/cuda"
	"os"
	"strings"
)

// Capture implements layers.Capturer with CUDA graphs.
//
// The first call with a key runs f as an ordinary run: its work is queued
// and done as usual, cuDNN's algorithm search and workspace growth happen
// as usual (neither may happen while a stream records), and every device
// call f makes is also kept, as a closure over its arguments. The stream
// then records those same calls into a graph (cuStreamBeginCapture_v2,
// global mode, on the calling OS thread; recording runs nothing), which is
// instantiated and kept under key. Later calls with the key launch the
// graph and do not call f.
//
// What changes between replays must come from device memory the graph
// reads: the step, which SetStep writes (see Backend), and the contents of
// buffers. Inside f only device work may be queued: Alloc, Free, Upload,
// Download, SetStep, Sync and a nested Capture panic there. A graph holds
// the addresses of the buffers f used; Free of one of them destroys the
// graph and forgets its key, so that the next Capture with the key runs f
// again.
//
// Without graphs. When the recording fails (the driver refuses to begin
// or end the capture, a call cannot be captured, the graph does not
// instantiate), nothing is lost: f's ordinary run has already done the
// step's work, and the recording ran nothing. Capture ends the capture,
// throws the partial graph away, records no error, says so once (one line
// to Options.Warn, or to stderr), and from then on every Capture, with
// any key, simply runs f. Options.NoGraphs, or VATGPU_GRAPHS=off in the
// environment, does the same from the start, without a warning. f must
// therefore compute the same step however often it is called, which is
// what a step function does.
//
// An error while running f or launching a graph is sticky, as any other.
func (b *Backend) Capture(key string, f func()) error {
	b.noCapture("Capture")
	if b.err != nil {
		return b.err
	}
	if b.opts.NoGraphs {
		b.runUncaptured(f)
		return b.err
	}
	op := "capture " + key
	if g, ok := b.graphs[key]; ok {
		if g != nil { // nil: f queued nothing
			b.calls += uint64(b.graphCalls[key])
			b.fail(op, g.Launch())
			if b.opts.CheckEachOp && b.err == nil {
				b.fail(op, b.s.Synchronize())
			}
		}
		return b.err
	}

	// The ordinary run, keeping the tape and the buffers it names.
	b.inCapture, b.keepTape, b.tape, b.tapeUses = true, true, nil, map[*devBuf]bool{}
	func() {
		defer func() { b.inCapture, b.keepTape = false, false }()
		f()
	}()
	tape, uses := b.tape, b.tapeUses
	b.tape, b.tapeUses = nil, nil
	if b.err != nil {
		return b.err
	}
	if len(tape) == 0 || b.dry != nil {
		b.keepGraph(key, nil, 0, uses)
		return nil
	}

	// The recording: the same calls again, captured instead of run.
	g, err := b.record(op, tape)
	if err != nil {
		b.graphsOff(key, err)
		return b.err
	}
	b.keepGraph(key, g, len(tape), uses)
	return nil
}

// record captures the calls of tape into a graph. On failure it leaves the
// stream as it found it: out of capture mode, the partial graph destroyed.
func (b *Backend) record(op string, tape []tapeStep) (*cuda.Graph, error) {
	if err := b.s.BeginCapture(); err != nil {
		return nil, err
	}
	var issueErr error
	for _, st := range tape {
		if err := st.issue(); err != nil {
			issueErr = cuda.Wrap(op+": "+st.op, err)
			break
		}
	}
	// EndCapture also ends a capture that a failed call invalidated.
	g, err := b.s.EndCapture()
	if issueErr != nil {
		if g != nil {
			g.Close()
		}
		return nil, issueErr
	}
	return g, err
}

// graphsOff turns CUDA graphs off for the rest of the backend's life after
// the recording of key failed with err: the graphs kept so far are
// destroyed, every later Capture runs f, and the one warning is written.
// The stream must be usable afterwards: a failed synchronisation is a real
// error and is recorded.
func (b *Backend) graphsOff(key string, err error) {
	b.opts.NoGraphs = true
	b.warn(fmt.Sprintf("gpu: recording %s as a CUDA graph failed (%s); running every step without graphs from now on, as VATGPU_GRAPHS=off does",
		key, strings.TrimPrefix(err.Error(), "gpu: ")))
	// Replays of the graphs kept so far may still run: wait for them
	// before destroying them.
	b.fail("capture "+key+": after the failed recording", b.s.Synchronize())
	for k, g := range b.graphs {
		if g != nil {
			b.fail("capture: destroying the graph of "+k, g.Close())
		}
	}
	b.graphs, b.graphCalls, b.graphUses = map[string]*cuda.Graph{}, map[string]int{}, nil
}

// runUncaptured runs f as Capture's f (the same calls are refused inside
// it), without keeping or recording anything.
func (b *Backend) runUncaptured(f func()) {
	b.inCapture = true
	defer func() { b.inCapture = false }()
	f()
}

// warn writes msg, once per backend, to Options.Warn or else to stderr.
func (b *Backend) warn(msg string) {
	if b.warned {
		return
	}
	b.warned = true
	if b.opts.Warn != nil {
		b.opts.Warn(msg)
		return
	}
	fmt.Fprintln(os.Stderr, msg)
}

// graphsFromEnv reads VATGPU_GRAPHS: "off" (or "0", "false") turns CUDA
// graphs off, "on", "1", "true" or unset leaves them on.
func graphsFromEnv() (off bool, err error) {
	switch v := os.Getenv("VATGPU_GRAPHS"); strings.ToLower(v) {
	case "", "on", "1", "true":
		return false, nil
	case "off", "0", "false":
		return true, nil
	default:
		return false, fmt.Errorf("gpu: VATGPU_GRAPHS=%q: want on or off", v)
	}
}

// keepGraph files g (nil when f queued nothing) under key, with the number
// of calls it holds and the buffers its f named.
func (b *Backend) keepGraph(key string, g *cuda.Graph, calls int, uses map[*devBuf]bool) {
	if b.graphUses == nil {
		b.graphUses = map[string]map[*devBuf]bool{}
	}
	b.graphs[key], b.graphCalls[key], b.graphUses[key] = g, calls, uses
}
