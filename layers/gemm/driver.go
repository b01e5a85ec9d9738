package gemm

import (
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"
)

// A kernel computes one tile of C (at most mr×nr) from an A panel and a B
// panel:
//
//	acc[r][j] = Σ_{p<k, in order} A(p, r)·B(p, j),  B(p, j) = b[p*ldb+j]
//	C[r][j]   = alpha*acc[r][j] + beta*C[r][j]   for r < rows, j < cols (beta == 0: alpha*acc[r][j])
//
// fn reads a k-major A panel, A(p, r) = a[p*lda+r] (packed, or a transposed
// A in place); fnRowA reads a row-major one, A(p, r) = a[r*lda+p] (A in
// place). fnT and fnRowAT, where a kernel has them, store tile (r, j) at
// c[j*ldc+r] instead of c[r*ldc+j]. All read all mr rows of A and a
// multiple of nrStep columns of B per step (whatever rows and cols are), so
// a panel read in place must have that many. Every variant and tile size
// gives an element the same arithmetic, so the tiling of C does not change
// the result.
type kernel struct {
	name      string
	mr, nr    int
	nrStep    int
	fn        tileFunc
	fnRowA    tileFunc
	fnT       tileFunc      // fn storing the tile transposed; nil if none
	fnRowAT   tileFunc      // fnRowA storing the tile transposed
	transpose transposeFunc // nil: packBT transposes in Go
}

type tileFunc func(k int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int, alpha, beta float32, rows, cols int)

// A transposeFunc sets dst[c*ldd+r] = src[r*lds+c] for r < 16 and c < cols,
// with zero for r >= rows; rows, cols <= 16.
type transposeFunc func(dst *float32, ldd int, src *float32, lds, rows, cols int)

// active is the kernel Sgemm uses: the fastest this machine runs.
var active = kernels()[0]

// Cache blocking, in the kernels' terms (X panels of mr rows, Y strips of
// nr columns; see problem). A k block of at most kcMax steps is summed per
// pass over C; k is cut into equal blocks, so the blocks (and so the
// summation order) depend on k alone. X is read in place (only a partial
// last panel is packed): one X panel (8×kc, 16 KiB) stays in L1 while the Y
// strips (kc×48) of an mcMax-row block stream from L2. Y is read in place
// too unless it must be transposed; then it is packed ncMax columns at a
// time (≤480 KiB, L2). The k block length was measured flat from 256 to
// 1024 on the model's shapes.
const (
	kcMax = 512
	mcMax = 256
	ncMax = 240
	maxMR = 8
)

// parMin is the m*n*k from which Sgemm splits a product over goroutines.
// Below it (the per-image convolution products) the goroutine hand-off
// costs more than it saves, and callers parallelise over images anyway.
const parMin = 1 << 23

// kBlock returns the k block length: k cut into ceil(k/kcMax) equal blocks.
func kBlock(k int) int {
	nk := (k + kcMax - 1) / kcMax
	return (k + nk - 1) / nk
}

// problem is one call of Sgemm in the kernels' terms: a product of m×n
// tiles from a row operand X (mr rows per panel) and a column operand Y (nr
// columns per strip), summed over k:
//
//	X(p, r) = x[r*ldx+p] if xRows, else x[p*ldx+r]
//	Y(p, j) = y[j*ldy+p] if yRows, else y[p*ldy+j]
//
// Normally X = op(A), Y = op(B) and tile (r, j) is C[r][j]. When transC the
// product is Cᵀ = op(B)ᵀ·op(A)ᵀ: X = op(B)ᵀ, Y = op(A)ᵀ, m and n are
// swapped and tile (r, j) is C[j][r]. Either way an element of C gets the
// same arithmetic (one FMA per step, in order), so the choice does not
// change the result.
type problem struct {
	m, n, k     int
	alpha, beta float32
	x, y, c     []float32
	ldx, ldy    int
	ldc         int
	xRows       bool
	yRows       bool
	transC      bool
}

// newProblem describes Sgemm's arguments as a problem, swapped to Cᵀ when
// transC.
func newProblem(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int, transC bool) problem {
	if transC {
		return problem{m: n, n: m, k: k, alpha: alpha, beta: beta, x: b, ldx: ldb, xRows: transB, y: a, ldy: lda, yRows: !transA, c: c, ldc: ldc, transC: true}
	}
	return problem{m: m, n: n, k: k, alpha: alpha, beta: beta, x: a, ldx: lda, xRows: !transA, y: b, ldy: ldb, yRows: transB, c: c, ldc: ldc}
}

// useTransC reports whether kern should compute C = op(A)·Bᵀ as Cᵀ: then B,
// stored n×k, is read in place and A is the operand transposed into packed
// strips, which costs less when A is the smaller; with both transposed
// nothing needs transposing.
func useTransC(kern *kernel, transA, transB bool, m, n int) bool {
	return kern.fnT != nil && transB && (transA || m < n)
}

// workspace holds the packed X panel and Y strips of one goroutine.
type workspace struct {
	a, b []float32
}

var workspaces = sync.Pool{New: func() any {
	return &workspace{a: alignedFloats(maxMR * kcMax), b: alignedFloats(ncMax * kcMax)}
}}

// alignedFloats returns n float32s starting on a 64-byte boundary.
func alignedFloats(n int) []float32 {
	s := make([]float32, n+16)
	off := int(uintptr(unsafe.Pointer(&s[0]))%64) / 4
	if off != 0 {
		off = 16 - off
	}
	return s[off : off+n : off+n]
}

// sgemm runs the product with kernel kern, alpha != 0 and k > 0.
func sgemm(kern *kernel, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	pr := newProblem(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, useTransC(kern, transA, transB, m, n))
	workers := 1
	if m*n*k >= parMin {
		workers = runtime.GOMAXPROCS(0)
	}
	if workers == 1 {
		ws := workspaces.Get().(*workspace)
		pr.block(kern, ws, 0, pr.m, 0, pr.n)
		workspaces.Put(ws)
		return
	}
	parallel(kern, &pr, workers)
}

// block computes tile rows [i0, i1) and columns [j0, j1); i0 and j0 are
// multiples of kern.mr and kern.nr.
func (pr *problem) block(kern *kernel, ws *workspace, i0, i1, j0, j1 int) {
	mr, nr := kern.mr, kern.nr
	mc := mcMax / mr * mr
	nc := ncMax / nr * nr
	kc := kBlock(pr.k)
	fnX, fnPacked := kern.fn, kern.fn // whole panels in place, packed panels
	if pr.xRows {
		fnX = kern.fnRowA
	}
	if pr.transC {
		fnX, fnPacked = kern.fnT, kern.fnT
		if pr.xRows {
			fnX = kern.fnRowAT
		}
	}
	for jc := j0; jc < j1; jc += nc {
		nb := min(nc, j1-jc)
		for pc := 0; pc < pr.k; pc += kc {
			kb := min(kc, pr.k-pc)
			beta := pr.beta
			if pc > 0 {
				beta = 1
			}
			if pr.yRows {
				for jr := 0; jr < nb; jr += nr {
					w := min(nr, nb-jr)
					packBT(kern, pr.y, pr.ldy, pc, kb, jc+jr, w, roundUp(w, kern.nrStep), ws.b[jr*kb:])
				}
			}
			for ic := i0; ic < i1; ic += mc {
				mb := min(mc, i1-ic)
				// Whole panels of X are read in place (packing them was
				// measured slower, even for strides that fold a panel
				// onto few L1 sets); a partial last panel is packed.
				full := mb / mr * mr
				if full < mb {
					packA(!pr.xRows, pr.x, pr.ldx, ic+full, mb-full, pc, kb, mr, ws.a)
				}
				for jr := 0; jr < nb; jr += nr {
					w := min(nr, nb-jr)
					yp, ldy := &ws.b[jr*kb], roundUp(w, kern.nrStep)
					if !pr.yRows {
						if w%kern.nrStep == 0 {
							yp, ldy = &pr.y[pc*pr.ldy+jc+jr], pr.ldy
						} else {
							packBN(pr.y, pr.ldy, pc, kb, jc+jr, w, ldy, ws.b)
							yp = &ws.b[0]
						}
					}
					// C offsets of tile (i, j) and of tile row i.
					cOff, cRow := (ic)*pr.ldc+jc+jr, pr.ldc
					if pr.transC {
						cOff, cRow = (jc+jr)*pr.ldc+ic, 1
					}
					for ir := 0; ir < full; ir += mr {
						var xp *float32
						if pr.xRows {
							xp = &pr.x[(ic+ir)*pr.ldx+pc]
						} else {
							xp = &pr.x[pc*pr.ldx+ic+ir]
						}
						fnX(kb, xp, pr.ldx, yp, ldy, &pr.c[cOff+ir*cRow], pr.ldc, pr.alpha, beta, mr, w)
					}
					if full < mb {
						fnPacked(kb, &ws.a[0], mr, yp, ldy, &pr.c[cOff+full*cRow], pr.ldc, pr.alpha, beta, mb-full, w)
					}
				}
			}
		}
	}
}

func roundUp(x, m int) int { return (x + m - 1) / m * m }

// packA packs rows [i0, i0+h) (h < mr) and steps [p0, p0+kb) of op(A) into
// one k-major panel: dst[p*mr + r] = op(A)[i0+r][p0+p], zero for r >= h.
func packA(trans bool, a []float32, lda, i0, h, p0, kb, mr int, dst []float32) {
	d := dst[:kb*mr]
	if trans {
		// op(A)[i][p] = a[p*lda+i]: each step is h contiguous values.
		for p := 0; p < kb; p++ {
			dp := d[p*mr : p*mr+mr]
			src := a[(p0+p)*lda+i0:][:h]
			for r, v := range src {
				dp[r] = v
			}
			for r := h; r < mr; r++ {
				dp[r] = 0
			}
		}
		return
	}
	// op(A)[i][p] = a[i*lda+p]: transpose rows into the panel.
	clear(d)
	for r := 0; r < h; r++ {
		src := a[(i0+r)*lda+p0:][:kb]
		for p, v := range src {
			d[p*mr+r] = v
		}
	}
}

// packBN packs steps [p0, p0+kb) and columns [j0, j0+w) of B as stored
// (k×n) into a strip with row stride ld >= w: dst[p*ld + j] = b[(p0+p)*ldb +
// j0+j], zero for j >= w.
func packBN(b []float32, ldb, p0, kb, j0, w, ld int, dst []float32) {
	for p := 0; p < kb; p++ {
		dp := dst[p*ld : p*ld+ld]
		copy(dp, b[(p0+p)*ldb+j0:][:w])
		clear(dp[w:])
	}
}

// packBT packs steps [p0, p0+kb) and columns [j0, j0+w) of op(B) = Bᵀ, B
// stored n×k, into a strip with row stride ld >= w: dst[p*ld + j] =
// b[(j0+j)*ldb + p0+p], zero for j >= w.
func packBT(kern *kernel, b []float32, ldb, p0, kb, j0, w, ld int, dst []float32) {
	if kern.transpose != nil && ld%16 == 0 {
		for jb := 0; jb < ld; jb += 16 {
			rows := min(16, w-jb) // >= 1: ld is w rounded up to 16
			for pb := 0; pb < kb; pb += 16 {
				kern.transpose(&dst[pb*ld+jb], ld, &b[(j0+jb)*ldb+p0+pb], ldb, rows, min(16, kb-pb))
			}
		}
		return
	}
	d := dst[:kb*ld]
	for j := 0; j < w; j++ {
		src := b[(j0+j)*ldb+p0:][:kb]
		for p, v := range src {
			d[p*ld+j] = v
		}
	}
	for j := w; j < ld; j++ {
		for p := 0; p < kb; p++ {
			d[p*ld+j] = 0
		}
	}
}

// A task is one parallel call: C cut into chunks of whole tiles along one
// dimension, claimed in turn by the caller and by helpers. Which goroutine
// computes a chunk does not change its result.
//
// Tasks are reused, and a helper may pick up an offer after its call has
// returned and the task serves another call. So a helper claims chunks
// only through state, which holds the call's generation with the chunk
// count and the next chunk; it touches nothing else of the task until it
// holds a chunk of the generation it was offered, and the owner rewrites
// the task only after every chunk is done.
type task struct {
	state  atomic.Uint64 // gen<<32 | chunks<<16 | next
	gen    uint64        // the owner's last generation
	pr     problem
	kern   *kernel
	byRows bool
	tiles  int // tiles along the cut dimension
	done   sync.WaitGroup
}

const maxChunks = 1<<16 - 1

var tasks = sync.Pool{New: func() any { return new(task) }}

// claim returns the next chunk of generation gen and the chunk count, or
// ok == false when that generation has no chunk left.
func (t *task) claim(gen uint64) (chunk, chunks int, ok bool) {
	for {
		s := t.state.Load()
		next, n := int(s&maxChunks), int(s>>16&maxChunks)
		if s>>32 != gen&(1<<32-1) || next >= n {
			return 0, 0, false
		}
		if t.state.CompareAndSwap(s, s+1) {
			return next, n, true
		}
	}
}

// work computes chunks of generation gen until none is left.
func (t *task) work(gen uint64) {
	var ws *workspace // taken with the first chunk: a late helper takes none
	for {
		c, n, ok := t.claim(gen)
		if !ok {
			break
		}
		if ws == nil {
			ws = workspaces.Get().(*workspace)
		}
		lo, hi := c*t.tiles/n, (c+1)*t.tiles/n
		if t.byRows {
			t.pr.block(t.kern, ws, lo*t.kern.mr, min(hi*t.kern.mr, t.pr.m), 0, t.pr.n)
		} else {
			t.pr.block(t.kern, ws, 0, t.pr.m, lo*t.kern.nr, min(hi*t.kern.nr, t.pr.n))
		}
		t.done.Done()
	}
	if ws != nil {
		workspaces.Put(ws)
	}
}

// An offer invites a helper to one generation of a task.
type offer struct {
	t   *task
	gen uint64
}

// helpers are goroutines that join tasks offered to them. A call offers its
// task without blocking (to a queue with room for one offer per helper)
// and waits for its chunks alone, never for a helper: one that is busy or
// descheduled joins late or finds nothing left to do. So concurrent callers
// never queue behind each other.
var helpers struct {
	mu     sync.Mutex
	n      int
	offers chan offer
}

func helper(offers <-chan offer) {
	for o := range offers {
		o.t.work(o.gen)
	}
}

// ensureHelpers starts helpers until there are n.
func ensureHelpers(n int) chan offer {
	helpers.mu.Lock()
	defer helpers.mu.Unlock()
	if helpers.offers == nil {
		helpers.offers = make(chan offer, max(16, runtime.NumCPU()))
	}
	for ; helpers.n < n; helpers.n++ {
		go helper(helpers.offers)
	}
	return helpers.offers
}

// chunksPerWorker is how many chunks each goroutine gets on average; more
// than one lets the others take over the work of one that is descheduled.
const chunksPerWorker = 2

// parallel cuts C along the dimension with more tiles into chunks and
// computes them on up to workers goroutines (the caller included).
func parallel(kern *kernel, pr *problem, workers int) {
	rowTiles := (pr.m + kern.mr - 1) / kern.mr
	colTiles := (pr.n + kern.nr - 1) / kern.nr
	byRows := rowTiles >= colTiles
	tiles := colTiles
	if byRows {
		tiles = rowTiles
	}
	chunks := min(tiles, chunksPerWorker*workers, maxChunks)
	if workers <= 1 || chunks <= 1 {
		ws := workspaces.Get().(*workspace)
		pr.block(kern, ws, 0, pr.m, 0, pr.n)
		workspaces.Put(ws)
		return
	}
	t := tasks.Get().(*task)
	t.pr, t.kern, t.byRows, t.tiles = *pr, kern, byRows, tiles
	t.gen++
	t.done.Add(chunks)
	t.state.Store(t.gen<<32 | uint64(chunks)<<16) // publishes the fields above
	offers := ensureHelpers(min(workers, chunks) - 1)
	for range min(workers, chunks) - 1 {
		select {
		case offers <- offer{t, t.gen}:
		default:
		}
	}
	t.work(t.gen)
	t.done.Wait()
	t.pr = problem{}
	tasks.Put(t)
}
