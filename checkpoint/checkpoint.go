package checkpoint

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
	"unicode/utf8"
)

// metadataKey is the header key that holds the metadata map rather than a
// tensor.
const metadataKey = "__metadata__"

// Tensor is one named array of a checkpoint.
type Tensor struct {
	// Name identifies the tensor within its File.
	Name string
	// DType is the element type: "F32", "I32", "U32", "I64" or "U64".
	DType string
	// Shape holds the dimensions, outermost first. An empty Shape is a
	// scalar.
	Shape []int
	// Data holds the elements, little-endian, in row-major order.
	Data []byte
}

// File is the content of a safetensors file.
type File struct {
	// Tensors is sorted by name; names are unique.
	Tensors []Tensor
	// Metadata holds free-form string annotations. It is nil when there
	// are none.
	Metadata map[string]string
}

// dtypeSize returns the size in bytes of one element of dtype, and whether
// dtype is supported.
func dtypeSize(dtype string) (int, bool) {
	switch dtype {
	case "F32", "I32", "U32":
		return 4, true
	case "I64", "U64":
		return 8, true
	}
	return 0, false
}

// numBytes returns size * the product of shape, and false if a dimension is
// negative or the result does not fit in an int. A shape with a zero
// dimension holds no bytes whatever its other dimensions.
func numBytes(shape []int, size int) (int, bool) {
	for _, d := range shape {
		if d < 0 {
			return 0, false
		}
		if d == 0 {
			return 0, true
		}
	}
	n := uint64(size)
	for _, d := range shape {
		hi, lo := bits.Mul64(n, uint64(d))
		if hi != 0 || lo > math.MaxInt {
			return 0, false
		}
		n = lo
	}
	return int(n), true
}

// add inserts a tensor of n elements, keeping f.Tensors sorted by name; fill
// appends the encoded elements to its argument. add panics on the programmer
// errors listed in the package documentation. op names the calling method in
// panic messages.
func (f *File) add(op, name, dtype string, shape []int, n int, fill func([]byte) []byte) {
	if name == metadataKey {
		panic(fmt.Sprintf("checkpoint: %s: reserved name %q", op, name))
	}
	if !utf8.ValidString(name) {
		panic(fmt.Sprintf("checkpoint: %s: name %q is not valid UTF-8", op, name))
	}
	size, _ := dtypeSize(dtype)
	nb, ok := numBytes(shape, size)
	if !ok {
		panic(fmt.Sprintf("checkpoint: %s: %q: shape %v has a negative dimension or is too large", op, name, shape))
	}
	if nb/size != n {
		panic(fmt.Sprintf("checkpoint: %s: %q: %d values for shape %v", op, name, n, shape))
	}
	if _, dup := f.Get(name); dup {
		panic(fmt.Sprintf("checkpoint: %s: duplicate name %q", op, name))
	}
	i := 0
	for i < len(f.Tensors) && f.Tensors[i].Name < name {
		i++
	}
	t := Tensor{
		Name:  name,
		DType: dtype,
		Shape: append([]int{}, shape...),
		Data:  fill(make([]byte, 0, nb)),
	}
	f.Tensors = append(f.Tensors, Tensor{})
	copy(f.Tensors[i+1:], f.Tensors[i:])
	f.Tensors[i] = t
}

// AddF32 adds a tensor of dtype F32 holding a copy of v, which is laid out in
// row-major order. It panics if len(v) is not the product of shape, if a
// dimension is negative, or if f already has a tensor called name.
func (f *File) AddF32(name string, shape []int, v []float32) {
	f.add("AddF32", name, "F32", shape, len(v), func(buf []byte) []byte {
		for _, x := range v {
			buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(x))
		}
		return buf
	})
}

// AddI32 adds a tensor of dtype I32 holding a copy of v; see AddF32.
func (f *File) AddI32(name string, shape []int, v []int32) {
	f.add("AddI32", name, "I32", shape, len(v), func(buf []byte) []byte {
		for _, x := range v {
			buf = binary.LittleEndian.AppendUint32(buf, uint32(x))
		}
		return buf
	})
}

// AddU32 adds a tensor of dtype U32 holding a copy of v; see AddF32.
func (f *File) AddU32(name string, shape []int, v []uint32) {
	f.add("AddU32", name, "U32", shape, len(v), func(buf []byte) []byte {
		for _, x := range v {
			buf = binary.LittleEndian.AppendUint32(buf, x)
		}
		return buf
	})
}

// AddI64 adds a tensor of dtype I64 holding a copy of v; see AddF32.
func (f *File) AddI64(name string, shape []int, v []int64) {
	f.add("AddI64", name, "I64", shape, len(v), func(buf []byte) []byte {
		for _, x := range v {
			buf = binary.LittleEndian.AppendUint64(buf, uint64(x))
		}
		return buf
	})
}

// AddU64 adds a tensor of dtype U64 holding a copy of v; see AddF32.
func (f *File) AddU64(name string, shape []int, v []uint64) {
	f.add("AddU64", name, "U64", shape, len(v), func(buf []byte) []byte {
		for _, x := range v {
			buf = binary.LittleEndian.AppendUint64(buf, x)
		}
		return buf
	})
}

// Get returns a pointer to the tensor called name, which aliases
// f.Tensors, and whether there is one.
func (f *File) Get(name string) (*Tensor, bool) {
	for i := range f.Tensors {
		if f.Tensors[i].Name == name {
			return &f.Tensors[i], true
		}
	}
	return nil, false
}

// lookup returns the data and a copy of the shape of the tensor called name
// after checking that it has the given dtype and a data length consistent
// with its shape.
func (f *File) lookup(name, dtype string) ([]byte, []int, error) {
	t, ok := f.Get(name)
	if !ok {
		return nil, nil, fmt.Errorf("checkpoint: no tensor %q", name)
	}
	if t.DType != dtype {
		return nil, nil, fmt.Errorf("checkpoint: tensor %q has dtype %q, want %s", name, t.DType, dtype)
	}
	size, _ := dtypeSize(dtype)
	nb, ok := numBytes(t.Shape, size)
	if !ok || nb != len(t.Data) {
		return nil, nil, fmt.Errorf("checkpoint: tensor %q: %d data bytes do not match shape %v", name, len(t.Data), t.Shape)
	}
	return t.Data, append([]int{}, t.Shape...), nil
}

// F32 returns a copy of the values and shape of the tensor called name. It
// returns an error if there is no such tensor or its dtype is not F32.
func (f *File) F32(name string) ([]float32, []int, error) {
	b, shape, err := f.lookup(name, "F32")
	if err != nil {
		return nil, nil, err
	}
	v := make([]float32, len(b)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return v, shape, nil
}

// I32 returns a copy of the values and shape of the tensor called name. It
// returns an error if there is no such tensor or its dtype is not I32.
func (f *File) I32(name string) ([]int32, []int, error) {
	b, shape, err := f.lookup(name, "I32")
	if err != nil {
		return nil, nil, err
	}
	v := make([]int32, len(b)/4)
	for i := range v {
		v[i] = int32(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return v, shape, nil
}

// U32 returns a copy of the values and shape of the tensor called name. It
// returns an error if there is no such tensor or its dtype is not U32.
func (f *File) U32(name string) ([]uint32, []int, error) {
	b, shape, err := f.lookup(name, "U32")
	if err != nil {
		return nil, nil, err
	}
	v := make([]uint32, len(b)/4)
	for i := range v {
		v[i] = binary.LittleEndian.Uint32(b[4*i:])
	}
	return v, shape, nil
}

// I64 returns a copy of the values and shape of the tensor called name. It
// returns an error if there is no such tensor or its dtype is not I64.
func (f *File) I64(name string) ([]int64, []int, error) {
	b, shape, err := f.lookup(name, "I64")
	if err != nil {
		return nil, nil, err
	}
	v := make([]int64, len(b)/8)
	for i := range v {
		v[i] = int64(binary.LittleEndian.Uint64(b[8*i:]))
	}
	return v, shape, nil
}

// U64 returns a copy of the values and shape of the tensor called name. It
// returns an error if there is no such tensor or its dtype is not U64.
func (f *File) U64(name string) ([]uint64, []int, error) {
	b, shape, err := f.lookup(name, "U64")
	if err != nil {
		return nil, nil, err
	}
	v := make([]uint64, len(b)/8)
	for i := range v {
		v[i] = binary.LittleEndian.Uint64(b[8*i:])
	}
	return v, shape, nil
}
