package viz

import (
	"fmt"
	"image/color"
	"os"
	"path/filepath"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// sans is the typeface of all text: Liberation Sans, embedded in gonum plot,
// so that no system font is needed.
var sans = font.Font{Typeface: "Liberation", Variant: "Sans"}

// textStyle returns a plain-text style of sans at size, coloured c.
func textStyle(size vg.Length, c color.Color) text.Style {
	return text.Style{
		Color:   c,
		Font:    font.Font{Typeface: sans.Typeface, Variant: sans.Variant, Size: size},
		Handler: plot.DefaultTextHandler,
	}
}

// isSVG reports whether out names an SVG file.
func isSVG(out string) bool {
	return strings.EqualFold(filepath.Ext(out), ".svg")
}

// newCanvas returns a w×h canvas that writes SVG when out ends in .svg and
// PNG at dpi otherwise.
func newCanvas(out string, w, h vg.Length, dpi int) vg.CanvasWriterTo {
	if isSVG(out) {
		return vgsvg.New(w, h)
	}
	return vgimg.PngCanvas{Canvas: vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(dpi))}
}

// save writes c to the file out.
func save(out string, c vg.CanvasWriterTo) error {
	f, err := os.Create(out)
	if err != nil {
		return fmt.Errorf("viz: %v", err)
	}
	if _, err := c.WriteTo(f); err != nil {
		f.Close()
		return fmt.Errorf("viz: writing %s: %v", out, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("viz: writing %s: %v", out, err)
	}
	return nil
}

// fillBackground paints the whole of c white, so that SVG output is not
// transparent.
func fillBackground(c draw.Canvas) {
	r := c.Rectangle
	c.FillPolygon(color.White, []vg.Point{r.Min, {X: r.Max.X, Y: r.Min.Y}, r.Max, {X: r.Min.X, Y: r.Max.Y}})
}
