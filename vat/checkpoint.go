package vat

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/vatgpu/vatgpu/checkpoint"
	"github.com/vatgpu/vatgpu/layers"
)

// Checkpoint format (safetensors, see package checkpoint):
//
//	tensors   one F32 tensor per parameter of the network, named and
//	          shaped as its Params ("conv1.w" [32 1 3 3], ...; batch
//	          normalisation's "bn1.gamma", "bn1.beta" and running
//	          statistics "bn1.mean", "bn1.var"), and
//	          "adadelta.acc_grad", "adadelta.acc_delta" [NumParams]
//	          (Adam's m and v in a run with Adam), and with --ema
//	          "ema" [NumParams], the parameters' moving average;
//	metadata  "format" = "vatgpu-checkpoint", "version" = "1",
//	          "model" = the network's name (Config.Net: "seed-cnn",
//	          "mlp-semi", ...), "config" = the Config as JSON,
//	          "epoch" and "step" = the epochs and steps done,
//	          "labeled_indices" = the labelled images (semi-supervised),
//	          "teacher_sha256" = SHA-256 of the teacher's parameters (--teacher),
//	          "data" = the data trained on as JSON: --limit and the SHA-256
//	          of the training and of the test images and labels as used
//	          (see DataID; a resume on other data is refused).
//
// The Philox streams are positioned by (seed, epoch, step) alone, so these
// fields are the whole state of a run: a run resumed from them goes on
// exactly as the uninterrupted run would. A run with a teacher also needs
// the teacher's file, unchanged: its labels are made again on resume, and
// Restore refuses a teacher whose parameters no longer match the sum.
const (
	checkpointFormat  = "vatgpu-checkpoint"
	checkpointVersion = "1"
)

// State is a run's full state, as saved in a checkpoint.
type State struct {
	Config     Config
	Params     []float32
	AccG, AccD []float32 // optimiser state (Adadelta's accumulators, Adam's moments); nil in a weights-only file
	Epoch      int
	Step       uint64
	Labeled    []int32   // the labelled images of a semi-supervised run (derived from the seed; saved for reference and checked by LoadTeacher), without pseudo-labelled ones
	Average    []float32 // the parameters' moving average (runs with EMA), else nil
	TeacherSum string    // SHA-256 (hex) of the teacher's parameters (runs with a teacher), else ""
	Data       DataID    // the data trained on; zero in files written before it was recorded
}

// Net returns the network the state's parameters are of.
func (s *State) Net() *layers.Net {
	net, err := layers.NetNamed(s.Config.Net)
	if err != nil {
		panic("vat: state of an unknown network " + s.Config.Net) // Load refuses such files
	}
	return net
}

// ModelParams returns the parameters of the run's model: the moving
// average when the run keeps one, else the parameters as trained.
func (s *State) ModelParams() []float32 {
	if s.Average != nil {
		return s.Average
	}
	return s.Params
}

// State downloads the trainer's state.
func (t *Trainer) State() *State {
	s := &State{Config: t.Cfg, Params: t.Params(), Epoch: t.Epoch, Step: t.Step, Labeled: t.Labeled[:min(len(t.Labeled), t.Cfg.Labeled)], TeacherSum: t.teacherSum,
		AccG: make([]float32, t.Net.NumParams()), AccD: make([]float32, t.Net.NumParams())}
	t.B.Download(s.AccG, t.accG)
	t.B.Download(s.AccD, t.accD)
	if t.avg != nil {
		s.Average = make([]float32, t.Net.NumParams())
		t.B.Download(s.Average, t.avg)
	}
	return s
}

// Restore puts a saved state on the trainer's backend: parameters,
// optimiser state, the parameters' moving average (with EMA) and position.
// It changes nothing when it fails.
func (t *Trainer) Restore(s *State) error {
	if err := t.Cfg.SameMath(s.Config); err != nil {
		return err
	}
	if s.AccG == nil || s.AccD == nil {
		return fmt.Errorf("the file holds weights only, no optimiser state to resume from")
	}
	if t.avg != nil && s.Average == nil {
		return fmt.Errorf("the file holds no moving average of the parameters (--ema)")
	}
	if s.TeacherSum != t.teacherSum {
		return fmt.Errorf("the teacher %s is not the one the run started with (its weights' SHA-256 differs)", t.Cfg.Teacher)
	}
	t.B.Upload(t.M.Params, s.Params)
	t.B.Upload(t.accG, s.AccG)
	t.B.Upload(t.accD, s.AccD)
	if t.avg != nil {
		t.B.Upload(t.avg, s.Average)
	}
	t.Epoch, t.Step = s.Epoch, s.Step
	return t.B.Sync()
}

// Save writes s to path atomically.
func (s *State) Save(path string) error {
	f := &checkpoint.File{Metadata: map[string]string{}}
	net := s.Net()
	for _, p := range net.Params() {
		f.AddF32(p.Name, p.Shape, s.Params[p.Off:p.Off+p.Len])
	}
	if s.AccG != nil {
		n := []int{net.NumParams()}
		f.AddF32("adadelta.acc_grad", n, s.AccG)
		f.AddF32("adadelta.acc_delta", n, s.AccD)
	}
	if s.Average != nil {
		f.AddF32("ema", []int{net.NumParams()}, s.Average)
	}
	cfg, err := json.Marshal(s.Config)
	if err != nil {
		return err
	}
	f.Metadata["format"] = checkpointFormat
	f.Metadata["version"] = checkpointVersion
	f.Metadata["model"] = net.Name
	f.Metadata["config"] = string(cfg)
	f.Metadata["epoch"] = strconv.Itoa(s.Epoch)
	f.Metadata["step"] = strconv.FormatUint(s.Step, 10)
	if s.Labeled != nil {
		l, _ := json.Marshal(s.Labeled)
		f.Metadata["labeled_indices"] = string(l)
	}
	if s.TeacherSum != "" {
		f.Metadata["teacher_sha256"] = s.TeacherSum
	}
	if s.Data.Train != "" {
		d, _ := json.Marshal(s.Data)
		f.Metadata["data"] = string(d)
	}
	return checkpoint.WriteFile(path, f)
}

// Load reads a checkpoint written by Save, refusing files of another
// format or version, of a network this vatgpu does not know, or whose
// tensors disagree with their network.
func Load(path string) (*State, error) {
	f, err := checkpoint.ReadFile(path)
	if err != nil {
		return nil, err
	}
	bad := func(format string, a ...any) error {
		return fmt.Errorf("checkpoint: %s: %s", path, fmt.Sprintf(format, a...))
	}
	md := f.Metadata
	if md["format"] != checkpointFormat {
		return nil, bad("not a vatgpu checkpoint (metadata format %q)", md["format"])
	}
	if md["version"] != checkpointVersion {
		return nil, bad("checkpoint version %q, this vatgpu reads %q", md["version"], checkpointVersion)
	}
	net, err := layers.NetNamed(md["model"])
	if err != nil {
		return nil, bad("model: %v", err)
	}
	// Fields a file lacks (written before they existed) keep the seed's
	// defaults, the values those runs had (a file without "Net" in its
	// configuration is of the seed's CNN, which its "model" says).
	s := &State{Config: DefaultConfig(), Params: make([]float32, net.NumParams())}
	dec := json.NewDecoder(strings.NewReader(md["config"]))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s.Config); err != nil {
		return nil, bad("config: %v", err)
	}
	if s.Config.Net != net.Name {
		return nil, bad("model %q, but its configuration's network is %q", net.Name, s.Config.Net)
	}
	if err := s.Config.Validate(); err != nil {
		return nil, bad("config: %v", err)
	}
	if s.Epoch, err = strconv.Atoi(md["epoch"]); err != nil || s.Epoch < 0 {
		return nil, bad("epoch %q is not a count", md["epoch"])
	}
	if s.Step, err = strconv.ParseUint(md["step"], 10, 64); err != nil {
		return nil, bad("step %q is not a count", md["step"])
	}
	s.TeacherSum = md["teacher_sha256"]
	if d, ok := md["data"]; ok {
		if err := json.Unmarshal([]byte(d), &s.Data); err != nil {
			return nil, bad("data: %v", err)
		}
	}
	if l, ok := md["labeled_indices"]; ok {
		if err := json.Unmarshal([]byte(l), &s.Labeled); err != nil {
			return nil, bad("labeled_indices: %v", err)
		}
	}
	for _, p := range net.Params() {
		v, shape, err := f.F32(p.Name)
		if err != nil {
			return nil, bad("%v", err)
		}
		if fmt.Sprint(shape) != fmt.Sprint(p.Shape) {
			return nil, bad("%s has shape %v, the model %v", p.Name, shape, p.Shape)
		}
		copy(s.Params[p.Off:], v)
	}
	want := len(net.Params())
	if _, ok := f.Get("adadelta.acc_grad"); ok {
		want += 2
		for _, name := range []string{"adadelta.acc_grad", "adadelta.acc_delta"} {
			v, shape, err := f.F32(name)
			if err != nil {
				return nil, bad("%v", err)
			}
			if len(shape) != 1 || shape[0] != net.NumParams() {
				return nil, bad("%s has shape %v, want [%d]", name, shape, net.NumParams())
			}
			if name == "adadelta.acc_grad" {
				s.AccG = v
			} else {
				s.AccD = v
			}
		}
	}
	if _, ok := f.Get("ema"); ok {
		want++
		v, shape, err := f.F32("ema")
		if err != nil {
			return nil, bad("%v", err)
		}
		if len(shape) != 1 || shape[0] != net.NumParams() {
			return nil, bad("ema has shape %v, want [%d]", shape, net.NumParams())
		}
		s.Average = v
	}
	if (s.Config.EMA > 0) != (s.Average != nil) {
		return nil, bad("config has ema %v but the file %s a moving average", s.Config.EMA, map[bool]string{true: "holds", false: "lacks"}[s.Average != nil])
	}
	if len(f.Tensors) != want {
		return nil, bad("%d tensors, want %d", len(f.Tensors), want)
	}
	return s, nil
}
