// Package checkpoint reads and writes model checkpoints in the safetensors
// format used by Hugging Face.
//
// # Format
//
// A safetensors file is
//
//	N      8 bytes, unsigned little-endian: the length of the header
//	header N bytes of UTF-8 JSON, possibly padded with trailing spaces
//	buffer the raw tensor data, to the end of the file
//
// The header is a JSON object. Every key but "__metadata__" names a tensor:
//
//	{"w": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]}, ...}
//
// data_offsets are [begin, end) byte offsets relative to the start of the
// buffer. The optional "__metadata__" entry maps strings to strings.
// Element data is stored little-endian in row-major order. A tensor of shape
// [] is a scalar and holds one element; a shape with a zero dimension holds
// none.
//
// # Conventions
//
// Only the dtypes F32, I32, U32, I64 and U64 are supported; a file holding any
// other dtype is refused as a file holding an unknown one.
//
// File.Tensors is kept sorted by name, and File.Metadata is nil when a file
// has no metadata (an empty "__metadata__" object reads as nil too).
//
// Encode writes "__metadata__" first, with its keys sorted, then the tensors
// by name, each tensor's data in the same order, and pads the header with
// spaces to a multiple of 8 bytes, as the reference Python library does. The
// output is a function of the File alone: encoding the same File twice gives
// the same bytes.
//
// # Errors and panics
//
// The reader is strict and never panics. Decode and ReadFile refuse, with a
// *FormatError, any input that is not a well-formed safetensors file holding
// supported dtypes: a short or truncated file, an absurd header length (over
// 100 MB), a header that is not UTF-8 or not a single JSON object (it must
// begin with '{' and may end in whitespace padding), duplicate names or keys,
// unknown or missing fields, negative or non-integer dimensions, data_offsets
// that disagree with the dtype size times the number of elements, overlapping
// tensors, bytes of the buffer that belong to no tensor, and a metadata entry
// that is not a map of strings to strings. Sizes are checked without
// overflow. ReadFile's errors name the file.
//
// Programmer errors panic with messages prefixed "checkpoint: ": adding a
// tensor whose number of values does not match its shape, whose shape has a
// negative dimension, or whose name is already present or reserved; passing
// a nil *File to Encode or WriteFile. Conditions of the world are returned
// as errors: I/O failures, corrupt files, a requested tensor that is missing
// or has another dtype, and a File that Encode cannot represent (its fields
// are exported, so it may hold anything).
//
// WriteFile is atomic: it writes a temporary file in the destination's
// directory, syncs it and renames it over the destination, so that readers
// see either the old file or the new one, never a mixture.
package checkpoint
