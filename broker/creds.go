package broker

import (
	"encoding/binary"
	"net"
	"os/user"
	"slices"
	"strconv"
	"unsafe"

	"golang.org/x/sys/unix"
)

// peerCreds reads what the kernel recorded about the process that connected: SO_PEERCRED,
// its groups and its security label (SO_PEERSEC). None of this costs a descriptor, so it is
// read at once; the pidfd waits for the handshake to finish (peerPidfd).
func peerCreds(sock *net.UnixConn) (creds, error) {
	raw, err := sock.SyscallConn()
	if err != nil {
		return creds{}, err
	}
	cr := creds{pidfd: -1}
	var serr error
	var supp []uint32
	var suppErr error
	err = raw.Control(func(fd uintptr) {
		uc, err := unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
		if err != nil {
			serr = err
			return
		}
		cr.uid, cr.gid, cr.pid = uc.Uid, uc.Gid, uint32(uc.Pid)
		supp, suppErr = peerGroups(int(fd))
		if label, err := unix.GetsockoptString(int(fd), unix.SOL_SOCKET, unix.SO_PEERSEC); err == nil && label != "" {
			cr.seclabel = []byte(label)
		}
	})
	if err != nil {
		return creds{}, err
	}
	if serr != nil {
		return creds{}, serr
	}
	if suppErr != nil {
		// A kernel before 4.13 has no SO_PEERGROUPS: assume the groups initgroups() would
		// have given the user, as dbus-daemon does there.
		supp = userGroups(cr.uid)
	}
	cr.gids = effectiveGroups(cr.gid, supp)
	return cr, nil
}

// effectiveGroups is the set of groups a process acts with: its supplementary groups and its
// primary group, which the kernel keeps apart and which need not be among the supplementary
// ones (setgroups does not add it). Policy and GetConnectionCredentials both use this set, as
// dbus-daemon does.
func effectiveGroups(primary uint32, supplementary []uint32) []uint32 {
	out := make([]uint32, 0, len(supplementary)+1)
	out = append(out, supplementary...)
	if !slices.Contains(out, primary) {
		out = append(out, primary)
	}
	return out
}

// userGroups returns the groups the user database gives uid, nil when it has none.
func userGroups(uid uint32) []uint32 {
	u, err := user.LookupId(strconv.FormatUint(uint64(uid), 10))
	if err != nil {
		return nil
	}
	ids, err := u.GroupIds()
	if err != nil {
		return nil
	}
	var out []uint32
	for _, s := range ids {
		if g, err := strconv.ParseUint(s, 10, 32); err == nil {
			out = append(out, uint32(g))
		}
	}
	return out
}

// peerPidfd returns a pidfd for the process that connected (SO_PEERPIDFD), or -1 where the
// kernel has none. It names the process that called connect even after that process exits, so
// a pid reused later cannot be mistaken for it, and it may be taken at any time after accept.
func peerPidfd(sock *net.UnixConn) int {
	raw, err := sock.SyscallConn()
	if err != nil {
		return -1
	}
	pidfd := -1
	raw.Control(func(fd uintptr) {
		if v, err := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_PEERPIDFD); err == nil {
			pidfd = v
		}
	})
	return pidfd
}

// peerGroups reads SO_PEERGROUPS, growing the buffer as the kernel asks. An error means the
// kernel could not say; an empty list means the process has no supplementary groups.
func peerGroups(fd int) ([]uint32, error) {
	buf := make([]byte, 64*4)
	for {
		n, err := getsockoptBytes(fd, unix.SOL_SOCKET, unix.SO_PEERGROUPS, buf)
		if err == unix.ERANGE && n > len(buf) {
			buf = make([]byte, n)
			continue
		}
		if err != nil {
			return nil, err
		}
		return decodeGroups(buf[:n]), nil
	}
}

// decodeGroups decodes the gid_t array SO_PEERGROUPS returns; a trailing partial entry,
// which the kernel never writes, is ignored.
func decodeGroups(b []byte) []uint32 {
	out := make([]uint32, 0, len(b)/4)
	for i := 0; i+4 <= len(b); i += 4 {
		out = append(out, binary.NativeEndian.Uint32(b[i:]))
	}
	return out
}

// getsockoptBytes reads a binary socket option into buf and returns its length; with ERANGE
// the length is the size the kernel needs.
func getsockoptBytes(fd, level, opt int, buf []byte) (int, error) {
	n := uint32(len(buf))
	_, _, errno := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), uintptr(level), uintptr(opt),
		uintptr(unsafe.Pointer(&buf[0])), uintptr(unsafe.Pointer(&n)), 0)
	if errno != 0 {
		return int(n), errno
	}
	return int(n), nil
}

func closeFD(fd int) {
	if fd >= 0 {
		unix.Close(fd)
	}
}
