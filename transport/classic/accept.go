package classic

import (
	"context"
	"net"
	"time"

	"github.com/kdbus-go/kdbus/transport/sasl"
	"github.com/kdbus-go/kdbus/wire"
	"golang.org/x/sys/unix"
)

// AcceptOptions configure the server side of a connection.
type AcceptOptions struct {
	// GUID is the server's GUID, the same for every connection to it.
	GUID string
	// UID is the connecting process's user ID as the kernel reports it (SO_PEERCRED).
	UID uint32
	// UnixFDs lets the client pass file descriptors when it asks.
	UnixFDs bool
	// MaxMessageSize, when positive, is the largest message accepted from the client; a
	// larger one disconnects it before the message is read.
	MaxMessageSize int
}

// Accept runs the server side of authentication on a connection a listener accepted and
// returns it ready to carry messages. ctx bounds the authentication.
func Accept(ctx context.Context, sock *net.UnixConn, opts AcceptOptions) (*Conn, error) {
	c := &Conn{sock: sock, order: wire.NativeOrder, oob: make([]byte, unix.CmsgSpace(wire.MaxUnixFDs*4)), done: make(chan struct{})}
	if dl, ok := ctx.Deadline(); ok {
		sock.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { sock.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	uid := opts.UID
	res, err := sasl.Server(sock, sasl.ServerConfig{GUID: opts.GUID, PeerUID: &uid, UnixFD: opts.UnixFDs})
	if err != nil {
		sock.Close()
		return nil, ctxErr(ctx, err)
	}
	if !stop() && ctx.Err() != nil {
		sock.Close()
		return nil, ctx.Err()
	}
	sock.SetDeadline(time.Time{})
	c.guid, c.unixFD, c.maxMsg = opts.GUID, res.UnixFD, opts.MaxMessageSize
	return c, nil
}
