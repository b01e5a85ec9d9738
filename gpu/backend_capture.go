package gpu

// Capture implements layers.Capturer with CUDA graphs.
//
// The first call with a key runs f as an ordinary run: its work is queued
// and done as usual, cuDNN's algorithm search and workspace growth happen
// as usual (neither may happen while a stream records), and every device
// call f makes is also kept, as a closure over its arguments. The stream
// then records those same calls into a graph (cuStreamBeginCapture_v2,
// global mode, on the calling OS thread; recording runs nothing), which is
// instantiated and kept under key. Later calls with the key launch the
// graph and do not call f. f runs exactly once per key.
//
// What changes between replays must come from device memory the graph
// reads: the step, which SetStep writes (see Backend), and the contents of
// buffers. Inside f only device work may be queued: Alloc, Free, Upload,
// Download, SetStep, Sync and a nested Capture panic there. A graph holds
// the addresses of the buffers f used; Free of one of them destroys the
// graph and forgets its key, so that the next Capture with the key runs f
// again.
//
// An error while running f, recording or launching is sticky, as any other.
func (b *Backend) Capture(key string, f func()) error {
	b.noCapture("Capture")
	if b.err != nil {
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
	b.recording, b.tape, b.tapeUses = true, nil, map[*devBuf]bool{}
	func() {
		defer func() { b.recording = false }()
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
	if err := b.s.BeginCapture(); err != nil {
		b.fail(op, err)
		return b.err
	}
	var issueErr error
	for _, st := range tape {
		if err := st.issue(); err != nil {
			issueErr = wrap(op+": "+st.op, err)
			break
		}
	}
	g, err := b.s.EndCapture()
	switch {
	case issueErr != nil:
		if g != nil {
			g.Close()
		}
		b.err = issueErr
	case err != nil:
		b.fail(op, err)
	default:
		b.keepGraph(key, g, len(tape), uses)
	}
	return b.err
}

// keepGraph files g (nil when f queued nothing) under key, with the number
// of calls it holds and the buffers its f named.
func (b *Backend) keepGraph(key string, g *Graph, calls int, uses map[*devBuf]bool) {
	if b.graphUses == nil {
		b.graphUses = map[string]map[*devBuf]bool{}
	}
	b.graphs[key], b.graphCalls[key], b.graphUses[key] = g, calls, uses
}
