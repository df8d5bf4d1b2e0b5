package native

// A message in a receive pool starts with a record the bus writes, then the D-Bus message
// (header with the SENDER field the bus set, then the body). The record carries what the bus
// vouches for: a client can neither write its pool nor put anything into the record.
//
//	0  seqnum     u64  bus-wide sequence number
//	8  sender     u64  the sender's connection id; 0 for the bus itself
//	16 timestamp  u64  CLOCK_MONOTONIC nanoseconds when the bus routed the message
//	24 uid        u32  the sender's credentials when it sent the message
//	28 gid        u32
//	32 pid        u32
//	36 length     u32  length of the D-Bus message that follows
//	40 flags      u32  recordCreds: uid, gid and pid are valid
//	44 reserved   u32
//	48 sendSeq    u64  the sender's count of its sends when it sent this one (see lane.go)
//	56 deadline   u64  for a method call, CLOCK_MONOTONIC nanoseconds when its caller stops
//	                   waiting for the reply, as the caller said; 0: none, and for every
//	                   other message
const (
	recordSize  = 64
	recordCreds = 1 << 0
)

// The first bytes of every pool belong to the bus's notes to the client, each written
// atomically by the bus and read atomically by the client.
//
//	0  consumed  u64  the cookie of the last send the bus has finished with: the client may
//	                  reuse the part of its send area that sends up to it occupied
//	8  queued    u64  how many messages the bus has committed to announcing to the client
//	16 nameGen   u64  bumped whenever a well-known name changes owner, before anyone hears
//	24 watched   u64  non-zero while a monitor or an eavesdropping rule could observe
//	                  unicasts: lanes carry nothing then
const (
	controlSize  = 64
	ctrlConsumed = 0
	ctrlQueued   = 8
	ctrlNameGen  = 16
	ctrlWatched  = 24
)

// Record is the bus's account of one received message.
type Record struct {
	// Seqnum is the bus-wide sequence number of the message: increasing in the order the bus
	// routed messages, so that a monitor can rebuild a total order.
	Seqnum uint64
	// Sender is the sender's connection id (its unique name is ":1.<Sender>"); 0 means the
	// bus itself.
	Sender uint64
	// Timestamp is when the bus routed the message, in CLOCK_MONOTONIC nanoseconds.
	Timestamp uint64
	// UID, GID and PID are the sender's credentials as the kernel reported them for the
	// packet that carried the message; valid when HasCreds.
	UID, GID, PID uint32
	// HasCreds says UID, GID and PID are set.
	HasCreds bool
	// SendSeq is the sender's own count of its sends when it sent the message: it orders
	// one sender's messages across the bus and lanes, and means nothing across senders.
	SendSeq uint64
	// Deadline, for a method call, is when its caller stops waiting for the reply, in
	// CLOCK_MONOTONIC nanoseconds; 0 means none, and it is 0 for every other message. It is
	// the caller's word, not the bus's: routed, the bus adds the time the caller said it
	// would wait to its own clock when it read the send (so it may be later than the
	// caller's by the time the send waited to be read); over a lane, the caller wrote it
	// itself. Treat it as advisory, as a handler's context deadline: a caller can only cut
	// short the handling of its own call with it.
	Deadline uint64
	// Lane says the message came straight from its sender over a lane rather than through
	// the bus: Seqnum is 0 then, Sender is the lane's peer as the bus named it when it set up
	// the lane, and the credentials are those the kernel attached to the lane packet.
	Lane bool
}

func putRecord(b []byte, r *Record, length int) {
	ne.PutUint64(b[0:], r.Seqnum)
	ne.PutUint64(b[8:], r.Sender)
	ne.PutUint64(b[16:], r.Timestamp)
	ne.PutUint32(b[24:], r.UID)
	ne.PutUint32(b[28:], r.GID)
	ne.PutUint32(b[32:], r.PID)
	ne.PutUint32(b[36:], uint32(length))
	var flags uint32
	if r.HasCreds {
		flags |= recordCreds
	}
	ne.PutUint32(b[40:], flags)
	ne.PutUint32(b[44:], 0)
	ne.PutUint64(b[48:], r.SendSeq)
	ne.PutUint64(b[56:], r.Deadline)
}

func parseRecord(b []byte) (Record, int) {
	r := Record{
		Seqnum: ne.Uint64(b[0:]), Sender: ne.Uint64(b[8:]), Timestamp: ne.Uint64(b[16:]),
		UID: ne.Uint32(b[24:]), GID: ne.Uint32(b[28:]), PID: ne.Uint32(b[32:]),
		HasCreds: ne.Uint32(b[40:])&recordCreds != 0, SendSeq: ne.Uint64(b[48:]),
		Deadline: ne.Uint64(b[56:]),
	}
	return r, int(ne.Uint32(b[36:]))
}
