package memfd

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// The tests that need a second process run this test binary again with helperEnv naming the
// part to play; the descriptor under test arrives as fd 3 through cmd.ExtraFiles.
const helperEnv = "MEMFD_TEST_HELPER"

func TestMain(m *testing.M) {
	if role := os.Getenv(helperEnv); role != "" {
		os.Exit(runHelper(role))
	}
	os.Exit(m.Run())
}

// passedFd is the descriptor a helper receives: ExtraFiles[0] becomes fd 3.
const passedFd = 3

func runHelper(role string) int {
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	report := func(name string, err error) {
		if err != nil {
			fmt.Fprintf(out, "FAIL %s: %v\n", name, err)
		} else {
			fmt.Fprintf(out, "PASS %s\n", name)
		}
		out.Flush()
	}
	switch role {
	case "pool-client":
		poolClient(report)
	case "payload-receiver":
		payloadReceiver(report)
	case "stale-slice":
		staleSlice()
	default:
		fmt.Fprintf(os.Stderr, "unknown helper role %q\n", role)
		return 2
	}
	return 0
}

// poolClient plays a client that was handed its receive pool and tries every way to write it.
func poolClient(report func(string, error)) {
	m, err := MapPool(passedFd)
	report("MapPool", err)
	if err != nil {
		return
	}
	defer m.Close()
	pool := m.Bytes()
	fmt.Println("READY")

	// The bus writes after the client mapped the pool, then says where.
	line, err := bufio.NewReader(os.Stdin).ReadString('\n')
	if err != nil {
		report("visible-after-map", fmt.Errorf("reading the CHECK line: %v", err))
		return
	}
	var off int
	var want string
	if _, err := fmt.Sscanf(line, "CHECK %d %s", &off, &want); err != nil {
		report("visible-after-map", fmt.Errorf("parsing %q: %v", line, err))
		return
	}
	wantBytes, _ := hex.DecodeString(want)
	if got := pool[off : off+len(wantBytes)]; !bytes.Equal(got, wantBytes) {
		report("visible-after-map", fmt.Errorf("at offset %d the client sees %x, the bus wrote %x", off, got, wantBytes))
	} else {
		report("visible-after-map", nil)
	}
	before := sha256.Sum256(pool)

	for _, a := range writeAttacks(passedFd, len(pool)) {
		report(a.name, a.run())
	}
	report("mprotect-pool-mapping-writable", expectFailure(func() error {
		return unix.Mprotect(pool, unix.PROT_READ|unix.PROT_WRITE)
	}))
	report("madvise-remove-on-pool-mapping", expectFailure(func() error {
		return unix.Madvise(pool, unix.MADV_REMOVE)
	}))
	report("add-seal", expectFailure(func() error {
		return addSeals(passedFd, unix.F_SEAL_WRITE)
	}))

	// A private writable mapping is allowed, but its writes must stay private.
	priv, err := unix.Mmap(passedFd, 0, len(pool), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE)
	if err == nil {
		for i := range priv {
			priv[i] = 0xEE
		}
		unix.Munmap(priv)
	}
	if after := sha256.Sum256(pool); after != before {
		report("pool-unchanged-after-attacks", errors.New("the pool's contents changed"))
	} else {
		report("pool-unchanged-after-attacks", nil)
	}
}

// payloadReceiver plays a receiver of a sealed payload whose size and SHA-256 the parent puts in
// MEMFD_TEST_SIZE and MEMFD_TEST_SUM.
func payloadReceiver(report func(string, error)) {
	wantSize, _ := strconv.Atoi(os.Getenv("MEMFD_TEST_SIZE"))
	wantSum := os.Getenv("MEMFD_TEST_SUM")
	size, err := Verify(passedFd)
	if err == nil && size != int64(wantSize) {
		err = fmt.Errorf("Verify says %d bytes, the sender wrote %d", size, wantSize)
	}
	report("Verify", err)
	content := func() error {
		m, err := MapReadOnly(passedFd)
		if err != nil {
			return err
		}
		defer m.Close()
		if sum := sha256.Sum256(m.Bytes()); hex.EncodeToString(sum[:]) != wantSum {
			return errors.New("the mapped contents differ from what the sender wrote")
		}
		return nil
	}
	report("MapReadOnly-contents", content())
	for _, a := range writeAttacks(passedFd, wantSize) {
		report(a.name, a.run())
	}
	report("add-seal", expectFailure(func() error {
		return addSeals(passedFd, unix.F_SEAL_FUTURE_WRITE)
	}))
	report("contents-unchanged-after-attacks", content())
}

// staleSlice reads a Mapping's slice after Close, which must crash the process.
func staleSlice() {
	f, err := Create("stale", bytes.Repeat([]byte{7}, unix.Getpagesize()))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	m, err := f.Map()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	b := m.Bytes()
	m.Close()
	fmt.Println("UNMAPPED")
	fmt.Println("READ", b[0]) // must fault
}

type attack struct {
	name string
	run  func() error // returns an error if the attack succeeded
}

// expectFailure turns an attempt that must fail into a check: nil if it failed.
func expectFailure(try func() error) error {
	if err := try(); err == nil {
		return errors.New("succeeded, want an error")
	}
	return nil
}

// writeAttacks lists the ways to write, resize or punch a memfd of size bytes through the
// descriptor fd that sealing must defeat.
func writeAttacks(fd, size int) []attack {
	page := unix.Getpagesize()
	one := []byte{0x5A}
	return []attack{
		{"write(2)", func() error {
			return expectFailure(func() error { _, err := unix.Pwrite(fd, one, 0); return err })
		}},
		{"mmap-shared-writable", func() error {
			return expectFailure(func() error {
				b, err := unix.Mmap(fd, 0, max(size, 1), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
				if err == nil {
					unix.Munmap(b)
				}
				return err
			})
		}},
		{"mprotect-shared-readonly-to-writable", func() error {
			b, err := unix.Mmap(fd, 0, max(size, 1), unix.PROT_READ, unix.MAP_SHARED)
			if err != nil {
				return nil // no shared mapping at all (write-sealed memfds before Linux 6.7)
			}
			defer unix.Munmap(b)
			return expectFailure(func() error { return unix.Mprotect(b, unix.PROT_READ|unix.PROT_WRITE) })
		}},
		{"ftruncate-grow", func() error {
			return expectFailure(func() error { return unix.Ftruncate(fd, int64(size+page)) })
		}},
		{"ftruncate-shrink", func() error {
			return expectFailure(func() error { return unix.Ftruncate(fd, int64(size/2)) })
		}},
		{"fallocate-grow", func() error {
			return expectFailure(func() error { return unix.Fallocate(fd, 0, int64(size), int64(page)) })
		}},
		{"fallocate-punch-hole", func() error {
			return expectFailure(func() error {
				return unix.Fallocate(fd, unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, 0, int64(page))
			})
		}},
		{"reopen-read-write-and-write", func() error {
			rw, err := unix.Open(fmt.Sprintf("/proc/self/fd/%d", fd), unix.O_RDWR|unix.O_CLOEXEC, 0)
			if err != nil {
				return nil // cannot even reopen it writable
			}
			defer unix.Close(rw)
			if err := expectFailure(func() error { _, err := unix.Pwrite(rw, one, 0); return err }); err != nil {
				return fmt.Errorf("write(2) on the reopened descriptor %w", err)
			}
			return expectFailure(func() error {
				b, err := unix.Mmap(rw, 0, max(size, 1), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
				if err == nil {
					unix.Munmap(b)
				}
				return err
			})
		}},
		{"size-unchanged", func() error {
			var st unix.Stat_t
			if err := unix.Fstat(fd, &st); err != nil {
				return err
			}
			if st.Size != int64(size) {
				return fmt.Errorf("size is %d, was %d", st.Size, size)
			}
			return nil
		}},
	}
}

// helperResult is what a helper process printed and how it ended.
type helperResult struct {
	pass   map[string]bool
	fails  []string
	stdout string
	stderr string
	err    error // from Wait
}

// startHelper runs this test binary as the helper role with fd passed as its fd 3.
func startHelper(t *testing.T, role string, fd int, env ...string) (*exec.Cmd, io.WriteCloser, *bufio.Reader, *bytes.Buffer) {
	t.Helper()
	dup, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("dup: %v", err)
	}
	f := os.NewFile(uintptr(dup), "memfd")
	defer f.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), helperEnv+"="+role), env...)
	cmd.ExtraFiles = []*os.File{f}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting helper %s: %v", role, err)
	}
	return cmd, stdin, bufio.NewReader(stdout), &stderr
}

// finishHelper reads the rest of a helper's output and waits for it.
func finishHelper(cmd *exec.Cmd, stdout *bufio.Reader, stderr *bytes.Buffer, seen string) helperResult {
	rest, _ := io.ReadAll(stdout)
	r := helperResult{pass: map[string]bool{}, stdout: seen + string(rest)}
	r.err = cmd.Wait()
	r.stderr = stderr.String()
	for _, line := range strings.Split(r.stdout, "\n") {
		if name, ok := strings.CutPrefix(line, "PASS "); ok {
			r.pass[name] = true
		} else if strings.HasPrefix(line, "FAIL ") {
			r.fails = append(r.fails, line)
		}
	}
	return r
}

// checkHelper fails t for every FAIL line, every expected check that did not pass, and a
// helper that did not exit cleanly.
func checkHelper(t *testing.T, r helperResult, want []string) {
	t.Helper()
	if r.err != nil {
		t.Errorf("helper exited with %v\nstdout:\n%s\nstderr:\n%s", r.err, r.stdout, r.stderr)
	}
	for _, f := range r.fails {
		t.Error(f)
	}
	for _, name := range want {
		if !r.pass[name] {
			t.Errorf("check %q did not pass in the helper process", name)
		}
	}
}

func attackNames() []string {
	var names []string
	for _, a := range writeAttacks(-1, 0) {
		names = append(names, a.name)
	}
	return names
}
