package mnist

import (
	"bufio"
	"compress/flate"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
)

// IDX magic numbers and header lengths.
const (
	imagesMagic     = 0x00000803
	labelsMagic     = 0x00000801
	imagesHeaderLen = 16 // magic, count, rows, cols
	labelsHeaderLen = 8  // magic, count
)

const (
	// chunkLen is the length of the buffers the data is read through
	// (shorter for a shorter raw file).
	chunkLen = 64 << 10
	// maxInflate bounds the ratio of decompressed to compressed size that
	// deflate can reach (1032:1), with a margin.
	maxInflate = 1100
	// maxGuess is the most elements allocated up front when the file's size
	// cannot confirm the header's count; beyond it the slice grows as data
	// arrives, so a lying header cannot cause a huge allocation.
	maxGuess = 1 << 20
)

// scale maps a stored byte to its float32 value byte/255.
var scale = func() (t [256]float32) {
	for i := range t {
		t[i] = float32(i) / 255
	}
	return t
}()

// fileError is an error about one file: "mnist: path: msg".
type fileError struct {
	path string
	msg  string
	err  error // wrapped cause, or nil
}

func (e *fileError) Error() string { return "mnist: " + e.path + ": " + e.msg }
func (e *fileError) Unwrap() error { return e.err }

// gzipError marks an error from the gzip layer, so that it is not mistaken
// for the end of the decompressed data.
type gzipError struct{ err error }

func (e *gzipError) Error() string { return e.err.Error() }
func (e *gzipError) Unwrap() error { return e.err }

// gzipReader passes io.EOF through and wraps every other error of r.
type gzipReader struct{ r *gzip.Reader }

func (g gzipReader) Read(p []byte) (int, error) {
	n, err := g.r.Read(p)
	if err != nil && err != io.EOF {
		err = &gzipError{err}
	}
	return n, err
}

// source is an open IDX file, decompressed if it is gzipped.
type source struct {
	path  string
	f     *os.File
	r     io.Reader // the (decompressed) content
	gz    bool
	size  int64  // size of the file on disk
	isize uint32 // gzip trailer: decompressed size mod 2^32
}

func openSource(path string) (*source, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, openError(path, err)
	}
	s := &source{path: path, f: f}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, s.errorf(err, "stat: %v", unwrapPath(err))
	}
	if fi.IsDir() {
		f.Close()
		return nil, s.errorf(nil, "is a directory")
	}
	s.size = fi.Size()
	if s.size == 0 {
		f.Close()
		return nil, s.errorf(nil, "empty file")
	}
	br := bufio.NewReaderSize(f, int(min(s.size, chunkLen)))
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		s.gz = true
		var t [4]byte
		if s.size >= 4 {
			if _, err := f.ReadAt(t[:], s.size-4); err == nil {
				s.isize = binary.LittleEndian.Uint32(t[:])
			}
		}
		zr, err := gzip.NewReader(br)
		if err != nil {
			f.Close()
			return nil, s.readError(&gzipError{err})
		}
		s.r = gzipReader{zr}
	} else {
		s.r = br
	}
	return s, nil
}

func (s *source) close() { s.f.Close() }

// openError describes an error of os.Open.
func openError(path string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return &fileError{path: path, msg: "file not found", err: err}
	}
	return &fileError{path: path, msg: "open: " + unwrapPath(err).Error(), err: err}
}

// unwrapPath strips the operation and path that an *fs.PathError repeats.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func (s *source) errorf(cause error, format string, args ...any) error {
	return &fileError{path: s.path, msg: fmt.Sprintf(format, args...), err: cause}
}

// readError describes an error, other than io.EOF, met while reading s.
func (s *source) readError(err error) error {
	var ge *gzipError
	if !errors.As(err, &ge) {
		return s.errorf(err, "read: %v", unwrapPath(err))
	}
	var ce flate.CorruptInputError
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return s.errorf(err, "truncated gzip stream")
	case errors.Is(err, gzip.ErrChecksum):
		return s.errorf(err, "corrupt gzip stream: checksum or size mismatch")
	case errors.Is(err, gzip.ErrHeader):
		return s.errorf(err, "corrupt gzip stream: invalid gzip header")
	case errors.As(err, &ce):
		return s.errorf(err, "corrupt gzip stream: invalid deflate data at compressed offset %d", int64(ce))
	default:
		return s.errorf(err, "corrupt gzip stream: %v", unwrapPath(err))
	}
}

// header reads the IDX header of s into hdr and checks its magic number.
func (s *source) header(hdr []byte, magic uint32) error {
	n, err := io.ReadFull(s.r, hdr)
	if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
		return s.readError(err)
	}
	if n == 0 {
		if s.gz {
			return s.errorf(nil, "empty file (the gzip stream holds no data)")
		}
		return s.errorf(nil, "empty file")
	}
	if n >= 4 {
		if m := binary.BigEndian.Uint32(hdr); m != magic {
			return s.errorf(nil, "wrong magic 0x%08x%s, want 0x%08x%s", m, magicName(m), magic, magicName(magic))
		}
	}
	if n < len(hdr) {
		return s.errorf(nil, "truncated header: %d of %d bytes", n, len(hdr))
	}
	return nil
}

func magicName(m uint32) string {
	switch m {
	case imagesMagic:
		return " (IDX images)"
	case labelsMagic:
		return " (IDX labels)"
	}
	return ""
}

// stream reads s to its end after the header, calling use with each chunk
// and the offset of its first byte, and returns the number of bytes read.
func (s *source) stream(use func(b []byte, off int64)) (int64, error) {
	n := int64(chunkLen)
	if !s.gz {
		n = min(n, s.size)
	}
	buf := make([]byte, n)
	var off int64
	for {
		k, err := s.r.Read(buf)
		if k > 0 {
			use(buf[:k], off)
			off += int64(k)
		}
		if err == io.EOF {
			return off, nil
		}
		if err != nil {
			return off, s.readError(err)
		}
	}
}

// capHint returns how many of keep elements (one per data byte) may be
// allocated up front for a file whose header claims want data bytes.
func (s *source) capHint(headerLen, want, keep int64) int64 {
	if !s.gz {
		return min(keep, max(s.size-headerLen, 0))
	}
	total := headerLen + want
	if s.isize == uint32(total) && total <= maxInflate*s.size {
		return keep
	}
	return min(keep, maxGuess)
}

// sizeError checks that got data bytes match the want bytes that the header
// claims for count items of itemLen bytes each.
func (s *source) sizeError(got, want, count, itemLen int64, items string) error {
	switch {
	case got < want && itemLen > 1:
		return s.errorf(nil, "truncated data: header says %d %s (%d bytes) but only %d bytes (%d whole %s) follow the header",
			count, items, want, got, got/itemLen, items)
	case got < want:
		return s.errorf(nil, "truncated data: header says %d %s but only %d bytes follow the header",
			count, items, got)
	case got > want:
		return s.errorf(nil, "header count disagrees with data size: header says %d %s (%d bytes) but %d bytes follow the header (%d extra)",
			count, items, want, got, got-want)
	}
	return nil
}

// keepCount returns how many of count items a limit keeps.
func keepCount(count int64, limit int) int64 {
	if limit > 0 && int64(limit) < count {
		return int64(limit)
	}
	return count
}

// readImages reads an IDX image file and returns its first limit images, how
// many that is, and how many the file holds.
func readImages(path string, limit int) (images []float32, n, total int, err error) {
	s, err := openSource(path)
	if err != nil {
		return nil, 0, 0, err
	}
	defer s.close()
	var hdr [imagesHeaderLen]byte
	if err := s.header(hdr[:], imagesMagic); err != nil {
		return nil, 0, 0, err
	}
	count := int64(binary.BigEndian.Uint32(hdr[4:]))
	rows, cols := binary.BigEndian.Uint32(hdr[8:]), binary.BigEndian.Uint32(hdr[12:])
	if rows != Rows || cols != Cols {
		return nil, 0, 0, s.errorf(nil, "image dims %dx%d, want %dx%d", rows, cols, Rows, Cols)
	}
	keep := keepCount(count, limit)
	want, keepBytes := count*Pixels, keep*Pixels
	images = make([]float32, 0, s.capHint(imagesHeaderLen, want, keepBytes))
	got, err := s.stream(func(b []byte, off int64) {
		if off >= keepBytes {
			return
		}
		b = b[:min(int64(len(b)), keepBytes-off)]
		images = slices.Grow(images, len(b))
		dst := images[off : off+int64(len(b))]
		for i, v := range b {
			dst[i] = scale[v]
		}
		images = images[:off+int64(len(b))]
	})
	if err != nil {
		return nil, 0, 0, err
	}
	if err := s.sizeError(got, want, count, Pixels, "images"); err != nil {
		return nil, 0, 0, err
	}
	return images, int(keep), int(count), nil
}

// readLabels reads an IDX label file and returns its first limit labels and
// how many the file holds.
func readLabels(path string, limit int) (labels []int32, total int, err error) {
	s, err := openSource(path)
	if err != nil {
		return nil, 0, err
	}
	defer s.close()
	var hdr [labelsHeaderLen]byte
	if err := s.header(hdr[:], labelsMagic); err != nil {
		return nil, 0, err
	}
	count := int64(binary.BigEndian.Uint32(hdr[4:]))
	keep := keepCount(count, limit)
	labels = make([]int32, 0, s.capHint(labelsHeaderLen, count, keep))
	bad, badLabel := int64(-1), byte(0)
	got, err := s.stream(func(b []byte, off int64) {
		if bad < 0 {
			for i, v := range b {
				if v >= Classes {
					bad, badLabel = off+int64(i), v
					break
				}
			}
		}
		if off < keep {
			for _, v := range b[:min(int64(len(b)), keep-off)] {
				labels = append(labels, int32(v))
			}
		}
	})
	if err != nil {
		return nil, 0, err
	}
	if err := s.sizeError(got, count, count, 1, "labels"); err != nil {
		return nil, 0, err
	}
	if bad >= 0 {
		return nil, 0, s.errorf(nil, "label %d at index %d outside 0-%d", badLabel, bad, Classes-1)
	}
	return labels, int(count), nil
}
