package bench

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/kdbus-go/kdbus/transport/address"
	"golang.org/x/sys/unix"
)

// userHZ is the unit of the CPU times in /proc/<pid>/stat: Linux reports them in USER_HZ
// ticks, 100 a second on every architecture Go supports.
const userHZ = 100

// ProcessCPU returns the user plus system CPU time that process pid (all its threads) has
// used, from /proc/<pid>/stat, to a resolution of 10 ms.
func ProcessCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseStatCPU(b)
}

// parseStatCPU reads utime and stime, fields 14 and 15, from a /proc/<pid>/stat line. The
// second field, the command name, is in parentheses and may hold spaces, so the fields are
// counted from the last ')'.
func parseStatCPU(b []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("bench: malformed /proc stat line %q", b)
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state), so field n is f[n-3].
	if len(f) < 13 {
		return 0, fmt.Errorf("bench: /proc stat line has %d fields after the name, want at least 13", len(f))
	}
	var ticks uint64
	for _, s := range f[11:13] {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("bench: /proc stat CPU time %q: %v", s, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / userHZ, nil
}

// ProcessRSS returns the resident set size of process pid in bytes, from /proc/<pid>/status.
func ProcessRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	return parseStatusRSS(b)
}

// parseStatusRSS reads the VmRSS line ("VmRSS:	  1234 kB") of /proc/<pid>/status.
func parseStatusRSS(b []byte) (int64, error) {
	for line := range strings.SplitSeq(string(b), "\n") {
		rest, ok := strings.CutPrefix(line, "VmRSS:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("bench: unexpected VmRSS line %q", line)
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("bench: VmRSS %q: %v", f[0], err)
		}
		return kb << 10, nil
	}
	return 0, fmt.Errorf("bench: no VmRSS line in /proc status")
}

// BusPID returns the process id of the bus listening at the first unix: entry of addr, as
// the kernel recorded it when the bus called listen(2) (SO_PEERCRED).
func BusPID(addr string) (int, error) {
	list, err := address.Parse(addr)
	if err != nil {
		return 0, err
	}
	for _, a := range list {
		if a.Transport != "unix" {
			continue
		}
		var ua *net.UnixAddr
		switch {
		case a.Params["path"] != "":
			ua = &net.UnixAddr{Name: a.Params["path"], Net: "unix"}
		case a.Params["abstract"] != "":
			ua = &net.UnixAddr{Name: "@" + a.Params["abstract"], Net: "unix"}
		default:
			continue
		}
		c, err := net.DialUnix("unix", nil, ua)
		if err != nil {
			return 0, err
		}
		defer c.Close()
		raw, err := c.SyscallConn()
		if err != nil {
			return 0, err
		}
		var cred *unix.Ucred
		var serr error
		if err := raw.Control(func(fd uintptr) {
			cred, serr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
		}); err != nil {
			return 0, err
		}
		if serr != nil {
			return 0, fmt.Errorf("bench: SO_PEERCRED on %s: %w", ua.Name, serr)
		}
		return int(cred.Pid), nil
	}
	return 0, fmt.Errorf("bench: no unix:path or unix:abstract entry in %q", addr)
}
