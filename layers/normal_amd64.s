//go:build amd64 && !purego

#include "textflag.h"

// Philox4x32-10 and Box-Muller (rng.go) for 8 blocks at a time, in AVX-512.
// Each block's counter and words sit in the low 32 bits of a 64-bit lane
// (the high 32 bits may hold garbage: VPMULUDQ reads only the low half, and
// only low halves are kept). Box-Muller follows Go's math.Log (archLog,
// log_amd64.s) and math.Sincos (sincos.go) operation for operation, in
// float64 without fused multiply-adds, so every normal has the bits of
// boxMuller's as the Go toolchain builds it by default (GOAMD64 v1 or v2; at
// v3 the compiler fuses multiply-adds inside math.Sincos, and
// TestBoxMullerWords fails).

DATA one<>+0(SB)/8, $0x3FF0000000000000 // 1.0
GLOBL one<>(SB), RODATA|NOPTR, $8
DATA two<>+0(SB)/8, $0x4000000000000000 // 2.0
GLOBL two<>(SB), RODATA|NOPTR, $8
DATA half<>+0(SB)/8, $0x3FE0000000000000 // 0.5
GLOBL half<>(SB), RODATA|NOPTR, $8
DATA mtwo<>+0(SB)/8, $0xC000000000000000 // -2.0
GLOBL mtwo<>(SB), RODATA|NOPTR, $8
DATA two32inv<>+0(SB)/8, $0x3DF0000000000000 // 2^-32
GLOBL two32inv<>(SB), RODATA|NOPTR, $8
DATA mant<>+0(SB)/8, $0x000FFFFFFFFFFFFF // mantissa bits
GLOBL mant<>(SB), RODATA|NOPTR, $8
DATA e3fe<>+0(SB)/8, $0x00000000000003FE // exponent bias - 1, as Frexp's
GLOBL e3fe<>(SB), RODATA|NOPTR, $8
DATA hsqrt2<>+0(SB)/8, $0x3FE6A09E667F3BCD // sqrt(2)/2
GLOBL hsqrt2<>(SB), RODATA|NOPTR, $8
DATA ln2hi<>+0(SB)/8, $0x3FE62E42FEE00000 // Ln2Hi
GLOBL ln2hi<>(SB), RODATA|NOPTR, $8
DATA ln2lo<>+0(SB)/8, $0x3DEA39EF35793C76 // Ln2Lo
GLOBL ln2lo<>(SB), RODATA|NOPTR, $8
DATA l1<>+0(SB)/8, $0x3FE5555555555593 // L1
GLOBL l1<>(SB), RODATA|NOPTR, $8
DATA l2<>+0(SB)/8, $0x3FD999999997FA04 // L2
GLOBL l2<>(SB), RODATA|NOPTR, $8
DATA l3<>+0(SB)/8, $0x3FD2492494229359 // L3
GLOBL l3<>(SB), RODATA|NOPTR, $8
DATA l4<>+0(SB)/8, $0x3FCC71C51D8E78AF // L4
GLOBL l4<>(SB), RODATA|NOPTR, $8
DATA l5<>+0(SB)/8, $0x3FC7466496CB03DE // L5
GLOBL l5<>(SB), RODATA|NOPTR, $8
DATA l6<>+0(SB)/8, $0x3FC39A09D078C69F // L6
GLOBL l6<>(SB), RODATA|NOPTR, $8
DATA l7<>+0(SB)/8, $0x3FC2F112DF3E5244 // L7
GLOBL l7<>(SB), RODATA|NOPTR, $8
DATA twopi<>+0(SB)/8, $0x401921FB54442D18 // 2*math.Pi
GLOBL twopi<>(SB), RODATA|NOPTR, $8
DATA fouroverpi<>+0(SB)/8, $0x3FF45F306DC9C883 // 4/math.Pi
GLOBL fouroverpi<>(SB), RODATA|NOPTR, $8
DATA pi4a<>+0(SB)/8, $0x3FE921FB40000000 // PI4A
GLOBL pi4a<>(SB), RODATA|NOPTR, $8
DATA pi4b<>+0(SB)/8, $0x3E64442D00000000 // PI4B
GLOBL pi4b<>(SB), RODATA|NOPTR, $8
DATA pi4c<>+0(SB)/8, $0x3CE8469898CC5170 // PI4C
GLOBL pi4c<>(SB), RODATA|NOPTR, $8
DATA sin0<>+0(SB)/8, $0x3DE5D8FD1FD19CCD // _sin[0]
GLOBL sin0<>(SB), RODATA|NOPTR, $8
DATA sin1<>+0(SB)/8, $0xBE5AE5E5A9291F5D // _sin[1]
GLOBL sin1<>(SB), RODATA|NOPTR, $8
DATA sin2<>+0(SB)/8, $0x3EC71DE3567D48A1 // _sin[2]
GLOBL sin2<>(SB), RODATA|NOPTR, $8
DATA sin3<>+0(SB)/8, $0xBF2A01A019BFDF03 // _sin[3]
GLOBL sin3<>(SB), RODATA|NOPTR, $8
DATA sin4<>+0(SB)/8, $0x3F8111111110F7D0 // _sin[4]
GLOBL sin4<>(SB), RODATA|NOPTR, $8
DATA sin5<>+0(SB)/8, $0xBFC5555555555548 // _sin[5]
GLOBL sin5<>(SB), RODATA|NOPTR, $8
DATA cos0<>+0(SB)/8, $0xBDA8FA49A0861A9B // _cos[0]
GLOBL cos0<>(SB), RODATA|NOPTR, $8
DATA cos1<>+0(SB)/8, $0x3E21EE9D7B4E3F05 // _cos[1]
GLOBL cos1<>(SB), RODATA|NOPTR, $8
DATA cos2<>+0(SB)/8, $0xBE927E4F7EAC4BC6 // _cos[2]
GLOBL cos2<>(SB), RODATA|NOPTR, $8
DATA cos3<>+0(SB)/8, $0x3EFA01A019C844F5 // _cos[3]
GLOBL cos3<>(SB), RODATA|NOPTR, $8
DATA cos4<>+0(SB)/8, $0xBF56C16C16C14F91 // _cos[4]
GLOBL cos4<>(SB), RODATA|NOPTR, $8
DATA cos5<>+0(SB)/8, $0x3FA555555555554B // _cos[5]
GLOBL cos5<>(SB), RODATA|NOPTR, $8
DATA signbit<>+0(SB)/8, $0x8000000000000000 // the sign bit
GLOBL signbit<>(SB), RODATA|NOPTR, $8
DATA q1<>+0(SB)/8, $0x0000000000000001 // 1
GLOBL q1<>(SB), RODATA|NOPTR, $8
DATA q2<>+0(SB)/8, $0x0000000000000002 // 2
GLOBL q2<>(SB), RODATA|NOPTR, $8
DATA q4<>+0(SB)/8, $0x0000000000000004 // 4
GLOBL q4<>(SB), RODATA|NOPTR, $8
DATA q8<>+0(SB)/8, $0x0000000000000008 // 8
GLOBL q8<>(SB), RODATA|NOPTR, $8
DATA m0<>+0(SB)/8, $0x00000000D2511F53 // philoxM0
GLOBL m0<>(SB), RODATA|NOPTR, $8
DATA m1<>+0(SB)/8, $0x00000000CD9E8D57 // philoxM1
GLOBL m1<>(SB), RODATA|NOPTR, $8
DATA w0<>+0(SB)/4, $0x9E3779B9 // philoxW0
GLOBL w0<>(SB), RODATA|NOPTR, $4
DATA w1<>+0(SB)/4, $0xBB67AE85 // philoxW1
GLOBL w1<>(SB), RODATA|NOPTR, $4

// lanes: 0..7, the blocks of a group.
DATA lanes<>+0(SB)/8, $0
DATA lanes<>+8(SB)/8, $1
DATA lanes<>+16(SB)/8, $2
DATA lanes<>+24(SB)/8, $3
DATA lanes<>+32(SB)/8, $4
DATA lanes<>+40(SB)/8, $5
DATA lanes<>+48(SB)/8, $6
DATA lanes<>+56(SB)/8, $7
GLOBL lanes<>(SB), RODATA|NOPTR, $64

// ilo, ihi: the indices that interleave [c0 (8) | s0 (8)] and [c1 | s1] of
// the two word pairs into z[4b+0..3], blocks 0-3 and 4-7.
DATA ilo<>+0(SB)/4, $0
DATA ilo<>+4(SB)/4, $8
DATA ilo<>+8(SB)/4, $16
DATA ilo<>+12(SB)/4, $24
DATA ilo<>+16(SB)/4, $1
DATA ilo<>+20(SB)/4, $9
DATA ilo<>+24(SB)/4, $17
DATA ilo<>+28(SB)/4, $25
DATA ilo<>+32(SB)/4, $2
DATA ilo<>+36(SB)/4, $10
DATA ilo<>+40(SB)/4, $18
DATA ilo<>+44(SB)/4, $26
DATA ilo<>+48(SB)/4, $3
DATA ilo<>+52(SB)/4, $11
DATA ilo<>+56(SB)/4, $19
DATA ilo<>+60(SB)/4, $27
GLOBL ilo<>(SB), RODATA|NOPTR, $64
DATA ihi<>+0(SB)/4, $4
DATA ihi<>+4(SB)/4, $12
DATA ihi<>+8(SB)/4, $20
DATA ihi<>+12(SB)/4, $28
DATA ihi<>+16(SB)/4, $5
DATA ihi<>+20(SB)/4, $13
DATA ihi<>+24(SB)/4, $21
DATA ihi<>+28(SB)/4, $29
DATA ihi<>+32(SB)/4, $6
DATA ihi<>+36(SB)/4, $14
DATA ihi<>+40(SB)/4, $22
DATA ihi<>+44(SB)/4, $30
DATA ihi<>+48(SB)/4, $7
DATA ihi<>+52(SB)/4, $15
DATA ihi<>+56(SB)/4, $23
DATA ihi<>+60(SB)/4, $31
GLOBL ihi<>(SB), RODATA|NOPTR, $64

// BOXMULLER turns the words wa, wb (8 lanes) into float32s rad*cos in yc and
// rad*sin in ys, as boxMuller(wa, wb). It uses Z0-Z11 and K1-K4.
#define BOXMULLER(wa, wb, yc, ys) \
	VPMOVQD wa, Y0; \
	VCVTUDQ2PD Y0, Z0; \
	VADDPD.BCST one<>(SB), Z0, Z0; \
	VMULPD.BCST two32inv<>(SB), Z0, Z0; \
	VPMOVQD wb, Y1; \
	VCVTUDQ2PD Y1, Z1; \
	VMULPD.BCST two32inv<>(SB), Z1, Z1; \
	VPSRLQ $52, Z0, Z2; \
	VPSUBQ.BCST e3fe<>(SB), Z2, Z2; \
	VPMOVQD Z2, Y2; \
	VCVTDQ2PD Y2, Z2; \
	VPANDQ.BCST mant<>(SB), Z0, Z3; \
	VPORQ.BCST half<>(SB), Z3, Z3; \
	VCMPPD.BCST $2, hsqrt2<>(SB), Z3, K1; \
	VPXORQ Z5, Z5, Z5; \
	VADDPD.BCST one<>(SB), Z5, K1, Z5; \
	VSUBPD Z5, Z2, Z2; \
	VADDPD.BCST one<>(SB), Z5, Z5; \
	VMULPD Z5, Z3, Z3; \
	VSUBPD.BCST one<>(SB), Z3, Z3; \
	VADDPD.BCST two<>(SB), Z3, Z4; \
	VDIVPD Z4, Z3, Z4; \
	VMULPD Z4, Z4, Z5; \
	VMULPD Z5, Z5, Z6; \
	VMULPD.BCST l7<>(SB), Z6, Z7; \
	VADDPD.BCST l5<>(SB), Z7, Z7; \
	VMULPD Z6, Z7, Z7; \
	VADDPD.BCST l3<>(SB), Z7, Z7; \
	VMULPD Z6, Z7, Z7; \
	VADDPD.BCST l1<>(SB), Z7, Z7; \
	VMULPD Z7, Z5, Z5; \
	VMULPD.BCST l6<>(SB), Z6, Z7; \
	VADDPD.BCST l4<>(SB), Z7, Z7; \
	VMULPD Z6, Z7, Z7; \
	VADDPD.BCST l2<>(SB), Z7, Z7; \
	VMULPD Z7, Z6, Z6; \
	VADDPD Z6, Z5, Z5; \
	VMULPD.BCST half<>(SB), Z3, Z6; \
	VMULPD Z3, Z6, Z6; \
	VADDPD Z6, Z5, Z5; \
	VMULPD Z5, Z4, Z4; \
	VMULPD.BCST ln2lo<>(SB), Z2, Z5; \
	VADDPD Z5, Z4, Z4; \
	VSUBPD Z4, Z6, Z6; \
	VSUBPD Z3, Z6, Z6; \
	VMULPD.BCST ln2hi<>(SB), Z2, Z2; \
	VSUBPD Z6, Z2, Z2; \
	VMULPD.BCST mtwo<>(SB), Z2, Z2; \
	VSQRTPD Z2, Z2; \
	VMULPD.BCST twopi<>(SB), Z1, Z1; \
	VMULPD.BCST fouroverpi<>(SB), Z1, Z3; \
	VCVTTPD2DQ Z3, Y4; \
	VCVTDQ2PD Y4, Z3; \
	VPMOVZXDQ Y4, Z4; \
	VPTESTMQ.BCST q1<>(SB), Z4, K1; \
	VPADDQ.BCST q1<>(SB), Z4, K1, Z4; \
	VADDPD.BCST one<>(SB), Z3, K1, Z3; \
	VMULPD.BCST pi4a<>(SB), Z3, Z5; \
	VSUBPD Z5, Z1, Z1; \
	VMULPD.BCST pi4b<>(SB), Z3, Z5; \
	VSUBPD Z5, Z1, Z1; \
	VMULPD.BCST pi4c<>(SB), Z3, Z5; \
	VSUBPD Z5, Z1, Z1; \
	VMULPD Z1, Z1, Z3; \
	VMULPD.BCST cos0<>(SB), Z3, Z5; \
	VADDPD.BCST cos1<>(SB), Z5, Z5; \
	VMULPD Z3, Z5, Z5; \
	VADDPD.BCST cos2<>(SB), Z5, Z5; \
	VMULPD Z3, Z5, Z5; \
	VADDPD.BCST cos3<>(SB), Z5, Z5; \
	VMULPD Z3, Z5, Z5; \
	VADDPD.BCST cos4<>(SB), Z5, Z5; \
	VMULPD Z3, Z5, Z5; \
	VADDPD.BCST cos5<>(SB), Z5, Z5; \
	VMULPD Z3, Z3, Z6; \
	VMULPD Z5, Z6, Z6; \
	VMULPD.BCST half<>(SB), Z3, Z7; \
	VBROADCASTSD one<>(SB), Z8; \
	VSUBPD Z7, Z8, Z8; \
	VADDPD Z6, Z8, Z8; \
	VMULPD.BCST sin0<>(SB), Z3, Z5; \
	VADDPD.BCST sin1<>(SB), Z5, Z5; \
	VMULPD Z3, Z5, Z5; \
	VADDPD.BCST sin2<>(SB), Z5, Z5; \
	VMULPD Z3, Z5, Z5; \
	VADDPD.BCST sin3<>(SB), Z5, Z5; \
	VMULPD Z3, Z5, Z5; \
	VADDPD.BCST sin4<>(SB), Z5, Z5; \
	VMULPD Z3, Z5, Z5; \
	VADDPD.BCST sin5<>(SB), Z5, Z5; \
	VMULPD Z3, Z1, Z6; \
	VMULPD Z5, Z6, Z6; \
	VADDPD Z6, Z1, Z9; \
	VPTESTMQ.BCST q2<>(SB), Z4, K2; \
	VPTESTMQ.BCST q4<>(SB), Z4, K3; \
	KXORW K2, K3, K4; \
	VBLENDMPD Z8, Z9, K2, Z10; \
	VBLENDMPD Z9, Z8, K2, Z11; \
	VPXORQ.BCST signbit<>(SB), Z10, K3, Z10; \
	VPXORQ.BCST signbit<>(SB), Z11, K4, Z11; \
	VMULPD Z11, Z2, Z11; \
	VMULPD Z10, Z2, Z10; \
	VCVTPD2PS Z11, yc; \
	VCVTPD2PS Z10, ys

// Step by step, BOXMULLER computes (the names of boxMuller, math.Log and
// math.Sincos):
//
//	u1 = (float64(wa) + 1) * 2^-32;  u2 = float64(wb) * 2^-32
//	log(u1): k = exponent - 0x3FE, f1 = mantissa in [0.5, 1);
//	         if f1 <= sqrt(2)/2 { k -= 1; f1 *= 2 } (as k - t, f1 * (t+1), t = 0 or 1)
//	         f = f1 - 1; s = f/(2+f); s2 = s*s; s4 = s2*s2
//	         t1 = s2*(L1 + s4*(L3 + s4*(L5 + s4*L7))); t2 = s4*(L2 + s4*(L4 + s4*L6))
//	         hfsq = 0.5*f*f; log = k*Ln2Hi - ((hfsq - (s*(hfsq + t1 + t2) + k*Ln2Lo)) - f)
//	rad = sqrt(-2*log)
//	x = 2π*u2; j = int(x*(4/π)); y = float64(j); if j odd { j++; y++ }
//	z = ((x - y*PI4A) - y*PI4B) - y*PI4C; zz = z*z
//	cos = (1 - 0.5*zz) + zz*zz*poly(_cos, zz); sin = z + z*zz*poly(_sin, zz)
//	j&2: swap sin and cos; j&4: negate sin; (j&2) xor (j&4): negate cos
//	yc = float32(rad*cos); ys = float32(rad*sin)
//
// (x = 0, Sincos's special case, gives sin +0 and cos 1 on this path too.)

// STORE32 writes the normals of 8 blocks, pairs (Y12, Y13) and (Y14, Y15),
// to z[4b+0..3] at DI. It uses Z0-Z3.
#define STORE32 \
	VINSERTF64X4 $1, Y13, Z12, Z12; \
	VINSERTF64X4 $1, Y15, Z14, Z14; \
	VMOVDQU32 ilo<>(SB), Z0; \
	VMOVDQU32 ihi<>(SB), Z1; \
	VMOVAPS Z12, Z2; \
	VPERMT2PS Z14, Z0, Z2; \
	VMOVAPS Z12, Z3; \
	VPERMT2PS Z14, Z1, Z3; \
	VMOVUPS Z2, (DI); \
	VMOVUPS Z3, 64(DI)

// func normalsAVX512(z *float32, nb int, b0, tensor uint32, step uint64, key0, key1 uint32)
//
// nb (> 0) is a multiple of 8.
TEXT ·normalsAVX512(SB), NOSPLIT, $0-40
	MOVQ z+0(FP), DI
	MOVQ nb+8(FP), CX
	MOVL b0+16(FP), AX
	VPBROADCASTQ AX, Z16
	VPADDQ lanes<>(SB), Z16, Z16 // counter word 0: the block
	MOVL tensor+20(FP), AX
	VPBROADCASTQ AX, Z17         // word 1: the tensor
	MOVQ step+24(FP), AX
	MOVL AX, BX
	VPBROADCASTQ BX, Z18         // words 2, 3: the step's low and high halves
	SHRQ $32, AX
	VPBROADCASTQ AX, Z19
	MOVL key0+32(FP), AX
	VPBROADCASTQ AX, Z20
	MOVL key1+36(FP), AX
	VPBROADCASTQ AX, Z21
	VPBROADCASTQ m0<>(SB), Z22
	VPBROADCASTQ m1<>(SB), Z23

group:
	VMOVDQA64 Z16, Z24 // c0..c3, then the words
	VMOVDQA64 Z17, Z25
	VMOVDQA64 Z18, Z26
	VMOVDQA64 Z19, Z27
	VMOVDQA64 Z20, Z28 // the round keys
	VMOVDQA64 Z21, Z29
	MOVQ $10, DX

round:
	VPMULUDQ Z22, Z24, Z30             // p0 = M0*c0
	VPMULUDQ Z23, Z26, Z31             // p1 = M1*c2
	VPSRLQ $32, Z31, Z24
	VPTERNLOGQ $0x96, Z28, Z25, Z24    // c0 = hi(p1) ^ c1 ^ k0
	VPSRLQ $32, Z30, Z26
	VPTERNLOGQ $0x96, Z29, Z27, Z26    // c2 = hi(p0) ^ c3 ^ k1
	VMOVDQA64 Z31, Z25                 // c1 = lo(p1)
	VMOVDQA64 Z30, Z27                 // c3 = lo(p0)
	VPADDD.BCST w0<>(SB), Z28, Z28     // the next round's key
	VPADDD.BCST w1<>(SB), Z29, Z29
	DECQ DX
	JNZ round

	BOXMULLER(Z24, Z25, Y12, Y13)
	BOXMULLER(Z26, Z27, Y14, Y15)
	STORE32
	ADDQ $128, DI
	VPADDQ.BCST q8<>(SB), Z16, Z16
	SUBQ $8, CX
	JNZ group
	VZEROUPPER
	RET

// func boxMullerWordsAVX512(z *float32, w *uint32)
//
// The normals of 8 blocks from their words, w[8j+l] = word j of block l:
// the Box-Muller half of normalsAVX512, for tests.
TEXT ·boxMullerWordsAVX512(SB), NOSPLIT, $0-16
	MOVQ z+0(FP), DI
	MOVQ w+8(FP), SI
	VPMOVZXDQ (SI), Z24
	VPMOVZXDQ 32(SI), Z25
	VPMOVZXDQ 64(SI), Z26
	VPMOVZXDQ 96(SI), Z27
	BOXMULLER(Z24, Z25, Y12, Y13)
	BOXMULLER(Z26, Z27, Y14, Y15)
	STORE32
	VZEROUPPER
	RET
