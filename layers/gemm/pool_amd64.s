//go:build amd64 && !purego

#include "textflag.h"

// Permutes over two registers (lanes 0-15 of the first, 16-31 of the
// second): the even and the odd elements, and back, interleaving.
DATA ·poolEven+0(SB)/4, $0
DATA ·poolEven+4(SB)/4, $2
DATA ·poolEven+8(SB)/4, $4
DATA ·poolEven+12(SB)/4, $6
DATA ·poolEven+16(SB)/4, $8
DATA ·poolEven+20(SB)/4, $10
DATA ·poolEven+24(SB)/4, $12
DATA ·poolEven+28(SB)/4, $14
DATA ·poolEven+32(SB)/4, $16
DATA ·poolEven+36(SB)/4, $18
DATA ·poolEven+40(SB)/4, $20
DATA ·poolEven+44(SB)/4, $22
DATA ·poolEven+48(SB)/4, $24
DATA ·poolEven+52(SB)/4, $26
DATA ·poolEven+56(SB)/4, $28
DATA ·poolEven+60(SB)/4, $30
GLOBL ·poolEven(SB), RODATA|NOPTR, $64

DATA ·poolOdd+0(SB)/4, $1
DATA ·poolOdd+4(SB)/4, $3
DATA ·poolOdd+8(SB)/4, $5
DATA ·poolOdd+12(SB)/4, $7
DATA ·poolOdd+16(SB)/4, $9
DATA ·poolOdd+20(SB)/4, $11
DATA ·poolOdd+24(SB)/4, $13
DATA ·poolOdd+28(SB)/4, $15
DATA ·poolOdd+32(SB)/4, $17
DATA ·poolOdd+36(SB)/4, $19
DATA ·poolOdd+40(SB)/4, $21
DATA ·poolOdd+44(SB)/4, $23
DATA ·poolOdd+48(SB)/4, $25
DATA ·poolOdd+52(SB)/4, $27
DATA ·poolOdd+56(SB)/4, $29
DATA ·poolOdd+60(SB)/4, $31
GLOBL ·poolOdd(SB), RODATA|NOPTR, $64

DATA ·poolLo+0(SB)/4, $0
DATA ·poolLo+4(SB)/4, $16
DATA ·poolLo+8(SB)/4, $1
DATA ·poolLo+12(SB)/4, $17
DATA ·poolLo+16(SB)/4, $2
DATA ·poolLo+20(SB)/4, $18
DATA ·poolLo+24(SB)/4, $3
DATA ·poolLo+28(SB)/4, $19
DATA ·poolLo+32(SB)/4, $4
DATA ·poolLo+36(SB)/4, $20
DATA ·poolLo+40(SB)/4, $5
DATA ·poolLo+44(SB)/4, $21
DATA ·poolLo+48(SB)/4, $6
DATA ·poolLo+52(SB)/4, $22
DATA ·poolLo+56(SB)/4, $7
DATA ·poolLo+60(SB)/4, $23
GLOBL ·poolLo(SB), RODATA|NOPTR, $64

DATA ·poolHi+0(SB)/4, $8
DATA ·poolHi+4(SB)/4, $24
DATA ·poolHi+8(SB)/4, $9
DATA ·poolHi+12(SB)/4, $25
DATA ·poolHi+16(SB)/4, $10
DATA ·poolHi+20(SB)/4, $26
DATA ·poolHi+24(SB)/4, $11
DATA ·poolHi+28(SB)/4, $27
DATA ·poolHi+32(SB)/4, $12
DATA ·poolHi+36(SB)/4, $28
DATA ·poolHi+40(SB)/4, $13
DATA ·poolHi+44(SB)/4, $29
DATA ·poolHi+48(SB)/4, $14
DATA ·poolHi+52(SB)/4, $30
DATA ·poolHi+56(SB)/4, $15
DATA ·poolHi+60(SB)/4, $31
GLOBL ·poolHi(SB), RODATA|NOPTR, $64

DATA ·poolSign+0(SB)/4, $0x80000000
GLOBL ·poolSign(SB), RODATA|NOPTR, $4

// One step of Go's max in the negated domain: Z9 = acc, V = -v;
// t1 = min(acc, V) (VMINPS returns its second source V when either is NaN
// or both are zeros, as MINSS), t2 = min(t1, acc), acc = t1 | t2.
#define MAXSTEP(V) \
	VMINPS V, Z9, Z10 \
	VMINPS Z9, Z10, Z11 \
	VPORD Z10, Z11, Z9

// One chunk of 16 windows of MaxPool2: x's rows at AX and BX, y at CX;
// K1 the windows, K2 and K3 the elements (lanes 0-15, 16-31). The corners
// are negated (Z24 holds the sign bit) before the steps and the result
// after.
#define POOLFWD \
	VMOVUPS.Z (AX), K2, Z0 \
	VMOVUPS.Z 64(AX), K3, Z1 \
	VMOVUPS.Z (BX), K2, Z2 \
	VMOVUPS.Z 64(BX), K3, Z3 \
	VMOVAPS Z20, Z5 \
	VPERMI2PS Z1, Z0, Z5 \
	VMOVAPS Z21, Z6 \
	VPERMI2PS Z1, Z0, Z6 \
	VMOVAPS Z20, Z7 \
	VPERMI2PS Z3, Z2, Z7 \
	VMOVAPS Z21, Z8 \
	VPERMI2PS Z3, Z2, Z8 \
	VPXORD Z24, Z5, Z9 \
	VPXORD Z24, Z6, Z6 \
	VPXORD Z24, Z7, Z7 \
	VPXORD Z24, Z8, Z8 \
	MAXSTEP(Z6) \
	MAXSTEP(Z7) \
	MAXSTEP(Z8) \
	VPXORD Z24, Z9, Z9 \
	VMOVUPS Z9, K1, (CX)

// func poolAVX512(y, x *float32, rows, w int, tail *[3]uint32)
//
// DI y, SI x, R9 a row of x in bytes, R15 a row of y in bytes, R11 full
// chunks per row, R12 windows in the last chunk, R10 its masks, R8 the
// chunks left; AX and BX x's two rows, CX y's row.
TEXT ·poolAVX512(SB), NOSPLIT, $0-40
	MOVQ y+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ w+24(FP), R9
	MOVQ tail+32(FP), R10
	VMOVUPS ·poolEven(SB), Z20
	VMOVUPS ·poolOdd(SB), Z21
	VPBROADCASTD ·poolSign(SB), Z24
	MOVQ R9, R11
	SHRQ $5, R11
	MOVQ R9, R12
	SHRQ $1, R12
	ANDQ $15, R12
	SHLQ $2, R9
	MOVQ R9, R15
	SHRQ $1, R15
	ANDQ $-4, R15

frow:
	MOVQ SI, AX
	LEAQ (SI)(R9*1), BX
	MOVQ DI, CX
	MOVQ R11, R8
	TESTQ R8, R8
	JZ ftail
	KXNORW K1, K1, K1
	KXNORW K2, K2, K2
	KXNORW K3, K3, K3

ffull:
	POOLFWD
	ADDQ $128, AX
	ADDQ $128, BX
	ADDQ $64, CX
	DECQ R8
	JNZ ffull

ftail:
	TESTQ R12, R12
	JZ fnext
	KMOVW (R10), K1
	KMOVW 4(R10), K2
	KMOVW 8(R10), K3
	POOLFWD

fnext:
	LEAQ (SI)(R9*2), SI
	ADDQ R15, DI
	DECQ rows+16(FP)
	JNZ frow
	VZEROUPPER
	RET

// One chunk of 16 windows: x's rows at AX and BX, dy at R14, dx's rows at
// CX and R13; K1 the windows, K2 and K3 the elements (lanes 0-15, 16-31).
// The comparisons are poolBackwardRows': GT_OQ (0x1e) is false when
// either side is NaN, as Go's > is.
#define POOLCHUNK \
	VMOVUPS.Z (AX), K2, Z0 \
	VMOVUPS.Z 64(AX), K3, Z1 \
	VMOVUPS.Z (BX), K2, Z2 \
	VMOVUPS.Z 64(BX), K3, Z3 \
	VMOVUPS.Z (R14), K1, Z4 \
	VMOVAPS Z20, Z5 \
	VPERMI2PS Z1, Z0, Z5 \
	VMOVAPS Z21, Z6 \
	VPERMI2PS Z1, Z0, Z6 \
	VMOVAPS Z20, Z7 \
	VPERMI2PS Z3, Z2, Z7 \
	VMOVAPS Z21, Z8 \
	VPERMI2PS Z3, Z2, Z8 \
	VCMPPS $0x1e, Z5, Z6, K4 \
	VMOVAPS Z5, Z9 \
	VMOVAPS Z6, K4, Z9 \
	VCMPPS $0x1e, Z9, Z7, K5 \
	VMOVAPS Z7, K5, Z9 \
	VCMPPS $0x1e, Z9, Z8, K6 \
	KANDNW K5, K6, K5 \
	KORW K5, K6, K7 \
	KANDNW K4, K7, K4 \
	KORW K4, K7, K7 \
	KNOTW K7, K7 \
	VMOVAPS.Z Z4, K7, Z10 \
	VMOVAPS.Z Z4, K4, Z11 \
	VMOVAPS.Z Z4, K5, Z12 \
	VMOVAPS.Z Z4, K6, Z13 \
	VMOVAPS Z22, Z14 \
	VPERMI2PS Z11, Z10, Z14 \
	VMOVAPS Z23, Z15 \
	VPERMI2PS Z11, Z10, Z15 \
	VMOVAPS Z22, Z16 \
	VPERMI2PS Z13, Z12, Z16 \
	VMOVAPS Z23, Z17 \
	VPERMI2PS Z13, Z12, Z17 \
	VMOVUPS Z14, K2, (CX) \
	VMOVUPS Z15, K3, 64(CX) \
	VMOVUPS Z16, K2, (R13) \
	VMOVUPS Z17, K3, 64(R13)

// func poolBackwardAVX512(dx, x, dy *float32, rows, w int, tail *[3]uint32)
TEXT ·poolBackwardAVX512(SB), NOSPLIT, $0-48
	MOVQ dx+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ dy+16(FP), DX
	MOVQ w+32(FP), R9
	MOVQ tail+40(FP), R10
	VMOVUPS ·poolEven(SB), Z20
	VMOVUPS ·poolOdd(SB), Z21
	VMOVUPS ·poolLo(SB), Z22
	VMOVUPS ·poolHi(SB), Z23
	MOVQ R9, R11
	SHRQ $5, R11            // full chunks: 16 windows, 32 elements
	MOVQ R9, R12
	SHRQ $1, R12
	ANDQ $15, R12           // windows in the last chunk
	SHLQ $2, R9             // a row of x, in bytes
	MOVQ R9, R15
	SHRQ $1, R15
	ANDQ $-4, R15           // a row of dy, in bytes: (w/2)*4

prow:
	MOVQ SI, AX
	LEAQ (SI)(R9*1), BX
	MOVQ DI, CX
	LEAQ (DI)(R9*1), R13
	MOVQ DX, R14
	MOVQ R11, R8
	TESTQ R8, R8
	JZ ptail
	KXNORW K1, K1, K1
	KXNORW K2, K2, K2
	KXNORW K3, K3, K3

pfull:
	POOLCHUNK
	ADDQ $128, AX
	ADDQ $128, BX
	ADDQ $128, CX
	ADDQ $128, R13
	ADDQ $64, R14
	DECQ R8
	JNZ pfull

ptail:
	TESTQ R12, R12
	JZ pnext
	KMOVW (R10), K1
	KMOVW 4(R10), K2
	KMOVW 8(R10), K3
	POOLCHUNK

pnext:
	LEAQ (SI)(R9*2), SI
	LEAQ (DI)(R9*2), DI
	ADDQ R15, DX
	DECQ rows+24(FP)        // the rows left, counted in the argument
	JNZ prow
	VZEROUPPER
	RET
