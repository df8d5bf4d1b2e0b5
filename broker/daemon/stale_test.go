package daemon

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// listenRaw listens on path with the given backlog, which net.Listen does not let one choose.
func listenRaw(t *testing.T, path string, backlog int) int {
	t.Helper()
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, backlog); err != nil {
		t.Fatal(err)
	}
	return fd
}

// fillBacklog connects to path without blocking until the listener's backlog refuses more.
func fillBacklog(t *testing.T, path string) {
	t.Helper()
	for i := 0; ; i++ {
		if i > 10000 {
			t.Fatal("the backlog never filled")
		}
		c, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { unix.Close(c) })
		err = unix.Connect(c, &unix.SockaddrUnix{Name: path})
		if errors.Is(err, unix.EAGAIN) {
			return
		}
		if err != nil {
			t.Fatalf("connect: %v", err)
		}
	}
}

// A bus too busy to accept answers EAGAIN, not ECONNREFUSED: its socket is not stale, and a
// second daemon must neither remove it nor start.
func TestRemoveStaleSocketSparesABusWithAFullBacklog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bus")
	listenRaw(t, path, 0)
	fillBacklog(t, path)
	if err := removeStaleSocket("unix", path); err == nil {
		t.Error("removeStaleSocket reported no error for a socket a bus listens on")
	}
	if _, err := os.Lstat(path); err != nil {
		t.Fatalf("the live bus's socket is gone: %v", err)
	}
}

func TestRemoveStaleSocketRemovesADeadOne(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bus")
	fd := listenRaw(t, path, 1)
	unix.Close(fd) // the file stays, and connecting to it is refused
	if err := removeStaleSocket("unix", path); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the stale socket is still there: %v", err)
	}
}
