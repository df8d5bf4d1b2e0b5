package memfd

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

func randomBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 0))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func seals(t *testing.T, fd int) int {
	t.Helper()
	s, err := unix.FcntlInt(uintptr(fd), unix.F_GET_SEALS, 0)
	if err != nil {
		t.Fatalf("F_GET_SEALS: %v", err)
	}
	return s
}

func mustMap(t *testing.T, fd int) []byte {
	t.Helper()
	m, err := MapReadOnly(fd)
	if err != nil {
		t.Fatalf("MapReadOnly: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	return m.Bytes()
}

func TestCreate(t *testing.T) {
	for _, n := range []int{0, 1, 4095, 4096, 1<<20 + 3} {
		data := randomBytes(uint64(n), n)
		f, err := Create("payload-"+strconv.Itoa(n), data)
		if err != nil {
			t.Fatalf("Create(%d bytes): %v", n, err)
		}
		if f.Size() != int64(n) {
			t.Errorf("Size = %d, want %d", f.Size(), n)
		}
		if s := seals(t, f.Fd()); s&PayloadSeals != PayloadSeals {
			t.Errorf("seals %s, want %s", SealNames(s), SealNames(PayloadSeals))
		}
		if size, err := Verify(f.Fd()); err != nil || size != int64(n) {
			t.Errorf("Verify = %d, %v; want %d, nil", size, err, n)
		}
		if got := mustMap(t, f.Fd()); !bytes.Equal(got, data) {
			t.Errorf("%d bytes: mapped contents differ", n)
		}
		if err := f.Close(); err != nil {
			t.Error(err)
		}
		if err := f.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
		if f.Fd() != -1 {
			t.Errorf("Fd after Close = %d, want -1", f.Fd())
		}
		if _, err := f.Map(); !errors.Is(err, ErrClosed) {
			t.Errorf("Map after Close: %v, want ErrClosed", err)
		}
	}
}

func TestCreateBadName(t *testing.T) {
	for _, name := range []string{"a\x00b", strings.Repeat("n", maxNameLen+1)} {
		if _, err := Create(name, nil); err == nil {
			t.Errorf("Create(%.10q…) succeeded, want an error", name)
		} else {
			t.Log(err)
		}
	}
	f, err := Create(strings.Repeat("n", maxNameLen), []byte("x"))
	if err != nil {
		t.Fatalf("Create with a %d-byte name: %v", maxNameLen, err)
	}
	f.Close()
}

func TestWriter(t *testing.T) {
	page := unix.Getpagesize()
	n := 3*page + 5
	w, err := New("writer", n)
	if err != nil {
		t.Fatal(err)
	}
	data := randomBytes(1, n)
	copy(w.Bytes(), data)
	f, err := w.Seal()
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	defer f.Close()
	if size, err := Verify(f.Fd()); err != nil || size != int64(n) {
		t.Fatalf("Verify = %d, %v; want %d, nil", size, err, n)
	}
	m, err := f.Map()
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if !bytes.Equal(m.Bytes(), data) {
		t.Error("sealed contents differ from what was written")
	}
	if _, err := w.Seal(); !errors.Is(err, ErrClosed) {
		t.Errorf("second Seal: %v, want ErrClosed", err)
	}
	if err := w.Close(); err != nil {
		t.Errorf("Close after Seal: %v", err)
	}
	mustPanic(t, "Writer.Bytes after Seal", func() { w.Bytes() })
}

func TestWriterEmptyAndDiscard(t *testing.T) {
	w, err := New("empty", 0)
	if err != nil {
		t.Fatal(err)
	}
	f, err := w.Seal()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := f.Map()
	if err != nil {
		t.Fatal(err)
	}
	if m.Len() != 0 || len(m.Bytes()) != 0 {
		t.Errorf("empty payload maps to %d bytes", m.Len())
	}
	m.Close()

	w, err = New("discarded", 1<<16)
	if err != nil {
		t.Fatal(err)
	}
	w.Bytes()[0] = 1
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := w.Seal(); !errors.Is(err, ErrClosed) {
		t.Errorf("Seal after Close: %v, want ErrClosed", err)
	}
	if _, err := New("negative", -1); err == nil {
		t.Error("New with a negative size succeeded")
	}
}

// TestSealedPayloadImmutable tries, in the sender's own process and through its read-write
// descriptor, everything that could change a sealed payload.
func TestSealedPayloadImmutable(t *testing.T) {
	page := unix.Getpagesize()
	data := randomBytes(2, 4*page)
	f, err := Create("immutable", data)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, a := range writeAttacks(f.Fd(), len(data)) {
		if err := a.run(); err != nil {
			t.Errorf("%s: %v", a.name, err)
		}
	}
	for _, s := range []int{unix.F_SEAL_FUTURE_WRITE, unix.F_SEAL_EXEC, unix.F_SEAL_SEAL} {
		if err := addSeals(f.Fd(), s); err == nil {
			t.Errorf("adding %s to a sealed payload succeeded", SealNames(s))
		}
	}
	if s := seals(t, f.Fd()); s&PayloadSeals != PayloadSeals {
		t.Errorf("seals changed to %s", SealNames(s))
	}
	if !bytes.Equal(mustMap(t, f.Fd()), data) {
		t.Error("contents changed")
	}
}

// TestPayloadReceiverProcess passes a sealed payload to another process, which verifies it,
// maps it, and fails to change it.
func TestPayloadReceiverProcess(t *testing.T) {
	data := randomBytes(3, 1<<20+17)
	f, err := Create("to-receiver", data)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sum := sha256.Sum256(data)
	cmd, stdin, stdout, stderr := startHelper(t, "payload-receiver", f.Fd(),
		"MEMFD_TEST_SIZE="+strconv.Itoa(len(data)), "MEMFD_TEST_SUM="+hex.EncodeToString(sum[:]))
	stdin.Close()
	r := finishHelper(cmd, stdout, stderr, "")
	want := append([]string{"Verify", "MapReadOnly-contents", "add-seal", "contents-unchanged-after-attacks"}, attackNames()...)
	checkHelper(t, r, want)
	if !bytes.Equal(mustMap(t, f.Fd()), data) {
		t.Error("the payload changed while the receiver had it")
	}
}

func memfdWithSeals(t *testing.T, flags int, s int) int {
	t.Helper()
	fd, err := unix.MemfdCreate("test", flags)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Ftruncate(fd, 4096); err != nil {
		t.Fatal(err)
	}
	if s != 0 {
		if err := addSeals(fd, s); err != nil {
			t.Fatalf("adding %s: %v", SealNames(s), err)
		}
	}
	return fd
}

func TestVerifyRefuses(t *testing.T) {
	sealable := unix.MFD_CLOEXEC | unix.MFD_ALLOW_SEALING
	pool, err := NewPool("not-a-payload", 1<<16)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()

	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(p[0])
	defer unix.Close(p[1])

	sp, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(sp[0])
	defer unix.Close(sp[1])

	file, err := os.Create(filepath.Join(t.TempDir(), "payload"))
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	file.Write([]byte("not a memfd"))

	devNull, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer devNull.Close()

	tests := []struct {
		name    string
		fd      int
		missing int    // for a *SealError
		mention string // in the message
	}{
		{"unsealed memfd", memfdWithSeals(t, sealable, 0), PayloadSeals, "F_SEAL_WRITE|F_SEAL_SHRINK|F_SEAL_GROW|F_SEAL_SEAL"},
		{"memfd without MFD_ALLOW_SEALING", memfdWithSeals(t, unix.MFD_CLOEXEC, 0), unix.F_SEAL_WRITE | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW, "F_SEAL_WRITE"},
		{"future-write instead of write", memfdWithSeals(t, sealable, unix.F_SEAL_SHRINK|unix.F_SEAL_GROW|unix.F_SEAL_FUTURE_WRITE|unix.F_SEAL_SEAL), unix.F_SEAL_WRITE, "lacks seals F_SEAL_WRITE ("},
		{"write-sealed but growable", memfdWithSeals(t, sealable, unix.F_SEAL_WRITE|unix.F_SEAL_SHRINK|unix.F_SEAL_SEAL), unix.F_SEAL_GROW, "lacks seals F_SEAL_GROW ("},
		{"write-sealed but shrinkable", memfdWithSeals(t, sealable, unix.F_SEAL_WRITE|unix.F_SEAL_GROW|unix.F_SEAL_SEAL), unix.F_SEAL_SHRINK, "lacks seals F_SEAL_SHRINK ("},
		{"seals not sealed", memfdWithSeals(t, sealable, unix.F_SEAL_WRITE|unix.F_SEAL_SHRINK|unix.F_SEAL_GROW), unix.F_SEAL_SEAL, "lacks seals F_SEAL_SEAL ("},
		{"receive pool", pool.Fd(), unix.F_SEAL_WRITE, "lacks seals F_SEAL_WRITE ("},
		{"regular file", int(file.Fd()), 0, ""},
		{"pipe", p[0], 0, "is a pipe"},
		{"socket", sp[0], 0, "is a socket"},
		{"character device", int(devNull.Fd()), 0, "is a character device"},
		{"invalid descriptor", -1, 0, "bad file descriptor"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			size, err := Verify(tt.fd)
			if err == nil {
				t.Fatalf("Verify accepted it (size %d)", size)
			}
			t.Log(err)
			var se *SealError
			if tt.missing != 0 {
				if !errors.As(err, &se) || !errors.Is(err, ErrNotSealed) {
					t.Fatalf("error %v is not a *SealError matching ErrNotSealed", err)
				}
				if se.Missing() != tt.missing {
					t.Errorf("Missing() = %s, want %s", SealNames(se.Missing()), SealNames(tt.missing))
				}
			} else if errors.As(err, &se) && tt.name != "regular file" {
				t.Errorf("a %s reported as a memfd with missing seals: %v", tt.name, err)
			}
			if tt.name == "regular file" && !errors.Is(err, ErrNotMemfd) && !errors.Is(err, ErrNotSealed) {
				t.Errorf("error %v matches neither ErrNotMemfd nor ErrNotSealed", err)
			}
			if !strings.Contains(err.Error(), tt.mention) {
				t.Errorf("error %q does not mention %q", err, tt.mention)
			}
			if _, err := MapReadOnly(tt.fd); err == nil {
				t.Error("MapReadOnly accepted it")
			}
		})
	}
}

func TestVerifyAccepts(t *testing.T) {
	sealable := unix.MFD_CLOEXEC | unix.MFD_ALLOW_SEALING
	for name, s := range map[string]int{
		"exactly PayloadSeals":     PayloadSeals,
		"PayloadSeals and more":    PayloadSeals | unix.F_SEAL_FUTURE_WRITE | unix.F_SEAL_EXEC,
		"sealed by another writer": unix.F_SEAL_SEAL | unix.F_SEAL_GROW | unix.F_SEAL_SHRINK | unix.F_SEAL_WRITE,
	} {
		fd := memfdWithSeals(t, sealable, s)
		if size, err := Verify(fd); err != nil || size != 4096 {
			t.Errorf("%s: Verify = %d, %v; want 4096, nil", name, size, err)
		}
	}
}

func TestMappingLifetime(t *testing.T) {
	f, err := Create("lifetime", []byte("hello"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := f.Map()
	if err != nil {
		t.Fatal(err)
	}
	f.Close() // the mapping outlives the descriptor
	if string(m.Bytes()) != "hello" {
		t.Fatalf("Bytes = %q", m.Bytes())
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if m.Len() != 5 {
		t.Errorf("Len after Close = %d, want 5", m.Len())
	}
	mustPanic(t, "Mapping.Bytes after Close", func() { m.Bytes() })
}

// TestStaleSliceFaults shows that reading a slice after its Mapping's Close crashes the
// program instead of silently reading something.
func TestStaleSliceFaults(t *testing.T) {
	cmd, stdin, stdout, stderr := startHelper(t, "stale-slice", 0)
	stdin.Close()
	r := finishHelper(cmd, stdout, stderr, "")
	if r.err == nil || strings.Contains(r.stdout, "READ") {
		t.Fatalf("reading an unmapped slice did not crash: %v\n%s", r.err, r.stdout)
	}
	if !strings.Contains(r.stdout, "UNMAPPED") {
		t.Fatalf("the helper failed before the read: %v\n%s\n%s", r.err, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stderr, "unexpected fault address") && !strings.Contains(r.stderr, "SIGSEGV") {
		t.Errorf("the helper died, but not of a fault: %v\n%s", r.err, r.stderr)
	}
}

func mustPanic(t *testing.T, what string, f func()) {
	t.Helper()
	defer func() {
		if r := recover(); r == nil {
			t.Errorf("%s did not panic", what)
		} else {
			t.Logf("%s panics: %v", what, r)
		}
	}()
	f()
}

func TestSealInPlaceKeepsBytesReadable(t *testing.T) {
	w, err := New("inplace", 3*os.Getpagesize()+5)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	b := w.Bytes()
	for i := range b {
		b[i] = byte(i)
	}
	if Lookup(b) != w || Lookup(b[1:]) != nil || Lookup(b[:len(b)-1]) != nil || Lookup(append([]byte(nil), b...)) != nil {
		t.Fatal("Lookup must find exactly the Writer's own bytes")
	}
	if err := w.SealInPlace(); err != nil {
		t.Fatal(err)
	}
	if err := w.SealInPlace(); err != nil {
		t.Fatalf("second SealInPlace: %v", err)
	}
	for i := range b {
		if b[i] != byte(i) {
			t.Fatalf("byte %d changed to %d after sealing", i, b[i])
		}
	}
	size, err := Verify(w.Fd())
	if err != nil || size != int64(len(b)) {
		t.Fatalf("Verify after SealInPlace: %d, %v", size, err)
	}
	m, err := MapReadOnly(w.Fd())
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if !bytes.Equal(m.Bytes(), b) {
		t.Fatal("a receiver's mapping differs from the sender's bytes")
	}
	if _, err := unix.Pwrite(w.Fd(), []byte{1}, 0); err == nil {
		t.Fatal("the sealed memfd took a write")
	}
	w.Close()
	if Lookup(b) != nil {
		t.Fatal("Lookup found a closed Writer")
	}
}

func TestSealInPlaceConcurrently(t *testing.T) {
	w, err := New("inplace-concurrent", 2*os.Getpagesize())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	b := w.Bytes()
	b[0], b[len(b)-1] = 1, 2
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			lw := Lookup(b)
			if lw == nil {
				errs <- fmt.Errorf("Lookup lost the Writer")
				return
			}
			if err := lw.SealInPlace(); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent SealInPlace: %v", err)
	}
	if _, err := Verify(w.Fd()); err != nil {
		t.Fatal(err)
	}
	if b[0] != 1 || b[len(b)-1] != 2 {
		t.Fatal("the contents changed")
	}
}
