//go:build amd64 && !purego

#include "textflag.h"

// Both loops take 16 elements per pass under the mask K1: all ones while 16
// or more are left, then the last n%16. The operand order of each add,
// subtract and divide is the Go loop's (VADDPS X, Y, Z is Z = Y + X).

// func adadeltaAVX512(n int, p, grad, a, d *float32, lr, rho, rest, eps float32)
TEXT ·adadeltaAVX512(SB), NOSPLIT, $0-56
	MOVQ n+0(FP), AX
	MOVQ p+8(FP), DI
	MOVQ grad+16(FP), SI
	MOVQ a+24(FP), R8
	MOVQ d+32(FP), R9
	VBROADCASTSS lr+40(FP), Z16
	VBROADCASTSS rho+44(FP), Z17
	VBROADCASTSS rest+48(FP), Z18
	VBROADCASTSS eps+52(FP), Z19
	MOVL $0xffff, DX
	KMOVW DX, K1

adaloop:
	CMPQ AX, $16
	JGE adabody
	TESTQ AX, AX
	JLE adadone
	MOVQ AX, CX
	MOVL $1, DX
	SHLL CX, DX
	DECL DX
	KMOVW DX, K1

adabody:
	VMOVUPS.Z (SI), K1, Z0  // g
	VMOVUPS.Z (R8), K1, Z1  // a
	VMOVUPS.Z (R9), K1, Z2  // d
	VMOVUPS.Z (DI), K1, Z11 // p
	VMULPS Z1, Z17, Z3      // rho*a
	VMULPS Z0, Z18, Z4      // rest*g
	VMULPS Z0, Z4, Z4       // rest*g*g
	VADDPS Z4, Z3, Z3       // a' = rho*a + rest*g*g
	VMOVUPS Z3, K1, (R8)
	VADDPS Z19, Z2, Z5      // d+eps
	VSQRTPS Z5, Z5
	VADDPS Z19, Z3, Z6      // a'+eps
	VSQRTPS Z6, Z6
	VDIVPS Z6, Z5, Z5       // sqrt(d+eps) / sqrt(a'+eps)
	VMULPS Z5, Z0, Z5       // u = g * that
	VMULPS Z5, Z16, Z7      // lr*u
	VSUBPS Z7, Z11, Z11     // p - lr*u
	VMOVUPS Z11, K1, (DI)
	VMULPS Z2, Z17, Z8      // rho*d
	VMULPS Z5, Z18, Z9      // rest*u
	VMULPS Z5, Z9, Z9       // rest*u*u
	VADDPS Z9, Z8, Z8       // d' = rho*d + rest*u*u
	VMOVUPS Z8, K1, (R9)
	ADDQ $64, SI
	ADDQ $64, R8
	ADDQ $64, R9
	ADDQ $64, DI
	SUBQ $16, AX
	JMP adaloop

adadone:
	VZEROUPPER
	RET

// func adamAVX512(n int, p, grad, m, v *float32, lrT, beta1, beta2, rest1, rest2, eps float32)
TEXT ·adamAVX512(SB), NOSPLIT, $0-64
	MOVQ n+0(FP), AX
	MOVQ p+8(FP), DI
	MOVQ grad+16(FP), SI
	MOVQ m+24(FP), R8
	MOVQ v+32(FP), R9
	VBROADCASTSS lrT+40(FP), Z16
	VBROADCASTSS beta1+44(FP), Z17
	VBROADCASTSS beta2+48(FP), Z18
	VBROADCASTSS rest1+52(FP), Z19
	VBROADCASTSS rest2+56(FP), Z20
	VBROADCASTSS eps+60(FP), Z21
	MOVL $0xffff, DX
	KMOVW DX, K1

adamloop:
	CMPQ AX, $16
	JGE adambody
	TESTQ AX, AX
	JLE adamdone
	MOVQ AX, CX
	MOVL $1, DX
	SHLL CX, DX
	DECL DX
	KMOVW DX, K1

adambody:
	VMOVUPS.Z (SI), K1, Z0  // g
	VMOVUPS.Z (R8), K1, Z1  // m
	VMOVUPS.Z (R9), K1, Z2  // v
	VMOVUPS.Z (DI), K1, Z11 // p
	VMULPS Z1, Z17, Z3      // beta1*m
	VMULPS Z0, Z19, Z4      // rest1*g
	VADDPS Z4, Z3, Z3       // m' = beta1*m + rest1*g
	VMOVUPS Z3, K1, (R8)
	VMULPS Z2, Z18, Z5      // beta2*v
	VMULPS Z0, Z20, Z6      // rest2*g
	VMULPS Z0, Z6, Z6       // rest2*g*g
	VADDPS Z6, Z5, Z5       // v' = beta2*v + rest2*g*g
	VMOVUPS Z5, K1, (R9)
	VSQRTPS Z5, Z7
	VADDPS Z21, Z7, Z7      // sqrt(v') + eps
	VMULPS Z3, Z16, Z8      // lrT*m'
	VDIVPS Z7, Z8, Z8       // lrT*m' / (sqrt(v') + eps)
	VSUBPS Z8, Z11, Z11     // p - that
	VMOVUPS Z11, K1, (DI)
	ADDQ $64, SI
	ADDQ $64, R8
	ADDQ $64, R9
	ADDQ $64, DI
	SUBQ $16, AX
	JMP adamloop

adamdone:
	VZEROUPPER
	RET
