// Package viz draws the pictures of a vatgpu run: learning curves from the
// metrics files of `vatgpu train --metrics` and grids of virtual adversarial
// examples. Drawing uses gonum.org/v1/plot and its embedded Liberation fonts,
// so no system font is needed.
//
// # Metrics files
//
// A metrics file is JSON Lines. Its first line is a header,
//
//	{"config": {"Epochs": 12, "Dropout": false, "VAT": true, ...}, "device": "cpu", "train_images": 60000, "test_images": 10000}
//
// and each later line records one epoch,
//
//	{"epoch": 1, "step": 469, "loss": 0.21, "ce": 0.15, "vat": 0.06, "train_acc": 0.95, "test_loss": 0.05, "test_acc": 0.984, "seconds": 30.1, ...}
//
// where any number may be null. ReadMetrics keeps the epoch records, which
// are the lines with a "test_acc" key, and skips blank lines and any other
// object without "config" (per-step records, for instance). Null and absent
// numbers read as NaN; keys it does not know are ignored. Because a resumed
// run appends to the same file, a later header replaces the earlier one (the
// resumed run's configuration, whose Epochs may be larger) and a later record
// of an epoch replaces the earlier one; Run.Epochs is sorted by epoch. The
// run's label is "plain", "dropout", "vat" or "dropout+vat" from the header's
// Dropout and VAT fields, or the file's base name without its extension when
// there is no header.
//
// # Output files
//
// Curves and AdversarialGrid write SVG when the output name ends in .svg
// (in any case) and PNG otherwise; they create or truncate the file.
//
// # Errors and panics
//
// Programmer errors panic with messages prefixed "viz: ": no runs or a nil
// run given to Curves, no rows or a row whose slices do not hold 28×28 values
// given to AdversarialGrid. Conditions of the world are returned as errors
// prefixed "viz: ": a file that cannot be read or written, malformed metrics
// (the error names the file and line, as in
// "viz: runs/vat.jsonl:3: "loss" is "low", want a number or null"), and
// runs that hold no epoch at all.
package viz
