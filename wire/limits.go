package wire

// Limits from the D-Bus specification.
const (
	// MaxMessageSize is the largest message, header and body, in bytes (128 MiB).
	MaxMessageSize = 128 << 20
	// MaxArraySize is the largest array payload in bytes (64 MiB).
	MaxArraySize = 64 << 20
	// MaxSignatureLength is the longest signature in bytes.
	MaxSignatureLength = 255
	// MaxArrayDepth is how deeply arrays may nest within one signature.
	MaxArrayDepth = 32
	// MaxStructDepth is how deeply structs and dict entries may nest within one signature.
	MaxStructDepth = 32
	// MaxTotalDepth is how deeply containers may nest in a value, counting across variants.
	MaxTotalDepth = 64
	// MaxNameLength is the longest bus, interface, member or error name in bytes.
	MaxNameLength = 255
	// MaxUnixFDs is the largest number of file descriptors one message may carry in practice
	// (the kernel's SCM_MAX_FD).
	MaxUnixFDs = 253
)
