package vat

import (
	"math"
	"testing"

	"github.com/vatgpu/vatgpu/layers"
)

// TestTrainingLearns trains the seed's VAT recipe on the first 1,000 MNIST
// images for two epochs of batch 32 and checks that it learns: the loss
// falls, the cross-entropy ends well below chance's ln 10, and the test
// accuracy ends far above chance's 10%. (Measured at commit time: loss
// 1.57 then 0.64, test accuracy 0.55 then 0.74.)
func TestTrainingLearns(t *testing.T) {
	if testing.Short() {
		t.Skip("two epochs on 1,000 images (a few seconds); skipped in -short mode")
	}
	cfg := DefaultConfig()
	cfg.Epochs, cfg.Batch, cfg.VAT = 2, 32, true
	first, last, acc := trainEpochs(t, cfg, 1000)
	t.Logf("loss %.4f -> %.4f, cross-entropy %.4f -> %.4f, test accuracy %.4f -> %.4f", first.Loss, last.Loss, first.CE, last.CE, first.TestAcc, acc)
	if !(last.Loss < 0.7*first.Loss) {
		t.Errorf("loss %.4f then %.4f: did not fall by 30%%", first.Loss, last.Loss)
	}
	if !(last.CE < 0.5*math.Ln10) {
		t.Errorf("cross-entropy %.4f, not below half of chance's %.4f", last.CE, math.Ln10)
	}
	if !(acc > 0.6) {
		t.Errorf("test accuracy %.4f, want > 0.6 (chance 0.1)", acc)
	}
}

// TestMLPLearns trains the VAT papers' semi-supervised protocol
// (vat-mnist-100's settings, on the first 2,000 MNIST images: 200 held out
// for validation, 100 labelled, unlabelled batches of 100, two epochs of
// 15 steps) and checks that it learns: the cross-entropy falls, and
// validation and test accuracy end far above chance's 10%. (Measured at
// commit time: cross-entropy 0.49 then 0.26, validation accuracy 0.745
// then 0.760, test accuracy 0.730 then 0.756.)
func TestMLPLearns(t *testing.T) {
	if testing.Short() {
		t.Skip("30 steps of the papers' MLP (seconds); skipped in -short mode")
	}
	cfg, _ := PresetConfig("vat-mnist-100")
	cfg.Epochs, cfg.StepsPerEpoch, cfg.Validation, cfg.ULBatch = 2, 15, 200, 100
	first, last, acc := trainEpochs(t, cfg, 2000)
	t.Logf("cross-entropy %.4f -> %.4f, vat %.4f -> %.4f, validation accuracy %.4f -> %.4f, test accuracy %.4f -> %.4f",
		first.CE, last.CE, first.VAT, last.VAT, first.ValAcc, last.ValAcc, first.TestAcc, acc)
	if !(last.CE < 0.7*first.CE) {
		t.Errorf("cross-entropy %.4f then %.4f: did not fall by 30%%", first.CE, last.CE)
	}
	if !(last.ValAcc > 0.6 && acc > 0.6) {
		t.Errorf("validation accuracy %.4f, test accuracy %.4f, want > 0.6 (chance 0.1)", last.ValAcc, acc)
	}
}

// trainEpochs trains cfg on the first limit MNIST images on the CPU and
// returns the first and last epochs' statistics and the finish accuracy.
func trainEpochs(t *testing.T, cfg Config, limit int) (first, last EpochStats, acc float64) {
	t.Helper()
	r, err := OpenRun(RunOptions{Config: cfg, Limit: limit, Backend: layers.NewCPU(0)})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var stats []EpochStats
	_, acc, err = r.Train(nil, func(es EpochStats) error { stats = append(stats, es); return nil })
	if err != nil {
		t.Fatal(err)
	}
	return stats[0], stats[len(stats)-1], acc
}
