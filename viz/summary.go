package viz

import (
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"
)

// Summary writes a table of the runs' last epochs to w: for each run its
// label, the epochs it reached of those its configuration planned, and
// its validation and test error (in %, of the run's model: the averaged
// weights with --ema, whose weights as trained get two more columns); then,
// for two or more runs, each column's mean and sample standard deviation
// (n-1) over the runs that report it. An absent value prints as "-". A run
// that has not reached its planned epochs is marked, and so is a mean over
// runs that ended at different epochs, so that a partial run cannot pass
// for a finished one.
//
// Summary panics if runs is empty or holds nil; it returns an error naming
// the run if one holds no epoch, or w's error.
func Summary(w io.Writer, runs []*Run) error {
	if len(runs) == 0 {
		panic("viz: Summary of no runs")
	}
	current := false
	for _, r := range runs {
		if r == nil {
			panic("viz: Summary of a nil run")
		}
		if len(r.Epochs) == 0 {
			return fmt.Errorf("viz: %s: no epoch records", r.Label)
		}
		last := r.Epochs[len(r.Epochs)-1]
		current = current || !math.IsNaN(last.CurrentValAcc) || !math.IsNaN(last.CurrentTestAcc)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	head := "run\tepochs\tval error\ttest error"
	if current {
		head += "\tval error as trained\ttest error as trained"
	}
	fmt.Fprintln(tw, head)
	ncol := 2
	if current {
		ncol = 4
	}
	cols := make([][]float64, ncol)
	partial, ends := false, map[int]bool{}
	for _, r := range runs {
		last := r.Epochs[len(r.Epochs)-1]
		vals := []float64{errPct(last.ValAcc), errPct(last.TestAcc), errPct(last.CurrentValAcc), errPct(last.CurrentTestAcc)}[:ncol]
		epochs := fmt.Sprint(last.Epoch)
		if planned, ok := r.Config["Epochs"].(float64); ok {
			epochs += fmt.Sprintf("/%d", int(planned))
			if last.Epoch < int(planned) {
				epochs += " (unfinished)"
				partial = true
			}
		}
		ends[last.Epoch] = true
		row := []string{r.Label, epochs}
		for i, v := range vals {
			row = append(row, pct(v))
			if !math.IsNaN(v) {
				cols[i] = append(cols[i], v)
			}
		}
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	if len(runs) > 1 {
		note := ""
		switch {
		case partial:
			note = " (unfinished runs included)"
		case len(ends) > 1:
			note = " (runs ended at different epochs)"
		}
		row := []string{fmt.Sprintf("mean ± sd of %d%s", len(runs), note), ""}
		for _, c := range cols {
			row = append(row, meanSD(c, len(runs)))
		}
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	return tw.Flush()
}

// errPct is the error in % of an accuracy in [0, 1]; NaN stays NaN.
func errPct(acc float64) float64 { return 100 * (1 - acc) }

func pct(v float64) string {
	if math.IsNaN(v) {
		return "-"
	}
	return fmt.Sprintf("%.2f%%", v)
}

// meanSD formats the mean and sample standard deviation of vs, saying how
// many of n runs they cover when not all.
func meanSD(vs []float64, n int) string {
	if len(vs) == 0 {
		return "-"
	}
	var sum float64
	for _, v := range vs {
		sum += v
	}
	m := sum / float64(len(vs))
	s := fmt.Sprintf("%.2f%%", m)
	if len(vs) > 1 {
		var ss float64
		for _, v := range vs {
			ss += (v - m) * (v - m)
		}
		s += fmt.Sprintf(" ± %.2f", math.Sqrt(ss/float64(len(vs)-1)))
	}
	if len(vs) < n {
		s += fmt.Sprintf(" (%d of %d runs)", len(vs), n)
	}
	return s
}
