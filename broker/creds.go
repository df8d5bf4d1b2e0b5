package broker

import (
	"encoding/binary"
	"net"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// peerCreds reads what the kernel recorded about the process that connected: SO_PEERCRED,
// its groups (SO_PEERGROUPS), its security label (SO_PEERSEC) and a pidfd (SO_PEERPIDFD)
// where the kernel has one, so a pid that is reused later cannot be mistaken for it.
func peerCreds(sock *net.UnixConn) (creds, error) {
	raw, err := sock.SyscallConn()
	if err != nil {
		return creds{}, err
	}
	cr := creds{pidfd: -1}
	var serr error
	err = raw.Control(func(fd uintptr) {
		uc, err := unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
		if err != nil {
			serr = err
			return
		}
		cr.uid, cr.gid, cr.pid = uc.Uid, uc.Gid, uint32(uc.Pid)
		cr.gids = peerGroups(int(fd))
		if label, err := unix.GetsockoptString(int(fd), unix.SOL_SOCKET, unix.SO_PEERSEC); err == nil && label != "" {
			cr.seclabel = []byte(label)
		}
		if pidfd, err := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_PEERPIDFD); err == nil {
			cr.pidfd = pidfd
		}
	})
	if err != nil {
		return creds{}, err
	}
	return cr, serr
}

// peerGroups reads SO_PEERGROUPS, growing the buffer as the kernel asks.
func peerGroups(fd int) []uint32 {
	buf := make([]byte, 64*4)
	for range 4 {
		n, err := getsockoptBytes(fd, unix.SOL_SOCKET, unix.SO_PEERGROUPS, buf)
		if err == unix.ERANGE {
			buf = make([]byte, max(n, 2*len(buf)))
			continue
		}
		if err != nil {
			return nil
		}
		out := make([]uint32, 0, n/4)
		for i := 0; i+4 <= n; i += 4 {
			out = append(out, binary.NativeEndian.Uint32(buf[i:]))
		}
		return out
	}
	return nil
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

// brokerUID is the user the bus runs as: that user (and root) may monitor it.
var brokerUID = uint32(os.Getuid())
