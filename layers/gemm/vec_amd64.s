//go:build amd64 && !purego

#include "textflag.h"

// func copyAVX512(m, n int, a *float32, lda int, c *float32, ldc int)
TEXT ·copyAVX512(SB), NOSPLIT, $0-48
	MOVQ m+0(FP), R11
	MOVQ n+8(FP), DX
	MOVQ a+16(FP), SI
	MOVQ lda+24(FP), R8
	SHLQ $2, R8
	MOVQ c+32(FP), DI
	MOVQ ldc+40(FP), R9
	SHLQ $2, R9
	MOVQ DX, CX
	ANDQ $15, CX         // tail columns
	MOVL $1, AX
	SHLL CX, AX
	DECL AX
	KMOVW AX, K1         // their mask
	SHRQ $4, DX          // full 16-column chunks

crow:
	MOVQ SI, R12
	MOVQ DI, R13
	MOVQ DX, R14
	TESTQ R14, R14
	JZ ctail

cfull:
	VMOVUPS (R12), Z0
	VMOVUPS Z0, (R13)
	ADDQ $64, R12
	ADDQ $64, R13
	DECQ R14
	JNZ cfull

ctail:
	TESTQ CX, CX
	JZ cnext
	VMOVUPS.Z (R12), K1, Z0
	VMOVUPS Z0, K1, (R13)

cnext:
	ADDQ R8, SI
	ADDQ R9, DI
	DECQ R11
	JNZ crow
	VZEROUPPER
	RET

// func fillAVX512(m, n int, v *float32, c *float32, ldc int)
TEXT ·fillAVX512(SB), NOSPLIT, $0-40
	MOVQ m+0(FP), R11
	MOVQ n+8(FP), DX
	MOVQ v+16(FP), SI
	MOVQ c+24(FP), DI
	MOVQ ldc+32(FP), R9
	SHLQ $2, R9
	MOVQ DX, CX
	ANDQ $15, CX         // tail columns
	MOVL $1, AX
	SHLL CX, AX
	DECL AX
	KMOVW AX, K1         // their mask
	SHRQ $4, DX          // full 16-column chunks

frow:
	VBROADCASTSS (SI), Z0 // this row's value in all 16 lanes
	MOVQ DI, R13
	MOVQ DX, R14
	TESTQ R14, R14
	JZ ftail

ffull:
	VMOVUPS Z0, (R13)
	ADDQ $64, R13
	DECQ R14
	JNZ ffull

ftail:
	TESTQ CX, CX
	JZ fnext
	VMOVUPS Z0, K1, (R13)

fnext:
	ADDQ $4, SI
	ADDQ R9, DI
	DECQ R11
	JNZ frow
	VZEROUPPER
	RET

// func reluAVX512(n int, y, x *float32)
TEXT ·reluAVX512(SB), NOSPLIT, $0-24
	MOVQ n+0(FP), DX
	MOVQ y+8(FP), DI
	MOVQ x+16(FP), SI
	VPXORD Z7, Z7, Z7    // +0
	MOVQ DX, CX
	ANDQ $15, CX
	MOVL $1, AX
	SHLL CX, AX
	DECL AX
	KMOVW AX, K1
	SHRQ $4, DX
	TESTQ DX, DX
	JZ rtail

rfull:
	VMOVUPS (SI), Z0
	VMAXPS Z7, Z0, Z1    // x > 0 ? x : +0 (also for -0 and NaN)
	VCMPPS $3, Z0, Z0, K2 // NaN lanes (unordered)
	VMOVUPS Z0, K2, Z1   // keep their NaN, as Go's max does
	VMOVUPS Z1, (DI)
	ADDQ $64, SI
	ADDQ $64, DI
	DECQ DX
	JNZ rfull

rtail:
	TESTQ CX, CX
	JZ rdone
	VMOVUPS.Z (SI), K1, Z0
	VMAXPS Z7, Z0, Z1
	VCMPPS $3, Z0, Z0, K2
	VMOVUPS Z0, K2, Z1
	VMOVUPS Z1, K1, (DI)

rdone:
	VZEROUPPER
	RET

// func reluMaskAVX512(n int, dx, dy, y *float32)
TEXT ·reluMaskAVX512(SB), NOSPLIT, $0-32
	MOVQ n+0(FP), DX
	MOVQ dx+8(FP), DI
	MOVQ dy+16(FP), SI
	MOVQ y+24(FP), BX
	VPXORD Z7, Z7, Z7
	MOVQ DX, CX
	ANDQ $15, CX
	MOVL $1, AX
	SHLL CX, AX
	DECL AX
	KMOVW AX, K1
	SHRQ $4, DX
	TESTQ DX, DX
	JZ mtail

mfull:
	VMOVUPS (BX), Z0
	VCMPPS $0x1e, Z7, Z0, K2 // y > 0, ordered (NaN false)
	VMOVUPS.Z (SI), K2, Z1   // dy there, +0 elsewhere
	VMOVUPS Z1, (DI)
	ADDQ $64, BX
	ADDQ $64, SI
	ADDQ $64, DI
	DECQ DX
	JNZ mfull

mtail:
	TESTQ CX, CX
	JZ mdone
	VMOVUPS.Z (BX), K1, Z0
	VCMPPS $0x1e, Z7, Z0, K2
	KANDW K1, K2, K2
	VMOVUPS.Z (SI), K2, Z1
	VMOVUPS Z1, K1, (DI)

mdone:
	VZEROUPPER
	RET
