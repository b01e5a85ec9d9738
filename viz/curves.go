package viz

import (
	"errors"
	"fmt"
	"image/color"
	"math"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Curves figure geometry: 10×4 inches, PNG at curvesDPI (1500×600 pixels).
const (
	curvesWidth  = 10 * vg.Inch
	curvesHeight = 4 * vg.Inch
	curvesDPI    = 150
)

// palette is Tableau 10, the default colour cycle of matplotlib; run i
// gets palette[i%len(palette)].
var palette = []color.RGBA{
	{0x1f, 0x77, 0xb4, 0xff}, {0xff, 0x7f, 0x0e, 0xff}, {0x2c, 0xa0, 0x2c, 0xff},
	{0xd6, 0x27, 0x28, 0xff}, {0x94, 0x67, 0xbd, 0xff}, {0x8c, 0x56, 0x4b, 0xff},
	{0xe3, 0x77, 0xc2, 0xff}, {0x7f, 0x7f, 0x7f, 0xff}, {0xbc, 0xbd, 0x22, 0xff},
	{0x17, 0xbe, 0xcf, 0xff},
}

// glyphs are the point markers; run i gets glyphs[i%len(glyphs)], so that
// runs stay apart in grey-scale print.
var glyphs = []draw.GlyphDrawer{
	draw.CircleGlyph{}, draw.SquareGlyph{}, draw.TriangleGlyph{}, draw.PyramidGlyph{},
	draw.CrossGlyph{}, draw.PlusGlyph{}, draw.RingGlyph{}, draw.BoxGlyph{},
}

// Curves draws the learning curves of runs into out: training loss
// (Epoch.Loss, the full objective including the weighted VAT term) per epoch
// on the left and test accuracy (Epoch.TestAcc, in percent) per epoch on the
// right, one line with markers per run, labelled with Run.Label in a legend.
// NaN values leave a gap in a line. The figure is 10×4 inches, written as SVG
// when out ends in .svg (any case) and as a 1500×600 PNG otherwise.
//
// Curves panics if runs is empty or holds a nil *Run. It returns an error if
// no run has an epoch record or if out cannot be written.
func Curves(out string, runs []*Run) error {
	if len(runs) == 0 {
		panic("viz: Curves: no runs")
	}
	haveEpochs := false
	for i, r := range runs {
		if r == nil {
			panic(fmt.Sprintf("viz: Curves: runs[%d] is nil", i))
		}
		haveEpochs = haveEpochs || len(r.Epochs) > 0
	}
	if !haveEpochs {
		return errors.New("viz: Curves: no epoch records in any run")
	}

	loss := newCurvePlot("Training loss", "loss (CE + weight × VAT)")
	acc := newCurvePlot("Test accuracy", "accuracy (%)")
	for i, r := range runs {
		label := r.Label
		if len(r.Epochs) == 0 {
			label += " (no epochs)"
		}
		thumbs, err := addSeries(loss, r.Epochs, i, func(e Epoch) float64 { return e.Loss })
		if err != nil {
			return err
		}
		if _, err := addSeries(acc, r.Epochs, i, func(e Epoch) float64 { return 100 * e.TestAcc }); err != nil {
			return err
		}
		loss.Legend.Add(label, thumbs...)
	}
	loss.Legend.Top = true
	loss.Legend.XOffs = -4
	loss.Legend.YOffs = -4

	c := newCanvas(out, curvesWidth, curvesHeight, curvesDPI)
	dc := draw.New(c)
	fillBackground(dc)
	tiles := draw.Tiles{Rows: 1, Cols: 2, PadX: 0.35 * vg.Inch,
		PadTop: 0.1 * vg.Inch, PadBottom: 0.05 * vg.Inch, PadLeft: 0.05 * vg.Inch, PadRight: 0.15 * vg.Inch}
	cs := plot.Align([][]*plot.Plot{{loss, acc}}, tiles, dc)
	loss.Draw(cs[0][0])
	acc.Draw(cs[0][1])
	return save(out, c)
}

// newCurvePlot returns an empty per-epoch plot with a light grid.
func newCurvePlot(title, ylabel string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "epoch"
	p.Y.Label.Text = ylabel
	p.X.Tick.Marker = plot.TickerFunc(integerTicks)
	for _, f := range []*font.Font{&p.Title.TextStyle.Font, &p.X.Label.TextStyle.Font,
		&p.Y.Label.TextStyle.Font, &p.X.Tick.Label.Font, &p.Y.Tick.Label.Font, &p.Legend.TextStyle.Font} {
		f.Typeface, f.Variant = sans.Typeface, sans.Variant
	}
	p.Title.TextStyle.Font.Size = 13
	p.X.Label.TextStyle.Font.Size = 11
	p.Y.Label.TextStyle.Font.Size = 11
	p.Legend.TextStyle.Font.Size = 10
	g := plotter.NewGrid()
	g.Vertical.Color = color.Gray{0xe0}
	g.Horizontal.Color = color.Gray{0xe0}
	p.Add(g)
	return p
}

// addSeries adds to p the finite values of y over epochs as the i-th run's
// line with markers, one segment per stretch of finite values, and returns
// the legend thumbnails of the run's style.
func addSeries(p *plot.Plot, epochs []Epoch, i int, y func(Epoch) float64) ([]plot.Thumbnailer, error) {
	line := draw.LineStyle{Color: palette[i%len(palette)], Width: 1.5}
	glyph := draw.GlyphStyle{Color: palette[i%len(palette)], Radius: 2.5, Shape: glyphs[i%len(glyphs)]}
	var seg plotter.XYs
	flush := func() error {
		if len(seg) == 0 {
			return nil
		}
		l, s, err := plotter.NewLinePoints(seg)
		if err != nil {
			return fmt.Errorf("viz: Curves: %v", err)
		}
		l.LineStyle, s.GlyphStyle = line, glyph
		p.Add(l, s)
		seg = nil
		return nil
	}
	for _, e := range epochs {
		v := y(e)
		if math.IsNaN(v) || math.IsInf(v, 0) {
			if err := flush(); err != nil {
				return nil, err
			}
			continue
		}
		seg = append(seg, plotter.XY{X: float64(e.Epoch), Y: v})
	}
	if err := flush(); err != nil {
		return nil, err
	}
	l := &plotter.Line{LineStyle: line}
	s := &plotter.Scatter{GlyphStyle: glyph}
	return []plot.Thumbnailer{l, s}, nil
}

// integerTicks labels whole numbers from min to max, every 1, 2, 5, 10, 20,
// ... so that there are at most 12 labels, and marks the other whole numbers
// as minor ticks when there are at most 50 of them.
func integerTicks(min, max float64) []plot.Tick {
	lo, hi := math.Ceil(min), math.Floor(max)
	if hi < lo {
		return nil
	}
	step := 1.0
	for k := 0; (hi-lo)/step > 11; k++ {
		step *= []float64{2, 2.5, 2}[k%3] // 1, 2, 5, 10, 20, 50, ...
	}
	var ticks []plot.Tick
	for v := math.Ceil(lo/step) * step; v <= hi; v += step {
		ticks = append(ticks, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'f', -1, 64)})
	}
	if step > 1 && hi-lo <= 50 {
		for v := lo; v <= hi; v++ {
			if math.Mod(v, step) != 0 {
				ticks = append(ticks, plot.Tick{Value: v})
			}
		}
	}
	return ticks
}
