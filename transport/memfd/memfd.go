package memfd

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// Seal sets, as passed to fcntl(F_ADD_SEALS).
const (
	// PayloadSeals are the seals a large-payload memfd must carry before it may travel in a
	// message: its contents and size are fixed for good, and no further seal can be added.
	PayloadSeals = unix.F_SEAL_WRITE | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_SEAL

	// PoolSeals are the seals NewPool puts on a receive pool before its descriptor is handed
	// out. F_SEAL_FUTURE_WRITE lets the bus keep writing through the mapping it made before
	// sealing while nobody can make a new writable one; F_SEAL_SEAL freezes the set, so a
	// client cannot add seals to its pool either.
	PoolSeals = unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_FUTURE_WRITE | unix.F_SEAL_SEAL

	// poolClientSeals are the seals MapPool insists on: the design's pool seals. Without
	// F_SEAL_SHRINK the creator could truncate the pool under the client's mapping, and the
	// client would die of SIGBUS on its next read.
	poolClientSeals = unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_FUTURE_WRITE
)

// maxNameLen is the longest name memfd_create accepts: NAME_MAX minus the "memfd:" prefix
// the kernel puts in front of it.
const maxNameLen = 249

var (
	// ErrNotMemfd is wrapped by the errors of Verify, MapReadOnly and MapPool for a
	// descriptor that is not a memfd (a pipe, a socket, a file on disk, …).
	ErrNotMemfd = errors.New("memfd: not a memfd")

	// ErrNotSealed is matched (with errors.Is) by a *SealError: the descriptor is a memfd but
	// lacks seals it must carry.
	ErrNotSealed = errors.New("memfd: memfd lacks required seals")

	// ErrClosed is returned by operations on a File, Writer or Pool after its Close.
	ErrClosed = errors.New("memfd: use after Close")
)

// SealError reports a memfd that lacks seals it must carry.
type SealError struct {
	// Fd is the descriptor that was checked.
	Fd int
	// Have is the set of seals the memfd carries (as returned by F_GET_SEALS).
	Have int
	// Want is the set of seals it must carry.
	Want int
}

// Missing returns the seals in Want that are not in Have.
func (e *SealError) Missing() int { return e.Want &^ e.Have }

// Error names the missing seals and says how to add them.
func (e *SealError) Error() string {
	return fmt.Sprintf("memfd: fd %d lacks seals %s (it has %s; required: %s): its creator must add them "+
		"with fcntl(F_ADD_SEALS) after unmapping every writable shared mapping of it, before handing it out",
		e.Fd, SealNames(e.Missing()), SealNames(e.Have), SealNames(e.Want))
}

// Is makes errors.Is(err, ErrNotSealed) true.
func (e *SealError) Is(target error) bool { return target == ErrNotSealed }

// SealNames returns the names of the seals in s joined by "|", as in "F_SEAL_WRITE|F_SEAL_SEAL",
// or "no seals" for an empty set. Unknown bits are shown in hexadecimal.
func SealNames(s int) string {
	if s == 0 {
		return "no seals"
	}
	names := []struct {
		bit  int
		name string
	}{
		{unix.F_SEAL_WRITE, "F_SEAL_WRITE"},
		{unix.F_SEAL_SHRINK, "F_SEAL_SHRINK"},
		{unix.F_SEAL_GROW, "F_SEAL_GROW"},
		{unix.F_SEAL_SEAL, "F_SEAL_SEAL"},
		{unix.F_SEAL_FUTURE_WRITE, "F_SEAL_FUTURE_WRITE"},
		{unix.F_SEAL_EXEC, "F_SEAL_EXEC"},
	}
	var parts []string
	for _, n := range names {
		if s&n.bit != 0 {
			parts = append(parts, n.name)
			s &^= n.bit
		}
	}
	if s != 0 {
		parts = append(parts, fmt.Sprintf("%#x", s))
	}
	return strings.Join(parts, "|")
}

// Verify checks that fd is a memfd carrying at least PayloadSeals, and returns its size. The bus
// calls it on every payload descriptor a sender passes, and refuses the message on error; the
// error wraps ErrNotMemfd for a descriptor of another kind and is a *SealError (matching
// ErrNotSealed) for a memfd whose seals are incomplete, naming the ones that are missing.
//
// Verify does not take ownership of fd.
func Verify(fd int) (size int64, err error) {
	return check(fd, PayloadSeals)
}

// check verifies that fd is a sealable shared-memory file carrying every seal in want.
func check(fd int, want int) (int64, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return 0, fmt.Errorf("memfd: fd %d: fstat: %w (is the descriptor open?)", fd, err)
	}
	if kind := fileKind(st.Mode); kind != "" {
		return 0, fmt.Errorf("%w: fd %d is %s; large payloads and pools travel as sealed memfds (memfd_create with MFD_ALLOW_SEALING)", ErrNotMemfd, fd, kind)
	}
	seals, err := unix.FcntlInt(uintptr(fd), unix.F_GET_SEALS, 0)
	if err == unix.EINVAL {
		return 0, fmt.Errorf("%w: fd %d is a regular file on a file system without seals; large payloads and pools travel as sealed memfds (memfd_create with MFD_ALLOW_SEALING)", ErrNotMemfd, fd)
	}
	if err != nil {
		return 0, fmt.Errorf("memfd: fd %d: fcntl(F_GET_SEALS): %w", fd, err)
	}
	if seals&want != want {
		return 0, &SealError{Fd: fd, Have: seals, Want: want}
	}
	if st.Size < 0 || uint64(st.Size) > uint64(maxInt) {
		return 0, fmt.Errorf("memfd: fd %d: size %d does not fit this process's address space", fd, st.Size)
	}
	return st.Size, nil
}

// maxInt is the largest int.
const maxInt = int(^uint(0) >> 1)

// fileKind describes a file that is not a regular file, or returns "" for a regular file.
func fileKind(mode uint32) string {
	switch mode & unix.S_IFMT {
	case unix.S_IFREG:
		return ""
	case unix.S_IFIFO:
		return "a pipe"
	case unix.S_IFSOCK:
		return "a socket"
	case unix.S_IFCHR:
		return "a character device"
	case unix.S_IFBLK:
		return "a block device"
	case unix.S_IFDIR:
		return "a directory"
	case unix.S_IFLNK:
		return "a symbolic link"
	default:
		return fmt.Sprintf("a file of type %#o", mode&unix.S_IFMT)
	}
}

// create makes a close-on-exec, sealable memfd of the given size. Its pages are allocated only
// when first written.
func create(name string, size int64) (int, error) {
	if len(name) > maxNameLen {
		return -1, fmt.Errorf("memfd: name %.20q… is %d bytes; memfd_create accepts at most %d", name, len(name), maxNameLen)
	}
	if strings.IndexByte(name, 0) >= 0 {
		return -1, fmt.Errorf("memfd: name %q contains a NUL byte; memfd_create takes a C string", name)
	}
	// MFD_NOEXEC_SEAL (Linux 6.3) also seals the memfd against ever becoming executable, and
	// is required where vm.memfd_noexec=2; older kernels reject the flag with EINVAL.
	fd, err := unix.MemfdCreate(name, unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING|unix.MFD_NOEXEC_SEAL)
	if err == unix.EINVAL {
		fd, err = unix.MemfdCreate(name, unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	}
	if err != nil {
		return -1, fmt.Errorf("memfd: memfd_create %q: %w", name, err)
	}
	if size > 0 {
		if err := unix.Ftruncate(fd, size); err != nil {
			unix.Close(fd)
			return -1, fmt.Errorf("memfd: sizing memfd %q to %d bytes: %w", name, size, err)
		}
	}
	return fd, nil
}

// addSeals seals fd with seals.
func addSeals(fd int, seals int) error {
	_, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, seals)
	return err
}
