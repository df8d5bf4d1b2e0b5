package broker

import (
	"time"

	"github.com/kdbus-go/kdbus/broker/config"
	"github.com/kdbus-go/kdbus/wire"
)

// The bus's limits live here, in one type: what a configuration file's <limit> elements set
// (config.Limits, converted by LimitsFromConfig), what a program embedding the bus sets
// (Options.Limits), and the defaults for what neither sets. The native transport keeps one
// bound of its own besides: how many messages and descriptors one sender may leave
// unreleased in one receiver's pool (native.DefaultMaxQueued, native.DefaultMaxQueuedFDs),
// counted per sender and per pool where the limits below count bytes per connection.

// Limits bound what one connection or user may hold, so that no client can starve the bus.
// The names follow dbus-daemon's <limit> elements; a zero field takes DefaultLimits'.
type Limits struct {
	// MaxIncomingBytes and MaxIncomingUnixFDs (max_incoming_bytes, max_incoming_unix_fds)
	// bound what one connection holds in the bus: the messages it sent until their
	// receivers have them, and those it asked for (replies, broadcasts) until it reads
	// them; over them, the bus stops reading the connection. What users send shares a pool
	// of four connections' worth, fairly among them (account.go). Bytes count what they
	// cost in memory.
	MaxIncomingBytes   int
	MaxIncomingUnixFDs int
	// MaxOutgoingBytes and MaxOutgoingUnixFDs (max_outgoing_bytes, max_outgoing_unix_fds)
	// bound the queue of messages waiting to be written to one classic connection; a native
	// connection's pool bounds its own.
	MaxOutgoingBytes   int
	MaxOutgoingUnixFDs int
	// MaxMessageSize and MaxMessageUnixFDs (max_message_size, max_message_unix_fds) bound
	// one message; a connection that sends a larger one is disconnected.
	MaxMessageSize    int
	MaxMessageUnixFDs int
	// MaxConnectionsPerUser, MaxCompletedConnections and MaxIncompleteConnections
	// (max_connections_per_user, max_completed_connections, max_incomplete_connections)
	// bound the connections of one user, all authenticated ones, and those still in their
	// handshake.
	MaxConnectionsPerUser    int
	MaxCompletedConnections  int
	MaxIncompleteConnections int
	// MaxNamesPerConnection (max_names_per_connection) bounds the names one connection owns
	// or queues for.
	MaxNamesPerConnection int
	// MaxMatchRulesPerConnection (max_match_rules_per_connection) bounds one connection's
	// match rules, and MaxMatchRulesPerUser (max_match_rules_per_user) all of one user's
	// connections' together, as dbus-broker counts them.
	MaxMatchRulesPerConnection int
	MaxMatchRulesPerUser       int
	// MaxRepliesPerConnection (max_replies_per_connection) bounds the calls one connection
	// awaits replies to (reply.go).
	MaxRepliesPerConnection int
	// ReplyTimeout (reply_timeout) is how long a call may wait for its reply before the
	// bus answers it with NoReply; a native caller may ask for less. NoReplyTimeout, the
	// default as in dbus-daemon, leaves a call without a deadline of its own waiting for as
	// long as its callee is connected (streams are such calls); the calls a connection may
	// await at once stay bounded by MaxRepliesPerConnection.
	ReplyTimeout time.Duration
	// AuthTimeout (auth_timeout) bounds a connection's handshake, its Hello included.
	AuthTimeout time.Duration
}

// DefaultLimits are dbus-daemon's session bus limits, except for the bytes and descriptors
// queued per connection: there the session bus's "essentially infinite" values would let one
// client grow the bus by gigabytes, so they are dbus-daemon's own compiled-in defaults, and
// room for four full messages of descriptors.
var DefaultLimits = Limits{
	MaxIncomingBytes:           127 << 20,
	MaxIncomingUnixFDs:         4 * wire.MaxUnixFDs,
	MaxOutgoingBytes:           127 << 20,
	MaxOutgoingUnixFDs:         250000000,
	MaxMessageSize:             wire.MaxMessageSize,
	MaxMessageUnixFDs:          wire.MaxUnixFDs,
	MaxConnectionsPerUser:      100000,
	MaxCompletedConnections:    100000,
	MaxIncompleteConnections:   10000,
	MaxNamesPerConnection:      50000,
	MaxMatchRulesPerConnection: 50000,
	MaxMatchRulesPerUser:       100000,
	MaxRepliesPerConnection:    50000,
	ReplyTimeout:               NoReplyTimeout,
	AuthTimeout:                5 * time.Minute,
}

// NoReplyTimeout is the ReplyTimeout under which the bus times out no call itself.
const NoReplyTimeout = config.NoTimeout

// LimitsFromConfig returns the limits a configuration file sets. The limits kdbusd has no
// use for (service activation, pending_fd_timeout, containers) are left out.
func LimitsFromConfig(l config.Limits) Limits {
	return Limits{
		MaxIncomingBytes:           l.MaxIncomingBytes,
		MaxIncomingUnixFDs:         l.MaxIncomingUnixFDs,
		MaxOutgoingBytes:           l.MaxOutgoingBytes,
		MaxOutgoingUnixFDs:         l.MaxOutgoingUnixFDs,
		MaxMessageSize:             l.MaxMessageSize,
		MaxMessageUnixFDs:          l.MaxMessageUnixFDs,
		MaxConnectionsPerUser:      l.MaxConnectionsPerUser,
		MaxCompletedConnections:    l.MaxCompletedConnections,
		MaxIncompleteConnections:   l.MaxIncompleteConnections,
		MaxNamesPerConnection:      l.MaxNamesPerConnection,
		MaxMatchRulesPerConnection: l.MaxMatchRulesPerConnection,
		MaxMatchRulesPerUser:       l.MaxMatchRulesPerUser,
		MaxRepliesPerConnection:    l.MaxRepliesPerConnection,
		ReplyTimeout:               l.ReplyTimeout,
		AuthTimeout:                l.AuthTimeout,
	}
}

// withDefaults returns l with every unset (zero or negative) field taken from DefaultLimits.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits
	set := func(v *int, def int) {
		if *v <= 0 {
			*v = def
		}
	}
	set(&l.MaxIncomingBytes, d.MaxIncomingBytes)
	set(&l.MaxIncomingUnixFDs, d.MaxIncomingUnixFDs)
	set(&l.MaxOutgoingBytes, d.MaxOutgoingBytes)
	set(&l.MaxOutgoingUnixFDs, d.MaxOutgoingUnixFDs)
	set(&l.MaxMessageSize, d.MaxMessageSize)
	set(&l.MaxMessageUnixFDs, d.MaxMessageUnixFDs)
	set(&l.MaxConnectionsPerUser, d.MaxConnectionsPerUser)
	set(&l.MaxCompletedConnections, d.MaxCompletedConnections)
	set(&l.MaxIncompleteConnections, d.MaxIncompleteConnections)
	set(&l.MaxNamesPerConnection, d.MaxNamesPerConnection)
	set(&l.MaxMatchRulesPerConnection, d.MaxMatchRulesPerConnection)
	set(&l.MaxMatchRulesPerUser, d.MaxMatchRulesPerUser)
	set(&l.MaxRepliesPerConnection, d.MaxRepliesPerConnection)
	if l.ReplyTimeout == 0 {
		l.ReplyTimeout = d.ReplyTimeout
	}
	if l.AuthTimeout <= 0 {
		l.AuthTimeout = d.AuthTimeout
	}
	return l
}
