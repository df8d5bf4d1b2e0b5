package table

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
)

// Columns are the targets, in the order of the table's columns. They are the names of the
// benchmarks' last elements (package bench's Target constants).
var Columns = []string{"native", "kdbusd-classic", "dbus-daemon", "godbus-dbus-daemon", "grpc-go", "unix-socket", "memcpy"}

// Baselines are the targets that the native column is compared with in ratio columns.
var Baselines = []string{"unix-socket", "memcpy"}

// The native target, whose row values the ratios and design targets judge.
const native = "native"

// Row is one line of the table: one metric of one benchmark case, across targets.
type Row struct {
	// Label says what the row measures.
	Label string
	// Case is the benchmark name without its target, such as "Ping/32B".
	Case string
	// Unit is the metric shown, as the benchmark reports it ("ns/op", "msgs/s", …).
	Unit string
	// Higher says a higher value is better (a rate); otherwise lower is better (a cost).
	Higher bool
	// Target is the case's performance target (bench/README.md), or "".
	Target string
	// check judges the run against Target.
	check func(v values) Verdict
}

// Rows are the rows of the table, in order.
var Rows = []Row{
	{Label: "unary call, 32 B", Case: "Ping/32B", Unit: "ns/op",
		Target: "native ≤ 2× unix-socket; ≥ 2× faster than grpc-go; ≥ 7× faster than godbus",
		check: func(v values) Verdict {
			return all(
				v.ratio(native, "unix-socket", "ns/op", "native ÷ unix-socket = %.2f×", func(r float64) bool { return r <= 2 }),
				v.ratio("grpc-go", native, "ns/op", "grpc-go ÷ native = %.2f×", func(r float64) bool { return r >= 2 }),
				v.ratio("godbus-dbus-daemon", native, "ns/op", "godbus ÷ native = %.2f×", func(r float64) bool { return r >= 7 }),
			)
		}},
	{Label: "one-way messages, 32 B, pipelined", Case: "OneWay/32B", Unit: "msgs/s", Higher: true,
		Target: "native ≥ 10× godbus",
		check: func(v values) Verdict {
			return v.ratio(native, "godbus-dbus-daemon", "msgs/s", "native ÷ godbus = %.2f×", func(r float64) bool { return r >= 10 })
		}},
	{Label: "echo, 4 KiB", Case: "Ping/4KiB", Unit: "ns/op"},
	{Label: "echo, 64 KiB", Case: "Ping/64KiB", Unit: "ns/op"},
	{Label: "echo, 1 MiB", Case: "Ping/1MiB", Unit: "ns/op",
		Target: "native ≥ 25% of memcpy bandwidth",
		check: func(v values) Verdict {
			return v.ratio(native, "memcpy", "MB/s", "native ÷ memcpy bandwidth = %.3f", func(r float64) bool { return r >= 0.25 })
		}},
	{Label: "64 MiB payload, memfd", Case: "Memfd/64MiB", Unit: "ns/op",
		Target: "native faster than one memcpy of it",
		check: func(v values) Verdict {
			return v.ratio(native, "memcpy", "ns/op", "native ÷ memcpy = %.2f×", func(r float64) bool { return r < 1 })
		}},
	{Label: "64 MiB payload, inline", Case: "Inline/64MiB", Unit: "ns/op"},
	{Label: "signal to 1000 subscribers, 10 match", Case: "Signal/1000subs", Unit: "signals/s", Higher: true},
	{Label: "… wake-ups per signal", Case: "Signal/1000subs", Unit: "wakeups/signal",
		Target: "only the 10 matching wake, plus ≤ 1% false positives",
		check: func(v values) Verdict {
			return v.limit(native, "false-wakeups/signal", 0.01*990, func(x float64) string {
				return fmt.Sprintf("%.2f non-matching wake-ups per signal (≤ 9.9, 1%% of 990)", x)
			})
		}},
	{Label: "… bus CPU per signal", Case: "Signal/1000subs", Unit: "bus-cpu-µs/op"},
	{Label: "bus CPU per call + reply, 32 B", Case: "Ping/32B", Unit: "bus-cpu-µs/op",
		Target: "native ≤ 20 µs",
		check: func(v values) Verdict {
			return v.limit(native, "bus-cpu-µs/op", 20, func(x float64) string { return fmt.Sprintf("%.1f µs", x) })
		}},
	{Label: "bus CPU per call + reply, 1 MiB", Case: "Ping/1MiB", Unit: "bus-cpu-µs/op",
		Target: "native ≤ 250 µs",
		check: func(v values) Verdict {
			return v.limit(native, "bus-cpu-µs/op", 250, func(x float64) string { return fmt.Sprintf("%.0f µs", x) })
		}},
	{Label: "bus memory per idle connection (4096)", Case: "IdleConns/4096", Unit: "KiB/conn",
		Target: "4096 on one kdbusd, ≤ 32 KiB each",
		check: func(v values) Verdict {
			return all(
				v.limit(native, "KiB/conn", 32, func(x float64) string { return fmt.Sprintf("native %.1f KiB", x) }),
				v.limit("kdbusd-classic", "KiB/conn", 32, func(x float64) string { return fmt.Sprintf("classic %.1f KiB", x) }),
			)
		}},
}

// Status is whether a run met a target.
type Status int

// The statuses, from the best.
const (
	Met Status = iota
	Unknown
	NotMet
)

func (s Status) String() string {
	switch s {
	case Met:
		return "met"
	case NotMet:
		return "not met"
	}
	return "not measured"
}

// Verdict is a run judged against a target: the status and the measurements that decided it.
type Verdict struct {
	Status Status
	Detail string
}

// values gives a row's checks the medians of its case.
type values struct {
	res  *Results
	kase string
}

func (v values) get(target, unit string) (float64, bool) { return v.res.Median(v.kase, target, unit) }

// ratio judges num/den, the medians of two targets' metric in unit, with ok, and describes it
// with format, which takes the ratio.
func (v values) ratio(num, den, unit, format string, ok func(float64) bool) Verdict {
	n, ok1 := v.get(num, unit)
	d, ok2 := v.get(den, unit)
	switch {
	case !ok1:
		return Verdict{Unknown, num + " not measured"}
	case !ok2 || d == 0:
		return Verdict{Unknown, den + " not measured"}
	}
	r := n / d
	if ok(r) {
		return Verdict{Met, fmt.Sprintf(format, r)}
	}
	return Verdict{NotMet, fmt.Sprintf(format, r)}
}

// limit judges a target's metric against an upper bound.
func (v values) limit(target, unit string, max float64, describe func(float64) string) Verdict {
	x, ok := v.get(target, unit)
	if !ok {
		return Verdict{Unknown, target + " not measured"}
	}
	if x <= max {
		return Verdict{Met, describe(x)}
	}
	return Verdict{NotMet, describe(x)}
}

// all combines verdicts: the worst status, every detail.
func all(vs ...Verdict) Verdict {
	var out Verdict
	var details []string
	for _, v := range vs {
		out.Status = max(out.Status, v.Status)
		details = append(details, v.Detail)
	}
	out.Detail = strings.Join(details, "; ")
	return out
}

// Check judges the row's case in res against the row's target. A row without a target is
// Unknown with no detail.
func (r Row) Check(res *Results) Verdict {
	if r.check == nil {
		return Verdict{Status: Unknown}
	}
	return r.check(values{res, r.Case})
}

// Table is the side-by-side table of one set of results.
type Table struct {
	// Columns are the targets that have a result or an outcome in some row, in Columns order.
	Columns []string
	// Baselines are the baselines among Columns.
	Baselines []string
	Rows      []TableRow
	// Notes explain the cells of benchmarks that skipped or failed, numbered as the cells
	// refer to them.
	Notes []string
	// Runs is the largest number of samples behind a cell.
	Runs int
}

// TableRow is a row with its cells filled in.
type TableRow struct {
	Row
	// Cells hold the row's text for each of the table's columns.
	Cells []string
	// Values hold the medians behind the cells; NaN where there is none.
	Values []float64
	// Ratios hold native's cost as a multiple of each baseline's, "" where either is missing.
	Ratios  []string
	Verdict Verdict
}

// Build lays out res as a table.
func Build(res *Results) *Table {
	t := &Table{}
	present := map[string]bool{}
	for _, r := range Rows {
		for _, c := range Columns {
			_, ok := res.Median(r.Case, c, r.Unit)
			_, out := res.Outcome(r.Case, c)
			if ok || out {
				present[c] = true
			}
			t.Runs = max(t.Runs, res.Runs(r.Case, c))
		}
	}
	for _, c := range Columns {
		if present[c] {
			t.Columns = append(t.Columns, c)
			if slices.Contains(Baselines, c) {
				t.Baselines = append(t.Baselines, c)
			}
		}
	}
	notes := map[string]int{}
	for _, r := range Rows {
		tr := TableRow{Row: r, Verdict: r.Check(res)}
		for _, c := range t.Columns {
			v, ok := res.Median(r.Case, c, r.Unit)
			switch out, failed := res.Outcome(r.Case, c); {
			case ok:
				tr.Cells = append(tr.Cells, Format(v, r.Unit))
				tr.Values = append(tr.Values, v)
				continue
			case failed:
				note := fmt.Sprintf("%s/%s: %s", r.Case, c, out.Reason)
				n, seen := notes[note]
				if !seen {
					t.Notes = append(t.Notes, note)
					n = len(t.Notes)
					notes[note] = n
				}
				tr.Cells = append(tr.Cells, fmt.Sprintf("%s [%d]", out.Status, n))
			default:
				tr.Cells = append(tr.Cells, "—")
			}
			tr.Values = append(tr.Values, math.NaN())
		}
		for _, base := range t.Baselines {
			tr.Ratios = append(tr.Ratios, costRatio(res, r, base))
		}
		t.Rows = append(t.Rows, tr)
	}
	return t
}

// costRatio returns native's cost in row r as a multiple of base's: native/base for a cost,
// base/native for a rate.
func costRatio(res *Results, r Row, base string) string {
	n, ok1 := res.Median(r.Case, native, r.Unit)
	b, ok2 := res.Median(r.Case, base, r.Unit)
	if !ok1 || !ok2 || n == 0 || b == 0 {
		return ""
	}
	if r.Higher {
		return fmt.Sprintf("%.2f×", b/n)
	}
	return fmt.Sprintf("%.2f×", n/b)
}

// Markdown writes the table in Markdown: a header line, the table, its notes.
func (t *Table) Markdown(w io.Writer, cpu string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "Medians of up to %d runs", t.Runs)
	if cpu != "" {
		fmt.Fprintf(&b, " on %s", cpu)
	}
	b.WriteString(". Costs (time, CPU, memory): lower is better; rates (/s): higher is better. ")
	b.WriteString("“native ÷ X” is native's cost as a multiple of X's.\n\n")
	head := []string{"case", "unit"}
	head = append(head, t.Columns...)
	for _, base := range t.Baselines {
		head = append(head, "native ÷ "+base)
	}
	head = append(head, "target", "this run")
	writeRow(&b, head)
	sep := make([]string, len(head))
	for i := range sep {
		sep[i] = "---"
		if i >= 2 && i < 2+len(t.Columns)+len(t.Baselines) {
			sep[i] = "---:"
		}
	}
	writeRow(&b, sep)
	for _, r := range t.Rows {
		cells := []string{r.Label, r.Unit}
		cells = append(cells, r.Cells...)
		cells = append(cells, r.Ratios...)
		if r.Target == "" {
			cells = append(cells, "", "")
		} else {
			cells = append(cells, r.Target, fmt.Sprintf("**%s**: %s", r.Verdict.Status, r.Verdict.Detail))
		}
		writeRow(&b, cells)
	}
	if len(t.Notes) > 0 {
		b.WriteString("\n")
		for i, n := range t.Notes {
			fmt.Fprintf(&b, "%d. %s\n", i+1, escapeCell(n))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func writeRow(b *strings.Builder, cells []string) {
	b.WriteString("|")
	for _, c := range cells {
		b.WriteString(" ")
		b.WriteString(escapeCell(c))
		b.WriteString(" |")
	}
	b.WriteString("\n")
}

// escapeCell keeps text from breaking a Markdown table row.
func escapeCell(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s)
}

// Format writes v in unit for a reader: durations in ns, µs, ms or s; rates in k/s or M/s.
func Format(v float64, unit string) string {
	switch unit {
	case "ns/op":
		switch {
		case v >= 1e9:
			return fmt.Sprintf("%.2f s", v/1e9)
		case v >= 1e6:
			return fmt.Sprintf("%.2f ms", v/1e6)
		case v >= 1e3:
			return fmt.Sprintf("%.1f µs", v/1e3)
		}
		return fmt.Sprintf("%.0f ns", v)
	case "bus-cpu-µs/op":
		if v >= 1e3 {
			return fmt.Sprintf("%.2f ms", v/1e3)
		}
		return fmt.Sprintf("%.1f µs", v)
	case "KiB/conn":
		return fmt.Sprintf("%.1f KiB", v)
	case "MB/s":
		return fmt.Sprintf("%.0f MB/s", v)
	}
	if strings.HasSuffix(unit, "/s") {
		switch {
		case v >= 1e6:
			return fmt.Sprintf("%.2f M/s", v/1e6)
		case v >= 1e3:
			return fmt.Sprintf("%.1f k/s", v/1e3)
		}
		return fmt.Sprintf("%.0f /s", v)
	}
	return fmt.Sprintf("%.2f", v)
}
