//go:build ignore

// gen writes kernel_amd64.s, the amd64 micro-kernels of package gemm.
//
// Run it with `go generate ./layers/gemm/` (see kernel_amd64.go).
//
// Every kernel computes one tile of C from a panel of A and a panel of B:
//
//	acc[r][j] = sum over p = 0..k-1, in order, of A(p, r) * B(p, j)   (one FMA per step)
//	C[r][j]   = alpha*acc[r][j] + beta*C[r][j]    (beta == 0: C[r][j] = alpha*acc[r][j])
//
// where B(p, j) = b[p*ldb + j] and A(p, r) = a[p*lda + r] (k-major: a packed
// panel, lda == MR, or a transposed A in place) or, for the RowA kernels,
// a[r*lda + p] (a row-major A in place). B is a packed strip (ldb its width)
// or B as stored; the RowAOff kernels take, instead of ldb, a table offs with
// B(p, j) = b[offs[p] + j] (SgemmRowsB). The T kernels store the tile transposed (see avx512T). The
// per-element arithmetic is the same in every kernel of one family, so the
// tiling of C does not change the result.
package main

import (
	"bytes"
	"fmt"
	"os"
)

var out bytes.Buffer

func p(format string, args ...any) { fmt.Fprintf(&out, "\t"+format+"\n", args...) }
func label(l string)               { fmt.Fprintf(&out, "%s:\n", l) }

// All kernels share one frame (see the declarations in kernel_amd64.go):
//
//	func name(k int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int, alpha, beta float32, <last>)
//
// where last is "mr int, mask uint64" or, for the transposing kernels,
// "rows int, colMask uint64".
const frame = "$0-80"

func prologue(name, last string, offB bool) {
	bArg := "ldb int"
	if offB {
		bArg = "offs *int"
	}
	fmt.Fprintf(&out, "\n// func %s(k int, a *float32, lda int, b *float32, %s, c *float32, ldc int, alpha, beta float32, %s)\n", name, bArg, last)
	fmt.Fprintf(&out, "TEXT ·%s(SB), NOSPLIT, %s\n", name, frame)
	p("MOVQ k+0(FP), CX")
	p("MOVQ a+8(FP), AX")
	p("MOVQ lda+16(FP), R8")
	p("SHLQ $2, R8")
	p("MOVQ b+24(FP), BX")
	if offB {
		p("MOVQ offs+32(FP), R9") // B(p, j) = b[offs[p]+j]: R9 walks offs
	} else {
		p("MOVQ ldb+32(FP), R9")
		p("SHLQ $2, R9")
	}
	p("MOVQ c+40(FP), DI")
	p("MOVQ ldc+48(FP), R10")
	p("SHLQ $2, R10")
}

// The A panel is read either k-major, A(p, r) = a[p*lda+r] (packed panels
// and transposed A in place), or row-major, A(p, r) = a[r*lda+p] (A in
// place, rows 0-3 from AX and rows 4-7 from R12 = AX + 4*lda, R11 = 3*lda).
func setupRowA() {
	p("LEAQ (R8)(R8*2), R11")
	p("LEAQ (AX)(R8*4), R12")
}

// aAddr is the address of A(p+u, r) where AX (and R12) point at step p.
func aAddr(r, u int, rowA bool) string {
	if !rowA {
		return fmt.Sprintf("%d(AX)", 4*r)
	}
	base := "AX"
	if r >= 4 {
		base = "R12"
	}
	switch r % 4 {
	case 0:
		return fmt.Sprintf("%d(%s)", 4*u, base)
	case 1:
		return fmt.Sprintf("%d(%s)(R8*1)", 4*u, base)
	case 2:
		return fmt.Sprintf("%d(%s)(R8*2)", 4*u, base)
	default:
		return fmt.Sprintf("%d(%s)(R11*1)", 4*u, base)
	}
}

// advance moves B one step on (or, with offB, R9 to the next row's
// offset), and A too unless it is row-major, which moves once per unrolled
// group (see loops).
func advance(rowA, offB bool) {
	if !rowA {
		p("ADDQ R8, AX")
	}
	if offB {
		p("ADDQ $8, R9")
	} else {
		p("ADDQ R9, BX")
	}
}

// loops writes the k loop: groups of four steps, then single steps.
func loops(step func(u int), rowA bool) {
	p("CMPQ CX, $4")
	p("JLT tail")
	label("loop4")
	for u := 0; u < 4; u++ {
		if rowA {
			step(u)
		} else {
			step(0)
		}
	}
	if rowA {
		p("ADDQ $16, AX")
		p("ADDQ $16, R12")
	}
	p("SUBQ $4, CX")
	p("CMPQ CX, $4")
	p("JGE loop4")
	label("tail")
	p("TESTQ CX, CX")
	p("JEQ store")
	label("loop1")
	step(0)
	if rowA {
		p("ADDQ $4, AX")
		p("ADDQ $4, R12")
	}
	p("DECQ CX")
	p("JNE loop1")
}

// avx512 writes an mr x 16*nv kernel on Z registers. Accumulator (r, v) is
// Z(r*nv+v); B vectors are Z24.., broadcasts rotate over Z28..Z31. The last
// tile row to store is given by mr (1..MR) and the columns by the bit mask
// (16 bits per vector).
func avx512(name string, mr, nv int, rowA, offB bool) {
	prologue(name, "mr int, mask uint64", offB)
	prefetchC(mr, nv)
	acc := avx512Compute(mr, nv, rowA, offB)
	label("store")
	p("MOVQ mask+72(FP), DX")
	for v := 0; v < nv; v++ {
		p("KMOVW DX, K%d", v+1)
		if v+1 < nv {
			p("SHRQ $16, DX")
		}
	}
	p("VBROADCASTSS alpha+56(FP), Z30")
	p("VBROADCASTSS beta+60(FP), Z31")
	p("MOVQ mr+64(FP), SI")
	p("MOVL beta+60(FP), DX")
	p("ANDL $0x7fffffff, DX")
	p("JEQ store0")
	for r := 0; r < mr; r++ {
		for v := 0; v < nv; v++ {
			t := fmt.Sprintf("Z%d", 24+v)
			p("VMOVUPS.Z %d(DI), K%d, %s", 64*v, v+1, t)
			p("VMULPS Z31, %s, %s", t, t)
			p("VFMADD231PS Z30, %s, %s", acc(r, v), t)
			p("VMOVUPS %s, K%d, %d(DI)", t, v+1, 64*v)
		}
		if r+1 < mr {
			p("DECQ SI")
			p("JEQ done")
			p("ADDQ R10, DI")
		}
	}
	p("JMP done")
	label("store0")
	for r := 0; r < mr; r++ {
		for v := 0; v < nv; v++ {
			p("VMULPS Z30, %s, %s", acc(r, v), acc(r, v))
			p("VMOVUPS %s, K%d, %d(DI)", acc(r, v), v+1, 64*v)
		}
		if r+1 < mr {
			p("DECQ SI")
			p("JEQ done")
			p("ADDQ R10, DI")
		}
	}
	label("done")
	p("VZEROUPPER")
	p("RET")
}

// prefetchC asks for the lines of rows x (64-byte) lines of the C tile, so
// that C, often out of cache (written once per k block), is at hand when
// the k loop ends. Prefetches do not fault, so rows past C are harmless.
func prefetchC(rows, lines int) {
	p("MOVQ DI, R13")
	for r := 0; r < rows; r++ {
		for l := 0; l < lines; l++ {
			p("PREFETCHT0 %d(R13)", 64*l)
		}
		if r+1 < rows {
			p("ADDQ R10, R13")
		}
	}
}

// avx512Compute writes the k loop of an mr x 16*nv AVX-512 kernel and
// returns the accumulator register of (row r, vector v): Z(r*nv+v). B
// vectors are Z24.., broadcasts rotate over Z28..Z31. With offB, row p of
// B starts offs[p] floats after b (DX holds the offset of the step's row):
// a convolution's patch rows read in place from the image.
func avx512Compute(mr, nv int, rowA, offB bool) func(r, v int) string {
	if rowA {
		setupRowA()
	}
	acc := func(r, v int) string { return fmt.Sprintf("Z%d", r*nv+v) }
	for r := 0; r < mr; r++ {
		for v := 0; v < nv; v++ {
			p("VPXORD %s, %s, %s", acc(r, v), acc(r, v), acc(r, v))
		}
	}
	bc := 0
	step := func(u int) {
		if offB {
			p("MOVQ (R9), DX")
		}
		for v := 0; v < nv; v++ {
			if offB {
				p("VMOVUPS %d(BX)(DX*4), Z%d", 64*v, 24+v)
			} else {
				p("VMOVUPS %d(BX), Z%d", 64*v, 24+v)
			}
		}
		for r := 0; r < mr; r++ {
			t := fmt.Sprintf("Z%d", 28+bc%4)
			bc++
			p("VBROADCASTSS %s, %s", aAddr(r, u, rowA), t)
			for v := 0; v < nv; v++ {
				p("VFMADD231PS Z%d, %s, %s", 24+v, t, acc(r, v))
			}
		}
		advance(rowA, offB)
	}
	loops(step, rowA)
	return acc
}

// avx512T writes an 8 x 16*nv kernel that stores its tile transposed: tile
// row r goes to column r of C and tile column j to row j of C, so the
// driver can compute C = A·Bᵀ as Cᵀ = B·Aᵀ with B read in place. It stores
// C rows 0..rows-1 and the columns whose bit is set in colMask (8 bits).
// Each 8x16 block of accumulators is transposed in registers (Z24..Z31 as
// scratch) into eight registers holding two 8-float C rows each.
func avx512T(name string, nv int, rowA bool) {
	prologue(name, "rows int, colMask uint64", false)
	prefetchC(16*nv, 1)
	acc := avx512Compute(8, nv, rowA, false)

	label("store")
	p("MOVQ colMask+72(FP), DX")
	p("KMOVW DX, K1")
	p("MOVQ rows+64(FP), SI")
	p("MOVQ DI, R13")
	p("MOVL beta+60(FP), DX")
	p("ANDL $0x7fffffff, DX")
	p("JEQ store0")
	storeT(acc, nv, false)
	p("JMP done")
	label("store0")
	storeT(acc, nv, true)
	label("done")
	p("VZEROUPPER")
	p("RET")
}

// storeT writes the transposed stores of avx512T; R13 walks the rows of C.
func storeT(acc func(r, v int) string, nv int, beta0 bool) {
	for v := 0; v < nv; v++ {
		R := func(i int) string { return acc(i, v) }
		T := func(i int) string { return fmt.Sprintf("Z%d", 24+i) }
		// Interleave row pairs, then pairs of pairs: R(4g+q) then holds, in
		// 128-bit lane L, column 4L+q of rows 4g..4g+3.
		for i := 0; i < 4; i++ {
			p("VUNPCKLPS %s, %s, %s", R(2*i+1), R(2*i), T(2*i))
			p("VUNPCKHPS %s, %s, %s", R(2*i+1), R(2*i), T(2*i+1))
		}
		for g := 0; g < 2; g++ {
			p("VUNPCKLPD %s, %s, %s", T(4*g+2), T(4*g), R(4*g))
			p("VUNPCKHPD %s, %s, %s", T(4*g+2), T(4*g), R(4*g+1))
			p("VUNPCKLPD %s, %s, %s", T(4*g+3), T(4*g+1), R(4*g+2))
			p("VUNPCKHPD %s, %s, %s", T(4*g+3), T(4*g+1), R(4*g+3))
		}
		// R(c) = column c of the block in its low half and column c+8 in
		// its high half.
		for q := 0; q < 4; q++ {
			p("VSHUFF32X4 $0x88, %s, %s, %s", R(4+q), R(q), T(q))
			p("VSHUFF32X4 $0xdd, %s, %s, %s", R(4+q), R(q), T(4+q))
		}
		for c := 0; c < 8; c++ {
			p("VSHUFF32X4 $0xd8, %s, %s, %s", T(c), T(c), R(c))
		}
		p("VBROADCASTSS alpha+56(FP), Z30")
		if !beta0 {
			p("VBROADCASTSS beta+60(FP), Z31")
		}
		for ro := 0; ro < 16; ro++ {
			src := "Y" + R(ro % 8)[1:]
			if ro >= 8 {
				p("VEXTRACTF64X4 $1, %s, Y24", R(ro%8))
				src = "Y24"
			}
			p("CMPQ SI, $%d", 16*v+ro)
			p("JLE done")
			if beta0 {
				p("VMULPS Y30, %s, Y25", src)
			} else {
				p("VMOVUPS.Z (R13), K1, Y25")
				p("VMULPS Y31, Y25, Y25")
				p("VFMADD231PS Y30, %s, Y25", src)
			}
			p("VMOVUPS Y25, K1, (R13)")
			p("ADDQ R10, R13")
		}
	}
}

// avx2 writes an mr x 8*nv kernel on Y registers that always stores the full
// tile (the Go wrapper routes partial tiles through a buffer); mr and mask are
// ignored. Accumulator (r, v) is Y(r*nv+v); B vectors are Y12, Y13;
// broadcasts alternate over Y14, Y15.
func avx2(name string, mr, nv int, rowA bool) {
	prologue(name, "mr int, mask uint64", false)
	if rowA {
		setupRowA()
	}
	acc := func(r, v int) string { return fmt.Sprintf("Y%d", r*nv+v) }
	for r := 0; r < mr; r++ {
		for v := 0; v < nv; v++ {
			p("VXORPS %s, %s, %s", acc(r, v), acc(r, v), acc(r, v))
		}
	}
	bc := 0
	step := func(u int) {
		for v := 0; v < nv; v++ {
			p("VMOVUPS %d(BX), Y%d", 32*v, 12+v)
		}
		for r := 0; r < mr; r++ {
			t := fmt.Sprintf("Y%d", 14+bc%2)
			bc++
			p("VBROADCASTSS %s, %s", aAddr(r, u, rowA), t)
			for v := 0; v < nv; v++ {
				p("VFMADD231PS Y%d, %s, %s", 12+v, t, acc(r, v))
			}
		}
		advance(rowA, false)
	}
	loops(step, rowA)

	label("store")
	p("VBROADCASTSS alpha+56(FP), Y14")
	p("VBROADCASTSS beta+60(FP), Y15")
	p("MOVL beta+60(FP), DX")
	p("ANDL $0x7fffffff, DX")
	p("JEQ store0")
	for r := 0; r < mr; r++ {
		for v := 0; v < nv; v++ {
			t := fmt.Sprintf("Y%d", 12+v)
			p("VMULPS %d(DI), Y15, %s", 32*v, t)
			p("VFMADD231PS Y14, %s, %s", acc(r, v), t)
			p("VMOVUPS %s, %d(DI)", t, 32*v)
		}
		if r+1 < mr {
			p("ADDQ R10, DI")
		}
	}
	p("VZEROUPPER")
	p("RET")
	label("store0")
	for r := 0; r < mr; r++ {
		for v := 0; v < nv; v++ {
			p("VMULPS Y14, %s, %s", acc(r, v), acc(r, v))
			p("VMOVUPS %s, %d(DI)", acc(r, v), 32*v)
		}
		if r+1 < mr {
			p("ADDQ R10, DI")
		}
	}
	p("VZEROUPPER")
	p("RET")
}

// transpose writes the 16x16 block transposer used to pack Bᵀ:
//
//	func transpose16(dst *float32, ldd int, src *float32, lds, rows, cols int, mask uint64)
//
// dst[c*ldd+r] = src[r*lds+c] for c < cols and r < 16, with zero for
// r >= rows; mask has the low cols bits set. Rows of src are read with
// that mask, so nothing past column cols is touched.
func transpose() {
	fmt.Fprintf(&out, "\n// func transpose16(dst *float32, ldd int, src *float32, lds int, rows int, cols int, mask uint64)\n")
	fmt.Fprintf(&out, "TEXT ·transpose16(SB), NOSPLIT, $0-56\n")
	p("MOVQ dst+0(FP), DI")
	p("MOVQ ldd+8(FP), R8")
	p("SHLQ $2, R8")
	p("MOVQ src+16(FP), SI")
	p("MOVQ lds+24(FP), R9")
	p("SHLQ $2, R9")
	p("MOVQ rows+32(FP), CX")
	p("MOVQ cols+40(FP), DX")
	p("MOVQ mask+48(FP), AX")
	p("KMOVW AX, K1")
	for r := 0; r < 16; r++ {
		p("VPXORD Z%d, Z%d, Z%d", r, r, r)
	}
	for r := 0; r < 16; r++ {
		p("CMPQ CX, $%d", r)
		p("JLE loaded")
		p("VMOVUPS.Z (SI), K1, Z%d", r)
		p("ADDQ R9, SI")
	}
	label("loaded")
	// Interleave pairs of rows, then pairs of pairs: Z0+4g+q then holds,
	// in 128-bit lane L, column 4L+q of rows 4g..4g+3.
	for i := 0; i < 8; i++ {
		p("VUNPCKLPS Z%d, Z%d, Z%d", 2*i+1, 2*i, 16+2*i)
		p("VUNPCKHPS Z%d, Z%d, Z%d", 2*i+1, 2*i, 16+2*i+1)
	}
	for g := 0; g < 4; g++ {
		t := 16 + 4*g
		p("VUNPCKLPD Z%d, Z%d, Z%d", t+2, t, 4*g)
		p("VUNPCKHPD Z%d, Z%d, Z%d", t+2, t, 4*g+1)
		p("VUNPCKLPD Z%d, Z%d, Z%d", t+3, t+1, 4*g+2)
		p("VUNPCKHPD Z%d, Z%d, Z%d", t+3, t+1, 4*g+3)
	}
	// Gather 128-bit lanes: column c ends in Zc.
	for q := 0; q < 4; q++ {
		p("VSHUFF32X4 $0x88, Z%d, Z%d, Z%d", 4+q, q, 16+q)
		p("VSHUFF32X4 $0xdd, Z%d, Z%d, Z%d", 4+q, q, 20+q)
		p("VSHUFF32X4 $0x88, Z%d, Z%d, Z%d", 12+q, 8+q, 24+q)
		p("VSHUFF32X4 $0xdd, Z%d, Z%d, Z%d", 12+q, 8+q, 28+q)
	}
	for x := 0; x < 8; x++ {
		p("VSHUFF32X4 $0x88, Z%d, Z%d, Z%d", 24+x, 16+x, x)
		p("VSHUFF32X4 $0xdd, Z%d, Z%d, Z%d", 24+x, 16+x, 8+x)
	}
	for c := 0; c < 16; c++ {
		p("CMPQ DX, $%d", c)
		p("JLE done")
		p("VMOVUPS Z%d, (DI)", c)
		p("ADDQ R8, DI")
	}
	label("done")
	p("VZEROUPPER")
	p("RET")
}

func main() {
	out.WriteString("// Code generated by gen.go; DO NOT EDIT.\n\n//go:build amd64 && !purego\n\n#include \"textflag.h\"\n")
	for _, rowA := range []bool{false, true} {
		suffix := ""
		if rowA {
			suffix = "RowA"
		}
		avx512("kernAVX512x8x48"+suffix, 8, 3, rowA, false)
		avx512("kernAVX512x8x32"+suffix, 8, 2, rowA, false)
		avx512("kernAVX512x8x16"+suffix, 8, 1, rowA, false)
		avx2("kernAVX2x6x16"+suffix, 6, 2, rowA)
		avx512T("kernAVX512x8x48T"+suffix, 3, rowA)
		avx512T("kernAVX512x8x32T"+suffix, 2, rowA)
		avx512T("kernAVX512x8x16T"+suffix, 1, rowA)
	}
	// Row-major A, B rows at offsets (SgemmRowsB).
	avx512("kernAVX512x8x48RowAOff", 8, 3, true, true)
	avx512("kernAVX512x8x32RowAOff", 8, 2, true, true)
	avx512("kernAVX512x8x16RowAOff", 8, 1, true, true)
	transpose()
	if err := os.WriteFile("kernel_amd64.s", out.Bytes(), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
