package vat

import (
	"errors"
	"testing"

	"github.com/vatgpu/vatgpu/layers"
)

// BenchmarkStep times one training step of the seed model and of the papers'
// MLPs at batch 128 on the CPU backend, without and with
// VAT, and reports images/s and GFLOP/s (counted by Flops).
func BenchmarkStep(b *testing.B) {
	for _, net := range layers.Nets {
		for _, c := range []struct {
			name string
			vat  bool
		}{{"plain", false}, {"vat", true}} {
			name := c.name // the seed CNN keeps the names Step/plain and Step/vat
			if net != layers.SeedCNN {
				name = net.Name + "-" + c.name
			}
			b.Run(name, func(b *testing.B) {
				cfg := DefaultConfig()
				cfg.Net = net.Name
				cfg.VAT = c.vat
				train := randomSet(4*cfg.Batch, 1)
				t, err := NewTrainer(layers.NewCPU(0), cfg, train, nil, nil)
				if err != nil {
					b.Fatal(err)
				}
				defer t.Free()
				t.order()
				t.TrainStep(0) // warm-up: buffers and packing scratch
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					t.TrainStep(i % 4)
				}
				b.StopTimer()
				plain, withVAT := Flops(net, cfg.Batch, cfg.IP)
				flops := plain
				if c.vat {
					flops = withVAT
				}
				s := b.Elapsed().Seconds()
				b.ReportMetric(float64(b.N*cfg.Batch)/s, "images/s")
				b.ReportMetric(float64(flops)*float64(b.N)/s/1e9, "GFLOP/s")
			})
		}
	}
}

// TestNonFiniteStops checks the NaN guard: a diverging run stops with an
// error naming the step and the loss parts.
func TestNonFiniteStops(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Batch, cfg.LR = 16, 1e30
	tr, err := NewTrainer(layers.NewCPU(0), cfg, randomSet(160, 5), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Free()
	tr.ProgressEvery = 1
	var runErr error
	for e := 0; e < 5 && runErr == nil; e++ {
		_, runErr = tr.RunEpoch(nil)
	}
	if runErr == nil || !errors.Is(runErr, ErrNonFinite) {
		t.Fatalf("a run with lr 1e30 ended with %v, want a non-finite loss error", runErr)
	}
	t.Log(runErr)
}
