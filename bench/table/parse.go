// Package table turns the output of the benchmarks in package bench into a side-by-side
// table: one row per case, one column per target, the ratios against the baselines, and the
// performance target of the case (bench/README.md) with whether this run met it. It also
// draws the table as a bar chart in SVG.
package table

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Results are the samples of benchmark runs, by benchmark name: the name without its
// "Benchmark" prefix and GOMAXPROCS suffix, such as "Ping/32B/native", whose last element is
// the target and the rest the case.
type Results struct {
	// CPU is the processor the benchmarks ran on, from the "cpu:" line.
	CPU string
	// samples holds every sample of every metric: name → unit → values.
	samples map[string]map[string][]float64
	// outcomes holds the benchmarks that skipped or failed: name → outcome.
	outcomes map[string]Outcome
}

// Outcome is how a benchmark that produced no result ended.
type Outcome struct {
	// Status is "skip" or "fail".
	Status string
	// Reason is what the benchmark logged, one line.
	Reason string
}

// procsSuffix is the -GOMAXPROCS suffix go test appends to benchmark names.
var procsSuffix = regexp.MustCompile(`-\d+$`)

// Parse reads the output of go test -bench, with or without -v, and collects every result
// line; several runs (-count) of a benchmark give several samples. With -v it also records the
// benchmarks that skipped or failed, and why.
func Parse(r io.Reader) (*Results, error) {
	res := &Results{samples: map[string]map[string][]float64{}, outcomes: map[string]Outcome{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	var logged []string // indented lines since the last unindented one: a benchmark's log
	for sc.Scan() {
		line := sc.Text()
		trimmed := strings.TrimLeft(line, " ")
		switch {
		case strings.HasPrefix(trimmed, "--- SKIP: "), strings.HasPrefix(trimmed, "--- FAIL: "):
			status := "skip"
			if strings.HasPrefix(trimmed, "--- FAIL: ") {
				status = "fail"
			}
			f := strings.Fields(trimmed[len("--- SKIP: "):])
			if len(f) == 0 {
				break
			}
			if name, ok := benchName(f[0]); ok {
				res.outcomes[name] = Outcome{Status: status, Reason: reason(logged)}
			}
		case strings.HasPrefix(line, "    "):
			logged = append(logged, strings.TrimSpace(line))
			continue
		case strings.HasPrefix(line, "cpu: "):
			res.CPU = strings.TrimSpace(strings.TrimPrefix(line, "cpu: "))
		case strings.HasPrefix(line, "Benchmark"):
			if err := res.parseResult(line); err != nil {
				return nil, err
			}
		}
		logged = logged[:0]
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return res, nil
}

// reason makes one line of a benchmark's log, without the file:line prefixes.
func reason(lines []string) string {
	var out []string
	for _, l := range lines {
		if i := strings.Index(l, ": "); i > 0 && strings.Contains(l[:i], ".go:") {
			l = l[i+2:]
		}
		out = append(out, l)
	}
	return strings.Join(out, " ")
}

// benchName strips the prefix and suffix from a benchmark's name as go test prints it.
func benchName(s string) (string, bool) {
	name, ok := strings.CutPrefix(s, "Benchmark")
	if !ok || name == "" {
		return "", false
	}
	return procsSuffix.ReplaceAllString(name, ""), true
}

// parseResult records a result line: the name, the iteration count, then value-unit pairs.
// Lines that start with "Benchmark" but are not results (-v prints a benchmark's name alone
// before it runs) are ignored.
func (res *Results) parseResult(line string) error {
	f := strings.Fields(line)
	if len(f) < 4 || len(f)%2 != 0 {
		return nil
	}
	if _, err := strconv.ParseInt(f[1], 10, 64); err != nil {
		return nil
	}
	name, ok := benchName(f[0])
	if !ok {
		return nil
	}
	metrics := map[string]float64{}
	for i := 2; i < len(f); i += 2 {
		v, err := strconv.ParseFloat(f[i], 64)
		if err != nil {
			return fmt.Errorf("table: benchmark line %q: value %q: %v", line, f[i], err)
		}
		metrics[f[i+1]] = v
	}
	m := res.samples[name]
	if m == nil {
		m = map[string][]float64{}
		res.samples[name] = m
	}
	for unit, v := range metrics {
		m[unit] = append(m[unit], v)
	}
	delete(res.outcomes, name)
	return nil
}

// Merge adds the samples and outcomes of o to res.
func (res *Results) Merge(o *Results) {
	if res.CPU == "" {
		res.CPU = o.CPU
	}
	for name, units := range o.samples {
		m := res.samples[name]
		if m == nil {
			m = map[string][]float64{}
			res.samples[name] = m
		}
		for unit, vs := range units {
			m[unit] = append(m[unit], vs...)
		}
	}
	for name, out := range o.outcomes {
		if _, ok := res.samples[name]; !ok {
			res.outcomes[name] = out
		}
	}
}

// Median returns the median of the samples of the benchmark case/target in unit.
func (res *Results) Median(kase, target, unit string) (float64, bool) {
	vs := res.samples[kase+"/"+target][unit]
	if len(vs) == 0 {
		return 0, false
	}
	return median(vs), true
}

// Runs returns how many samples of ns/op the benchmark case/target has.
func (res *Results) Runs(kase, target string) int {
	return len(res.samples[kase+"/"+target]["ns/op"])
}

// Outcome returns how the benchmark case/target ended when it produced no result.
func (res *Results) Outcome(kase, target string) (Outcome, bool) {
	o, ok := res.outcomes[kase+"/"+target]
	return o, ok
}

// Names returns the names of the benchmarks with results, sorted.
func (res *Results) Names() []string {
	var names []string
	for n := range res.samples {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func median(vs []float64) float64 {
	s := slices.Clone(vs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}
