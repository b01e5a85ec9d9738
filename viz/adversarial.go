package viz

import (
	"fmt"
	"image"
	"image/color"
	"math"

	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// AdvRow is one example of an adversarial grid: an input image, the virtual
// adversarial perturbation found for it, and the model's predictions on both.
type AdvRow struct {
	// Image is x, Perturbation is r_adv and Perturbed is x + r_adv, each
	// 28×28 values stored row-major (784 values). Image lies in [0, 1];
	// Perturbed may leave it and is clipped for display.
	Image, Perturbation, Perturbed []float32

	// Label is the true class, Pred the prediction on Image with
	// probability Conf, and PredAdv the prediction on Perturbed with
	// probability ConfAdv.
	Label, Pred, PredAdv int
	Conf, ConfAdv        float64
}

// Geometry of the adversarial grid, in points. The PNG is rendered at
// advDPI, two pixels a point, so that each MNIST pixel is a block of
// advZoom×advZoom image pixels and every panel edge falls on a pixel
// boundary.
const (
	advDPI     = 144
	advZoom    = 9
	advPanel   = 28 * advZoom * vg.Inch / advDPI // 126 pt
	advMargin  = 12
	advTitleH  = 24
	advHeaderH = 18
	advCaption = 18 // text under a panel
	advGapX    = 18 // between the panels of a row
	advGapY    = 10 // between rows
	advBarGap  = 6  // from the last row's captions to the colour bar
	advBarH    = 8
	advBarText = 28 // tick labels and caption under the colour bar
)

// advSize returns the width and height of a grid of n rows.
func advSize(n int) (w, h vg.Length) {
	w = 2*advMargin + 3*advPanel + 2*advGapX
	h = 2*advMargin + advTitleH + advHeaderH + vg.Length(n)*(advPanel+advCaption) +
		vg.Length(n-1)*advGapY + advBarGap + advBarH + advBarText
	return w, h
}

var (
	inkColor   = color.Gray{0x22}
	wrongColor = color.RGBA{0xc6, 0x28, 0x28, 0xff} // captions of wrong or flipped predictions
	frameColor = color.Gray{0x99}
)

// AdversarialGrid draws rows as a grid into out: for each row, the digit x in
// grey scale (0 black, 1 white) captioned "label 7 / pred 7 (0.99)", the
// perturbation r_adv as a diverging heat map captioned "r_adv, eps=1", and
// x + r_adv clipped to [0, 1] in grey scale captioned "pred 3 (0.62)". The
// heat map runs from blue (-m) through white (0) to red (+m), where m is the
// largest |r_adv| over all rows (ignoring non-finite values), so that rows
// compare; a colour bar under the r_adv column gives m. A clean prediction
// that differs from the label, and an adversarial prediction that differs
// from the clean one, are captioned in red. eps is only printed.
//
// The picture is written as SVG when out ends in .svg (any case) and as PNG
// otherwise; each 28×28 image is enlarged 9 times with nearest-neighbour
// sampling to 252×252 pixels in the PNG, which is 876 pixels wide and
// 196+308n high for n rows (1428 for 4 rows).
//
// AdversarialGrid panics if rows is empty or a row's slices do not hold 784
// values each. It returns an error if out cannot be written.
func AdversarialGrid(out string, rows []AdvRow, eps float64) error {
	if len(rows) == 0 {
		panic("viz: AdversarialGrid: no rows")
	}
	for i, r := range rows {
		for _, f := range []struct {
			name string
			v    []float32
		}{{"Image", r.Image}, {"Perturbation", r.Perturbation}, {"Perturbed", r.Perturbed}} {
			if len(f.v) != 28*28 {
				panic(fmt.Sprintf("viz: AdversarialGrid: rows[%d].%s has %d values, want 784", i, f.name, len(f.v)))
			}
		}
	}
	m := 0.0
	for _, r := range rows {
		for _, v := range r.Perturbation {
			if a := math.Abs(float64(v)); a > m && !math.IsInf(a, 0) {
				m = a
			}
		}
	}

	w, h := advSize(len(rows))
	c := newCanvas(out, w, h, advDPI)
	dc := draw.New(c)
	fillBackground(dc)

	title := textStyle(12, inkColor)
	title.XAlign, title.YAlign = draw.XCenter, draw.YTop
	header := textStyle(10.5, inkColor)
	header.XAlign, header.YAlign = draw.XCenter, draw.YTop
	caption := textStyle(10, inkColor)
	caption.XAlign, caption.YAlign = draw.XCenter, draw.YTop

	top := h - advMargin
	dc.FillText(title, vg.Point{X: w / 2, Y: top}, fmt.Sprintf("Virtual adversarial examples, eps = %s", fmtG(eps)))
	top -= advTitleH
	colX := func(j int) vg.Length { return advMargin + vg.Length(j)*(advPanel+advGapX) }
	for j, s := range []string{"x", "r_adv", "x + r_adv"} {
		dc.FillText(header, vg.Point{X: colX(j) + advPanel/2, Y: top}, s)
	}
	top -= advHeaderH

	for _, r := range rows {
		y := top - advPanel
		imgs := []image.Image{
			zoom(r.Image, grayPixel),
			zoom(r.Perturbation, func(v float32) color.RGBA { return diverging(float64(v), m) }),
			zoom(r.Perturbed, grayPixel),
		}
		clean := fmt.Sprintf("label %d / pred %d (%.2f)", r.Label, r.Pred, r.Conf)
		adv := fmt.Sprintf("pred %d (%.2f)", r.PredAdv, r.ConfAdv)
		caps := []string{clean, "r_adv, eps=" + fmtG(eps), adv}
		wrong := []bool{r.Pred != r.Label, false, r.PredAdv != r.Pred}
		for j, img := range imgs {
			rect := vg.Rectangle{Min: vg.Point{X: colX(j), Y: y}, Max: vg.Point{X: colX(j) + advPanel, Y: y + advPanel}}
			dc.DrawImage(rect, img)
			frame(dc, rect)
			sty := caption
			if wrong[j] {
				sty.Color = wrongColor
			}
			dc.FillText(sty, vg.Point{X: colX(j) + advPanel/2, Y: y - 4}, caps[j])
		}
		top = y - advCaption - advGapY
	}
	top += advGapY - advBarGap

	// The colour bar, under the r_adv column.
	bar := image.NewRGBA(image.Rect(0, 0, 256, 1))
	for i := range 256 {
		bar.SetRGBA(i, 0, diverging((float64(i)+0.5)/128-1, 1))
	}
	rect := vg.Rectangle{Min: vg.Point{X: colX(1), Y: top - advBarH}, Max: vg.Point{X: colX(1) + advPanel, Y: top}}
	dc.DrawImage(rect, bar)
	frame(dc, rect)
	tick := textStyle(8.5, inkColor)
	tick.YAlign = draw.YTop
	ty := top - advBarH - 2
	tick.XAlign = draw.XLeft
	dc.FillText(tick, vg.Point{X: rect.Min.X, Y: ty}, "−"+fmtG(m))
	tick.XAlign = draw.XCenter
	dc.FillText(tick, vg.Point{X: (rect.Min.X + rect.Max.X) / 2, Y: ty}, "0")
	tick.XAlign = draw.XRight
	dc.FillText(tick, vg.Point{X: rect.Max.X, Y: ty}, "+"+fmtG(m))
	tick.XAlign = draw.XCenter
	dc.FillText(tick, vg.Point{X: (rect.Min.X + rect.Max.X) / 2, Y: ty - 11},
		"r_adv colour scale: ±"+fmtG(m)+" = max |r_adv| over all rows")
	return save(out, c)
}

// fmtG formats v with at most 3 significant digits: 1, 0.3, 0.0523.
func fmtG(v float64) string { return fmt.Sprintf("%.3g", v) }

// frame strokes a thin grey border around r.
func frame(dc draw.Canvas, r vg.Rectangle) {
	sty := draw.LineStyle{Color: frameColor, Width: 0.5}
	dc.StrokeLines(sty, []vg.Point{r.Min, {X: r.Max.X, Y: r.Min.Y}, r.Max, {X: r.Min.X, Y: r.Max.Y}, r.Min})
}

// zoom returns the 28×28 row-major values v as an image enlarged advZoom
// times with nearest-neighbour sampling, coloured by px.
func zoom(v []float32, px func(float32) color.RGBA) *image.RGBA {
	const n = 28 * advZoom
	img := image.NewRGBA(image.Rect(0, 0, n, n))
	for y := range n {
		for x := range n {
			img.SetRGBA(x, y, px(v[(y/advZoom)*28+x/advZoom]))
		}
	}
	return img
}

// grayPixel maps v clipped to [0, 1] to black (0) through white (1); NaN
// is black.
func grayPixel(v float32) color.RGBA {
	g := uint8(math.Round(255 * clip01(float64(v))))
	return color.RGBA{g, g, g, 0xff}
}

func clip01(v float64) float64 {
	switch {
	case v > 1:
		return 1
	case v >= 0:
		return v
	}
	return 0 // negative or NaN
}

// rdbu are the stops of the diverging map at -1, -2/3, ..., 1: ColorBrewer's
// RdBu with white in the middle.
var rdbu = []color.RGBA{
	{0x21, 0x66, 0xac, 0xff}, {0x67, 0xa9, 0xcf, 0xff}, {0xd1, 0xe5, 0xf0, 0xff},
	{0xff, 0xff, 0xff, 0xff},
	{0xfd, 0xdb, 0xc7, 0xff}, {0xef, 0x8a, 0x62, 0xff}, {0xb2, 0x18, 0x2b, 0xff},
}

// diverging maps v in [-m, m] to blue through white to red, linearly
// interpolating rdbu; values outside are clipped, and NaN or m <= 0 give
// white.
func diverging(v, m float64) color.RGBA {
	if !(m > 0) || math.IsNaN(v) {
		return rdbu[3]
	}
	t := (math.Max(-1, math.Min(1, v/m)) + 1) / 2 * float64(len(rdbu)-1) // in [0, 6]
	i := min(int(t), len(rdbu)-2)
	f := t - float64(i)
	a, b := rdbu[i], rdbu[i+1]
	mix := func(p, q uint8) uint8 { return uint8(math.Round(float64(p) + f*(float64(q)-float64(p)))) }
	return color.RGBA{mix(a.R, b.R), mix(a.G, b.G), mix(a.B, b.B), 0xff}
}
