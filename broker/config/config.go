package config

import (
	"fmt"
	"strings"
	"time"
)

// Config is a parsed dbus-daemon configuration: the top-level file merged with everything it
// includes, in the order dbus-daemon merges it.
type Config struct {
	// Type is the well-known bus type from the last <type> ("system", "session" or a custom
	// name), or "" when no file sets one.
	Type string
	// User is the account from the last <user>, by name or number, exactly as written; the
	// bus switches to it after it has set up its sockets. Empty when unset.
	User string
	// Fork, KeepUmask and Syslog record <fork/>, <keep_umask/> and <syslog/> in any file.
	Fork, KeepUmask, Syslog bool
	// AllowAnonymous records <allow_anonymous/>: connections that authenticated with the
	// ANONYMOUS mechanism are let in (if that mechanism is enabled by <auth>).
	AllowAnonymous bool
	// Listen lists the <listen> addresses in file order, each already checked against the
	// D-Bus address syntax. dbus-daemon advertises the last one first.
	Listen []string
	// Auth lists the <auth> mechanisms in file order; empty means every mechanism the bus
	// knows is allowed.
	Auth []string
	// PIDFile is the last <pidfile>, or "".
	PIDFile string
	// ServiceHelper is the last <servicehelper>, made absolute against the directory of the
	// file that named it, or "".
	ServiceHelper string
	// ServiceDirs lists the activation directories in precedence order (first wins), from
	// <servicedir> and the expansion of <standard_session_servicedirs/> and
	// <standard_system_servicedirs/>, without duplicates.
	ServiceDirs []ServiceDir
	// Limits are the resource limits: dbus-daemon's defaults overridden by <limit> elements,
	// the last one for a name winning.
	Limits Limits
	// Policy is the compiled security policy of all <policy> elements. It is never nil.
	Policy *Policy
	// SELinux lists the <associate> elements of <selinux> sections in file order (for a name
	// given twice the later one counts). kdbusd does not enforce SELinux; they are kept so a
	// bus can refuse to run where they matter.
	SELinux []Association
	// AppArmor is the mode of the last <apparmor mode="..."/> ("enabled", "disabled" or
	// "required"), or "" when none. kdbusd does not mediate through AppArmor.
	AppArmor string
	// Files lists every configuration file that was read, in the order it was read (a file
	// included twice appears twice). A bus watching for changes should watch these.
	Files []string
	// IncludeDirs lists the <includedir> directories that existed when the configuration was
	// read; dbus-daemon watches them for new files.
	IncludeDirs []string
	// Warnings lists what dbus-daemon also tolerates but a reader should know: unknown users
	// and groups, rules that can never match, failed files under <includedir>, and parts of
	// the format kdbusd parses but does not enforce.
	Warnings []Warning
}

// ServiceDir is a directory searched for .service activation files.
type ServiceDir struct {
	// Path is the absolute directory.
	Path string
	// StrictNaming means a file there must be named exactly after its bus name plus
	// ".service" (true only for the $XDG_RUNTIME_DIR/dbus-1/services directory).
	StrictNaming bool
	// NoWatch means dbus-daemon does not watch the directory for changes; programs that
	// write there call ReloadConfig instead.
	NoWatch bool
}

// Association is an SELinux <associate own="name" context="label"/> element.
type Association struct {
	Own     string   // the bus name
	Context string   // the SELinux security context of the name
	Pos     Position // where the element is written
}

// NoTimeout is the value of a timeout limit that never expires (the default of
// reply_timeout).
const NoTimeout time.Duration = -1

// Limits are dbus-daemon's resource limits, set with <limit name="...">. Sizes are in bytes
// and counts are plain numbers; the timeouts are written in milliseconds in the file.
type Limits struct {
	MaxIncomingBytes           int           // max_incoming_bytes: queued from one connection
	MaxIncomingUnixFDs         int           // max_incoming_unix_fds: fds queued from one connection
	MaxOutgoingBytes           int           // max_outgoing_bytes: queued for one connection
	MaxOutgoingUnixFDs         int           // max_outgoing_unix_fds: fds queued for one connection
	MaxMessageSize             int           // max_message_size: one message
	MaxMessageUnixFDs          int           // max_message_unix_fds: fds in one message
	ServiceStartTimeout        time.Duration // service_start_timeout: until an activated service connects
	AuthTimeout                time.Duration // auth_timeout: to finish authentication
	PendingFDTimeout           time.Duration // pending_fd_timeout: an fd may wait in the bus
	MaxCompletedConnections    int           // max_completed_connections: authenticated connections
	MaxIncompleteConnections   int           // max_incomplete_connections: still authenticating
	MaxConnectionsPerUser      int           // max_connections_per_user: per uid
	MaxPendingServiceStarts    int           // max_pending_service_starts: activations in progress
	MaxNamesPerConnection      int           // max_names_per_connection: owned or queued names
	MaxMatchRulesPerConnection int           // max_match_rules_per_connection
	MaxMatchRulesPerUser       int           // max_match_rules_per_user: all of one uid's connections (kdbusd only; 0: the bus's default)
	MaxRepliesPerConnection    int           // max_replies_per_connection: calls awaiting a reply
	ReplyTimeout               time.Duration // reply_timeout: NoTimeout means calls never time out

	// The container limits are accepted because dbus-daemon 1.14 accepts them; kdbusd has
	// no app containers and ignores them.
	MaxContainers              int // max_containers
	MaxContainersPerUser       int // max_containers_per_user
	MaxContainerMetadataBytes  int // max_container_metadata_bytes
	MaxConnectionsPerContainer int // max_connections_per_container
}

// DefaultLimits returns the limits dbus-daemon 1.14 uses when the configuration does not set
// them. These are the values compiled into dbus-daemon, not the ones in the comments of the
// shipped system.conf, which are out of date for auth_timeout (the code uses 30 s since
// dbus 1.9.4).
func DefaultLimits() Limits {
	const mib = 1 << 20
	return Limits{
		MaxIncomingBytes:           127 * mib,
		MaxIncomingUnixFDs:         64, // four messages' worth of max_message_unix_fds
		MaxOutgoingBytes:           127 * mib,
		MaxOutgoingUnixFDs:         64,
		MaxMessageSize:             32 * mib,
		MaxMessageUnixFDs:          16,
		ServiceStartTimeout:        25 * time.Second,
		AuthTimeout:                30 * time.Second,
		PendingFDTimeout:           150 * time.Second,
		MaxCompletedConnections:    2048,
		MaxIncompleteConnections:   64,
		MaxConnectionsPerUser:      256,
		MaxPendingServiceStarts:    512,
		MaxNamesPerConnection:      512,
		MaxMatchRulesPerConnection: 512,
		MaxRepliesPerConnection:    128,
		ReplyTimeout:               NoTimeout,
		MaxContainers:              512,
		MaxContainersPerUser:       16,
		MaxContainerMetadataBytes:  4096,
		MaxConnectionsPerContainer: 8,
	}
}

// limitKind says how dbus-daemon range-checks a limit: the byte and fd limits are C longs,
// the others C ints, and the timeouts are milliseconds.
type limitKind uint8

const (
	limitLong limitKind = iota
	limitInt
	limitMillis
)

// limitDef describes one <limit name>.
type limitDef struct {
	kind limitKind
	int  func(*Limits) *int
	dur  func(*Limits) *time.Duration
}

var limitDefs = map[string]limitDef{
	"max_incoming_bytes":             {kind: limitLong, int: func(l *Limits) *int { return &l.MaxIncomingBytes }},
	"max_incoming_unix_fds":          {kind: limitLong, int: func(l *Limits) *int { return &l.MaxIncomingUnixFDs }},
	"max_outgoing_bytes":             {kind: limitLong, int: func(l *Limits) *int { return &l.MaxOutgoingBytes }},
	"max_outgoing_unix_fds":          {kind: limitLong, int: func(l *Limits) *int { return &l.MaxOutgoingUnixFDs }},
	"max_message_size":               {kind: limitLong, int: func(l *Limits) *int { return &l.MaxMessageSize }},
	"max_message_unix_fds":           {kind: limitLong, int: func(l *Limits) *int { return &l.MaxMessageUnixFDs }},
	"service_start_timeout":          {kind: limitMillis, dur: func(l *Limits) *time.Duration { return &l.ServiceStartTimeout }},
	"auth_timeout":                   {kind: limitMillis, dur: func(l *Limits) *time.Duration { return &l.AuthTimeout }},
	"pending_fd_timeout":             {kind: limitMillis, dur: func(l *Limits) *time.Duration { return &l.PendingFDTimeout }},
	"reply_timeout":                  {kind: limitMillis, dur: func(l *Limits) *time.Duration { return &l.ReplyTimeout }},
	"max_completed_connections":      {kind: limitInt, int: func(l *Limits) *int { return &l.MaxCompletedConnections }},
	"max_incomplete_connections":     {kind: limitInt, int: func(l *Limits) *int { return &l.MaxIncompleteConnections }},
	"max_connections_per_user":       {kind: limitInt, int: func(l *Limits) *int { return &l.MaxConnectionsPerUser }},
	"max_pending_service_starts":     {kind: limitInt, int: func(l *Limits) *int { return &l.MaxPendingServiceStarts }},
	"max_names_per_connection":       {kind: limitInt, int: func(l *Limits) *int { return &l.MaxNamesPerConnection }},
	"max_match_rules_per_connection": {kind: limitInt, int: func(l *Limits) *int { return &l.MaxMatchRulesPerConnection }},
	"max_match_rules_per_user":       {kind: limitInt, int: func(l *Limits) *int { return &l.MaxMatchRulesPerUser }},
	"max_replies_per_connection":     {kind: limitInt, int: func(l *Limits) *int { return &l.MaxRepliesPerConnection }},
	"max_containers":                 {kind: limitInt, int: func(l *Limits) *int { return &l.MaxContainers }},
	"max_containers_per_user":        {kind: limitInt, int: func(l *Limits) *int { return &l.MaxContainersPerUser }},
	"max_container_metadata_bytes":   {kind: limitInt, int: func(l *Limits) *int { return &l.MaxContainerMetadataBytes }},
	"max_connections_per_container":  {kind: limitInt, int: func(l *Limits) *int { return &l.MaxConnectionsPerContainer }},
}

// Position is a place in a configuration file. Line and Col count from 1; Col counts bytes.
type Position struct {
	File      string
	Line, Col int
}

// String formats the position as file:line:col, leaving out what is unknown.
func (p Position) String() string {
	s := p.File
	if s == "" {
		s = "<input>"
	}
	if p.Line > 0 {
		s += fmt.Sprintf(":%d", p.Line)
		if p.Col > 0 {
			s += fmt.Sprintf(":%d", p.Col)
		}
	}
	return s
}

// Warning is something in the configuration that dbus-daemon accepts but that the reader
// should hear about.
type Warning struct {
	Pos Position
	Msg string
}

// String formats the warning as "file:line:col: message".
func (w Warning) String() string { return w.Pos.String() + ": " + w.Msg }

// Error is a configuration problem that stops the configuration from loading.
type Error struct {
	// Pos is where the problem is: the element, or the attribute when one is to blame.
	Pos Position
	// Element is the element involved, such as "<allow>", or "" for problems of the file as a
	// whole.
	Element string
	// Msg says what is wrong and how to fix it.
	Msg string
	// IncludedFrom lists the <include> and <includedir> elements through which the file was
	// reached, innermost first.
	IncludedFrom []Position
	// Err is the underlying error, if any (an I/O or XML error).
	Err error
}

// Error formats the error as "file:line:col: <element>: message (included from ...)".
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Pos.String())
	b.WriteString(": ")
	if e.Element != "" {
		b.WriteString(e.Element)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	for _, p := range e.IncludedFrom {
		b.WriteString(" (included from ")
		b.WriteString(p.String())
		b.WriteString(")")
	}
	return b.String()
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }
