package vat

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"

	"github.com/vatgpu/vatgpu/layers"
	"github.com/vatgpu/vatgpu/mnist"
)

// ErrUsage marks the errors of OpenRun that are the caller's: settings
// that contradict each other or the checkpoint, paths that cannot serve.
// The command line exits with its usage code on them.
var ErrUsage = errors.New("usage")

type usageErr struct{ msg string }

func (e usageErr) Error() string        { return e.msg }
func (e usageErr) Is(target error) bool { return target == ErrUsage }

func usagef(format string, a ...any) error { return usageErr{fmt.Sprintf(format, a...)} }

// RunOptions say what a run trains and where its data, device and files are.
type RunOptions struct {
	// Config is the run's configuration; with Resume, the command line's,
	// merged into the checkpoint's by ResumeConfig with Given.
	Config Config
	// Given tells which settings were given on the command line; nil
	// means all of them.
	Given func(setting string) bool

	// Data is the folder of the four MNIST IDX files ("" for the GoMNIST
	// module's), Limit the number of training and test images to use (0:
	// all). TrainSet and TestSet, when set, are used instead.
	Data              string
	Limit             int
	TrainSet, TestSet *mnist.Set

	// Out is the checkpoint written after every epoch and when the run is
	// stopped; Resume a checkpoint to continue, where Out defaults to it.
	Out, Resume string

	// Open opens the backend, after every check that needs none has
	// passed; Backend, when set, is used instead (and not closed).
	Open    func() (layers.Backend, error)
	Backend layers.Backend

	// Log receives the run's lines: what it trains on, one per epoch, and
	// the seed's finish line. Nil discards them.
	Log io.Writer
}

// A Run is one training run: its data, backend, trainer and checkpoint.
// OpenRun prepares it, Train trains it to its last epoch, Close releases
// it.
type Run struct {
	Cfg               Config
	Out               string
	Trainer           *Trainer
	Backend           layers.Backend
	TrainSet, TestSet *mnist.Set
	Data              DataID

	log        io.Writer
	ownBackend bool
}

// DataID identifies the data a run trains and is tested on: the images
// and labels as used (so after Limit) by their SHA-256, and Limit.
type DataID struct {
	Limit int    `json:"limit"`
	Train string `json:"train_sha256"`
	Test  string `json:"test_sha256"`
}

// availableMemory returns the memory a run may still allocate on the host
// and where that limit comes from; a variable for tests.
var availableMemory = hostMemoryAvailable

// OpenRun checks the options, loads the checkpoint to resume and the data,
// opens the backend and puts the trainer on it. Every check that needs no
// device comes first, so that a mistake costs no training.
func OpenRun(o RunOptions) (_ *Run, err error) {
	given := o.Given
	if given == nil {
		given = func(string) bool { return true }
	}
	log := o.Log
	if log == nil {
		log = io.Discard
	}
	r := &Run{Cfg: o.Config, Out: o.Out, log: log}
	if o.Limit < 0 {
		return nil, usagef("--limit must be 0 (all) or positive, got %d", o.Limit)
	}
	// A resumed run's settings are mostly the checkpoint's: they are
	// checked once merged with the flags, below.
	if o.Resume == "" {
		if err := r.Cfg.Validate(); err != nil {
			return nil, usageErr{err.Error()}
		}
	}
	if r.Cfg.Teacher != "" {
		// Saved absolute, so that a resume from another folder finds it.
		if r.Cfg.Teacher, err = filepath.Abs(r.Cfg.Teacher); err != nil {
			return nil, usagef("--teacher %s: %v", o.Config.Teacher, err)
		}
	}
	var resume *State
	if o.Resume != "" {
		if resume, err = Load(o.Resume); err != nil {
			return nil, err
		}
		if r.Cfg, err = ResumeConfig(r.Cfg, resume.Config, given); err != nil {
			return nil, fmt.Errorf("--resume %s: %v", o.Resume, err)
		}
		if err := r.Cfg.Validate(); err != nil {
			return nil, usagef("--resume %s: %v", o.Resume, err)
		}
		if resume.Epoch >= r.Cfg.Epochs {
			if r.Cfg.LRDecayStart > 0 {
				return nil, usagef("--resume %s: the run already did its %d epochs, and its learning rate decays linearly to the last (--lr-decay-start), so it cannot be extended", o.Resume, resume.Epoch)
			}
			return nil, usagef("--resume %s: the run already did %d epochs; ask for more with --epochs", o.Resume, resume.Epoch)
		}
		if r.Out == "" {
			r.Out = o.Resume // a resumed run goes on saving where it was saved
		}
	}
	if err := checkOut(r.Out, r.Cfg.Teacher); err != nil {
		return nil, err
	}
	r.TrainSet, r.TestSet = o.TrainSet, o.TestSet
	if r.TrainSet == nil {
		if r.TrainSet, r.TestSet, err = LoadData(o.Data, o.Limit); err != nil {
			return nil, err
		}
	}
	r.Data = DataID{Limit: o.Limit, Train: r.TrainSet.Sum(), Test: r.TestSet.Sum()}
	if resume != nil {
		if err := resume.Data.Same(r.Data); err != nil {
			return nil, fmt.Errorf("--resume %s: %v", o.Resume, err)
		}
	}
	var teacher []float32 // the teacher's parameters, where the run starts
	if r.Cfg.Teacher != "" {
		if teacher, err = LoadTeacher(r.Cfg, r.TrainSet); err != nil {
			return nil, err
		}
	}
	r.Backend = o.Backend
	if r.Backend == nil {
		if r.Backend, err = o.Open(); err != nil {
			return nil, err
		}
		r.ownBackend = true
	}
	defer func() {
		if err != nil {
			r.Close()
		}
	}()
	if err := CheckMemory(r.Backend, r.Cfg, r.TrainSet, r.TestSet); err != nil {
		return nil, err
	}
	if r.Trainer, err = NewTrainer(r.Backend, r.Cfg, r.TrainSet, r.TestSet, teacher); err != nil {
		return nil, err
	}
	t := r.Trainer
	if t.Net != layers.SeedCNN {
		weights, stats := 0, 0
		for _, p := range t.Net.Params() {
			if p.Stat {
				stats += p.Len
			} else {
				weights += p.Len
			}
		}
		fmt.Fprintf(log, "network %s: %s; %d parameters and %d running statistics\n", t.Net.Name, t.Net.Doc, weights, stats)
	}
	if t.Validation != nil {
		fmt.Fprintf(log, "validation: %d training images held out (%d per class), never trained on\n", len(t.Validation), len(t.Validation)/layers.Classes)
	}
	if t.Labeled != nil {
		fmt.Fprintf(log, "semi-supervised: %d labelled images (%d per class), %d unlabelled; labelled indices: %v\n",
			len(t.Labeled), len(t.Labeled)/layers.Classes, len(t.Unlabeled), t.Labeled)
	}
	if teacher != nil {
		idx, labels, err := t.PseudoLabel(teacher, r.Cfg.TeacherMin)
		if err != nil {
			return nil, err
		}
		right := 0
		for i, j := range idx {
			if labels[i] == r.TrainSet.Labels[j] {
				right++
			}
		}
		fmt.Fprintf(log, "teacher %s: labels %d of the %d unlabelled images (probability >= %v); %.2f%% of them right by the true labels, which training never reads\n",
			r.Cfg.Teacher, len(idx), len(t.Unlabeled), r.Cfg.TeacherMin, 100*float64(right)/float64(max(1, len(idx))))
	}
	if resume != nil {
		if err := t.Restore(resume); err != nil {
			return nil, fmt.Errorf("--resume %s: %v", o.Resume, err)
		}
		fmt.Fprintf(log, "resumed %s at epoch %d, step %d\n", o.Resume, t.Epoch, t.Step)
	}
	return r, nil
}

// checkOut refuses, before any training, a checkpoint path that cannot be
// written: a folder, a path in a folder that does not exist, or the
// teacher's file.
func checkOut(out, teacher string) error {
	if out == "" {
		return nil
	}
	if st, err := os.Stat(out); err == nil && st.IsDir() {
		return fmt.Errorf("--out %s is a folder; name the checkpoint file to write, such as %s", out, filepath.Join(out, "model.safetensors"))
	}
	if st, err := os.Stat(filepath.Dir(out)); err != nil || !st.IsDir() {
		return fmt.Errorf("--out %s: folder %s does not exist", out, filepath.Dir(out))
	}
	if teacher != "" && sameFile(out, teacher) {
		return usagef("--teacher %s is also the run's checkpoint (--out or --resume): the run would overwrite its teacher", teacher)
	}
	return nil
}

// sameFile reports whether paths a and b both exist and are the same file.
func sameFile(a, b string) bool {
	sa, err := os.Stat(a)
	if err != nil {
		return false
	}
	sb, err := os.Stat(b)
	return err == nil && os.SameFile(sa, sb)
}

// LoadData reads MNIST from dir (the GoMNIST module's data when empty),
// the first limit images of each set (all when 0).
func LoadData(dir string, limit int) (train, test *mnist.Set, err error) {
	if dir == "" {
		if dir, err = mnist.DefaultDir(); err != nil {
			return nil, nil, err
		}
	}
	return mnist.Load(dir, limit)
}

// Same returns an error naming how d, a checkpoint's data, differs from
// now, this run's. A checkpoint written before data was recorded (empty
// sums) matches anything.
func (d DataID) Same(now DataID) error {
	switch {
	case d.Train == "":
		return nil
	case d.Limit != now.Limit:
		return fmt.Errorf("the checkpoint was trained with --limit %d, this run has --limit %d", d.Limit, now.Limit)
	case d.Train != now.Train:
		return fmt.Errorf("the training images or labels differ from the checkpoint's (another --data?): SHA-256 %.12s…, the checkpoint's %.12s…", now.Train, d.Train)
	case d.Test != now.Test:
		return fmt.Errorf("the test images or labels differ from the checkpoint's (another --data?): SHA-256 %.12s…, the checkpoint's %.12s…", now.Test, d.Test)
	}
	return nil
}

// Stop makes Train return before its next step; it may be called from any
// goroutine.
func (r *Run) Stop() { r.Trainer.Stop.Store(true) }

// Train trains to the configured epoch count, writing one line per epoch
// and the seed's finish line to the log and a checkpoint to Out after
// every epoch. progress (may be nil) sees the steps; onEpoch (may be nil)
// each epoch's statistics before its line is written, and an error from it
// ends the run. Stopped (see
// Stop), it saves the state to Out and returns an error wrapping
// ErrInterrupted that says where.
func (r *Run) Train(progress func(Progress), onEpoch func(EpochStats) error) (loss, acc float64, err error) {
	t := r.Trainer
	for t.Epoch < r.Cfg.Epochs {
		es, err := t.RunEpoch(progress)
		if errors.Is(err, ErrInterrupted) {
			if r.Out == "" {
				return 0, 0, fmt.Errorf("%w at epoch %d, step %d; nothing saved (no --out)", ErrInterrupted, t.Epoch+1, t.Step)
			}
			if err := r.save(); err != nil {
				return 0, 0, fmt.Errorf("%w, and saving failed: %v", ErrInterrupted, err)
			}
			return 0, 0, fmt.Errorf("%w at epoch %d, step %d; saved %s (continue with --resume %s)", ErrInterrupted, t.Epoch+1, t.Step, r.Out, r.Out)
		}
		if err != nil {
			return 0, 0, err
		}
		if onEpoch != nil {
			if err := onEpoch(es); err != nil {
				return 0, 0, err
			}
		}
		fmt.Fprintln(r.log, es.Line(r.Cfg.Epochs))
		if r.Out != "" {
			if err := r.save(); err != nil {
				return 0, 0, err
			}
		}
	}
	if loss, acc, err = t.Evaluate(); err != nil {
		return 0, 0, err
	}
	fmt.Fprintf(r.log, "finish: use_dropout=%v, use_vat=%v: score=%g, accuracy=%g\n", r.Cfg.Dropout, r.Cfg.VAT, loss, acc)
	return loss, acc, nil
}

// save writes the trainer's state, with the run's data, to Out.
func (r *Run) save() error {
	s := r.Trainer.State()
	s.Data = r.Data
	return s.Save(r.Out)
}

// Line is the epoch's line as train prints it.
func (es EpochStats) Line(epochs int) string {
	current := ""
	if !math.IsNaN(es.CurrentTestAcc) {
		current = fmt.Sprintf(" (averaged weights; as trained: loss %.4f, acc %.4f)", es.CurrentTestLoss, es.CurrentTestAcc)
	}
	val := ""
	if !math.IsNaN(es.ValAcc) {
		val = fmt.Sprintf(" - val loss %.4f, acc %.4f", es.ValLoss, es.ValAcc)
		if !math.IsNaN(es.CurrentValAcc) {
			val += fmt.Sprintf(" (averaged weights; as trained: loss %.4f, acc %.4f)", es.CurrentValLoss, es.CurrentValAcc)
		}
	}
	return fmt.Sprintf("epoch %d/%d: loss %.4f (ce %.4f, vat %.4f) - train acc %.4f%s - test loss %.4f, acc %.4f%s - %.1f s (%.0f images/s)",
		es.Epoch, epochs, es.Loss, es.CE, es.VAT, es.TrainAcc, val, es.TestLoss, es.TestAcc, current, es.Seconds, es.ImagesPerSec)
}

// Close frees the trainer and closes the backend if OpenRun opened it.
func (r *Run) Close() error {
	if r.Trainer != nil {
		r.Trainer.Free()
		r.Trainer = nil
	}
	if r.ownBackend && r.Backend != nil {
		err := r.Backend.Close()
		r.Backend = nil
		return err
	}
	return nil
}
