// Package wire implements the D-Bus wire format: the type system, signatures, the marshalling
// of values in both byte orders, and the message header.
//
// The API is built for code generators and transports. [Encoder] appends values to a byte
// slice and [Decoder] reads them in place from one; neither uses reflection or allocates for
// fixed-size values, and both keep the first error they meet (check it once, with Err, after a
// run of calls), so generated code reads as a flat list of field reads and writes.
//
// Alignment is relative to the start of the buffer given to the encoder or decoder, which
// must therefore be the start of a message body (bodies start at an 8-byte boundary of the
// message, so body-relative and message-relative alignment agree).
//
// [Marshal] and [Unmarshal] are a reflection-based layer on top, for tests and tools that
// handle values whose types are known only at run time.
package wire
