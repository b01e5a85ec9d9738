//go:build amd64 && !purego

#include "textflag.h"

// func col2imChanAVX512(dx, col *float32, h, w, oh, ow, r, s int, masks *uint32)
//
// DI row of dx, SI col, R9 dx's row stride (bytes), R10 oh, R11 col's row
// stride (ow*4), R13 s, R14 masks, R15 one tap's plane (oh*ow*4), BX y,
// CX the tap row r, DX y-r, R8 the tap column q, R12 the tap's source.
TEXT ·col2imChanAVX512(SB), NOSPLIT, $0-72
	MOVQ dx+0(FP), DI
	MOVQ col+8(FP), SI
	MOVQ w+24(FP), R9
	SHLQ $2, R9
	MOVQ oh+32(FP), R10
	MOVQ ow+40(FP), R11
	SHLQ $2, R11
	MOVQ s+56(FP), R13
	MOVQ masks+64(FP), R14
	MOVQ R10, R15
	IMULQ R11, R15
	KMOVW (R14)(R13*8), K5  // the store masks: masks[2s], masks[2s+1]
	KMOVW 4(R14)(R13*8), K6
	XORQ BX, BX

row:
	VPXORD Z0, Z0, Z0       // +0
	VPXORD Z1, Z1, Z1
	XORQ CX, CX

tap:
	MOVQ BX, DX
	SUBQ CX, DX             // y - r
	JLT nexttap
	CMPQ DX, R10
	JGE nexttap
	MOVQ CX, AX
	IMULQ R13, AX
	IMULQ R15, AX           // r*s planes
	LEAQ (SI)(AX*1), R12
	MOVQ DX, AX
	IMULQ R11, AX           // row y-r of the plane
	ADDQ AX, R12
	XORQ R8, R8

col:
	KMOVW (R14)(R8*8), K1
	KMOVW 4(R14)(R8*8), K2
	VMOVUPS.Z (R12), K1, Z2 // lane x: col[r, q, y-r, x-q]
	VADDPS Z0, Z2, K1, Z0   // col first, as Add's kernel has it (a NaN's payload)
	VMOVUPS.Z 64(R12), K2, Z3
	VADDPS Z1, Z3, K2, Z1
	ADDQ R15, R12           // the next tap's plane,
	SUBQ $4, R12            // read one element further left
	INCQ R8
	CMPQ R8, R13
	JLT col

nexttap:
	INCQ CX
	CMPQ CX, r+48(FP)
	JLT tap
	VMOVUPS Z0, K5, (DI)
	VMOVUPS Z1, K6, 64(DI)
	ADDQ R9, DI
	INCQ BX
	CMPQ BX, h+16(FP)
	JLT row
	VZEROUPPER
	RET
