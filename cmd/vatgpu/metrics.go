package main

import (
	"encoding/json"
	"math"
	"os"

	"github.com/vatgpu/vatgpu/vat"
)

// metricsFile appends JSON Lines to a --metrics file: a header with the
// run's configuration, then one object per epoch (see viz.ReadMetrics).
type metricsFile struct {
	f   *os.File
	enc *json.Encoder
}

// openMetrics opens path and writes the header; with path "" it returns
// nil, whose methods do nothing.
func openMetrics(path string, cfg vat.Config, device string, trainN, testN int) (*metricsFile, error) {
	if path == "" {
		return nil, nil
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o666)
	if err != nil {
		return nil, err
	}
	m := &metricsFile{f: f, enc: json.NewEncoder(f)}
	if err := m.enc.Encode(map[string]any{"config": cfg, "device": device, "train_images": trainN, "test_images": testN}); err != nil {
		f.Close()
		return nil, err
	}
	return m, nil
}

func (m *metricsFile) epoch(es vat.EpochStats, step uint64, device string) error {
	if m == nil {
		return nil
	}
	num := func(v float64) any {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil
		}
		return v
	}
	rec := map[string]any{
		"epoch": es.Epoch, "step": step, "loss": num(es.Loss), "ce": num(es.CE), "vat": num(es.VAT),
		"train_acc": num(es.TrainAcc), "test_loss": num(es.TestLoss), "test_acc": num(es.TestAcc),
		"seconds": es.Seconds, "eval_seconds": es.EvalSeconds, "images_per_sec": es.ImagesPerSec, "device": device,
	}
	if !math.IsNaN(es.ValAcc) {
		rec["val_loss"], rec["val_acc"] = num(es.ValLoss), num(es.ValAcc)
	}
	if es.Entropy != 0 {
		rec["entropy"] = num(es.Entropy)
	}
	// With --ema, test_* and val_* are the averaged weights'; these are the
	// weights' as trained.
	if !math.IsNaN(es.CurrentTestAcc) {
		rec["current_test_loss"], rec["current_test_acc"] = num(es.CurrentTestLoss), num(es.CurrentTestAcc)
	}
	if !math.IsNaN(es.CurrentValAcc) {
		rec["current_val_loss"], rec["current_val_acc"] = num(es.CurrentValLoss), num(es.CurrentValAcc)
	}
	return m.enc.Encode(rec)
}

func (m *metricsFile) Close() error {
	if m == nil {
		return nil
	}
	return m.f.Close()
}

// step writes a record of progress within an epoch (--metrics-every).
func (m *metricsFile) step(p vat.Progress, device string) error {
	if m == nil {
		return nil
	}
	return m.enc.Encode(map[string]any{
		"epoch": p.Epoch, "step": p.Step, "loss": p.Loss, "ce": p.CE, "vat": p.VAT,
		"images": p.Done, "seconds": p.Elapsed.Seconds(),
		"images_per_sec": float64(p.Done) / max(p.Elapsed.Seconds(), 1e-9), "device": device,
	})
}
