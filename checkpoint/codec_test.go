package checkpoint

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// raw returns a file made of the length of header, header and buf.
func raw(header string, buf []byte) []byte {
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	b = append(b, header...)
	return append(b, buf...)
}

// equalFiles reports whether a and b have the same tensors, in the same
// order, and the same metadata.
func equalFiles(a, b *File) bool {
	return slices.EqualFunc(a.Tensors, b.Tensors, func(x, y Tensor) bool {
		return x.Name == y.Name && x.DType == y.DType && slices.Equal(x.Shape, y.Shape) && bytes.Equal(x.Data, y.Data)
	}) && maps.Equal(a.Metadata, b.Metadata) && (a.Metadata == nil) == (b.Metadata == nil)
}

// sample returns a File with every dtype, scalars, empty tensors and
// extreme values.
func sample() *File {
	f := &File{Metadata: map[string]string{
		"format": "pt",
		"quote":  `"\` + "\n\t\x01<&>",
		"µ":      "ünïcödé ✓",
		"":       "",
	}}
	nan := math.Float32frombits(0x7fc00001)
	f.AddF32("conv1.weight", []int{2, 1, 2, 2}, []float32{1, -1, 0.5, nan, float32(math.Inf(-1)), math.SmallestNonzeroFloat32, math.MaxFloat32, float32(math.Copysign(0, -1))})
	f.AddF32("scalar", []int{}, []float32{3.25})
	f.AddF32("empty", []int{0}, nil)
	f.AddF32("empty2", []int{3, 0, 1 << 40}, nil)
	f.AddI32("i32", []int{3}, []int32{math.MinInt32, -1, math.MaxInt32})
	f.AddU32("u32", []int{2}, []uint32{0, math.MaxUint32})
	f.AddI64("i64", []int{2, 1}, []int64{math.MinInt64, math.MaxInt64})
	f.AddI64("i64.scalar", nil, []int64{42})
	f.AddU64("u64", []int{1, 1, 1}, []uint64{math.MaxUint64})
	f.AddU64("u64.empty", []int{0, 0}, []uint64{})
	f.AddI32("name \"with\" \\ odd\x7f chars\n", []int{1}, []int32{7})
	return f
}

func TestRoundTrip(t *testing.T) {
	for _, c := range []struct {
		name string
		f    *File
	}{
		{"empty", &File{}},
		{"metadata only", &File{Metadata: map[string]string{"a": "b"}}},
		{"scalar", func() *File { f := &File{}; f.AddU64("s", []int{}, []uint64{1}); return f }()},
		{"sample", sample()},
	} {
		t.Run(c.name, func(t *testing.T) {
			b, err := Encode(c.f)
			if err != nil {
				t.Fatal(err)
			}
			if n := binary.LittleEndian.Uint64(b); n%8 != 0 {
				t.Errorf("header length %d is not a multiple of 8", n)
			}
			got, err := Decode(b)
			if err != nil {
				t.Fatal(err)
			}
			if !equalFiles(got, c.f) {
				t.Errorf("round trip changed the file:\n got %+v\nwant %+v", got, c.f)
			}
			b2, err := Encode(got)
			if err != nil || !bytes.Equal(b, b2) {
				t.Errorf("re-encoding differs (err %v)", err)
			}

			path := filepath.Join(t.TempDir(), "x.safetensors")
			if err := WriteFile(path, c.f); err != nil {
				t.Fatal(err)
			}
			got, err = ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !equalFiles(got, c.f) {
				t.Errorf("WriteFile/ReadFile changed the file:\n got %+v\nwant %+v", got, c.f)
			}
		})
	}

	// Values survive bit for bit through the typed accessors.
	f, err := Decode(must(Encode(sample())))
	if err != nil {
		t.Fatal(err)
	}
	w, _, _ := f.F32("conv1.weight")
	if bits := math.Float32bits(w[3]); bits != 0x7fc00001 {
		t.Errorf("NaN payload %#x, want 0x7fc00001", bits)
	}
	if bits := math.Float32bits(w[7]); bits != 0x80000000 {
		t.Errorf("-0 bits %#x", bits)
	}
	if v, _, _ := f.I64("i64"); !slices.Equal(v, []int64{math.MinInt64, math.MaxInt64}) {
		t.Errorf("I64 = %v", v)
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

// pyBytes is what the reference Python library (safetensors 0.4, through
// its Rust core) writes for
//
//	save_file({"a": torch.tensor([1.0, 2.0])}, path, metadata={"format": "pt"})
//
// The header is 85 bytes of JSON, with "__metadata__" first, padded with three
// spaces to 88 (0x58); the data is two little-endian float32.
var pyBytes = []byte("\x58\x00\x00\x00\x00\x00\x00\x00" +
	`{"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}   ` +
	"\x00\x00\x80\x3f\x00\x00\x00\x40")

func TestPythonCompatibility(t *testing.T) {
	f, err := Decode(pyBytes)
	if err != nil {
		t.Fatal(err)
	}
	v, shape, err := f.F32("a")
	if err != nil || !slices.Equal(v, []float32{1, 2}) || !slices.Equal(shape, []int{2}) {
		t.Errorf("a = %v, %v, %v; want [1 2], [2]", v, shape, err)
	}
	if !maps.Equal(f.Metadata, map[string]string{"format": "pt"}) || len(f.Tensors) != 1 {
		t.Errorf("decoded %+v", f)
	}

	// Encode writes the same bytes.
	var g File
	g.AddF32("a", []int{2}, []float32{1, 2})
	g.Metadata = map[string]string{"format": "pt"}
	if b := must(Encode(&g)); !bytes.Equal(b, pyBytes) {
		t.Errorf("Encode =\n%q\nwant\n%q", b, pyBytes)
	}
}

// tensorHeader returns the header entry of one tensor.
func tensorHeader(name, dtype, shape string, begin, end int) string {
	return fmt.Sprintf(`%q:{"dtype":%q,"shape":%s,"data_offsets":[%d,%d]}`, name, dtype, shape, begin, end)
}

// corrupt lists inputs that Decode must refuse, each with a fragment of the
// expected error message.
var corrupt = []struct {
	name string
	data []byte
	want string
}{
	{"empty", nil, "too short"},
	{"7 bytes", []byte{0, 0, 0, 0, 0, 0, 0}, "too short"},
	{"header longer than file", append(binary.LittleEndian.AppendUint64(nil, 100), "{}"...), "exceeds the 2 bytes"},
	{"absurd header length", append(binary.LittleEndian.AppendUint64(nil, 100_000_001), "{}"...), "exceeds the limit"},
	{"max uint64 header length", append(binary.LittleEndian.AppendUint64(nil, math.MaxUint64), "{}"...), "exceeds the limit"},
	{"empty header", raw("", nil), "not a JSON object"},
	{"only an opening brace", raw("{", nil), "header: JSON ends early"},
	{"leading space", raw(" {}", nil), "does not begin with '{'"},
	{"header not JSON", raw("{not json}", nil), "not valid JSON"},
	{"unterminated", raw(`{"a":{"dtype":"F32"`, nil), "JSON ends early"},
	{"invalid UTF-8", raw("{\"\xff\":{}}", nil), "UTF-8"},
	{"header array", raw(`[]`, nil), "not a JSON object"},
	{"header string", raw(`"x"`, nil), "not a JSON object"},
	{"header null", raw(`null`, nil), "not a JSON object"},
	{"header number", raw(`8`, nil), "not a JSON object"},
	{"two objects", raw(`{}{}`, nil), "after the JSON object"},
	{"garbage after object", raw(`{} x`, nil), "not valid JSON"},
	{"padding with NUL", raw("{}\x00\x00", nil), "not valid JSON"},
	{"tensor not object", raw(`{"a":1}`, nil), "not an object"},
	{"unknown dtype", raw(`{`+tensorHeader("a", "F16", "[2]", 0, 4)+`}`, make([]byte, 4)), `unknown or unsupported dtype "F16"`},
	{"lower-case dtype", raw(`{`+tensorHeader("a", "f32", "[1]", 0, 4)+`}`, make([]byte, 4)), `dtype "f32"`},
	{"dtype not string", raw(`{"a":{"dtype":4,"shape":[],"data_offsets":[0,4]}}`, make([]byte, 4)), "not a string"},
	{"negative dimension", raw(`{`+tensorHeader("a", "F32", "[-1]", 0, 4)+`}`, make([]byte, 4)), "negative"},
	{"negative zero dimension", raw(`{`+tensorHeader("a", "F32", "[-0]", 0, 0)+`}`, nil), "negative"},
	{"fractional dimension", raw(`{`+tensorHeader("a", "F32", "[1.5]", 0, 4)+`}`, make([]byte, 4)), "not an integer"},
	{"exponent dimension", raw(`{`+tensorHeader("a", "F32", "[1e0]", 0, 4)+`}`, make([]byte, 4)), "not an integer"},
	{"string dimension", raw(`{`+tensorHeader("a", "F32", `["1"]`, 0, 4)+`}`, make([]byte, 4)), "not an integer"},
	{"shape not array", raw(`{`+tensorHeader("a", "F32", `1`, 0, 4)+`}`, make([]byte, 4)), "not an array"},
	{"dimension beyond uint64", raw(`{`+tensorHeader("a", "F32", "[18446744073709551616]", 0, 4)+`}`, make([]byte, 4)), "too large"},
	{"dimension beyond int", raw(`{`+tensorHeader("a", "F32", "[18446744073709551615]", 0, 4)+`}`, make([]byte, 4)), "too large"},
	{"shape overflows", raw(`{`+tensorHeader("a", "F32", "[4294967296,4294967296]", 0, 4)+`}`, make([]byte, 4)), "overflows"},
	{"bytes overflow", raw(`{`+tensorHeader("a", "U64", "[4611686018427387904]", 0, 4)+`}`, make([]byte, 4)), "overflows"},
	{"size mismatch", raw(`{`+tensorHeader("a", "F32", "[2]", 0, 4)+`}`, make([]byte, 4)), "span 4 bytes, but F32 shape [2] needs 8"},
	{"I64 sized as 4 bytes", raw(`{`+tensorHeader("a", "I64", "[1]", 0, 4)+`}`, make([]byte, 4)), "needs 8"},
	{"scalar with no data", raw(`{`+tensorHeader("a", "F32", "[]", 0, 0)+`}`, nil), "needs 4"},
	{"offsets reversed", raw(`{`+tensorHeader("a", "F32", "[1]", 4, 0)+`}`, make([]byte, 4)), "end before they begin"},
	{"one offset", raw(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[4]}}`, make([]byte, 4)), "has 1 elements, want 2"},
	{"three offsets", raw(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4,4]}}`, make([]byte, 4)), "has 3 elements, want 2"},
	{"negative offset", raw(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}}`, make([]byte, 4)), "negative"},
	{"huge offsets", raw(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[18446744073709551611,18446744073709551615]}}`, make([]byte, 4)), "outside"},
	{"offsets outside buffer", raw(`{`+tensorHeader("a", "F32", "[1]", 4, 8)+`}`, make([]byte, 4)), "outside the 4-byte data buffer"},
	{"empty tensor outside buffer", raw(`{`+tensorHeader("a", "F32", "[0]", 9, 9)+`}`, nil), "outside"},
	{"overlap", raw(`{`+tensorHeader("a", "F32", "[2]", 0, 8)+`,`+tensorHeader("b", "F32", "[1]", 4, 8)+`}`, make([]byte, 8)), "overlap"},
	{"same range", raw(`{`+tensorHeader("a", "F32", "[1]", 0, 4)+`,`+tensorHeader("b", "I32", "[1]", 0, 4)+`}`, make([]byte, 4)), "overlap"},
	{"empty tensor inside another", raw(`{`+tensorHeader("a", "F32", "[2]", 0, 8)+`,`+tensorHeader("b", "F32", "[0]", 4, 4)+`}`, make([]byte, 8)), "overlap"},
	{"hole at start", raw(`{`+tensorHeader("a", "F32", "[1]", 4, 8)+`}`, make([]byte, 8)), "[0, 4) belong to no tensor"},
	{"hole between", raw(`{`+tensorHeader("a", "F32", "[1]", 0, 4)+`,`+tensorHeader("b", "F32", "[1]", 8, 12)+`}`, make([]byte, 12)), "[4, 8) belong to no tensor"},
	{"trailing bytes", raw(`{`+tensorHeader("a", "F32", "[1]", 0, 4)+`}`, make([]byte, 5)), "1 trailing bytes"},
	{"data but no tensors", raw(`{}`, []byte{1}), "1 trailing bytes"},
	{"metadata not object", raw(`{"__metadata__":[]}`, nil), "__metadata__ is not an object"},
	{"metadata null", raw(`{"__metadata__":null}`, nil), "__metadata__ is not an object"},
	{"metadata number value", raw(`{"__metadata__":{"epoch":3}}`, nil), `value of "epoch" is a number`},
	{"metadata nested", raw(`{"__metadata__":{"x":{}}}`, nil), "not a string"},
	{"metadata duplicate key", raw(`{"__metadata__":{"x":"1","x":"2"}}`, nil), `duplicate key "x"`},
	{"metadata twice", raw(`{"__metadata__":{},"__metadata__":{}}`, nil), `duplicate key "__metadata__"`},
	{"duplicate name", raw(`{`+tensorHeader("a", "F32", "[1]", 0, 4)+`,`+tensorHeader("a", "F32", "[1]", 4, 8)+`}`, make([]byte, 8)), `duplicate key "a"`},
	{"duplicate name by escape", raw(`{`+tensorHeader("a", "F32", "[1]", 0, 4)+`,"\u0061":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, make([]byte, 8)), `duplicate key "a"`},
	{"duplicate field", raw(`{"a":{"dtype":"F32","dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, make([]byte, 4)), `duplicate key "dtype"`},
	{"unknown field", raw(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"stride":[1]}}`, make([]byte, 4)), `unknown key "stride"`},
	{"missing dtype", raw(`{"a":{"shape":[1],"data_offsets":[0,4]}}`, make([]byte, 4)), "missing dtype"},
	{"missing shape", raw(`{"a":{"dtype":"F32","data_offsets":[0,4]}}`, make([]byte, 4)), "missing shape"},
	{"missing offsets", raw(`{"a":{"dtype":"F32","shape":[1]}}`, make([]byte, 4)), "missing data_offsets"},
}

func TestDecodeRefusesCorrupt(t *testing.T) {
	dir := t.TempDir()
	for i, c := range corrupt {
		t.Run(c.name, func(t *testing.T) {
			_, err := Decode(c.data)
			if err == nil {
				t.Fatalf("Decode accepted %q", c.data)
			}
			if !strings.HasPrefix(err.Error(), "checkpoint: ") || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Decode: %v\nwant an error containing %q", err, c.want)
			}

			path := filepath.Join(dir, fmt.Sprintf("corrupt%02d.safetensors", i))
			if err := os.WriteFile(path, c.data, 0o666); err != nil {
				t.Fatal(err)
			}
			_, err = ReadFile(path)
			want := "checkpoint: " + path + ": "
			if err == nil || !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("ReadFile: %v\nwant an error starting %q containing %q", err, want, c.want)
			}
			var fe *FormatError
			if !errors.As(err, &fe) || fe.Path != path {
				t.Errorf("ReadFile error %#v is not a *FormatError for %s", err, path)
			}
		})
	}
}

func TestDecodeAccepts(t *testing.T) {
	for _, c := range []struct {
		name string
		data []byte
		want *File
	}{
		{"empty header", raw(`{}`, nil), &File{Tensors: []Tensor{}}},
		{"padded", raw("{}      ", nil), &File{Tensors: []Tensor{}}},
		{"whitespace", raw("{ \"__metadata__\" : { } }\r\n\t ", nil), &File{Tensors: []Tensor{}}},
		{"data order differs from name order", raw(`{`+tensorHeader("a", "I32", "[1]", 4, 8)+`,`+tensorHeader("b", "I32", "[1]", 0, 4)+`}`, []byte{2, 0, 0, 0, 1, 0, 0, 0}),
			&File{Tensors: []Tensor{
				{Name: "a", DType: "I32", Shape: []int{1}, Data: []byte{1, 0, 0, 0}},
				{Name: "b", DType: "I32", Shape: []int{1}, Data: []byte{2, 0, 0, 0}},
			}}},
		{"empty tensors share an offset", raw(`{`+tensorHeader("z", "F32", "[0]", 4, 4)+`,`+tensorHeader("a", "I32", "[]", 0, 4)+`,`+tensorHeader("y", "U64", "[2,0]", 4, 4)+`}`, []byte{9, 0, 0, 0}),
			&File{Tensors: []Tensor{
				{Name: "a", DType: "I32", Shape: []int{}, Data: []byte{9, 0, 0, 0}},
				{Name: "y", DType: "U64", Shape: []int{2, 0}},
				{Name: "z", DType: "F32", Shape: []int{0}},
			}}},
		{"huge dimension times zero", raw(`{`+tensorHeader("a", "F32", "[9223372036854775807,0]", 0, 0)+`}`, nil),
			&File{Tensors: []Tensor{{Name: "a", DType: "F32", Shape: []int{math.MaxInt, 0}}}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := Decode(c.data)
			if err != nil {
				t.Fatal(err)
			}
			if !equalFiles(got, c.want) {
				t.Errorf("got %+v\nwant %+v", got, c.want)
			}
		})
	}
}

func TestDecodeDoesNotAlias(t *testing.T) {
	data := slices.Clone(pyBytes)
	f, err := Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	for i := range data {
		data[i] = 0
	}
	if v, _, _ := f.F32("a"); !slices.Equal(v, []float32{1, 2}) {
		t.Errorf("File changed with the input: %v", v)
	}
}

func TestTruncatedRefused(t *testing.T) {
	f := &File{Metadata: map[string]string{"k": "v"}}
	f.AddF32("w", []int{2}, []float32{1, 2})
	f.AddI64("n", []int{}, []int64{3})
	f.AddU32("e", []int{0}, nil)
	data := must(Encode(f))
	dir := t.TempDir()
	for n := range len(data) {
		if _, err := Decode(data[:n]); err == nil {
			t.Errorf("Decode accepted the first %d of %d bytes", n, len(data))
		}
		path := filepath.Join(dir, fmt.Sprintf("trunc%03d", n))
		if err := os.WriteFile(path, data[:n], 0o666); err != nil {
			t.Fatal(err)
		}
		if _, err := ReadFile(path); err == nil || !strings.Contains(err.Error(), path) {
			t.Errorf("ReadFile of the first %d of %d bytes: %v", n, len(data), err)
		}
	}
	if _, err := Decode(data); err != nil {
		t.Errorf("Decode of the whole file: %v", err)
	}
}

func TestEncodeErrors(t *testing.T) {
	for _, c := range []struct {
		name string
		f    *File
		want string
	}{
		{"unknown dtype", &File{Tensors: []Tensor{{Name: "a", DType: "F16", Shape: []int{1}, Data: make([]byte, 2)}}}, `unsupported dtype "F16"`},
		{"short data", &File{Tensors: []Tensor{{Name: "a", DType: "F32", Shape: []int{2}, Data: make([]byte, 4)}}}, "4 data bytes"},
		{"negative dim", &File{Tensors: []Tensor{{Name: "a", DType: "F32", Shape: []int{-1}}}}, "negative"},
		{"duplicate", &File{Tensors: []Tensor{{Name: "a", DType: "F32", Shape: []int{0}}, {Name: "b", DType: "F32", Shape: []int{0}}, {Name: "a", DType: "F32", Shape: []int{0}}}}, `duplicate tensor name "a"`},
		{"reserved", &File{Tensors: []Tensor{{Name: "__metadata__", DType: "F32", Shape: []int{0}}}}, "reserved"},
		{"bad name", &File{Tensors: []Tensor{{Name: "\xc3", DType: "F32", Shape: []int{0}}}}, "UTF-8"},
		{"bad metadata", &File{Metadata: map[string]string{"k": "\xff"}}, "UTF-8"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Encode(c.f)
			if err == nil || !strings.HasPrefix(err.Error(), "checkpoint: encode: ") || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Encode: %v, want an error containing %q", err, c.want)
			}
			path := filepath.Join(t.TempDir(), "x")
			if err := WriteFile(path, c.f); err == nil || !strings.Contains(err.Error(), path) {
				t.Errorf("WriteFile: %v, want an error naming %s", err, path)
			}
			if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("WriteFile created %s after failing", path)
			}
		})
	}
}

func TestEncodeUnsortedTensors(t *testing.T) {
	f := &File{Tensors: []Tensor{
		{Name: "b", DType: "I32", Shape: []int{1}, Data: []byte{2, 0, 0, 0}},
		{Name: "a", DType: "I32", Shape: []int{1}, Data: []byte{1, 0, 0, 0}},
	}}
	orig := slices.Clone(f.Tensors)
	got, err := Decode(must(Encode(f)))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.EqualFunc(f.Tensors, orig, func(x, y Tensor) bool { return x.Name == y.Name }) {
		t.Error("Encode reordered its input")
	}
	if v, _, _ := got.I32("a"); !slices.Equal(v, []int32{1}) {
		t.Errorf("a = %v", v)
	}
	if v, _, _ := got.I32("b"); !slices.Equal(v, []int32{2}) {
		t.Errorf("b = %v", v)
	}
}
