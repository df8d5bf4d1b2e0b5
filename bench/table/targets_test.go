package table

import (
	"maps"
	"strings"
	"testing"
)

// onTarget is a run that meets every target, each by a small margin, so that a small change
// to one metric misses it. name → unit → value.
func onTarget() map[string]map[string]float64 {
	return map[string]map[string]float64{
		"Ping/32B/native":               {"ns/op": 20000, "bus-cpu-µs/op": 0.5},
		"Ping/32B/native-routed":        {"ns/op": 60000, "bus-cpu-µs/op": 30},
		"Ping/32B/kdbusd-classic":       {"ns/op": 70000, "bus-cpu-µs/op": 35},
		"Ping/32B/dbus-daemon":          {"ns/op": 100000, "bus-cpu-µs/op": 40},
		"Ping/32B/godbus-dbus-daemon":   {"ns/op": 150000, "bus-cpu-µs/op": 45},
		"Ping/32B/grpc-go":              {"ns/op": 30000},
		"Ping/32B/unix-socket":          {"ns/op": 12000},
		"OneWay/32B/native":             {"ns/op": 2000, "msgs/s": 500000},
		"OneWay/32B/dbus-daemon":        {"ns/op": 6667, "msgs/s": 150000},
		"OneWay/32B/godbus-dbus-daemon": {"ns/op": 25000, "msgs/s": 40000},
		"Stream32B/native":              {"ns/op": 500, "frames/s": 2e6, "bytes/s": 64e6, "MB/s": 64},
		"Stream32B/native-routed":       {"ns/op": 2000, "frames/s": 5e5, "bytes/s": 16e6, "MB/s": 16},
		"Stream32B/dbus-daemon":         {"ns/op": 4000, "frames/s": 2.5e5, "bytes/s": 8e6, "MB/s": 8},
		"Stream32B/grpc-go":             {"ns/op": 1500, "frames/s": 6.6e5, "bytes/s": 21.12e6, "MB/s": 21.12},
		"Stream64KiB/native":            {"ns/op": 40000, "frames/s": 25000, "bytes/s": 1638.4e6, "MB/s": 1638.4},
		"Stream64KiB/dbus-daemon":       {"ns/op": 400000, "frames/s": 2500, "bytes/s": 163.84e6, "MB/s": 163.84},
		"Stream64KiB/grpc-go":           {"ns/op": 40500, "frames/s": 24691, "bytes/s": 1618.2e6, "MB/s": 1618.2},
		"FirstCall/32B/native":          {"ns/op": 150000},
		"FirstCall/32B/native-routed":   {"ns/op": 60000},
		"FirstCall/32B/dbus-daemon":     {"ns/op": 120000},
		"Ping/1MiB/native":              {"ns/op": 400000, "bus-cpu-µs/op": 1},
		"Ping/1MiB/native-routed":       {"ns/op": 2e6, "bus-cpu-µs/op": 200},
		"Ping/1MiB/kdbusd-classic":      {"ns/op": 3e6, "bus-cpu-µs/op": 300},
		"Ping/1MiB/dbus-daemon":         {"ns/op": 1e7, "bus-cpu-µs/op": 1000},
		"Ping/1MiB/grpc-go":             {"ns/op": 900000},
		"Ping/1MiB/unix-socket":         {"ns/op": 500000},
		"Ping/1MiB/memcpy":              {"ns/op": 100000},
		"Memfd/64MiB/native":            {"ns/op": 1e6},
		"Memfd/64MiB/memcpy":            {"ns/op": 5e6},
		"Signal/1000subs/native":        {"ns/op": 1e5, "signals/s": 10000, "wakeups/signal": 10.5, "false-wakeups/signal": 0.5, "bus-cpu-µs/op": 20},
		"Signal/1000subs/dbus-daemon":   {"ns/op": 2e5, "signals/s": 5000, "wakeups/signal": 10, "false-wakeups/signal": 0, "bus-cpu-µs/op": 50},
		"IdleConns/4096/native":         {"ns/op": 1e6, "KiB/conn": 20},
		"IdleConns/4096/kdbusd-classic": {"ns/op": 1e6, "KiB/conn": 18},
	}
}

// resultsOf makes Results of one sample per metric.
func resultsOf(run map[string]map[string]float64) *Results {
	res := &Results{samples: map[string]map[string][]float64{}, outcomes: map[string]Outcome{}}
	for name, units := range run {
		res.samples[name] = map[string][]float64{}
		for unit, v := range units {
			res.samples[name][unit] = []float64{v}
		}
	}
	return res
}

// verdicts returns the verdict of every row with a target, by label and unit.
func verdicts(res *Results) map[string]Verdict {
	out := map[string]Verdict{}
	for _, r := range Rows {
		if r.Target != "" {
			out[r.Label+" ("+r.Unit+")"] = r.Check(res)
		}
	}
	return out
}

func TestTargetsMet(t *testing.T) {
	for row, v := range verdicts(resultsOf(onTarget())) {
		if v.Status != Met {
			t.Errorf("%s: %v: %s", row, v.Status, v.Detail)
		}
	}
}

// Each change to a run that met every target misses, or leaves unmeasured, the target of
// one row and no other.
func TestTargetsMissed(t *testing.T) {
	for _, c := range []struct {
		name, unit string
		value      float64 // 0: the metric is missing
		row        string
		status     Status
		detail     string
	}{
		{"Ping/32B/native", "ns/op", 25000, "unary call, 32 B (ns/op)", NotMet, "native ÷ unix-socket = 2.08×"},
		{"Ping/32B/dbus-daemon", "ns/op", 79000, "unary call, 32 B (ns/op)", NotMet, "dbus-daemon ÷ native = 3.95×"},
		{"Ping/32B/grpc-go", "ns/op", 20000, "unary call, 32 B (ns/op)", NotMet, "grpc-go ÷ native = 1.00×"},
		{"Ping/32B/grpc-go", "ns/op", 0, "unary call, 32 B (ns/op)", Unknown, "grpc-go not measured"},
		{"Ping/32B/godbus-dbus-daemon", "ns/op", 139000, "unary call, 32 B (ns/op)", NotMet, "godbus ÷ native = 6.95×"},
		{"OneWay/32B/godbus-dbus-daemon", "msgs/s", 51000, "one-way messages, 32 B, pipelined (msgs/s)", NotMet, "native ÷ godbus = 9.80×"},
		{"OneWay/32B/dbus-daemon", "msgs/s", 170000, "one-way messages, 32 B, pipelined (msgs/s)", NotMet, "native ÷ dbus-daemon = 2.94×"},
		{"Stream32B/native", "frames/s", 1.97e6, "server stream, 32 B frames (frames/s)", NotMet, "native ÷ grpc-go = 2.98×"},
		{"Stream32B/grpc-go", "frames/s", 0, "server stream, 32 B frames (frames/s)", Unknown, "grpc-go not measured"},
		{"Stream32B/native", "frames/s", 0, "server stream, 32 B frames (frames/s)", Unknown, "native not measured"},
		{"Stream64KiB/grpc-go", "MB/s", 1700, "server stream, 64 KiB frames (MB/s)", NotMet, "native ÷ grpc-go = 0.96×"},
		{"Stream64KiB/native", "MB/s", 0, "server stream, 64 KiB frames (MB/s)", Unknown, "native not measured"},
		{"FirstCall/32B/native", "ns/op", 181000, "first call to a new peer, 32 B (lane setup included) (ns/op)", NotMet, "native ÷ native-routed = 3.02×"},
		{"FirstCall/32B/native-routed", "ns/op", 0, "first call to a new peer, 32 B (lane setup included) (ns/op)", Unknown, "native-routed not measured"},
		{"Ping/1MiB/unix-socket", "ns/op", 400000, "echo, 1 MiB (ns/op)", NotMet, "native ÷ unix-socket = 1.00×"},
		{"Ping/1MiB/grpc-go", "ns/op", 790000, "echo, 1 MiB (ns/op)", NotMet, "grpc-go ÷ native = 1.98×"},
		{"Memfd/64MiB/memcpy", "ns/op", 1e6, "64 MiB payload, memfd (ns/op)", NotMet, "native ÷ memcpy = 1.00×"},
		{"Signal/1000subs/native", "false-wakeups/signal", 10, "… wake-ups per signal (wakeups/signal)", NotMet, "10.00 non-matching wake-ups"},
		{"Signal/1000subs/dbus-daemon", "bus-cpu-µs/op", 39, "… bus CPU per signal (bus-cpu-µs/op)", NotMet, "native ÷ dbus-daemon = 0.51×"},
		{"Ping/32B/native", "bus-cpu-µs/op", 2.5, "bus CPU per call + reply, 32 B (bus-cpu-µs/op)", NotMet, "native 2.50 µs"},
		{"Ping/32B/native-routed", "bus-cpu-µs/op", 41, "bus CPU per call + reply, 32 B (bus-cpu-µs/op)", NotMet, "native-routed ÷ dbus-daemon = 1.02×"},
		{"Ping/1MiB/kdbusd-classic", "bus-cpu-µs/op", 1010, "bus CPU per call + reply, 1 MiB (bus-cpu-µs/op)", NotMet, "kdbusd-classic ÷ dbus-daemon = 1.01×"},
		{"Ping/1MiB/native", "bus-cpu-µs/op", 0, "bus CPU per call + reply, 1 MiB (bus-cpu-µs/op)", Unknown, "native not measured"},
		{"IdleConns/4096/native", "KiB/conn", 33, "bus memory per idle connection (4096) (KiB/conn)", NotMet, "native 33.0 KiB"},
	} {
		run := onTarget()
		units := maps.Clone(run[c.name])
		if c.value == 0 {
			delete(units, c.unit)
		} else {
			units[c.unit] = c.value
		}
		run[c.name] = units
		vs := verdicts(resultsOf(run))
		if _, ok := vs[c.row]; !ok {
			t.Fatalf("no row %q with a target", c.row)
		}
		for row, v := range vs {
			switch {
			case row == c.row && (v.Status != c.status || !strings.Contains(v.Detail, c.detail)):
				t.Errorf("%s %s = %v: %s: %v (%s), want %v with %q", c.name, c.unit, c.value, row, v.Status, v.Detail, c.status, c.detail)
			case row != c.row && v.Status != Met:
				t.Errorf("%s %s = %v changed another row: %s: %v (%s)", c.name, c.unit, c.value, row, v.Status, v.Detail)
			}
		}
	}
}

// Every column has a colour of its own in the chart.
func TestColors(t *testing.T) {
	seen := map[string]string{}
	for _, c := range Columns {
		if other, ok := seen[color(c)]; ok {
			t.Errorf("%s and %s share the colour %s", c, other, color(c))
		}
		seen[color(c)] = c
	}
	for _, c := range ChartColumns {
		if _, ok := seen[color(c)]; !ok {
			t.Errorf("chart column %s is not a column", c)
		}
	}
}
