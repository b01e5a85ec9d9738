package main

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/vatgpu/vatgpu/digits"
	"github.com/vatgpu/vatgpu/layers"
	"github.com/vatgpu/vatgpu/mnist"
	"github.com/vatgpu/vatgpu/vat"
)

// PredictArgs are the flags and arguments of `vatgpu predict`.
type PredictArgs struct {
	Model  string
	Net    string // the network the checkpoint must be of ("": any)
	Device string
	Raw    bool
	JSON   bool
	Labels string
	Files  []string // "-" is standard input
}

func predictCommand(stdin io.Reader, stdout, stderr io.Writer) *cli.Command {
	var a PredictArgs
	return &cli.Command{
		Name:      "predict",
		Usage:     "classify pictures of handwritten digits (PNG, JPEG, GIF; MNIST IDX image files) with a trained model",
		ArgsUsage: "FILE... (- for one picture on standard input)",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "model", Required: true, Usage: "checkpoint written by train --out", Destination: &a.Model},
			netFlag(&a.Net),
			&cli.StringFlag{Name: "device", Value: "auto", Usage: "cpu, a GPU index, or auto", Destination: &a.Device},
			&cli.BoolFlag{Name: "raw", Usage: "the pictures are already MNIST-style (28x28, light digit on black, centred): do not prepare them", Destination: &a.Raw},
			&cli.BoolFlag{Name: "json", Usage: "one JSON object per picture", Destination: &a.JSON},
			&cli.StringFlag{Name: "labels", Usage: "IDX label file: score the images of the IDX image files against it", Destination: &a.Labels},
		},
		Action: func(c *cli.Context) error {
			a.Files = c.Args().Slice()
			return Predict(a, stdin, stdout, stderr)
		},
	}
}

// maxFileBytes bounds the size of a picture file read into memory (IDX
// files are streamed by package mnist).
const maxFileBytes = 256 << 20

// prediction is one line (or JSON object) of predict's output: one picture,
// one image of an IDX file, or a file that could not be read.
type prediction struct {
	File            string  `json:"file"`
	Index           *int    `json:"index,omitempty"` // the image's place in an IDX file
	Digit           int     `json:"digit"`
	Probability     float64 `json:"probability"`
	Next            int     `json:"next"`
	NextProbability float64 `json:"next_probability"`
	Label           *int    `json:"label,omitempty"` // with --labels
	Error           string  `json:"error,omitempty"`

	err   error // the file could not be read
	image int   // the image's place in predictor.images
	idx   *idxScore
}

// idxScore counts the right predictions on one IDX file with --labels.
type idxScore struct {
	File     string  `json:"file"`
	Labels   string  `json:"labels"`
	Images   int     `json:"images"`
	Correct  int     `json:"correct"`
	Accuracy float64 `json:"accuracy"`
}

// predictor gathers the images of every file before one forward pass.
type predictor struct {
	a      PredictArgs
	stdin  io.Reader
	labels []int32
	images []float32 // n×784
	out    []prediction
	scores []*idxScore
}

// Predict runs `vatgpu predict`: it reads every file (a picture, prepared
// as MNIST's digits were unless a.Raw, or every image of an MNIST IDX image
// file, taken as it is), runs the model once over all of them and prints
// one line per image, in the order of the files: the file, the predicted
// digit and its probability, the next most likely digit and its
// probability. A file that cannot be read gets one line on stderr naming it
// and what is wrong; the others are still predicted, and Predict then
// returns an error (exit 1).
func Predict(a PredictArgs, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(a.Files) == 0 {
		return usagef("predict needs at least one picture file (or - for standard input)")
	}
	dash := 0
	for _, f := range a.Files {
		if f == "-" {
			dash++
		}
	}
	if dash > 1 {
		return usagef("predict reads standard input (-) once, got it %d times", dash)
	}
	s, err := loadModel(a.Model, a.Net)
	if err != nil {
		return err
	}
	if err := s.CheckModel(); err != nil {
		return fmt.Errorf("%s: %v", a.Model, err)
	}
	p := &predictor{a: a, stdin: stdin}
	if a.Labels != "" {
		if p.labels, err = mnist.ReadLabels(a.Labels, 0); err != nil {
			return err
		}
	}
	// The device line goes to stderr: stdout holds only predictions.
	b, err := openBackend(a.Device, false, stderr)
	if err != nil {
		return err
	}
	defer b.Close()
	for _, f := range a.Files {
		p.add(f)
	}
	n := len(p.images) / layers.ImageLen
	logits, err := vat.Logits(b, s.Net(), s.ModelParams(), p.images, n)
	if err != nil {
		return err
	}
	bad := 0
	enc := json.NewEncoder(stdout)
	for i := range p.out {
		r := &p.out[i]
		if r.err != nil {
			bad++
			fmt.Fprintf(stderr, "vatgpu: %v\n", r.err)
			if a.JSON {
				enc.Encode(map[string]string{"file": r.File, "error": r.err.Error()})
			}
			continue
		}
		r.Digit, r.Next, r.Probability, r.NextProbability = vat.Top2(logits[r.image*layers.Classes : (r.image+1)*layers.Classes])
		if r.idx != nil && r.Digit == *r.Label {
			r.idx.Correct++
		}
		if a.JSON {
			enc.Encode(r)
			continue
		}
		name := r.File
		if r.Index != nil {
			name = fmt.Sprintf("%s[%d]", r.File, *r.Index)
		}
		label := ""
		if r.Label != nil {
			label = fmt.Sprintf(", label %d", *r.Label)
		}
		fmt.Fprintf(stdout, "%s: %d (%.4f), next %d (%.4f)%s\n", name, r.Digit, r.Probability, r.Next, r.NextProbability, label)
	}
	for _, sc := range p.scores {
		sc.Accuracy = float64(sc.Correct) / float64(sc.Images)
		if a.JSON {
			enc.Encode(sc)
		} else {
			fmt.Fprintf(stdout, "%s: accuracy=%g (%d of %d right by %s)\n", sc.File, sc.Accuracy, sc.Correct, sc.Images, sc.Labels)
		}
	}
	if bad > 0 {
		return fmt.Errorf("%d of the %d files could not be read (named above)", bad, len(a.Files))
	}
	if a.Labels != "" && len(p.scores) == 0 {
		return usagef("--labels %s: none of the files is an MNIST IDX image file to score", a.Labels)
	}
	return nil
}

// fail records that file could not be read.
func (p *predictor) fail(file string, err error) {
	p.out = append(p.out, prediction{File: file, err: err})
}

// add reads one file argument.
func (p *predictor) add(name string) {
	if name == "-" {
		data, err := io.ReadAll(io.LimitReader(p.stdin, maxFileBytes+1))
		switch {
		case err != nil:
			p.fail(name, fmt.Errorf("standard input: %v", err))
		case len(data) > maxFileBytes:
			p.fail(name, fmt.Errorf("standard input: more than the %d MiB allowed", maxFileBytes>>20))
		case isIDX(data):
			p.fail(name, errors.New("standard input: an MNIST IDX file; give IDX files by name"))
		default:
			p.addPicture(name, "standard input", data)
		}
		return
	}
	f, err := os.Open(name)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		p.fail(name, fmt.Errorf("%s: %v", name, err))
		return
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.IsDir() {
		p.fail(name, fmt.Errorf("%s: is a directory", name))
		return
	}
	head := make([]byte, 4)
	k, err := io.ReadFull(f, head)
	if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
		p.fail(name, fmt.Errorf("%s: %v", name, err))
		return
	}
	if isIDX(head[:k]) {
		p.addIDX(name)
		return
	}
	rest, err := io.ReadAll(io.LimitReader(f, maxFileBytes+1-int64(k)))
	if err != nil {
		p.fail(name, fmt.Errorf("%s: %v", name, err))
		return
	}
	data := append(head[:k], rest...)
	if len(data) > maxFileBytes {
		p.fail(name, fmt.Errorf("%s: larger than the %d MiB allowed", name, maxFileBytes>>20))
		return
	}
	p.addPicture(name, name, data)
}

// isIDX reports whether data starts as an MNIST IDX file (images or
// labels: package mnist says which it is) or a gzip stream, which package
// mnist reads as a compressed IDX file. No PNG, JPEG or GIF starts so.
func isIDX(data []byte) bool {
	if len(data) >= 2 && data[0] == 0x1f && data[1] == 0x8b {
		return true
	}
	if len(data) < 4 {
		return false
	}
	m := binary.BigEndian.Uint32(data)
	return m == 0x00000803 || m == 0x00000801
}

// addPicture decodes and prepares one picture; what is its name in errors.
func (p *predictor) addPicture(name, what string, data []byte) {
	img, err := digits.Decode(data)
	if errors.Is(err, digits.ErrNotImage) {
		err = errors.New("not a picture (PNG, JPEG or GIF) nor an MNIST IDX image file")
	}
	var x []float32
	if err == nil {
		if p.a.Raw {
			x, err = digits.Raw(img)
			if err != nil {
				err = fmt.Errorf("%v: --raw needs MNIST-style pictures", err)
			}
		} else {
			x, err = digits.Prepare(img)
		}
	}
	if err != nil {
		p.fail(name, fmt.Errorf("%s: %v", what, err))
		return
	}
	p.out = append(p.out, prediction{File: name, image: p.count()})
	p.images = append(p.images, x...)
}

func (p *predictor) count() int { return len(p.images) / layers.ImageLen }

// addIDX reads every image of an MNIST IDX image file (28×28, as it is:
// MNIST's own format needs no preparation), paired with --labels if given.
func (p *predictor) addIDX(name string) {
	x, n, err := mnist.ReadImages(name, 0)
	if err != nil {
		p.fail(name, err) // mnist's errors name the file
		return
	}
	var sc *idxScore
	if p.labels != nil {
		if len(p.labels) != n {
			p.fail(name, fmt.Errorf("%s: holds %d images but --labels %s holds %d labels", name, n, p.a.Labels, len(p.labels)))
			return
		}
		sc = &idxScore{File: name, Labels: p.a.Labels, Images: n}
		p.scores = append(p.scores, sc)
	}
	first := p.count()
	p.images = append(p.images, x...)
	for i := range n {
		r := prediction{File: name, Index: intp(i), image: first + i, idx: sc}
		if sc != nil {
			r.Label = intp(int(p.labels[i]))
		}
		p.out = append(p.out, r)
	}
}

func intp(i int) *int { return &i }
