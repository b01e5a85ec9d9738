package checkpoint

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// FuzzDecode checks that Decode never panics, that its errors carry the
// package prefix, and that whatever it accepts survives Encode and Decode
// unchanged, with Encode deterministic. Seeds come from testdata/fuzz and
// from the tests' valid and corrupt inputs.
func FuzzDecode(f *testing.F) {
	f.Add(pyBytes)
	f.Add(must(Encode(sample())))
	for _, c := range corrupt {
		f.Add(c.data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		in := bytes.Clone(data)
		x, err := Decode(data)
		if !bytes.Equal(in, data) {
			t.Fatal("Decode modified its input")
		}
		if err != nil {
			if !strings.HasPrefix(err.Error(), "checkpoint: ") {
				t.Fatalf("error without prefix: %v", err)
			}
			return
		}
		enc, err := Encode(x)
		if err != nil {
			t.Fatalf("Encode of a decoded file: %v", err)
		}
		y, err := Decode(enc)
		if err != nil {
			t.Fatalf("Decode of re-encoded file: %v\n%q", err, enc)
		}
		if !equalFiles(x, y) {
			t.Fatalf("round trip changed the file:\n got %+v\nwant %+v", y, x)
		}
		if enc2, err := Encode(y); err != nil || !bytes.Equal(enc, enc2) {
			t.Fatalf("Encode is not deterministic (err %v)", err)
		}
	})
}

// TestSeedCorpus checks that the committed seeds named valid_* decode and
// those named bad_* do not, so that the corpus stays what it claims to be.
func TestSeedCorpus(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join("testdata", "fuzz", "FuzzDecode", "*"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no seed corpus: %v", err)
	}
	for _, path := range paths {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		if len(lines) != 2 || lines[0] != "go test fuzz v1" ||
			!strings.HasPrefix(lines[1], "[]byte(") || !strings.HasSuffix(lines[1], ")") {
			t.Errorf("%s: not a one-value corpus file", path)
			continue
		}
		s, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[1], "[]byte("), ")"))
		if err != nil {
			t.Errorf("%s: %v", path, err)
			continue
		}
		_, err = Decode([]byte(s))
		switch name := filepath.Base(path); {
		case strings.HasPrefix(name, "valid_") && err != nil:
			t.Errorf("%s: %v", name, err)
		case strings.HasPrefix(name, "bad_") && err == nil:
			t.Errorf("%s: accepted", name)
		}
	}
}
