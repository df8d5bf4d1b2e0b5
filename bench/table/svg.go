package table

import (
	"fmt"
	"html"
	"io"
	"math"
	"slices"
	"strings"
)

// Chart geometry, in SVG user units (pixels).
const (
	chartWidth  = 960
	labelWidth  = 170 // target names, left of the bars
	barMax      = 560 // the longest bar in a group
	barHeight   = 16
	barGap      = 4
	groupGap    = 18
	titleHeight = 22
	margin      = 12
)

// colors are the bars' fills, one per entry of Columns.
var colors = []string{"#1f77b4", "#9ecae1", "#6a51a3", "#ff7f0e", "#d62728", "#2ca02c", "#7f7f7f", "#bdbdbd"}

// ChartColumns are the targets the chart draws: kdbus-go with and without lanes beside
// dbus-daemon, grpc-go and the raw socket. The other columns stay in the table, which the
// chart's rows refer to.
var ChartColumns = []string{"native", "native-routed", "dbus-daemon", "grpc-go", "unix-socket"}

// SVG draws the table as a bar chart: a group of horizontal bars per row, one bar per chart
// column (ChartColumns) with a result, scaled to the longest bar in the group and labelled
// with its value. Rows with no such result are left out.
func (t *Table) SVG(w io.Writer, cpu string) error {
	var body strings.Builder
	y := margin + titleHeight
	title := "kdbus-go benchmarks"
	if cpu != "" {
		title += " on " + cpu
	}
	fmt.Fprintf(&body, "<text x=\"%d\" y=\"%d\" font-size=\"16\" font-weight=\"bold\">%s</text>\n", margin, y-6, esc(title))
	for _, r := range t.Rows {
		top := math.Inf(-1)
		for i, v := range r.Values {
			if charted(t.Columns[i]) && !math.IsNaN(v) {
				top = max(top, v)
			}
		}
		if math.IsInf(top, -1) {
			continue
		}
		y += groupGap
		better := "lower is better"
		if r.Higher {
			better = "higher is better"
		}
		head := fmt.Sprintf("%s (%s, %s)", r.Label, r.Unit, better)
		fmt.Fprintf(&body, "<text x=\"%d\" y=\"%d\" font-size=\"13\" font-weight=\"bold\">%s</text>\n", margin, y, esc(head))
		if r.Target != "" {
			y += titleHeight - 6
			fmt.Fprintf(&body, "<text x=\"%d\" y=\"%d\" font-size=\"12\" fill=\"%s\">%s</text>\n", margin, y, verdictColor(r.Verdict.Status),
				esc(fmt.Sprintf("target: %s — %s", r.Target, r.Verdict.Status)))
		}
		y += barGap + 2
		for i, c := range t.Columns {
			v := r.Values[i]
			if !charted(c) || math.IsNaN(v) {
				continue
			}
			n := 1.0
			if top > 0 {
				n = max(1, math.Round(v/top*barMax))
			}
			fmt.Fprintf(&body, "<text x=\"%d\" y=\"%d\" font-size=\"12\" text-anchor=\"end\">%s</text>\n", margin+labelWidth-6, y+barHeight-4, esc(c))
			fmt.Fprintf(&body, "<rect x=\"%d\" y=\"%d\" width=\"%.0f\" height=\"%d\" fill=\"%s\"/>\n", margin+labelWidth, y, n, barHeight, color(c))
			fmt.Fprintf(&body, "<text x=\"%.0f\" y=\"%d\" font-size=\"12\">%s</text>\n", float64(margin+labelWidth)+n+6, y+barHeight-4, esc(r.Cells[i]))
			y += barHeight + barGap
		}
	}
	y += margin
	_, err := fmt.Fprintf(w, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" font-family=\"sans-serif\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n%s</svg>\n",
		chartWidth, y, chartWidth, y, body.String())
	return err
}

func charted(target string) bool { return slices.Contains(ChartColumns, target) }

// verdictColor colours a target's line by whether it was met.
func verdictColor(s Status) string {
	switch s {
	case Met:
		return "#2ca02c"
	case NotMet:
		return "#d62728"
	}
	return "#555555"
}

func color(target string) string {
	if i := slices.Index(Columns, target); i >= 0 {
		return colors[i%len(colors)]
	}
	return colors[len(colors)-1]
}

func esc(s string) string { return html.EscapeString(s) }
