// Package memfd provides the shared-memory primitives of the native transport: sealed memfds
// that carry large payloads without copying, and receive pools that the bus writes and a
// client can only read.
//
// # Sealed payloads
//
// A sender puts a large payload into a memfd and seals it with [PayloadSeals]
// (F_SEAL_WRITE|F_SEAL_SHRINK|F_SEAL_GROW|F_SEAL_SEAL), either in one call with [Create] or by
// filling a writable mapping from [New] and calling [Writer.Seal]. Once sealed, nobody — not
// even the sender, who still holds a read-write descriptor — can change, grow or shrink the
// contents, or remove the seals, so a receiver can map the descriptor and decode it in place
// without a copy and without fearing that the bytes change under it or that the mapping is
// truncated away (which would kill the reader with SIGBUS). The bus checks every payload
// descriptor with [Verify] before passing it on; a receiver maps it with [MapReadOnly], which
// verifies it again.
//
// # Receive pools
//
// Each connection to the bus gets a [Pool]: a memfd that the bus maps read-write and then seals
// with [PoolSeals] (F_SEAL_SHRINK|F_SEAL_GROW|F_SEAL_FUTURE_WRITE|F_SEAL_SEAL) before handing
// the descriptor to the client. F_SEAL_FUTURE_WRITE keeps the bus's existing writable mapping
// working while refusing every new way to write: a writable shared mapping, mprotect of a
// read-only one, write(2), truncation, and growing or punching holes with fallocate all fail,
// in any process. The client maps
// the pool with [MapPool] and sees what the bus writes as soon as it is written. The bus carves
// the pool into slices with [Pool.Alloc], fills them with [Pool.Write] or [Pool.Slice], hands
// them to the receiver with [Pool.Publish] and takes them back with [Pool.Release] (on the
// receiver's request) or [Pool.Free] (on its own).
//
// # Lifetimes
//
// Memory from a [Mapping], a [Writer] or a [Pool] lives outside the Go heap: the garbage
// collector does not know that a slice points into it, so nothing is unmapped behind the
// program's back, and nothing is unmapped until Close. After Close, the slices handed out
// earlier must not be used. Methods called after Close panic or return [ErrClosed] rather
// than returning an empty slice; touching an old slice faults while the address range is
// unmapped, which crashes the program, but the kernel may later reuse the range for another
// mapping, so keeping a slice past Close is a bug that cannot always be caught.
//
// Every function in this package works on Linux only.
package memfd
