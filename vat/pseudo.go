package vat

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"slices"

	"github.com/vatgpu/vatgpu/layers"
	"github.com/vatgpu/vatgpu/mnist"
)

// PseudoLabel labels the trainer's unlabelled images with the model of
// parameters params (the teacher; an earlier run on the same labelled
// images): each image to which it gives a largest softmax probability of at
// least threshold joins the labelled stream, labelled with that class (the first
// one on ties). It returns the images added, in index order, and their
// labels. The unlabelled stream keeps every image. The true labels of the
// unlabelled images are not read: those it adds are overwritten on the
// device. Call it once, before the first step (and before Restore, which
// checks that a resumed run has the same teacher). An error is the
// backend's.
func (t *Trainer) PseudoLabel(params []float32, threshold float32) (idx, labels []int32, err error) {
	if t.Unlabeled == nil {
		panic("vat: PseudoLabel needs a semi-supervised trainer")
	}
	if t.Step != 0 || len(t.Labeled) != t.Cfg.Labeled {
		panic("vat: PseudoLabel must run once, before the first step")
	}
	b := t.B
	const batch = 500
	m := layers.NewNet(t.Net, b, batch, false, 0, params)
	defer m.Free()
	x, ids := b.Alloc(batch*layers.ImageLen), b.AllocInt(len(t.Unlabeled))
	defer b.Free(x)
	defer b.Free(ids)
	b.UploadInt(ids, t.Unlabeled)
	logits := make([]float32, batch*layers.Classes)
	for off := 0; off < len(t.Unlabeled); off += batch {
		n := min(batch, len(t.Unlabeled)-off)
		b.Gather(x, t.trainX, ids, off, n, layers.ImageLen)
		b.Download(logits[:n*layers.Classes], m.Forward(x, n, false, 0))
		if err := b.Err(); err != nil {
			return nil, nil, err
		}
		for i := range n {
			c, p := confidence(logits[i*layers.Classes : (i+1)*layers.Classes])
			if p >= float64(threshold) {
				j := t.Unlabeled[off+i]
				idx, labels = append(idx, j), append(labels, int32(c))
				t.labels[j] = int32(c)
			}
		}
	}
	t.Labeled = append(t.Labeled, idx...)
	b.UploadInt(t.trainY, t.labels)
	t.teacherSum = paramSum(params)
	return idx, labels, b.Sync()
}

// paramSum returns the SHA-256 of params (little-endian float32), in hex.
func paramSum(params []float32) string {
	h := sha256.New()
	buf := make([]byte, 4*len(params))
	for i, v := range params {
		binary.LittleEndian.PutUint32(buf[4*i:], math.Float32bits(v))
	}
	h.Write(buf)
	return hex.EncodeToString(h.Sum(nil))
}

// confidence returns the class of the largest logit (the first on ties)
// and its softmax probability, in float64.
func confidence(l []float32) (class int, p float64) {
	for j, v := range l {
		if v > l[class] {
			class = j
		}
	}
	var sum float64
	for _, v := range l {
		sum += math.Exp(float64(v) - float64(l[class]))
	}
	return class, 1 / sum
}

// LoadTeacher reads the checkpoint cfg.Teacher and returns its model's
// parameters (the average, if it kept one). A teacher whose run had other
// labelled images than cfg chooses from train (another --labeled, --seed
// or --limit, or a supervised run) is an error: it would bring in labels
// this run does not have.
func LoadTeacher(cfg Config, train *mnist.Set) ([]float32, error) {
	s, err := Load(cfg.Teacher)
	if err != nil {
		return nil, fmt.Errorf("--teacher: %v", err)
	}
	if s.Labeled == nil {
		return nil, fmt.Errorf("--teacher %s is a supervised run (no labelled images listed): its labels are not this run's %d", cfg.Teacher, cfg.Labeled)
	}
	if s.Config.Net != cfg.Net {
		return nil, fmt.Errorf("--teacher %s is a model of the network %s, this run trains %s", cfg.Teacher, s.Config.Net, cfg.Net)
	}
	_, want, _, err := Split(train.Labels[:train.N], cfg)
	if err != nil {
		return nil, err
	}
	if !slices.Equal(s.Labeled, want) {
		tc := s.Config
		return nil, fmt.Errorf("--teacher %s was trained on other labelled images (its run: --labeled %d --seed %d, %d labelled; --limit may differ) than this run's --labeled %d --seed %d",
			cfg.Teacher, tc.Labeled, tc.Seed, len(s.Labeled), cfg.Labeled, cfg.Seed)
	}
	return s.ModelParams(), nil
}
