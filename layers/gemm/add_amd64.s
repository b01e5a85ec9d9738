//go:build amd64 && !purego

#include "textflag.h"

// func addAVX512(m, n int, a *float32, lda int, c *float32, ldc int)
TEXT ·addAVX512(SB), NOSPLIT, $0-48
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
	TESTQ R11, R11
	JLE done

row:
	MOVQ SI, R12
	MOVQ DI, R13
	MOVQ DX, R14
	TESTQ R14, R14
	JZ tail

full:
	VMOVUPS (R12), Z0
	VADDPS (R13), Z0, Z0
	VMOVUPS Z0, (R13)
	ADDQ $64, R12
	ADDQ $64, R13
	DECQ R14
	JNZ full

tail:
	TESTQ CX, CX
	JZ next
	VMOVUPS.Z (R12), K1, Z0
	VMOVUPS.Z (R13), K1, Z1
	VADDPS Z1, Z0, Z0
	VMOVUPS Z0, K1, (R13)

next:
	ADDQ R8, SI
	ADDQ R9, DI
	DECQ R11
	JNZ row

done:
	VZEROUPPER
	RET
