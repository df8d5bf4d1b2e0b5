package table

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
)

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
	if t.Runs > 1 {
		fmt.Fprintf(&b, "Medians of up to %d runs", t.Runs)
	} else {
		b.WriteString("One run of each benchmark")
	}
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
