package digits

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	_ "image/gif" // the formats Decode reads
	_ "image/jpeg"
	_ "image/png"
	"io"
	"math"
	"slices"
	"strings"
)

// The geometry of an MNIST digit and the constants of Prepare.
const (
	Side   = 28 // an MNIST image is Side×Side pixels
	Len    = Side * Side
	Box    = 20 // the digit is scaled to fit a Box×Box square
	Centre = 14 // the centre of mass goes to pixel (Centre, Centre), in index coordinates (see CentreOfMass)

	// Threshold is the value above which a stretched pixel belongs to the
	// digit's bounding box: fainter pixels (JPEG noise, faint smudges) do
	// not widen the box, but pixels inside it keep their values.
	Threshold = 0.2
	// MinContrast is the least difference between the ground and the
	// brightest pixel (after inversion), as a fraction of full scale, for a
	// picture to hold a digit.
	MinContrast = 0.15

	// MaxSide is the largest width or height Decode accepts.
	MaxSide = 10000
)

// Errors about a picture's content.
var (
	ErrEmpty    = errors.New("empty file")
	ErrNotImage = errors.New("not a PNG, JPEG or GIF image")
	ErrBlank    = errors.New("no digit found: the picture is nearly uniform")
)

// Plane is a grey picture of W×H float32 values, row-major.
type Plane struct {
	W, H int
	Pix  []float32
}

// NewPlane returns a zero (black) w×h plane.
func NewPlane(w, h int) *Plane { return &Plane{W: w, H: h, Pix: make([]float32, w*h)} }

func (p *Plane) check() {
	if p.W <= 0 || p.H <= 0 || len(p.Pix) != p.W*p.H {
		panic(fmt.Sprintf("digits: plane of %dx%d with %d values", p.W, p.H, len(p.Pix)))
	}
}

// Decode decodes a PNG, JPEG or GIF picture (a GIF's first frame) from
// data. It reads the header first, and refuses a picture wider or taller
// than MaxSide, or without pixels, before decoding any pixel. Its errors
// say what is wrong without naming the file: ErrEmpty, ErrNotImage, or
// "truncated PNG (...)", "corrupt JPEG (...)", "12000x30 pixels, ...".
func Decode(data []byte) (image.Image, error) {
	if len(data) == 0 {
		return nil, ErrEmpty
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if errors.Is(err, image.ErrFormat) {
		return nil, ErrNotImage
	}
	if err != nil {
		return nil, decodeError(format, err)
	}
	switch format {
	case "png", "jpeg", "gif":
	default: // formats other packages of the binary register (TIFF, ...)
		return nil, fmt.Errorf("a %s picture; only PNG, JPEG and GIF are read", strings.ToUpper(format))
	}
	if cfg.Width > MaxSide || cfg.Height > MaxSide {
		return nil, fmt.Errorf("%dx%d pixels, larger than the %dx%d allowed", cfg.Width, cfg.Height, MaxSide, MaxSide)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return nil, fmt.Errorf("a %s of %dx%d pixels: nothing to read", strings.ToUpper(format), cfg.Width, cfg.Height)
	}
	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, decodeError(format, err)
	}
	return img, nil
}

func decodeError(format string, err error) error {
	f := strings.ToUpper(format)
	msg := err.Error()
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || strings.Contains(msg, "unexpected EOF") ||
		strings.Contains(msg, "not enough pixel data") { // image/png, when the data ends inside the last IDAT chunk

		return fmt.Errorf("truncated %s (%v)", f, err)
	}
	return fmt.Errorf("corrupt %s (%v)", f, err)
}

// Grey returns the luminance of img, Y = (19595 R + 38470 G + 7471 B +
// 2^15) / 2^16 on 16-bit channels (image/color's Rec. 601 weights), divided
// by 65535: in [0, 1], 1 white. An 8-bit grey pixel b gives exactly
// float32(b)/255.
//
// Transparent pixels are ground. When most of the border is transparent
// (median alpha below one half: a digit drawn on a transparent canvas) the
// digit is what is opaque, and Grey returns the alpha channel (light on
// dark). Otherwise each pixel is composited over the ground, the median
// luminance of the border's opaque pixels: a·Y + (1-a)·ground.
func Grey(img image.Image) *Plane {
	b := img.Bounds()
	p := NewPlane(b.Dx(), b.Dy())
	var alpha *Plane
	if o, ok := img.(interface{ Opaque() bool }); !ok || !o.Opaque() {
		alpha = NewPlane(p.W, p.H)
	}
	rgba64, fast := img.(image.RGBA64Image) // no interface value per pixel
	for y := range p.H {
		for x := range p.W {
			var r, g, bl, a uint32
			if fast {
				c := rgba64.RGBA64At(b.Min.X+x, b.Min.Y+y)
				r, g, bl, a = uint32(c.R), uint32(c.G), uint32(c.B), uint32(c.A)
			} else {
				r, g, bl, a = img.At(b.Min.X+x, b.Min.Y+y).RGBA()
			}
			// Premultiplied channels: Y/a is the luminance of the colour.
			yy := (19595*r + 38470*g + 7471*bl + 1<<15) >> 16
			i := y*p.W + x
			if a > 0 {
				p.Pix[i] = float32(yy) / float32(a)
			}
			if alpha != nil {
				alpha.Pix[i] = float32(a) / 0xffff
			}
		}
	}
	if alpha == nil {
		return p
	}
	if median(border(alpha, nil)) < 0.5 {
		return alpha
	}
	var ground []float32
	for _, i := range borderIndex(p) {
		if alpha.Pix[i] >= 0.5 {
			ground = append(ground, p.Pix[i])
		}
	}
	g := median(ground)
	for i, a := range alpha.Pix {
		p.Pix[i] = a*p.Pix[i] + (1-a)*g
	}
	return p
}

// borderIndex returns the indices of p's outermost ring of pixels, in
// row-major order (every pixel of a plane one or two pixels wide or high).
func borderIndex(p *Plane) []int {
	var idx []int
	for y := range p.H {
		switch {
		case y == 0 || y == p.H-1:
			for x := range p.W {
				idx = append(idx, y*p.W+x)
			}
		case p.W == 1:
			idx = append(idx, y*p.W)
		default:
			idx = append(idx, y*p.W, y*p.W+p.W-1)
		}
	}
	return idx
}

// border returns the values of p's outermost ring of pixels, appended to dst.
func border(p *Plane, dst []float32) []float32 {
	for _, i := range borderIndex(p) {
		dst = append(dst, p.Pix[i])
	}
	return dst
}

// median returns the upper median of v (0 for none); v is reordered.
func median(v []float32) float32 {
	if len(v) == 0 {
		return 0
	}
	slices.Sort(v)
	return v[len(v)/2]
}

// Ground returns the ground's level: the median of p's border pixels.
func Ground(p *Plane) float32 {
	p.check()
	return median(border(p, nil))
}

// DarkOnLight reports whether p is a dark digit on a light ground: whether
// its ground (Ground) is above one half.
func DarkOnLight(p *Plane) bool { return Ground(p) > 0.5 }

// Stretch makes p a light digit on a black ground, in place: it inverts a
// dark digit on a light ground (v = 1 - v), then maps the ground (Ground)
// to 0 and the brightest pixel to 1, v = clamp((v - ground) / (max -
// ground), 0, 1). It returns ErrBlank, leaving p inverted but not
// stretched, when max - ground is below MinContrast.
func Stretch(p *Plane) error {
	p.check()
	g := Ground(p)
	if g > 0.5 {
		for i, v := range p.Pix {
			p.Pix[i] = 1 - v
		}
		g = 1 - g
	}
	hi := slices.Max(p.Pix)
	if hi-g < MinContrast {
		return ErrBlank
	}
	s := 1 / (hi - g)
	for i, v := range p.Pix {
		p.Pix[i] = min(max((v-g)*s, 0), 1)
	}
	return nil
}

// Bounds returns the smallest rectangle holding every pixel of p above t,
// and false when there is none.
func Bounds(p *Plane, t float32) (image.Rectangle, bool) {
	p.check()
	r := image.Rectangle{Min: image.Point{p.W, p.H}}
	for y := range p.H {
		for x, v := range p.Pix[y*p.W : (y+1)*p.W] {
			if v > t {
				r.Min.X, r.Min.Y = min(r.Min.X, x), min(r.Min.Y, y)
				r.Max.X, r.Max.Y = max(r.Max.X, x+1), max(r.Max.Y, y+1)
			}
		}
	}
	return r, !r.Empty()
}

// Crop returns the part of p inside r (which must lie within p).
func Crop(p *Plane, r image.Rectangle) *Plane {
	p.check()
	if !r.In(image.Rect(0, 0, p.W, p.H)) || r.Empty() {
		panic(fmt.Sprintf("digits: crop %v of a %dx%d plane", r, p.W, p.H))
	}
	c := NewPlane(r.Dx(), r.Dy())
	for y := range c.H {
		copy(c.Pix[y*c.W:(y+1)*c.W], p.Pix[(r.Min.Y+y)*p.W+r.Min.X:])
	}
	return c
}

// Scale resizes p by the factor s > 0 with area averaging. The picture,
// seen as a W×H rectangle of constant-valued unit squares, is mapped onto
// a (s·W)×(s·H) rectangle; output pixel (i, j) is the mean of the picture
// over the unit square [i, i+1)×[j, j+1), the part outside the picture
// counting as ground (0). The output is ⌈s·W⌉×⌈s·H⌉ pixels (sides within
// 1e-6 of a whole number are not rounded up). Shrinking, this is the box
// filter that anti-aliases; enlarging, each input pixel becomes an s×s
// square, its edges shared with its neighbours.
func Scale(p *Plane, s float64) *Plane {
	p.check()
	if !(s > 0) || math.IsInf(s, 0) {
		panic(fmt.Sprintf("digits: scale by %v", s))
	}
	ow, oh := scaledLen(p.W, s), scaledLen(p.H, s)
	// Rows first: tmp is ow×p.H, then columns: out is ow×oh.
	wx, wy := areaWeights(p.W, ow, s), areaWeights(p.H, oh, s)
	tmp := make([]float64, ow*p.H)
	for y := range p.H {
		row := p.Pix[y*p.W : (y+1)*p.W]
		for o, ws := range wx {
			var sum float64
			for _, w := range ws {
				sum += w.w * float64(row[w.k])
			}
			tmp[y*ow+o] = sum
		}
	}
	out := NewPlane(ow, oh)
	for o, ws := range wy {
		for x := range ow {
			var sum float64
			for _, w := range ws {
				sum += w.w * tmp[w.k*ow+x]
			}
			out.Pix[o*ow+x] = float32(sum)
		}
	}
	return out
}

func scaledLen(n int, s float64) int {
	return max(1, int(math.Ceil(float64(n)*s-1e-6)))
}

type weight struct {
	k int     // input pixel
	w float64 // its share of the output pixel
}

// areaWeights returns, for each of the out output pixels along an axis of
// n input pixels scaled by s, the input pixels it covers and their
// weights: output pixel o covers input interval [o/s, (o+1)/s), and input
// pixel k weighs s·|[k, k+1) ∩ that interval|. The weights of an output
// pixel wholly inside the picture sum to 1.
func areaWeights(n, out int, s float64) [][]weight {
	ws := make([][]weight, out)
	for o := range ws {
		lo, hi := float64(o)/s, float64(o+1)/s
		for k := max(0, int(math.Floor(lo))); k < n && float64(k) < hi; k++ {
			overlap := math.Min(hi, float64(k+1)) - math.Max(lo, float64(k))
			if overlap > 0 {
				ws[o] = append(ws[o], weight{k, s * overlap})
			}
		}
	}
	return ws
}

// CentreOfMass returns p's centre of mass in index coordinates, (Σ v·x /
// Σ v, Σ v·y / Σ v) with pixel (x, y) at (x, y); the plane's middle,
// ((W-1)/2, (H-1)/2), when it is all zero.
func CentreOfMass(p *Plane) (x, y float64) {
	p.check()
	var sum, sx, sy float64
	for j := range p.H {
		for i, v := range p.Pix[j*p.W : (j+1)*p.W] {
			sum += float64(v)
			sx += float64(v) * float64(i)
			sy += float64(v) * float64(j)
		}
	}
	if sum == 0 {
		return float64(p.W-1) / 2, float64(p.H-1) / 2
	}
	return sx / sum, sy / sum
}

// Place returns the Side×Side image (row-major, Len values) holding p
// moved by whole pixels so that its centre of mass falls as near as whole
// pixels allow to (Centre, Centre): by (round(Centre - cx), round(Centre -
// cy)). Pixels moved outside the image are dropped. Values are rounded to
// the nearest multiple of 1/255 and clamped to [0, 1], as MNIST's bytes.
func Place(p *Plane) []float32 {
	cx, cy := CentreOfMass(p)
	dx, dy := int(math.Round(Centre-cx)), int(math.Round(Centre-cy))
	out := make([]float32, Len)
	for y := range p.H {
		for x, v := range p.Pix[y*p.W : (y+1)*p.W] {
			X, Y := x+dx, y+dy
			if X < 0 || X >= Side || Y < 0 || Y >= Side {
				continue
			}
			out[Y*Side+X] = Quantise(v)
		}
	}
	return out
}

// Quantise returns v clamped to [0, 1] and rounded to the nearest multiple
// of 1/255, computed as mnist reads a byte b: float32(b)/255.
func Quantise(v float32) float32 {
	b := math.Round(float64(min(max(v, 0), 1)) * 255)
	return float32(uint8(b)) / 255
}

// PreparePlane runs steps 3 to 6 of the package's recipe (Stretch, crop to
// Bounds above Threshold, Scale to fit Box, Place) on a grey plane; p is
// changed.
func PreparePlane(p *Plane) ([]float32, error) {
	if err := Stretch(p); err != nil {
		return nil, err
	}
	r, ok := Bounds(p, Threshold)
	if !ok { // cannot happen after Stretch: the brightest pixel is 1
		return nil, ErrBlank
	}
	c := Crop(p, r)
	return Place(Scale(c, Box/float64(max(c.W, c.H)))), nil
}

// Prepare makes img an MNIST digit (Len values in [0, 1]) by the package's
// recipe: Grey, then PreparePlane.
func Prepare(img image.Image) ([]float32, error) {
	return PreparePlane(Grey(img))
}

// Raw returns the luminance (Grey) of a Side×Side picture as it is, for
// pictures that are already MNIST-style (a light digit on black, centred).
func Raw(img image.Image) ([]float32, error) {
	b := img.Bounds()
	if b.Dx() != Side || b.Dy() != Side {
		return nil, fmt.Errorf("%dx%d pixels, not the %dx%d of an MNIST-style picture", b.Dx(), b.Dy(), Side, Side)
	}
	return Grey(img).Pix, nil
}
