package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/vatgpu/vatgpu/vat"
)

// progressBar draws one epoch's progress on a terminal, redrawn in place:
//
//	epoch 3/12 [==========>         ] 30720/60000  ETA 14s  loss 0.1234
//
// On anything but a terminal it draws nothing, so logs hold only the
// per-epoch lines.
type progressBar struct {
	w      io.Writer
	epochs int
	tty    bool
	drawn  bool
}

func newProgressBar(w io.Writer, epochs int) *progressBar {
	tty := false
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			tty = true
		}
	}
	return &progressBar{w: w, epochs: epochs, tty: tty}
}

func (p *progressBar) update(pr vat.Progress) {
	if !p.tty || pr.Total == 0 {
		return
	}
	const width = 30
	frac := float64(pr.Done) / float64(pr.Total)
	fill := int(frac * width)
	bar := strings.Repeat("=", fill)
	if fill < width {
		bar += ">" + strings.Repeat(" ", width-fill-1)
	}
	eta := "?"
	if frac > 0 {
		eta = (time.Duration(float64(pr.Elapsed) * (1 - frac) / frac)).Round(time.Second).String()
	}
	fmt.Fprintf(p.w, "\repoch %d/%d [%s] %d/%d  ETA %s  loss %.4f ", pr.Epoch, p.epochs, bar, pr.Done, pr.Total, eta, pr.Loss)
	p.drawn = true
}

// clear erases the bar before a line is printed.
func (p *progressBar) clear() {
	if p.drawn {
		fmt.Fprintf(p.w, "\r%s\r", strings.Repeat(" ", 100))
		p.drawn = false
	}
}
