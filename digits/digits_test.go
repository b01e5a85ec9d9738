package digits

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"math"
	"strings"
	"testing"
)

// plane returns a w×h plane from rows of digits 0-9 (value digit/9).
func plane(rows ...string) *Plane {
	p := NewPlane(len(rows[0]), len(rows))
	for y, r := range rows {
		for x, c := range r {
			p.Pix[y*p.W+x] = float32(c-'0') / 9
		}
	}
	return p
}

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol }

func TestGround(t *testing.T) {
	light := plane(
		"99999",
		"90009",
		"90909",
		"99099", // a stroke touching the border does not move the median
	)
	if g := Ground(light); g != 1 || !DarkOnLight(light) {
		t.Errorf("dark digit on white: ground %v, dark on light %v", g, DarkOnLight(light))
	}
	dark := plane(
		"00000",
		"09990",
		"00900",
		"01900",
	)
	if g := Ground(dark); g != 0 || DarkOnLight(dark) {
		t.Errorf("light digit on black: ground %v", g)
	}
	// The border is the outer ring only: 1×n and 2×n planes are all border.
	if g := Ground(plane("0990")); g != 1 {
		t.Errorf("1x4: ground %v", g)
	}
}

func TestStretch(t *testing.T) {
	// Dark grey ink (0.2) on light grey ground (0.8): inverted, the ground
	// becomes 0 and the ink 1.
	p := plane(
		"77777",
		"72227",
		"77777",
	)
	if err := Stretch(p); err != nil {
		t.Fatal(err)
	}
	want := plane(
		"00000",
		"09990",
		"00000",
	)
	for i := range p.Pix {
		if !near(float64(p.Pix[i]), float64(want.Pix[i]), 1e-6) {
			t.Fatalf("stretched %v, want %v", p.Pix, want.Pix)
		}
	}
	// Values darker than the ground (after inversion) clamp to 0.
	q := plane("3333", "3903", "3333")
	Stretch(q)
	if q.Pix[6] != 0 || q.Pix[5] != 1 {
		t.Errorf("below-ground pixel %v, ink %v", q.Pix[6], q.Pix[5])
	}
	// A nearly uniform picture holds no digit.
	if err := Stretch(plane("555", "565", "555")); !errors.Is(err, ErrBlank) {
		t.Errorf("uniform: %v", err)
	}
}

func TestBoundsCrop(t *testing.T) {
	p := plane(
		"000000",
		"001000", // 1/9 is below Threshold: not in the box
		"000900",
		"009300",
		"000000",
	)
	r, ok := Bounds(p, Threshold)
	if !ok || r != image.Rect(2, 2, 4, 4) {
		t.Fatalf("bounds %v %v", r, ok)
	}
	c := Crop(p, r)
	if c.W != 2 || c.H != 2 || c.Pix[1] != 1 || c.Pix[2] != 1 || c.Pix[3] != float32(3)/9 {
		t.Errorf("crop %+v", c)
	}
	if _, ok := Bounds(NewPlane(3, 3), Threshold); ok {
		t.Error("bounds of a black plane")
	}
}

func TestScale(t *testing.T) {
	// Halving averages 2×2 blocks.
	p := plane(
		"9900",
		"9000",
		"0099",
		"0099",
	)
	h := Scale(p, 0.5)
	want := []float64{0.75, 0, 0, 1}
	for i, v := range h.Pix {
		if !near(float64(v), want[i], 1e-6) {
			t.Fatalf("halved %v, want %v", h.Pix, want)
		}
	}
	// Area averaging keeps the mass, scaled by s² (the ground outside the
	// picture adds none), at any factor, up or down.
	src := NewPlane(37, 23)
	for i := range src.Pix {
		src.Pix[i] = float32((i*7919)%101) / 100
	}
	mass := func(p *Plane) (m float64) {
		for _, v := range p.Pix {
			m += float64(v)
		}
		return m
	}
	for _, s := range []float64{20.0 / 37, 0.3, 1, 1.7, 5} {
		o := Scale(src, s)
		if o.W != int(math.Ceil(37*s-1e-6)) || o.H != int(math.Ceil(23*s-1e-6)) {
			t.Errorf("scale %v: %dx%d", s, o.W, o.H)
		}
		if !near(mass(o), mass(src)*s*s, 1e-4*mass(src)*s*s) {
			t.Errorf("scale %v: mass %v, want %v", s, mass(o), mass(src)*s*s)
		}
	}
	// Fitting the longer side to Box gives exactly Box pixels.
	if o := Scale(src, Box/37.0); o.W != Box || o.H != 13 {
		t.Errorf("fit: %dx%d", o.W, o.H)
	}
	// A partly covered edge pixel is dimmer: 3 pixels scaled by 0.5 give
	// 1.5, so the second output pixel is half ground.
	e := Scale(plane("999", "999"), 0.5)
	if e.W != 2 || e.H != 1 || e.Pix[0] != 1 || !near(float64(e.Pix[1]), 0.5, 1e-6) {
		t.Errorf("edge: %v", e.Pix)
	}
}

func TestCentreOfMass(t *testing.T) {
	x, y := CentreOfMass(plane(
		"0000",
		"0090",
		"0030",
	))
	if !near(x, 2, 1e-7) || !near(y, 1.25, 1e-7) { // the values are float32

		t.Errorf("centre (%v, %v), want (2, 1.25)", x, y)
	}
	if x, y := CentreOfMass(NewPlane(5, 4)); x != 2 || y != 1.5 {
		t.Errorf("black plane: (%v, %v)", x, y)
	}
}

func TestPlace(t *testing.T) {
	// One pixel lands on (Centre, Centre), whatever its place in the plane.
	for _, at := range []int{0, 7, 19} {
		p := NewPlane(20, 20)
		p.Pix[at*20+at] = 1
		out := Place(p)
		if out[Centre*Side+Centre] != 1 {
			t.Errorf("pixel at (%d, %d) not moved to the centre", at, at)
		}
	}
	// Values are MNIST bytes: multiples of 1/255 computed as b/255.
	p := NewPlane(1, 1)
	p.Pix[0] = 0.5
	if v := Place(p)[Centre*Side+Centre]; v != float32(128)/255 {
		t.Errorf("quantised %v", v)
	}
	// Pixels moved outside are dropped: a 40-pixel-wide plane keeps 28.
	wide := NewPlane(40, 1)
	for i := range wide.Pix {
		wide.Pix[i] = 1
	}
	n := 0
	for _, v := range Place(wide) {
		if v != 0 {
			n++
		}
	}
	if n != Side {
		t.Errorf("%d pixels kept of a 40-wide line", n)
	}
}

// TestPrepareInvariance: the same digit drawn dark on light or light on
// dark, anywhere in the picture, at any size, gives nearly the same input.
func TestPrepareInvariance(t *testing.T) {
	// A "7": a bar and a diagonal, drawn at scale k with offset (ox, oy).
	draw := func(w, h, ox, oy, k int, dark bool) *image.Gray {
		g := image.NewGray(image.Rect(0, 0, w, h))
		ink, ground := uint8(255), uint8(0)
		if dark {
			ink, ground = 0, 255
		}
		for i := range g.Pix {
			g.Pix[i] = ground
		}
		for y := range 16 * k {
			for x := range 12 * k {
				onBar := y < 2*k
				onDiag := math.Abs(float64(x)-float64(12*k-1)+float64(y)*0.6) < float64(k)
				if onBar || onDiag {
					g.SetGray(ox+x, oy+y, color.Gray{ink})
				}
			}
		}
		return g
	}
	prep := func(img image.Image) []float32 {
		x, err := Prepare(img)
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	small, large := prep(draw(28, 28, 8, 6, 1, false)), prep(draw(100, 100, 5, 7, 5, false))
	// Enlarging a 12×16 digit is blocky and shrinking a 60×80 one smooth,
	// so each is compared with a reference of its own kind.
	for _, c := range []struct {
		name string
		img  *image.Gray
		ref  []float32
	}{
		{"dark on light", draw(28, 28, 8, 6, 1, true), small},
		{"moved", draw(40, 30, 25, 13, 1, false), small},
		{"twice as large again, dark, off centre", draw(300, 250, 10, 60, 10, true), large},
	} {
		got, ref := prep(c.img), c.ref
		var diff, mass float64
		for i := range got {
			diff += math.Abs(float64(got[i] - ref[i]))
			mass += float64(ref[i])
		}
		if diff > 0.15*mass {
			t.Errorf("%s: differs from the reference by %.1f of its %.1f", c.name, diff, mass)
		}
	}
}

func encode(t *testing.T, img image.Image, f func(*bytes.Buffer, image.Image) error) []byte {
	var b bytes.Buffer
	if err := f(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// greyPaletted returns g with a palette of the 256 greys, as a GIF holds it.
func greyPaletted(g *image.Gray) *image.Paletted {
	pal := make(color.Palette, 256)
	for i := range pal {
		pal[i] = color.Gray{uint8(i)}
	}
	p := image.NewPaletted(g.Rect, pal)
	copy(p.Pix, g.Pix)
	return p
}

func TestDecodeAndGrey(t *testing.T) {
	g := image.NewGray(image.Rect(0, 0, 28, 28))
	for i := range g.Pix {
		g.Pix[i] = uint8(i)
	}
	for name, data := range map[string][]byte{
		"png": encode(t, g, func(b *bytes.Buffer, m image.Image) error { return png.Encode(b, m) }),
		"gif": encode(t, greyPaletted(g), func(b *bytes.Buffer, m image.Image) error { return gif.Encode(b, m, nil) }),
	} {
		img, err := Decode(data)
		if err != nil {
			t.Fatal(name, err)
		}
		raw, err := Raw(img)
		if err != nil {
			t.Fatal(name, err)
		}
		for i, v := range raw { // exactly mnist's byte/255
			if want := float32(uint8(i)) / 255; v != want {
				t.Fatalf("%s: pixel %d is %v, want %v", name, i, v, want)
			}
		}
	}
	// Colour: Rec. 601 luminance.
	rgb := image.NewRGBA(image.Rect(0, 0, 3, 1))
	rgb.Set(0, 0, color.RGBA{255, 0, 0, 255})
	rgb.Set(1, 0, color.RGBA{0, 255, 0, 255})
	rgb.Set(2, 0, color.RGBA{0, 0, 255, 255})
	for i, want := range []float64{0.299, 0.587, 0.114} {
		if v := Grey(rgb).Pix[i]; !near(float64(v), want, 1e-4) {
			t.Errorf("luminance of channel %d: %v, want %v", i, v, want)
		}
	}
	// JPEG decodes (lossy: compare loosely).
	j, err := Decode(encode(t, g, func(b *bytes.Buffer, m image.Image) error { return jpeg.Encode(b, m, &jpeg.Options{Quality: 100}) }))
	if err != nil || !near(float64(Grey(j).Pix[300]), 300%256/255.0, 0.05) {
		t.Errorf("jpeg: %v", err)
	}
}

func TestGreyTransparent(t *testing.T) {
	// A black digit on a transparent canvas: the digit is what is opaque.
	canvas := image.NewNRGBA(image.Rect(0, 0, 10, 10))
	canvas.Set(4, 5, color.NRGBA{0, 0, 0, 255})
	p := Grey(canvas)
	if p.Pix[5*10+4] != 1 || p.Pix[0] != 0 {
		t.Errorf("transparent canvas: ink %v, ground %v", p.Pix[5*10+4], p.Pix[0])
	}
	// A white page with a transparent hole: the hole is ground (white).
	page := image.NewNRGBA(image.Rect(0, 0, 10, 10))
	for i := range 100 {
		page.Set(i%10, i/10, color.NRGBA{255, 255, 255, 255})
	}
	page.Set(3, 3, color.NRGBA{})
	page.Set(6, 6, color.NRGBA{0, 0, 0, 255})
	p = Grey(page)
	if p.Pix[3*10+3] != 1 || p.Pix[6*10+6] != 0 {
		t.Errorf("hole %v, ink %v", p.Pix[33], p.Pix[66])
	}
}

func TestDecodeErrors(t *testing.T) {
	good := encode(t, image.NewGray(image.Rect(0, 0, 30, 30)), func(b *bytes.Buffer, m image.Image) error { return png.Encode(b, m) })
	for _, c := range []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "empty file"},
		{"text", []byte("hello, world"), ErrNotImage.Error()},
		{"cut header", good[:20], "truncated PNG"},
		{"cut data", good[:len(good)-20], "PNG"},
	} {
		_, err := Decode(c.data)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
	if _, err := Raw(image.NewGray(image.Rect(0, 0, 28, 27))); err == nil || !strings.Contains(err.Error(), "28x27 pixels") {
		t.Errorf("raw 28x27: %v", err)
	}
}

// FuzzDecodePrepare: no content makes Decode, Prepare or Raw panic.
func FuzzDecodePrepare(f *testing.F) {
	g := image.NewGray(image.Rect(0, 0, 5, 7))
	g.Pix[12] = 200
	var b bytes.Buffer
	png.Encode(&b, g)
	f.Add(b.Bytes())
	b.Reset()
	gif.Encode(&b, g, nil)
	f.Add(b.Bytes())
	b.Reset()
	jpeg.Encode(&b, g, nil)
	f.Add(b.Bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		img, err := Decode(data)
		if err != nil {
			return
		}
		if b := img.Bounds(); b.Dx()*b.Dy() > 1<<20 {
			return // valid but slow; the size limit is Decode's, tested above
		}
		if x, err := Prepare(img); err == nil && len(x) != Len {
			t.Fatalf("%d values", len(x))
		}
		Raw(img)
	})
}
