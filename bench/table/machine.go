package table

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Machine describes the computer a run measured, for the report to say where its numbers
// come from.
type Machine struct {
	// CPU is the processor's model name (/proc/cpuinfo).
	CPU string
	// CPUs is the number of logical processors (/proc/cpuinfo).
	CPUs int
	// Memory is the total memory in bytes (/proc/meminfo); 0 when unknown.
	Memory uint64
	// Kernel is the operating system, its release and the hardware (uname -srm).
	Kernel string
	// Go is what `go version` printed.
	Go string
	// DBusDaemon is the first line of `dbus-daemon --version`.
	DBusDaemon string
}

// ReadMachine describes this computer. What it cannot find out reads "unknown" and why,
// rather than failing: a report with a gap in its header is still worth having.
func ReadMachine(ctx context.Context) Machine {
	var m Machine
	if f, err := os.Open("/proc/cpuinfo"); err != nil {
		m.CPU = unknown(err)
	} else {
		m.CPU, m.CPUs = parseCPUInfo(f)
		f.Close()
	}
	if f, err := os.Open("/proc/meminfo"); err == nil {
		m.Memory = parseMemTotal(f)
		f.Close()
	}
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		m.Kernel = unknown(err)
	} else {
		m.Kernel = strings.Join([]string{unix.ByteSliceToString(u.Sysname[:]), unix.ByteSliceToString(u.Release[:]), unix.ByteSliceToString(u.Machine[:])}, " ")
	}
	m.Go = firstLine(ctx, "go", "version")
	m.DBusDaemon = firstLine(ctx, "dbus-daemon", "--version")
	return m
}

func unknown(err error) string { return fmt.Sprintf("unknown (%v)", err) }

// firstLine runs a command and returns the first line of its output.
func firstLine(ctx context.Context, name string, args ...string) string {
	out, err := exec.CommandContext(ctx, name, args...).Output()
	if err != nil {
		return unknown(err)
	}
	line, _, _ := strings.Cut(string(out), "\n")
	return strings.TrimSpace(line)
}

// parseCPUInfo returns the model name of the first processor /proc/cpuinfo lists and how
// many it lists.
func parseCPUInfo(r io.Reader) (model string, cpus int) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		key, value, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		switch strings.TrimSpace(key) {
		case "processor":
			cpus++
		case "model name":
			if model == "" {
				model = strings.TrimSpace(value)
			}
		}
	}
	if model == "" {
		model = "unknown (no model name in /proc/cpuinfo)"
	}
	return model, cpus
}

// parseMemTotal returns the MemTotal of /proc/meminfo in bytes, or 0.
func parseMemTotal(r io.Reader) uint64 {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0
		}
		kb, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil {
			return 0
		}
		return kb << 10
	}
	return 0
}
