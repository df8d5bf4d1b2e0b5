package table

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// Report is a checked-in record of one run: how it was produced, on what, and what it
// measured. Writing it again from a new run replaces the whole file.
type Report struct {
	// Command is the command line that produced the report, as a reader would type it.
	Command string
	// Date is when the run ended.
	Date    time.Time
	Machine Machine
	// Readme is the link to bench/README.md, relative to the report.
	Readme string
	// Chart is the link to the SVG chart, relative to the report; "" when there is none.
	Chart string
}

// WriteReport writes the report of table t in Markdown: the command, the machine, the table
// with its notes and the chart.
func (t *Table) WriteReport(w io.Writer, r Report) error {
	var b strings.Builder
	b.WriteString("# Benchmarks: one run\n\n")
	b.WriteString("<!-- Written by bench/cmd/benchtable: run the command below again rather than edit this file. -->\n\n")
	fmt.Fprintf(&b, "kdbus-go beside the buses and libraries it replaces, every case in one run on one machine, "+
		"scored against the performance targets. [bench/README.md](%s) says what each column and row measures "+
		"and lists the targets.\n\n", r.Readme)
	b.WriteString("## How it was produced\n\n")
	fmt.Fprintf(&b, "From the root of the repository, on %s:\n\n```sh\n%s\n```\n\n", r.Date.UTC().Format("2006-01-02"), r.Command)
	b.WriteString("## Machine\n\n")
	writeRow(&b, []string{"machine", ""})
	writeRow(&b, []string{"---", "---"})
	writeRow(&b, []string{"CPU", r.Machine.CPU})
	writeRow(&b, []string{"logical CPUs", fmt.Sprint(r.Machine.CPUs)})
	if r.Machine.Memory > 0 {
		writeRow(&b, []string{"memory", fmt.Sprintf("%.1f GiB", float64(r.Machine.Memory)/(1<<30))})
	}
	writeRow(&b, []string{"kernel", r.Machine.Kernel})
	writeRow(&b, []string{"Go", r.Machine.Go})
	writeRow(&b, []string{"dbus-daemon", r.Machine.DBusDaemon})
	b.WriteString("\n## Results\n\n")
	if err := t.Markdown(&b, ""); err != nil {
		return err
	}
	if r.Chart != "" {
		fmt.Fprintf(&b, "\n## Chart\n\n![Each row of the table as bars: %s](%s)\n", strings.Join(ChartColumns, ", "), r.Chart)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// Command returns the command line of benchtable run with args, quoted for a POSIX shell,
// as the report shows it.
func Command(args []string) string {
	words := []string{"go", "run", "./bench/cmd/benchtable"}
	for _, a := range args {
		words = append(words, shellQuote(a))
	}
	return strings.Join(words, " ")
}

// shellQuote quotes s for a POSIX shell when it holds anything the shell would interpret.
func shellQuote(s string) string {
	plain := s != ""
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("-_./=:,+@%", c)) {
			plain = false
			break
		}
	}
	if plain {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
