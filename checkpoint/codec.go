package checkpoint

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"math/bits"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// maxHeader is the largest header length accepted, in bytes, as in the
// reference implementation.
const maxHeader = 100_000_000

// FormatError reports input that is not a valid safetensors file.
type FormatError struct {
	// Path is the file read, or empty for Decode.
	Path string
	// Msg says what is wrong.
	Msg string
}

// Error returns "checkpoint: <path>: <msg>", or "checkpoint: <msg>" when Path
// is empty.
func (e *FormatError) Error() string {
	if e.Path == "" {
		return "checkpoint: " + e.Msg
	}
	return "checkpoint: " + e.Path + ": " + e.Msg
}

// entry is a tensor as described by the header, before its data is attached.
type entry struct {
	name       string
	dtype      string
	shape      []int
	begin, end uint64
}

// Decode parses the content of a safetensors file. It returns a
// *FormatError for any input that is not a valid file; see the package
// documentation for what is checked. The returned File does not alias data.
func Decode(data []byte) (*File, error) {
	f, err := decode(data)
	if err != nil {
		return nil, &FormatError{Msg: err.Error()}
	}
	return f, nil
}

func decode(data []byte) (*File, error) {
	if len(data) < 8 {
		return nil, fmt.Errorf("%d bytes is too short for the 8-byte header length", len(data))
	}
	n := binary.LittleEndian.Uint64(data)
	if n > maxHeader {
		return nil, fmt.Errorf("header length %d exceeds the limit of %d bytes", n, maxHeader)
	}
	if n > uint64(len(data)-8) {
		return nil, fmt.Errorf("header length %d exceeds the %d bytes that follow it (truncated file?)", n, len(data)-8)
	}
	header, buf := data[8:8+n], data[8+n:]
	entries, meta, err := parseHeader(header)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		if e.end > uint64(len(buf)) {
			return nil, fmt.Errorf("tensor %q: data_offsets [%d, %d] outside the %d-byte data buffer", e.name, e.begin, e.end, len(buf))
		}
	}
	// Every byte of the buffer must belong to exactly one tensor: sorted by
	// offsets, each tensor must begin where the previous one ended.
	byOffset := slices.Clone(entries)
	slices.SortFunc(byOffset, func(a, b entry) int {
		return cmp.Or(cmp.Compare(a.begin, b.begin), cmp.Compare(a.end, b.end))
	})
	var pos uint64
	for i, e := range byOffset {
		switch {
		case e.begin < pos:
			return nil, fmt.Errorf("tensor %q: data_offsets [%d, %d] overlap tensor %q", e.name, e.begin, e.end, byOffset[i-1].name)
		case e.begin > pos:
			return nil, fmt.Errorf("data bytes [%d, %d) belong to no tensor", pos, e.begin)
		}
		pos = e.end
	}
	if pos != uint64(len(buf)) {
		return nil, fmt.Errorf("%d trailing bytes after the last tensor's data", uint64(len(buf))-pos)
	}

	own := bytes.Clone(buf)
	f := &File{Tensors: make([]Tensor, len(entries))}
	if len(meta) > 0 {
		f.Metadata = meta
	}
	for i, e := range entries {
		f.Tensors[i] = Tensor{
			Name:  e.name,
			DType: e.dtype,
			Shape: e.shape,
			Data:  own[e.begin:e.end:e.end],
		}
	}
	slices.SortFunc(f.Tensors, func(a, b Tensor) int { return strings.Compare(a.Name, b.Name) })
	return f, nil
}

// parseHeader parses and checks the JSON header. Each entry it returns has
// data_offsets consistent with its dtype and shape; the offsets are not yet
// checked against the buffer.
func parseHeader(h []byte) ([]entry, map[string]string, error) {
	if !utf8.Valid(h) {
		return nil, nil, errors.New("header is not valid UTF-8")
	}
	// As in the reference implementation, the header must begin with the
	// object itself, not with whitespace.
	if len(h) == 0 || h[0] != '{' {
		return nil, nil, errors.New("header is not a JSON object: it does not begin with '{'")
	}
	d := json.NewDecoder(bytes.NewReader(h))
	d.UseNumber()
	if err := expectDelim(d, '{', "header"); err != nil {
		return nil, nil, err
	}
	var (
		entries []entry
		meta    map[string]string
		seen    = make(map[string]bool)
	)
	for d.More() {
		name, err := key(d)
		if err != nil {
			return nil, nil, err
		}
		if seen[name] {
			return nil, nil, fmt.Errorf("header: duplicate key %q", name)
		}
		seen[name] = true
		if name == metadataKey {
			meta, err = parseMetadata(d)
		} else {
			var e entry
			e, err = parseEntry(d, name)
			entries = append(entries, e)
		}
		if err != nil {
			return nil, nil, err
		}
	}
	if err := expectDelim(d, '}', "header"); err != nil {
		return nil, nil, err
	}
	// Only whitespace, such as the padding, may follow the object.
	if tok, err := d.Token(); err != io.EOF {
		if err != nil {
			return nil, nil, jsonError("header", err)
		}
		return nil, nil, fmt.Errorf("header: unexpected %v after the JSON object", tok)
	}
	return entries, meta, nil
}

// expectDelim reads the next token and checks that it is delim. what names
// the value being read in the error.
func expectDelim(d *json.Decoder, delim json.Delim, what string) error {
	tok, err := d.Token()
	if err != nil {
		return jsonError(what, err)
	}
	if tok != delim {
		kind := map[json.Delim]string{'{': "an object", '[': "an array"}[delim]
		if kind == "" {
			return fmt.Errorf("%s: unexpected %v, want %v", what, tok, delim)
		}
		return fmt.Errorf("%s is not %s (found %s)", what, kind, describe(tok))
	}
	return nil
}

// jsonError describes an error from the JSON decoder met while reading what.
func jsonError(what string, err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%s: JSON ends early", what)
	}
	return fmt.Errorf("%s is not valid JSON: %v", what, err)
}

// key reads an object key.
func key(d *json.Decoder) (string, error) {
	tok, err := d.Token()
	if err != nil {
		return "", jsonError("header", err)
	}
	s, ok := tok.(string)
	if !ok {
		// The decoder only returns strings in key position.
		return "", fmt.Errorf("header: unexpected %s in key position", describe(tok))
	}
	return s, nil
}

// describe names a JSON token for error messages.
func describe(tok json.Token) string {
	switch v := tok.(type) {
	case json.Delim:
		return map[json.Delim]string{'{': "an object", '[': "an array", '}': "'}'", ']': "']'"}[v]
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", tok)
}

// parseMetadata reads the "__metadata__" object, which must map strings to
// strings.
func parseMetadata(d *json.Decoder) (map[string]string, error) {
	if err := expectDelim(d, '{', metadataKey); err != nil {
		return nil, err
	}
	meta := make(map[string]string)
	for d.More() {
		k, err := key(d)
		if err != nil {
			return nil, err
		}
		if _, dup := meta[k]; dup {
			return nil, fmt.Errorf("%s: duplicate key %q", metadataKey, k)
		}
		tok, err := d.Token()
		if err != nil {
			return nil, jsonError(metadataKey, err)
		}
		v, ok := tok.(string)
		if !ok {
			return nil, fmt.Errorf("%s: value of %q is %s, not a string", metadataKey, k, describe(tok))
		}
		meta[k] = v
	}
	if err := expectDelim(d, '}', metadataKey); err != nil {
		return nil, err
	}
	return meta, nil
}

// parseEntry reads the description of the tensor called name and checks
// that its data_offsets span dtype size * product(shape) bytes.
func parseEntry(d *json.Decoder, name string) (entry, error) {
	e := entry{name: name}
	what := fmt.Sprintf("tensor %q", name)
	if err := expectDelim(d, '{', what); err != nil {
		return e, err
	}
	var hasDType, hasShape, hasOffsets bool
	for d.More() {
		k, err := key(d)
		if err != nil {
			return e, err
		}
		switch k {
		case "dtype":
			if hasDType {
				return e, fmt.Errorf("%s: duplicate key %q", what, k)
			}
			hasDType = true
			tok, err := d.Token()
			if err != nil {
				return e, jsonError(what, err)
			}
			s, ok := tok.(string)
			if !ok {
				return e, fmt.Errorf("%s: dtype is %s, not a string", what, describe(tok))
			}
			if _, ok := dtypeSize(s); !ok {
				return e, fmt.Errorf("%s: unknown or unsupported dtype %q", what, s)
			}
			e.dtype = s
		case "shape":
			if hasShape {
				return e, fmt.Errorf("%s: duplicate key %q", what, k)
			}
			hasShape = true
			dims, err := uints(d, what+": shape")
			if err != nil {
				return e, err
			}
			e.shape = make([]int, len(dims))
			for i, v := range dims {
				if v > math.MaxInt {
					return e, fmt.Errorf("%s: shape: dimension %d is too large", what, v)
				}
				e.shape[i] = int(v)
			}
		case "data_offsets":
			if hasOffsets {
				return e, fmt.Errorf("%s: duplicate key %q", what, k)
			}
			hasOffsets = true
			off, err := uints(d, what+": data_offsets")
			if err != nil {
				return e, err
			}
			if len(off) != 2 {
				return e, fmt.Errorf("%s: data_offsets has %d elements, want 2", what, len(off))
			}
			e.begin, e.end = off[0], off[1]
		default:
			return e, fmt.Errorf("%s: unknown key %q", what, k)
		}
	}
	if err := expectDelim(d, '}', what); err != nil {
		return e, err
	}
	switch {
	case !hasDType:
		return e, fmt.Errorf("%s: missing dtype", what)
	case !hasShape:
		return e, fmt.Errorf("%s: missing shape", what)
	case !hasOffsets:
		return e, fmt.Errorf("%s: missing data_offsets", what)
	}
	if e.begin > e.end {
		return e, fmt.Errorf("%s: data_offsets [%d, %d] end before they begin", what, e.begin, e.end)
	}
	size, _ := dtypeSize(e.dtype)
	nb, ok := numBytes(e.shape, size)
	if !ok {
		return e, fmt.Errorf("%s: %s shape %v overflows", what, e.dtype, e.shape)
	}
	if e.end-e.begin != uint64(nb) {
		return e, fmt.Errorf("%s: data_offsets [%d, %d] span %d bytes, but %s shape %v needs %d",
			what, e.begin, e.end, e.end-e.begin, e.dtype, e.shape, nb)
	}
	return e, nil
}

// uints reads an array of non-negative integers that fit in a uint64.
func uints(d *json.Decoder, what string) ([]uint64, error) {
	if err := expectDelim(d, '[', what); err != nil {
		return nil, err
	}
	var v []uint64
	for d.More() {
		tok, err := d.Token()
		if err != nil {
			return nil, jsonError(what, err)
		}
		num, ok := tok.(json.Number)
		if !ok {
			return nil, fmt.Errorf("%s: element %d is %s, not an integer", what, len(v), describe(tok))
		}
		s := string(num)
		if strings.HasPrefix(s, "-") {
			return nil, fmt.Errorf("%s: element %d is negative (%s)", what, len(v), s)
		}
		u, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			if errors.Is(err, strconv.ErrRange) {
				return nil, fmt.Errorf("%s: element %d (%s) is too large", what, len(v), s)
			}
			return nil, fmt.Errorf("%s: element %d (%s) is not an integer", what, len(v), s)
		}
		v = append(v, u)
	}
	if err := expectDelim(d, ']', what); err != nil {
		return nil, err
	}
	return v, nil
}

// Encode returns f as a safetensors file. It returns an error if f cannot be
// written as one: a tensor with an unsupported dtype, a negative dimension,
// a data length that does not match its shape, a name used twice or
// reserved ("__metadata__"), or names or metadata that are not valid UTF-8.
// Encode does not modify f; see the package documentation for the layout.
func Encode(f *File) ([]byte, error) {
	b, err := encode(f)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: encode: %w", err)
	}
	return b, nil
}

func encode(f *File) ([]byte, error) {
	if f == nil {
		panic("checkpoint: encode: nil File")
	}
	order := make([]int, len(f.Tensors))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(i, j int) int { return strings.Compare(f.Tensors[i].Name, f.Tensors[j].Name) })

	var h bytes.Buffer
	h.WriteByte('{')
	if len(f.Metadata) > 0 {
		keys := slices.Sorted(maps.Keys(f.Metadata))
		h.WriteString(`"__metadata__":{`)
		for i, k := range keys {
			v := f.Metadata[k]
			if !utf8.ValidString(k) || !utf8.ValidString(v) {
				return nil, fmt.Errorf("metadata %q: %q is not valid UTF-8", k, v)
			}
			if i > 0 {
				h.WriteByte(',')
			}
			writeString(&h, k)
			h.WriteByte(':')
			writeString(&h, v)
		}
		h.WriteByte('}')
	}
	var pos uint64
	for i, ti := range order {
		t := &f.Tensors[ti]
		switch {
		case t.Name == metadataKey:
			return nil, fmt.Errorf("tensor name %q is reserved", t.Name)
		case !utf8.ValidString(t.Name):
			return nil, fmt.Errorf("tensor name %q is not valid UTF-8", t.Name)
		case i > 0 && f.Tensors[order[i-1]].Name == t.Name:
			return nil, fmt.Errorf("duplicate tensor name %q", t.Name)
		}
		size, ok := dtypeSize(t.DType)
		if !ok {
			return nil, fmt.Errorf("tensor %q: unsupported dtype %q", t.Name, t.DType)
		}
		nb, ok := numBytes(t.Shape, size)
		if !ok {
			return nil, fmt.Errorf("tensor %q: shape %v has a negative dimension or is too large", t.Name, t.Shape)
		}
		if nb != len(t.Data) {
			return nil, fmt.Errorf("tensor %q: %d data bytes, but %s shape %v needs %d", t.Name, len(t.Data), t.DType, t.Shape, nb)
		}
		end, carry := bits.Add64(pos, uint64(nb), 0)
		if carry != 0 || end > math.MaxInt {
			return nil, errors.New("data too large")
		}
		if len(f.Metadata) > 0 || i > 0 {
			h.WriteByte(',')
		}
		writeString(&h, t.Name)
		h.WriteString(`:{"dtype":`)
		writeString(&h, t.DType)
		h.WriteString(`,"shape":[`)
		for k, dim := range t.Shape {
			if k > 0 {
				h.WriteByte(',')
			}
			h.WriteString(strconv.Itoa(dim))
		}
		fmt.Fprintf(&h, `],"data_offsets":[%d,%d]}`, pos, end)
		pos = end
	}
	h.WriteByte('}')
	for h.Len()%8 != 0 {
		h.WriteByte(' ')
	}
	if h.Len() > maxHeader {
		return nil, fmt.Errorf("header of %d bytes exceeds the limit of %d", h.Len(), maxHeader)
	}
	if uint64(h.Len()) > math.MaxInt-8-pos {
		return nil, errors.New("data too large")
	}

	out := make([]byte, 8, 8+h.Len()+int(pos))
	binary.LittleEndian.PutUint64(out, uint64(h.Len()))
	out = append(out, h.Bytes()...)
	for _, ti := range order {
		out = append(out, f.Tensors[ti].Data...)
	}
	return out, nil
}

// writeString writes s, which is valid UTF-8, as a JSON string, escaping
// only what JSON requires.
func writeString(b *bytes.Buffer, s string) {
	const hex = "0123456789abcdef"
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\r':
			b.WriteString(`\r`)
		case c == '\t':
			b.WriteString(`\t`)
		case c == '\b':
			b.WriteString(`\b`)
		case c == '\f':
			b.WriteString(`\f`)
		case c < 0x20:
			b.WriteString(`\u00`)
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&0xf])
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
}
