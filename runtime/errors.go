package runtime

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/kdbus-go/kdbus/transport/classic"
	"github.com/kdbus-go/kdbus/wire"
)

// Code is a gRPC-style status code. Errors carry one so that callers can branch on the kind of
// failure whatever D-Bus error name the peer used.
type Code uint32

// The status codes, with the numbering and meaning of gRPC's.
const (
	OK                 Code = 0
	Canceled           Code = 1
	Unknown            Code = 2
	InvalidArgument    Code = 3
	DeadlineExceeded   Code = 4
	NotFound           Code = 5
	AlreadyExists      Code = 6
	PermissionDenied   Code = 7
	ResourceExhausted  Code = 8
	FailedPrecondition Code = 9
	Aborted            Code = 10
	OutOfRange         Code = 11
	Unimplemented      Code = 12
	Internal           Code = 13
	Unavailable        Code = 14
	DataLoss           Code = 15
	Unauthenticated    Code = 16
)

var codeNames = [...]string{
	"OK", "Canceled", "Unknown", "InvalidArgument", "DeadlineExceeded", "NotFound",
	"AlreadyExists", "PermissionDenied", "ResourceExhausted", "FailedPrecondition", "Aborted",
	"OutOfRange", "Unimplemented", "Internal", "Unavailable", "DataLoss", "Unauthenticated",
}

// String returns the code's name, such as "InvalidArgument".
func (c Code) String() string {
	if int(c) < len(codeNames) {
		return codeNames[c]
	}
	return fmt.Sprintf("Code(%d)", uint32(c))
}

// Standard D-Bus error names.
const (
	ErrorFailed            = "org.freedesktop.DBus.Error.Failed"
	ErrorNoMemory          = "org.freedesktop.DBus.Error.NoMemory"
	ErrorServiceUnknown    = "org.freedesktop.DBus.Error.ServiceUnknown"
	ErrorNameHasNoOwner    = "org.freedesktop.DBus.Error.NameHasNoOwner"
	ErrorNoReply           = "org.freedesktop.DBus.Error.NoReply"
	ErrorIOError           = "org.freedesktop.DBus.Error.IOError"
	ErrorBadAddress        = "org.freedesktop.DBus.Error.BadAddress"
	ErrorNotSupported      = "org.freedesktop.DBus.Error.NotSupported"
	ErrorLimitsExceeded    = "org.freedesktop.DBus.Error.LimitsExceeded"
	ErrorAccessDenied      = "org.freedesktop.DBus.Error.AccessDenied"
	ErrorAuthFailed        = "org.freedesktop.DBus.Error.AuthFailed"
	ErrorNoServer          = "org.freedesktop.DBus.Error.NoServer"
	ErrorTimeout           = "org.freedesktop.DBus.Error.Timeout"
	ErrorNoNetwork         = "org.freedesktop.DBus.Error.NoNetwork"
	ErrorDisconnected      = "org.freedesktop.DBus.Error.Disconnected"
	ErrorInvalidArgs       = "org.freedesktop.DBus.Error.InvalidArgs"
	ErrorFileNotFound      = "org.freedesktop.DBus.Error.FileNotFound"
	ErrorFileExists        = "org.freedesktop.DBus.Error.FileExists"
	ErrorUnknownMethod     = "org.freedesktop.DBus.Error.UnknownMethod"
	ErrorUnknownObject     = "org.freedesktop.DBus.Error.UnknownObject"
	ErrorUnknownInterface  = "org.freedesktop.DBus.Error.UnknownInterface"
	ErrorUnknownProperty   = "org.freedesktop.DBus.Error.UnknownProperty"
	ErrorPropertyReadOnly  = "org.freedesktop.DBus.Error.PropertyReadOnly"
	ErrorTimedOut          = "org.freedesktop.DBus.Error.TimedOut"
	ErrorInvalidSignature  = "org.freedesktop.DBus.Error.InvalidSignature"
	ErrorInconsistentMsg   = "org.freedesktop.DBus.Error.InconsistentMessage"
	ErrorMatchRuleInvalid  = "org.freedesktop.DBus.Error.MatchRuleInvalid"
	ErrorInteractiveAuth   = "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired"
	ErrorAdtAuditDataUnkn  = "org.freedesktop.DBus.Error.AdtAuditDataUnknown"
	ErrorObjectPathInUse   = "org.freedesktop.DBus.Error.ObjectPathInUse"
	ErrorSpawnServiceFail  = "org.freedesktop.DBus.Error.Spawn.Failed"
	ErrorUnixProcessIDUnkn = "org.freedesktop.DBus.Error.UnixProcessIdUnknown"
)

// statusPrefix names the errors for codes that have no standard D-Bus error.
const statusPrefix = "org.kdbusgo.Status."

// codeErrorNames maps each code to the D-Bus error name sent for it.
var codeErrorNames = [...]string{
	OK:                 "",
	Canceled:           statusPrefix + "Canceled",
	Unknown:            ErrorFailed,
	InvalidArgument:    ErrorInvalidArgs,
	DeadlineExceeded:   ErrorTimeout,
	NotFound:           statusPrefix + "NotFound",
	AlreadyExists:      statusPrefix + "AlreadyExists",
	PermissionDenied:   ErrorAccessDenied,
	ResourceExhausted:  ErrorLimitsExceeded,
	FailedPrecondition: statusPrefix + "FailedPrecondition",
	Aborted:            statusPrefix + "Aborted",
	OutOfRange:         statusPrefix + "OutOfRange",
	Unimplemented:      ErrorUnknownMethod,
	Internal:           statusPrefix + "Internal",
	Unavailable:        ErrorServiceUnknown,
	DataLoss:           statusPrefix + "DataLoss",
	Unauthenticated:    ErrorAuthFailed,
}

// nameCodes maps D-Bus error names received to codes; names not listed map to Unknown.
var nameCodes = map[string]Code{
	ErrorFailed:            Unknown,
	ErrorNoMemory:          ResourceExhausted,
	ErrorLimitsExceeded:    ResourceExhausted,
	ErrorServiceUnknown:    Unavailable,
	ErrorNameHasNoOwner:    Unavailable,
	ErrorNoServer:          Unavailable,
	ErrorNoNetwork:         Unavailable,
	ErrorDisconnected:      Unavailable,
	ErrorNoReply:           Unavailable,
	ErrorSpawnServiceFail:  Unavailable,
	ErrorIOError:           Internal,
	ErrorInconsistentMsg:   Internal,
	ErrorBadAddress:        InvalidArgument,
	ErrorInvalidArgs:       InvalidArgument,
	ErrorInvalidSignature:  InvalidArgument,
	ErrorMatchRuleInvalid:  InvalidArgument,
	ErrorNotSupported:      Unimplemented,
	ErrorUnknownMethod:     Unimplemented,
	ErrorUnknownObject:     Unimplemented,
	ErrorUnknownInterface:  Unimplemented,
	ErrorUnknownProperty:   Unimplemented,
	ErrorAccessDenied:      PermissionDenied,
	ErrorPropertyReadOnly:  PermissionDenied,
	ErrorInteractiveAuth:   PermissionDenied,
	ErrorAuthFailed:        Unauthenticated,
	ErrorTimeout:           DeadlineExceeded,
	ErrorTimedOut:          DeadlineExceeded,
	ErrorFileNotFound:      NotFound,
	ErrorUnixProcessIDUnkn: NotFound,
	ErrorAdtAuditDataUnkn:  NotFound,
	ErrorFileExists:        AlreadyExists,
	ErrorObjectPathInUse:   AlreadyExists,
}

// ErrorNameForCode returns the D-Bus error name sent for code.
func ErrorNameForCode(c Code) string {
	if int(c) < len(codeErrorNames) && c != OK {
		return codeErrorNames[c]
	}
	return ErrorFailed
}

// CodeForErrorName returns the code for a D-Bus error name: the mapping of the standard names,
// the code of our own status names, the code a service declares for one of its own errors
// (ServiceDesc.Errors, once the descriptor is used), and Unknown for anything else.
func CodeForErrorName(name string) Code {
	if c, ok := nameCodes[name]; ok {
		return c
	}
	if rest, ok := strings.CutPrefix(name, statusPrefix); ok {
		for c, n := range codeNames {
			if n == rest && c != int(OK) {
				return Code(c)
			}
		}
	}
	if c, ok := serviceErrorCodes.Load(name); ok {
		return c.(Code)
	}
	return Unknown
}

// serviceErrorCodes maps the D-Bus names of service-defined errors to the codes their services
// declare. Descriptors add theirs when they are used (NewObject, Conn.Register); the first
// code given for a name stays.
var serviceErrorCodes sync.Map // string → Code

// registerErrors makes CodeForErrorName map the names of d's errors to their codes.
func (d *ServiceDesc) registerErrors() {
	for _, e := range d.Errors {
		if e != nil && e.Name != "" && e.Code != Unknown {
			serviceErrorCodes.LoadOrStore(e.Name, e.Code)
		}
	}
}

// Error is a D-Bus error: a name, a message and the status code it maps to. Handlers return
// one to choose the error name a caller sees; clients get one for every error reply.
type Error struct {
	Code    Code
	Name    string // the D-Bus error name
	Message string
}

// Error returns the name and the message.
func (e *Error) Error() string {
	if e.Message == "" {
		return e.Name
	}
	return e.Name + ": " + e.Message
}

// Is matches errors of the same D-Bus name, so errors.Is(err, &Error{Name: n}) tests for a
// name.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Name == e.Name && (t.Message == "" || t.Message == e.Message)
}

// Errorf returns an error with the given code and the D-Bus error name for it.
func Errorf(c Code, format string, args ...any) *Error {
	return &Error{Code: c, Name: ErrorNameForCode(c), Message: fmt.Sprintf(format, args...)}
}

// NewError returns an error with a chosen D-Bus name, such as a service-defined error
// "org.example.Greeter.Error.NotReady". The code follows from the name.
func NewError(name, message string) *Error {
	return &Error{Code: CodeForErrorName(name), Name: name, Message: message}
}

// CodeOf returns the status code of err: its own for an *Error, Canceled and
// DeadlineExceeded for context errors, Unavailable for a broken connection, OK for nil and
// Unknown otherwise.
func CodeOf(err error) Code {
	var e *Error
	switch {
	case err == nil:
		return OK
	case errors.As(err, &e):
		return e.Code
	case errors.Is(err, context.DeadlineExceeded):
		return DeadlineExceeded
	case errors.Is(err, context.Canceled):
		return Canceled
	case errors.Is(err, ErrDisconnected), errors.Is(err, ErrClosed):
		return Unavailable
	}
	return Unknown
}

// toError turns any error a handler returned into the *Error to send.
func toError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		if e.Name == "" || wire.ValidateErrorName(e.Name) != nil {
			return &Error{Code: e.Code, Name: ErrorNameForCode(e.Code), Message: e.Message}
		}
		return e
	}
	return &Error{Code: CodeOf(err), Name: ErrorNameForCode(CodeOf(err)), Message: err.Error()}
}

// errorFromReply decodes an ERROR message: its name and, when the body starts with a string,
// its message.
func errorFromReply(m *wire.Message) *Error {
	e := &Error{Name: m.ErrorName, Code: CodeForErrorName(m.ErrorName)}
	if len(m.Signature) > 0 && m.Signature[0] == 's' {
		d := wire.NewDecoder(m.Body, m.Order)
		if s := d.String(); d.Err() == nil {
			e.Message = s
		}
	}
	return e
}

// ErrDisconnected and ErrClosed are the transport's: every error caused by a broken or
// closed connection wraps one of them.
var (
	ErrDisconnected = classic.ErrDisconnected
	ErrClosed       = classic.ErrClosed
)
