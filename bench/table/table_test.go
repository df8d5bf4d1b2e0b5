package table

import (
	"encoding/xml"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The test data are captured go test -bench output: bench.txt is a full run with -count 2,
// verbose.txt a few benchmarks of both modules with -v, one of them skipped, stream.txt the
// server-stream benchmarks of bench/grpccompare with -v and -count 2.

func parseFile(t *testing.T, name string) *Results {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res, err := Parse(f)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestParse(t *testing.T) {
	res := parseFile(t, "bench.txt")
	if res.CPU != "Oxide Virtual Turin-like Processor" {
		t.Errorf("CPU = %q", res.CPU)
	}
	if got := len(res.Names()); got != 41 {
		t.Errorf("%d benchmarks, want 41: %q", got, res.Names())
	}
	for _, c := range []struct {
		kase, target, unit string
		want               float64
	}{
		{"Ping/32B", "native", "ns/op", (237783 + 194056) / 2.0},
		{"Ping/32B", "native", "bus-cpu-µs/op", (116.4 + 108.2) / 2},
		{"Ping/32B", "godbus-dbus-daemon", "allocs/op", 587},
		{"Ping/1MiB", "memcpy", "MB/s", (13226.88 + 4751.43) / 2},
		{"Signal/1000subs", "dbus-daemon", "wakeups/signal", 10},
		{"IdleConns/4096", "kdbusd-classic", "KiB/conn", 17.15},
	} {
		got, ok := res.Median(c.kase, c.target, c.unit)
		if !ok || math.Abs(got-c.want) > 1e-9*c.want {
			t.Errorf("Median(%s, %s, %s) = %v, %v; want %v", c.kase, c.target, c.unit, got, ok, c.want)
		}
	}
	if n := res.Runs("Ping/32B", "native"); n != 2 {
		t.Errorf("Runs = %d, want 2", n)
	}
	if _, ok := res.Median("Inline/64MiB", "native", "ns/op"); ok {
		t.Error("a result for a benchmark that did not run")
	}
}

func TestParseVerbose(t *testing.T) {
	res := parseFile(t, "verbose.txt")
	want := []string{"Ping/32B/grpc-go", "Ping/32B/native", "Ping/32B/unix-socket"}
	if got := res.Names(); !slices.Equal(got, want) {
		t.Errorf("Names = %q, want %q", got, want)
	}
	out, ok := res.Outcome("Inline/64MiB", "native")
	if !ok || out.Status != "skip" || !strings.HasPrefix(out.Reason, "native does not carry a 64MiB payload inline: ") {
		t.Errorf("Outcome = %+v, %v", out, ok)
	}
	if got, _ := res.Median("Ping/32B", "grpc-go", "ns/op"); got != (492706+523602)/2.0 {
		t.Errorf("grpc-go median = %v", got)
	}
}

func TestParseFailuresAndOddLines(t *testing.T) {
	const out = `BenchmarkSignal/1000subs/native
    signal_test.go:99: matching subscribers received 5 of 10 signals within 1m0s
    --- FAIL: BenchmarkSignal/1000subs/native
--- FAIL: BenchmarkSignal/1000subs
BenchmarkOdd 12 34 ns/op 5
BenchmarkNoProcs/x/memcpy 	 100	 7.5 ns/op
BenchmarkRetried/x/native-8 	 1	 10 ns/op
--- SKIP: BenchmarkRetried/x/native
`
	res, err := Parse(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	o, ok := res.Outcome("Signal/1000subs", "native")
	if !ok || o.Status != "fail" || o.Reason != "matching subscribers received 5 of 10 signals within 1m0s" {
		t.Errorf("Outcome = %+v, %v", o, ok)
	}
	if v, ok := res.Median("NoProcs/x", "memcpy", "ns/op"); !ok || v != 7.5 {
		t.Errorf("a name without a GOMAXPROCS suffix: %v, %v", v, ok)
	}
	if len(res.samples["Odd"]) != 0 {
		t.Error("a line with an odd number of fields was taken as a result")
	}
	if _, err := Parse(strings.NewReader("BenchmarkX-2 10 abc ns/op\n")); err == nil {
		t.Error("a malformed value parsed")
	}
}

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want float64
	}{
		{[]float64{3}, 3},
		{[]float64{5, 1, 3}, 3},
		{[]float64{4, 1, 3, 2}, 2.5},
	} {
		if got := median(c.in); got != c.want {
			t.Errorf("median(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}

func TestMerge(t *testing.T) {
	res := parseFile(t, "bench.txt")
	res.Merge(parseFile(t, "verbose.txt"))
	if n := res.Runs("Ping/32B", "native"); n != 4 {
		t.Errorf("Runs after Merge = %d, want 4", n)
	}
	if _, ok := res.Median("Ping/32B", "grpc-go", "ns/op"); !ok {
		t.Error("grpc-go missing after Merge")
	}
	if _, ok := res.Outcome("Inline/64MiB", "native"); !ok {
		t.Error("the skip was lost in Merge")
	}
}

func row(t *testing.T, tab *Table, label, unit string) TableRow {
	t.Helper()
	for _, r := range tab.Rows {
		if r.Label == label && r.Unit == unit {
			return r
		}
	}
	t.Fatalf("no row %q (%s)", label, unit)
	return TableRow{}
}

func cell(t *testing.T, tab *Table, r TableRow, target string) string {
	t.Helper()
	i := slices.Index(tab.Columns, target)
	if i < 0 {
		t.Fatalf("no column %q in %q", target, tab.Columns)
	}
	return r.Cells[i]
}

func TestBuild(t *testing.T) {
	res := parseFile(t, "bench.txt")
	tab := Build(res)
	if want := []string{"native", "kdbusd-classic", "dbus-daemon", "godbus-dbus-daemon", "unix-socket", "memcpy"}; !slices.Equal(tab.Columns, want) {
		t.Errorf("Columns = %q, want %q", tab.Columns, want)
	}
	if !slices.Equal(tab.Baselines, Baselines) {
		t.Errorf("Baselines = %q", tab.Baselines)
	}
	if tab.Runs != 2 {
		t.Errorf("Runs = %d", tab.Runs)
	}
	unary := row(t, tab, "unary call, 32 B", "ns/op")
	if got := cell(t, tab, unary, "native"); got != "215.9 µs" {
		t.Errorf("native cell = %q", got)
	}
	if got := cell(t, tab, unary, "memcpy"); got != "—" {
		t.Errorf("memcpy cell = %q", got)
	}
	// native 215919.5 ns, unix-socket (53968+50090)/2 = 52029 ns.
	if unary.Ratios[0] != "4.15×" || unary.Ratios[1] != "" {
		t.Errorf("Ratios = %q", unary.Ratios)
	}
	// Not met on the raw ratio; grpc-go was not run, which leaves that part unknown.
	if unary.Verdict.Status != NotMet || !strings.Contains(unary.Verdict.Detail, "grpc-go not measured") {
		t.Errorf("Verdict = %+v", unary.Verdict)
	}
	oneWay := row(t, tab, "one-way messages, 32 B, pipelined", "msgs/s")
	// A rate: native's cost relative to unix-socket is the inverse ratio of the rates.
	nat, _ := res.Median("OneWay/32B", "native", "msgs/s")
	raw, _ := res.Median("OneWay/32B", "unix-socket", "msgs/s")
	if want := Format(raw/nat, "") + "×"; oneWay.Ratios[0] != want {
		t.Errorf("one-way ratio = %q, want %q", oneWay.Ratios[0], want)
	}
	if v := row(t, tab, "64 MiB payload, memfd", "ns/op").Verdict; v.Status != Met || v.Detail != "native ÷ memcpy = 0.36×" {
		t.Errorf("memfd verdict = %+v", v)
	}
	if v := row(t, tab, "… wake-ups per signal", "wakeups/signal").Verdict; v.Status != Met {
		t.Errorf("wake-ups verdict = %+v", v)
	}
	if v := row(t, tab, "bus memory per idle connection (4096)", "KiB/conn").Verdict; v.Status != Met || v.Detail != "native 18.5 KiB; classic 17.1 KiB" {
		t.Errorf("idle verdict = %+v", v)
	}
	if v := row(t, tab, "echo, 4 KiB", "ns/op").Verdict; v.Status != Unknown || v.Detail != "" {
		t.Errorf("a row without a target: %+v", v)
	}
}

func TestBuildWithGRPCAndSkips(t *testing.T) {
	res := parseFile(t, "verbose.txt")
	tab := Build(res)
	if want := []string{"native", "grpc-go", "unix-socket"}; !slices.Equal(tab.Columns, want) {
		t.Errorf("Columns = %q, want %q", tab.Columns, want)
	}
	unary := row(t, tab, "unary call, 32 B", "ns/op")
	// grpc-go (492706+523602)/2 = 508154 ns, native (242365+277770)/2 = 260067.5 ns: 1.95×,
	// met; the dbus-daemon and godbus columns did not run, which leaves the target unknown.
	if !strings.Contains(unary.Verdict.Detail, "grpc-go ÷ native = 1.95×") || unary.Verdict.Status != Unknown {
		t.Errorf("Verdict = %+v", unary.Verdict)
	}
	inline := row(t, tab, "64 MiB payload, inline", "ns/op")
	if got := cell(t, tab, inline, "native"); got != "skip [1]" {
		t.Errorf("skipped cell = %q", got)
	}
	if len(tab.Notes) != 1 || !strings.HasPrefix(tab.Notes[0], "Inline/64MiB/native: native does not carry") {
		t.Errorf("Notes = %q", tab.Notes)
	}
}

func TestBuildStream(t *testing.T) {
	res := parseFile(t, "stream.txt")
	for _, c := range []struct {
		kase, unit string
		want       float64
	}{
		{"Stream32B", "frames/s", (292730 + 362214) / 2.0},
		{"Stream32B", "bytes/s", (9367345 + 11590834) / 2.0},
		{"Stream64KiB", "MB/s", (175.22 + 261.14) / 2},
		{"Stream64KiB", "frames/s", (2674 + 3985) / 2.0},
	} {
		got, ok := res.Median(c.kase, "grpc-go", c.unit)
		if !ok || math.Abs(got-c.want) > 1e-9*c.want {
			t.Errorf("Median(%s, grpc-go, %s) = %v, %v; want %v", c.kase, c.unit, got, ok, c.want)
		}
	}
	tab := Build(res)
	if want := []string{"grpc-go"}; !slices.Equal(tab.Columns, want) {
		t.Errorf("Columns = %q, want %q", tab.Columns, want)
	}
	for _, c := range []struct{ label, unit, cell string }{
		{"server stream, 32 B frames", "frames/s", "327.5 k/s"},
		{"server stream, 64 KiB frames", "MB/s", "218 MB/s"},
	} {
		r := row(t, tab, c.label, c.unit)
		if got := cell(t, tab, r, "grpc-go"); got != c.cell {
			t.Errorf("%s: grpc-go cell = %q, want %q", c.label, got, c.cell)
		}
		if r.Verdict.Status != Unknown || r.Verdict.Detail != "native not measured" {
			t.Errorf("%s: Verdict = %+v, want native not measured", c.label, r.Verdict)
		}
	}
}

func TestMarkdown(t *testing.T) {
	res := parseFile(t, "bench.txt")
	res.Merge(parseFile(t, "verbose.txt"))
	var b strings.Builder
	if err := Build(res).Markdown(&b, res.CPU); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	lines := strings.Split(out, "\n")
	var table []string
	for _, l := range lines {
		if strings.HasPrefix(l, "|") {
			table = append(table, l)
		}
	}
	if len(table) != 2+len(Rows) {
		t.Fatalf("%d table lines, want %d:\n%s", len(table), 2+len(Rows), out)
	}
	cols := strings.Count(table[0], " |")
	for _, l := range table {
		if n := strings.Count(l, " |") - strings.Count(l, `\|`); n != cols {
			t.Errorf("%d columns, want %d: %s", n, cols, l)
		}
	}
	for _, want := range []string{
		"| case | unit | native | kdbusd-classic | dbus-daemon | godbus-dbus-daemon | grpc-go | unix-socket | memcpy | native ÷ unix-socket | native ÷ memcpy | target | this run |",
		"on Oxide Virtual Turin-like Processor",
		"| bus CPU per call + reply, 32 B | bus-cpu-µs/op |",
		"**met**: native ÷ memcpy = 0.36×",
		"1. Inline/64MiB/native: native does not carry",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the table lacks %q:\n%s", want, out)
		}
	}
}

func TestSVG(t *testing.T) {
	res := parseFile(t, "bench.txt")
	tab := Build(res)
	var b strings.Builder
	if err := tab.SVG(&b, res.CPU); err != nil {
		t.Fatal(err)
	}
	d := xml.NewDecoder(strings.NewReader(b.String()))
	rects := 0
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("the SVG is not well-formed XML: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "rect" {
			rects++
		}
	}
	want := 1 // the background
	for _, r := range tab.Rows {
		for i, v := range r.Values {
			if slices.Contains(ChartColumns, tab.Columns[i]) && !math.IsNaN(v) {
				want++
			}
		}
	}
	if rects != want {
		t.Errorf("%d rects, want %d (a background and one bar per value of a chart column)", rects, want)
	}
	if strings.Contains(b.String(), ">kdbusd-classic<") || !strings.Contains(b.String(), ">unix-socket<") {
		t.Error("the chart draws other columns than ChartColumns")
	}
}

func TestFormat(t *testing.T) {
	for _, c := range []struct {
		v    float64
		unit string
		want string
	}{
		{37.2, "ns/op", "37 ns"},
		{215919.5, "ns/op", "215.9 µs"},
		{11.18e6, "ns/op", "11.18 ms"},
		{2.19e9, "ns/op", "2.19 s"},
		{112.3, "bus-cpu-µs/op", "112.3 µs"},
		{20556, "bus-cpu-µs/op", "20.56 ms"},
		{4175, "signals/s", "4.2 k/s"},
		{1.5e6, "msgs/s", "1.50 M/s"},
		{18.46, "KiB/conn", "18.5 KiB"},
		{10, "wakeups/signal", "10.00"},
		{228.25, "MB/s", "228 MB/s"},
	} {
		if got := Format(c.v, c.unit); got != c.want {
			t.Errorf("Format(%v, %q) = %q, want %q", c.v, c.unit, got, c.want)
		}
	}
}

func TestArgs(t *testing.T) {
	c := Config{Pattern: "Ping/32B", Count: 3, Benchtime: "2s", Timeout: "1h"}
	want := []string{"test", "-run", "^$", "-bench", "Ping/32B", "-benchmem", "-v", "-count", "3", "-benchtime", "2s", "-timeout", "1h", "./bench"}
	if got := c.Args("./bench"); !slices.Equal(got, want) {
		t.Errorf("Args = %q, want %q", got, want)
	}
}

func TestModuleRoot(t *testing.T) {
	root, err := ModuleRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, GRPCDir, "go.mod")); err != nil {
		t.Errorf("ModuleRoot = %s, which has no %s: %v", root, GRPCDir, err)
	}
	// The nested module's go.mod is not the main module's: the search goes past it.
	if got, err := ModuleRoot(filepath.Join(root, GRPCDir)); err != nil || got != root {
		t.Errorf("ModuleRoot(%s) = %s, %v; want %s", GRPCDir, got, err, root)
	}
	if _, err := ModuleRoot(t.TempDir()); err == nil {
		t.Error("ModuleRoot found a module outside the repository")
	}
}

func TestMarkdownOneRun(t *testing.T) {
	var b strings.Builder
	if err := Build(resultsOf(onTarget())).Markdown(&b, ""); err != nil {
		t.Fatal(err)
	}
	if out := b.String(); !strings.HasPrefix(out, "One run of each benchmark.") {
		t.Errorf("the header of a table of one run: %q", out[:min(len(out), 80)])
	}
}
