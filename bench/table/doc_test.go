package table

import (
	"os/exec"
	"strings"
	"testing"
	"time"
)

func TestParseCPUInfo(t *testing.T) {
	const info = `processor	: 0
vendor_id	: AuthenticAMD
model name	: AMD EPYC 7763 64-Core Processor
flags		: fpu vme

processor	: 1
vendor_id	: AuthenticAMD
model name	: AMD EPYC 7763 64-Core Processor
`
	model, cpus := parseCPUInfo(strings.NewReader(info))
	if model != "AMD EPYC 7763 64-Core Processor" || cpus != 2 {
		t.Errorf("parseCPUInfo = %q, %d", model, cpus)
	}
	// arm64 kernels list no model name.
	if model, cpus := parseCPUInfo(strings.NewReader("processor\t: 0\nBogoMIPS\t: 50.00\n")); !strings.HasPrefix(model, "unknown") || cpus != 1 {
		t.Errorf("parseCPUInfo without a model name = %q, %d", model, cpus)
	}
}

func TestParseMemTotal(t *testing.T) {
	if got := parseMemTotal(strings.NewReader("MemTotal:       16303804 kB\nMemFree:         1000 kB\n")); got != 16303804<<10 {
		t.Errorf("parseMemTotal = %d", got)
	}
	if got := parseMemTotal(strings.NewReader("MemFree: 1000 kB\n")); got != 0 {
		t.Errorf("parseMemTotal without MemTotal = %d", got)
	}
}

func TestReadMachine(t *testing.T) {
	m := ReadMachine(t.Context())
	if m.CPUs < 1 || m.CPU == "" || !strings.HasPrefix(m.Kernel, "Linux ") {
		t.Errorf("ReadMachine = %+v", m)
	}
	if !strings.HasPrefix(m.Go, "go version go") {
		t.Errorf("Go = %q", m.Go)
	}
	if _, err := exec.LookPath("dbus-daemon"); err != nil {
		if !strings.HasPrefix(m.DBusDaemon, "unknown (") {
			t.Errorf("DBusDaemon without dbus-daemon = %q", m.DBusDaemon)
		}
	} else if !strings.Contains(m.DBusDaemon, "D-Bus") {
		t.Errorf("DBusDaemon = %q", m.DBusDaemon)
	}
}

func TestCommand(t *testing.T) {
	got := Command([]string{"-count", "5", "-grpc", "-bench", "Ping/32B|First Call", "-doc", "docs/bench.md", "-o", "it's.md", ""})
	want := `go run ./bench/cmd/benchtable -count 5 -grpc -bench 'Ping/32B|First Call' -doc docs/bench.md -o 'it'\''s.md' ''`
	if got != want {
		t.Errorf("Command =\n%s\nwant\n%s", got, want)
	}
}

func TestWriteReport(t *testing.T) {
	res := parseFile(t, "bench.txt")
	tab := Build(res)
	r := Report{
		Command: "go run ./bench/cmd/benchtable -count 1 -doc docs/bench.md",
		Date:    time.Date(2026, 3, 4, 23, 0, 0, 0, time.FixedZone("", -3*3600)),
		Machine: Machine{CPU: "Test CPU 9000", CPUs: 2, Memory: 8 << 30, Kernel: "Linux 6.1.0 x86_64", Go: "go version go1.26.0 linux/amd64", DBusDaemon: "D-Bus Message Bus Daemon 1.14.10"},
		Readme:  "../bench/README.md",
		Chart:   "bench.svg",
	}
	var b strings.Builder
	if err := tab.WriteReport(&b, r); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	var table strings.Builder
	if err := tab.Markdown(&table, ""); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"](../bench/README.md)",
		"on 2026-03-05:", // the date in UTC
		"```sh\ngo run ./bench/cmd/benchtable -count 1 -doc docs/bench.md\n```",
		"| CPU | Test CPU 9000 |",
		"| logical CPUs | 2 |",
		"| memory | 8.0 GiB |",
		"| kernel | Linux 6.1.0 x86_64 |",
		"| Go | go version go1.26.0 linux/amd64 |",
		"| dbus-daemon | D-Bus Message Bus Daemon 1.14.10 |",
		table.String(),
		"](bench.svg)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the report lacks %q:\n%s", want, out)
		}
	}
	r.Chart = ""
	b.Reset()
	if err := tab.WriteReport(&b, r); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "## Chart") {
		t.Error("a report without a chart links one")
	}
}
