package viz

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Run is one training run read from a metrics file.
type Run struct {
	// Label names the run in legends.
	Label string

	// Config is the "config" object of the file's last header line (a
	// resumed run appends one, with its own --epochs), as decoded by
	// encoding/json (numbers are float64), or nil when the file has no
	// header line.
	Config map[string]any

	// Epochs holds one entry per epoch record, sorted by Epoch.
	Epochs []Epoch
}

// Epoch is one epoch record of a metrics file. A value that the file gives
// as null, or does not give, is NaN.
type Epoch struct {
	Epoch             int
	Loss, CE, VAT     float64
	TrainAcc          float64
	TestLoss, TestAcc float64
	ValLoss, ValAcc   float64 // on the images held out for validation (--validation)
	// CurrentTestAcc and CurrentValAcc are the weights' as trained in a run
	// with --ema (whose TestAcc and ValAcc are the averaged weights').
	CurrentTestAcc, CurrentValAcc float64
	Seconds                       float64
}

// maxLine is the longest metrics line ReadMetrics accepts.
const maxLine = 1 << 20

// ReadMetrics reads the JSON Lines metrics file that `vatgpu train --metrics`
// writes. See the package documentation for the format and for what is
// skipped. Errors name the file and, for malformed content, the line.
func ReadMetrics(path string) (*Run, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("viz: %v", err)
	}
	defer f.Close()
	run, err := readMetrics(f, path)
	if err != nil {
		return nil, err
	}
	if run.Label == "" {
		run.Label = strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	}
	return run, nil
}

// readMetrics reads metrics lines from r; name is used in errors.
func readMetrics(r io.Reader, name string) (*Run, error) {
	run := &Run{}
	byEpoch := make(map[int]int) // epoch number -> index in run.Epochs
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	line := 0
	for sc.Scan() {
		line++
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		fail := func(format string, args ...any) error {
			return fmt.Errorf("viz: %s:%d: %s", name, line, fmt.Sprintf(format, args...))
		}
		var rec map[string]json.RawMessage
		if err := json.Unmarshal(b, &rec); err != nil {
			return nil, fail("not a JSON object: %v", err)
		}
		if raw, ok := rec["config"]; ok {
			var cfg map[string]any
			if err := json.Unmarshal(raw, &cfg); err != nil || cfg == nil {
				return nil, fail(`"config" is not a JSON object`)
			}
			run.Config = cfg // a resumed run's header replaces the first
			continue
		}
		if _, ok := rec["test_acc"]; !ok {
			continue // a step record, or something this package does not know
		}
		raw, ok := rec["epoch"]
		if !ok {
			return nil, fail(`epoch record without "epoch"`)
		}
		var ep float64
		if err := json.Unmarshal(raw, &ep); err != nil || ep != math.Trunc(ep) || ep < 0 || ep > math.MaxInt32 {
			return nil, fail(`"epoch" is %s, want a non-negative integer`, raw)
		}
		e := Epoch{Epoch: int(ep)}
		for _, fld := range []struct {
			key string
			dst *float64
		}{
			{"loss", &e.Loss}, {"ce", &e.CE}, {"vat", &e.VAT}, {"train_acc", &e.TrainAcc},
			{"test_loss", &e.TestLoss}, {"test_acc", &e.TestAcc}, {"seconds", &e.Seconds},
			{"val_loss", &e.ValLoss}, {"val_acc", &e.ValAcc},
			{"current_test_acc", &e.CurrentTestAcc}, {"current_val_acc", &e.CurrentValAcc},
		} {
			v, err := number(rec[fld.key])
			if err != nil {
				return nil, fail("%q is %s, want a number or null", fld.key, rec[fld.key])
			}
			*fld.dst = v
		}
		// A resumed run appends to the same file, so an epoch may appear
		// again; the later record wins.
		if i, ok := byEpoch[e.Epoch]; ok {
			run.Epochs[i] = e
		} else {
			byEpoch[e.Epoch] = len(run.Epochs)
			run.Epochs = append(run.Epochs, e)
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("viz: %s:%d: line longer than %d bytes", name, line+1, maxLine)
		}
		return nil, fmt.Errorf("viz: %s: %v", name, err)
	}
	sort.SliceStable(run.Epochs, func(i, j int) bool { return run.Epochs[i].Epoch < run.Epochs[j].Epoch })
	run.Label = configLabel(run.Config)
	return run, nil
}

// number decodes a JSON number; null or an absent value is NaN.
func number(raw json.RawMessage) (float64, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return math.NaN(), nil
	}
	var v float64
	if err := json.Unmarshal(raw, &v); err != nil {
		return 0, err
	}
	return v, nil
}

// configLabel returns "plain", "dropout", "vat" or "dropout+vat" from the
// Dropout and VAT fields of cfg, or "" when cfg has neither as a boolean.
func configLabel(cfg map[string]any) string {
	dropout, okD := cfg["Dropout"].(bool)
	vat, okV := cfg["VAT"].(bool)
	switch {
	case !okD && !okV:
		return ""
	case dropout && vat:
		return "dropout+vat"
	case dropout:
		return "dropout"
	case vat:
		return "vat"
	}
	return "plain"
}
