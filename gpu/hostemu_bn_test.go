package gpu

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/vatgpu/vatgpu/layers"
)

// hostBatchNorm checks batch_norm_forward and batch_norm_backward, built
// for the host, against the CPU's BatchNormForward and BatchNormBackward in
// every mode, to the bit (0 ulp: the same double sums in the same order, a
// correctly rounded sqrt and division, nothing fused), on a grid smaller
// than the features so that blocks and the bounds check both matter.
func hostBatchNorm(t *testing.T, h *hostEmu, rng *rand.Rand, cpu *layers.CPU) {
	const n, c = 9, 70
	x, gamma, beta, dy := randTies(rng, n*c), randTies(rng, c), randTies(rng, c), randTies(rng, n*c)
	runMean, runVar := randTies(rng, c), make([]float32, c)
	for i := range runVar {
		runVar[i] = float32(rng.Float64()) + 0.1
	}
	dg0, db0 := randTies(rng, c), randTies(rng, c)
	for _, mode := range []layers.BNMode{layers.BNBatch, layers.BNBatchUpdate, layers.BNRunning} {
		batch := int32(0)
		if mode != layers.BNRunning {
			batch = 1
		}
		y, mean, rstd := make([]float32, n*c), make([]float32, c), make([]float32, c)
		rm, rv := append([]float32(nil), runMean...), append([]float32(nil), runVar...)
		dx, dg, db := make([]float32, n*c), append([]float32(nil), dg0...), append([]float32(nil), db0...)
		var rmArg, rvArg any = rm, rv
		if mode == layers.BNBatch {
			rmArg, rvArg = nil, nil
		}
		h.run(t, "batch_norm_forward", 3, 32, y, x, gamma, beta, mean, rstd, rmArg, rvArg, int32(n), int32(c), float32(1e-6), float32(0.9), int32(mode))
		h.run(t, "batch_norm_backward", 3, 32, dx, dg, db, dy, x, gamma, mean, rstd, int32(n), int32(c), batch)
		dxIn := append([]float32(nil), dy...) // dx may be dy; no parameter gradients
		h.run(t, "batch_norm_backward", 3, 32, dxIn, nil, nil, dxIn, x, gamma, mean, rstd, int32(n), int32(c), batch)

		yc, mc, rc, dxc := cpu.Alloc(n*c), cpu.Alloc(c), cpu.Alloc(c), cpu.Alloc(n*c)
		rmc, rvc, dgc, dbc := up(cpu, runMean), up(cpu, runVar), up(cpu, dg0), up(cpu, db0)
		xc, gc := up(cpu, x), up(cpu, gamma)
		cpu.BatchNormForward(yc, xc, gc, up(cpu, beta), mc, rc, rmc, rvc, n, c, 1e-6, 0.9, mode)
		cpu.BatchNormBackward(dxc, dgc, dbc, up(cpu, dy), xc, gc, mc, rc, n, c, batch == 1)
		name := fmt.Sprint("mode ", mode, ": ")
		ulpCheck(t, name+"y", y, layers.Floats(yc), 0)
		ulpCheck(t, name+"mean", mean, layers.Floats(mc), 0)
		ulpCheck(t, name+"rstd", rstd, layers.Floats(rc), 0)
		if mode != layers.BNBatch {
			ulpCheck(t, name+"running mean", rm, layers.Floats(rmc), 0)
			ulpCheck(t, name+"running variance", rv, layers.Floats(rvc), 0)
		}
		ulpCheck(t, name+"dx", dx, layers.Floats(dxc), 0)
		ulpCheck(t, name+"dx in place", dxIn, layers.Floats(dxc), 0)
		ulpCheck(t, name+"dgamma", dg, layers.Floats(dgc), 0)
		ulpCheck(t, name+"dbeta", db, layers.Floats(dbc), 0)
	}
}

// hostAddNoise checks add_noise against the CPU's AddNoise: 1 ulp, for
// the double log and sincos of the normals (as rand_normal).
func hostAddNoise(t *testing.T, h *hostEmu, rng *rand.Rand, cpu *layers.CPU, step uint64) {
	r := layers.Rand{Seed: 0xDEADBEEF12345, Tensor: layers.TensorNoise + 16 + 2}
	for _, n := range []int{1, 6, 10003} {
		x := randTies(rng, n)
		y := make([]float32, n)
		h.run(t, "add_noise", 3, 32, y, x, int32(n), float32(0.5), r.Seed, r.Tensor, []uint64{step})
		yc := cpu.Alloc(n)
		cpu.AddNoise(yc, up(cpu, x), n, 0.5, r)
		ulpCheck(t, fmt.Sprint("add_noise ", n), y, layers.Floats(yc), 1)
	}
}
