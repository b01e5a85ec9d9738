//go:build amd64 && !purego

#include "textflag.h"

// Every loop takes the features 16 at a time (DX: the first of the group;
// AX: the byte offset of the row; CX counts the rows), each group's rows in
// order. K1 masks the group's float32 lanes, K2 and K3 its float64 lanes
// (features 0-7 and 8-15). VADDPS X, Y, Z is Z = Y + X: the operand order
// of each operation is the Go loop's.

// GROUPMASKS sets K1, K2, K3 for a group of min(CX, 16) features.
#define GROUPMASKS \
	MOVQ $16, AX; \
	CMPQ CX, AX; \
	CMOVQGT AX, CX; \
	MOVL $1, AX; \
	SHLL CX, AX; \
	DECL AX; \
	KMOVW AX, K1; \
	KMOVW AX, K2; \
	SHRL $8, AX; \
	KMOVW AX, K3

// CVT2PD converts the 16 floats of Z register s to float64s in lo (0-7) and
// hi (8-15), through the Y half of hi.
#define CVT2PD(s, ys, lo, ylo, hi, yhi) \
	VCVTPS2PD ys, lo; \
	VEXTRACTF64X4 $1, s, yhi; \
	VCVTPS2PD yhi, hi

// func bnSumsAVX512(s *float64, x *float32, rows, w, ld int)
TEXT ·bnSumsAVX512(SB), NOSPLIT, $0-40
	MOVQ s+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ ld+32(FP), R10
	SHLQ $2, R10
	XORQ DX, DX             // first feature of the group
sumsgroup:
	MOVQ w+24(FP), CX
	SUBQ DX, CX             // features left
	JLE sumsdone
	GROUPMASKS
	XORQ AX, AX             // byte offset of the row
	MOVQ rows+16(FP), CX
	VMOVUPD.Z (DI)(DX*8), K2, Z4
	VMOVUPD.Z 64(DI)(DX*8), K3, Z5
	LEAQ (SI)(DX*4), BX

sumsrow:
	VMOVUPS.Z (BX)(AX*1), K1, Z0
	CVT2PD(Z0, Y0, Z1, Y1, Z2, Y2)
	VADDPD Z1, Z4, Z4       // s += x
	VADDPD Z2, Z5, Z5
	ADDQ R10, AX
	DECQ CX
	JNZ sumsrow
	VMOVUPD Z4, K2, (DI)(DX*8)
	VMOVUPD Z5, K3, 64(DI)(DX*8)
	ADDQ $16, DX
	JMP sumsgroup

sumsdone:
	VZEROUPPER
	RET

// func bnSquaresAVX512(v *float64, x *float32, mean *float64, rows, w, ld int)
TEXT ·bnSquaresAVX512(SB), NOSPLIT, $0-48
	MOVQ v+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ mean+16(FP), R8
	MOVQ ld+40(FP), R10
	SHLQ $2, R10
	XORQ DX, DX             // first feature of the group
sqgroup:
	MOVQ w+32(FP), CX
	SUBQ DX, CX             // features left
	JLE sqdone
	GROUPMASKS
	XORQ AX, AX             // byte offset of the row
	MOVQ rows+24(FP), CX
	VMOVUPD.Z (DI)(DX*8), K2, Z4
	VMOVUPD.Z 64(DI)(DX*8), K3, Z5
	VMOVUPD.Z (R8)(DX*8), K2, Z6
	VMOVUPD.Z 64(R8)(DX*8), K3, Z7
	LEAQ (SI)(DX*4), BX

sqrow:
	VMOVUPS.Z (BX)(AX*1), K1, Z0
	CVT2PD(Z0, Y0, Z1, Y1, Z2, Y2)
	VSUBPD Z6, Z1, Z1       // d = x - mean
	VSUBPD Z7, Z2, Z2
	VMULPD Z1, Z1, Z1       // d*d
	VMULPD Z2, Z2, Z2
	VADDPD Z1, Z4, Z4       // v += d*d
	VADDPD Z2, Z5, Z5
	ADDQ R10, AX
	DECQ CX
	JNZ sqrow
	VMOVUPD Z4, K2, (DI)(DX*8)
	VMOVUPD Z5, K3, 64(DI)(DX*8)
	ADDQ $16, DX
	JMP sqgroup

sqdone:
	VZEROUPPER
	RET

// func bnNormalizeAVX512(y, x, mean, rstd, gamma, beta *float32, rows, w, ld int)
TEXT ·bnNormalizeAVX512(SB), NOSPLIT, $0-72
	MOVQ y+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ mean+16(FP), R8
	MOVQ rstd+24(FP), R9
	MOVQ gamma+32(FP), R11
	MOVQ beta+40(FP), R12
	MOVQ ld+64(FP), R10
	SHLQ $2, R10
	XORQ DX, DX             // first feature of the group
normgroup:
	MOVQ w+56(FP), CX
	SUBQ DX, CX             // features left
	JLE normdone
	GROUPMASKS
	XORQ AX, AX             // byte offset of the row
	MOVQ rows+48(FP), CX
	VMOVUPS.Z (R8)(DX*4), K1, Z4
	VMOVUPS.Z (R9)(DX*4), K1, Z5
	VMOVUPS.Z (R11)(DX*4), K1, Z6
	VMOVUPS.Z (R12)(DX*4), K1, Z7
	LEAQ (SI)(DX*4), BX
	LEAQ (DI)(DX*4), R13

normrow:
	VMOVUPS.Z (BX)(AX*1), K1, Z0
	VSUBPS Z4, Z0, Z0       // x - mean
	VMULPS Z5, Z0, Z0       // xh = (x - mean)*rstd
	VMULPS Z0, Z6, Z0       // gamma*xh
	VADDPS Z7, Z0, Z0       // + beta
	VMOVUPS Z0, K1, (R13)(AX*1)
	ADDQ R10, AX
	DECQ CX
	JNZ normrow
	ADDQ $16, DX
	JMP normgroup

normdone:
	VZEROUPPER
	RET

// func bnGradSumsAVX512(sdy, sdyx *float64, dy, x, mean, rstd *float32, rows, w, ld int)
TEXT ·bnGradSumsAVX512(SB), NOSPLIT, $0-72
	MOVQ sdy+0(FP), DI
	MOVQ sdyx+8(FP), SI
	MOVQ dy+16(FP), R8
	MOVQ x+24(FP), R9
	MOVQ mean+32(FP), R11
	MOVQ rstd+40(FP), R12
	MOVQ ld+64(FP), R10
	SHLQ $2, R10
	XORQ DX, DX             // first feature of the group
gsgroup:
	MOVQ w+56(FP), CX
	SUBQ DX, CX             // features left
	JLE gsdone
	GROUPMASKS
	XORQ AX, AX             // byte offset of the row
	MOVQ rows+48(FP), CX
	VMOVUPS.Z (R11)(DX*4), K1, Z8
	VMOVUPS.Z (R12)(DX*4), K1, Z9
	VMOVUPD.Z (DI)(DX*8), K2, Z4
	VMOVUPD.Z 64(DI)(DX*8), K3, Z5
	VMOVUPD.Z (SI)(DX*8), K2, Z6
	VMOVUPD.Z 64(SI)(DX*8), K3, Z7
	LEAQ (R8)(DX*4), BX
	LEAQ (R9)(DX*4), R13

gsrow:
	VMOVUPS.Z (R13)(AX*1), K1, Z0
	VSUBPS Z8, Z0, Z0       // x - mean
	VMULPS Z9, Z0, Z0       // xh
	VMOVUPS.Z (BX)(AX*1), K1, Z1
	CVT2PD(Z1, Y1, Z2, Y2, Z3, Y3)
	VADDPD Z2, Z4, Z4       // sdy += g
	VADDPD Z3, Z5, Z5
	CVT2PD(Z0, Y0, Z10, Y10, Z11, Y11)
	VMULPD Z10, Z2, Z10     // g*xh
	VMULPD Z11, Z3, Z11
	VADDPD Z10, Z6, Z6      // sdyx += g*xh
	VADDPD Z11, Z7, Z7
	ADDQ R10, AX
	DECQ CX
	JNZ gsrow
	VMOVUPD Z4, K2, (DI)(DX*8)
	VMOVUPD Z5, K3, 64(DI)(DX*8)
	VMOVUPD Z6, K2, (SI)(DX*8)
	VMOVUPD Z7, K3, 64(SI)(DX*8)
	ADDQ $16, DX
	JMP gsgroup

gsdone:
	VZEROUPPER
	RET

// func bnGradInputAVX512(dx, dy, x, mean, rstd, gamma *float32, sdy, sdyx *float64, nf float64, rows, w, ld int)
TEXT ·bnGradInputAVX512(SB), NOSPLIT, $0-96
	MOVQ dx+0(FP), DI
	MOVQ dy+8(FP), SI
	MOVQ x+16(FP), BX
	MOVQ mean+24(FP), R11
	MOVQ rstd+32(FP), R12
	MOVQ gamma+40(FP), R13
	MOVQ sdy+48(FP), R8
	MOVQ sdyx+56(FP), R9
	VBROADCASTSD nf+64(FP), Z22
	MOVQ ld+88(FP), R10
	SHLQ $2, R10
	XORQ DX, DX             // first feature of the group
gigroup:
	MOVQ w+80(FP), CX
	SUBQ DX, CX             // features left
	JLE gidone
	GROUPMASKS
	XORQ AX, AX             // byte offset of the row
	MOVQ rows+72(FP), CX
	VMOVUPS.Z (R11)(DX*4), K1, Z16 // mean
	VMOVUPS.Z (R12)(DX*4), K1, Z17 // rstd
	VMOVUPS.Z (R13)(DX*4), K1, Z15 // gamma
	CVT2PD(Z15, Y15, Z18, Y18, Z19, Y19)
	CVT2PD(Z17, Y17, Z20, Y20, Z21, Y21)
	VMULPD Z20, Z18, Z18    // gr = gamma*rstd
	VMULPD Z21, Z19, Z19
	VDIVPD Z22, Z18, Z18    // gr/nf
	VDIVPD Z22, Z19, Z19
	VMOVUPD.Z (R8)(DX*8), K2, Z23
	VMOVUPD.Z 64(R8)(DX*8), K3, Z24
	VMOVUPD.Z (R9)(DX*8), K2, Z25
	VMOVUPD.Z 64(R9)(DX*8), K3, Z26

girow:
	VMOVUPS.Z (BX)(AX*1), K1, Z0
	VSUBPS Z16, Z0, Z0      // x - mean
	VMULPS Z17, Z0, Z0      // xh
	CVT2PD(Z0, Y0, Z1, Y1, Z2, Y2)
	VMOVUPS.Z (SI)(AX*1), K1, Z3
	CVT2PD(Z3, Y3, Z4, Y4, Z5, Y5)
	VMULPD Z4, Z22, Z4      // nf*g
	VMULPD Z5, Z22, Z5
	VSUBPD Z23, Z4, Z4      // - sdy
	VSUBPD Z24, Z5, Z5
	VMULPD Z25, Z1, Z1      // xh*sdyx
	VMULPD Z26, Z2, Z2
	VSUBPD Z1, Z4, Z4       // t
	VSUBPD Z2, Z5, Z5
	VMULPD Z4, Z18, Z4      // gr/nf * t
	VMULPD Z5, Z19, Z5
	VCVTPD2PS Z4, Y4
	VCVTPD2PS Z5, Y5
	VINSERTF64X4 $1, Y5, Z4, Z4
	VMOVUPS Z4, K1, (DI)(AX*1)
	ADDQ R10, AX
	DECQ CX
	JNZ girow
	ADDQ $64, DI            // the next group's columns of dx, dy and x
	ADDQ $64, SI
	ADDQ $64, BX
	ADDQ $16, DX
	JMP gigroup

gidone:
	VZEROUPPER
	RET
