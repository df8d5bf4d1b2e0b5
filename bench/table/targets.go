package table

import (
	"fmt"
	"strings"
)

// Columns are the targets, in the order of the table's columns. They are the names of the
// benchmarks' last elements (package bench's Target constants).
var Columns = []string{"native", "native-routed", "kdbusd-classic", "dbus-daemon", "godbus-dbus-daemon", "grpc-go", "unix-socket", "memcpy"}

// Baselines are the targets that the native column is compared with in ratio columns.
var Baselines = []string{"unix-socket", "memcpy"}

// The columns the targets name.
const (
	native       = "native"
	nativeRouted = "native-routed"
	classic      = "kdbusd-classic"
	dbusDaemon   = "dbus-daemon"
	godbus       = "godbus-dbus-daemon"
	grpcGo       = "grpc-go"
	unixSocket   = "unix-socket"
	memcpy       = "memcpy"
)

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

// Rows are the rows of the table, in order. The targets are those of bench/README.md
// ("Performance targets"); a target that speaks of several metrics is scored on the row of
// each.
var Rows = []Row{
	{Label: "unary call, 32 B", Case: "Ping/32B", Unit: "ns/op",
		Target: "native ≤ 2× unix-socket; ≥ 4× faster than dbus-daemon; faster than grpc-go; ≥ 7× faster than godbus",
		check: func(v values) Verdict {
			return all(
				v.ratio(native, unixSocket, "ns/op", "native ÷ unix-socket = %.2f×", func(r float64) bool { return r <= 2 }),
				v.ratio(dbusDaemon, native, "ns/op", "dbus-daemon ÷ native = %.2f×", func(r float64) bool { return r >= 4 }),
				v.ratio(grpcGo, native, "ns/op", "grpc-go ÷ native = %.2f×", func(r float64) bool { return r > 1 }),
				v.ratio(godbus, native, "ns/op", "godbus ÷ native = %.2f×", func(r float64) bool { return r >= 7 }),
			)
		}},
	{Label: "one-way messages, 32 B, pipelined", Case: "OneWay/32B", Unit: "msgs/s", Higher: true,
		Target: "native ≥ 10× godbus; ≥ 3× dbus-daemon",
		check: func(v values) Verdict {
			return all(
				v.ratio(native, godbus, "msgs/s", "native ÷ godbus = %.2f×", func(r float64) bool { return r >= 10 }),
				v.ratio(native, dbusDaemon, "msgs/s", "native ÷ dbus-daemon = %.2f×", func(r float64) bool { return r >= 3 }),
			)
		}},
	{Label: "server stream, 32 B frames", Case: "Stream32B", Unit: "frames/s", Higher: true,
		Target: "native ≥ 3× grpc-go",
		check: func(v values) Verdict {
			return v.ratio(native, grpcGo, "frames/s", "native ÷ grpc-go = %.2f×", func(r float64) bool { return r >= 3 })
		}},
	{Label: "server stream, 64 KiB frames", Case: "Stream64KiB", Unit: "MB/s", Higher: true,
		Target: "native ≥ grpc-go",
		check: func(v values) Verdict {
			return v.ratio(native, grpcGo, "MB/s", "native ÷ grpc-go = %.2f×", func(r float64) bool { return r >= 1 })
		}},
	{Label: "first call to a new peer, 32 B (lane setup included)", Case: "FirstCall/32B", Unit: "ns/op",
		Target: "native ≤ 3× native-routed",
		check: func(v values) Verdict {
			return v.ratio(native, nativeRouted, "ns/op", "native ÷ native-routed = %.2f×", func(r float64) bool { return r <= 3 })
		}},
	{Label: "echo, 4 KiB", Case: "Ping/4KiB", Unit: "ns/op"},
	{Label: "echo, 64 KiB", Case: "Ping/64KiB", Unit: "ns/op"},
	{Label: "echo, 1 MiB", Case: "Ping/1MiB", Unit: "ns/op",
		Target: "native faster than unix-socket; ≥ 2× faster than grpc-go",
		check: func(v values) Verdict {
			return all(
				v.ratio(native, unixSocket, "ns/op", "native ÷ unix-socket = %.2f×", func(r float64) bool { return r < 1 }),
				v.ratio(grpcGo, native, "ns/op", "grpc-go ÷ native = %.2f×", func(r float64) bool { return r >= 2 }),
			)
		}},
	{Label: "64 MiB payload, memfd", Case: "Memfd/64MiB", Unit: "ns/op",
		Target: "native faster than one memcpy of it",
		check: func(v values) Verdict {
			return v.ratio(native, memcpy, "ns/op", "native ÷ memcpy = %.2f×", func(r float64) bool { return r < 1 })
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
	{Label: "… bus CPU per signal", Case: "Signal/1000subs", Unit: "bus-cpu-µs/op",
		Target: "native ≤ ½ dbus-daemon",
		check: func(v values) Verdict {
			return v.ratio(native, dbusDaemon, "bus-cpu-µs/op", "native ÷ dbus-daemon = %.2f×", func(r float64) bool { return r <= 0.5 })
		}},
	{Label: "bus CPU per call + reply, 32 B", Case: "Ping/32B", Unit: "bus-cpu-µs/op",
		Target: busCPUTarget, check: busCPU},
	{Label: "bus CPU per call + reply, 1 MiB", Case: "Ping/1MiB", Unit: "bus-cpu-µs/op",
		Target: busCPUTarget, check: busCPU},
	{Label: "bus memory per idle connection (4096)", Case: "IdleConns/4096", Unit: "KiB/conn",
		Target: "4096 on one kdbusd, ≤ 32 KiB each",
		check: func(v values) Verdict {
			return all(
				v.limit(native, "KiB/conn", 32, func(x float64) string { return fmt.Sprintf("native %.1f KiB", x) }),
				v.limit(classic, "KiB/conn", 32, func(x float64) string { return fmt.Sprintf("classic %.1f KiB", x) }),
			)
		}},
}

// busCPUTarget is the target of the bus's CPU time per call and reply: on a lane the bus
// does nothing, and what it routes costs it no more than dbus-daemon.
const busCPUTarget = "native (lane) ≤ 2 µs; native-routed and kdbusd-classic ≤ dbus-daemon"

func busCPU(v values) Verdict {
	return all(
		v.limit(native, "bus-cpu-µs/op", 2, func(x float64) string { return fmt.Sprintf("native %.2f µs", x) }),
		v.ratio(nativeRouted, dbusDaemon, "bus-cpu-µs/op", "native-routed ÷ dbus-daemon = %.2f×", func(r float64) bool { return r <= 1 }),
		v.ratio(classic, dbusDaemon, "bus-cpu-µs/op", "kdbusd-classic ÷ dbus-daemon = %.2f×", func(r float64) bool { return r <= 1 }),
	)
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
