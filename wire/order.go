package wire

import (
	"fmt"
	"unsafe"
)

// ByteOrder is the endianness flag of a message: the first byte of every message.
type ByteOrder byte

// The two byte orders the specification defines.
const (
	LittleEndian ByteOrder = 'l'
	BigEndian    ByteOrder = 'B'
)

// NativeOrder is the byte order of this machine, which senders should prefer.
var NativeOrder = nativeOrder()

func nativeOrder() ByteOrder {
	x := uint16(1)
	if *(*byte)(unsafe.Pointer(&x)) == 1 {
		return LittleEndian
	}
	return BigEndian
}

// Valid reports whether o is one of the two defined flags.
func (o ByteOrder) Valid() bool { return o == LittleEndian || o == BigEndian }

// String returns "little-endian" or "big-endian".
func (o ByteOrder) String() string {
	switch o {
	case LittleEndian:
		return "little-endian"
	case BigEndian:
		return "big-endian"
	}
	return fmt.Sprintf("invalid byte order %q", byte(o))
}
