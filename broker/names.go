package broker

import (
	"maps"
	"slices"
)

// Name flags of RequestName, as the specification numbers them.
const (
	flagAllowReplacement uint32 = 0x1
	flagReplaceExisting  uint32 = 0x2
	flagDoNotQueue       uint32 = 0x4
)

// RequestName replies.
const (
	replyPrimaryOwner uint32 = 1
	replyInQueue      uint32 = 2
	replyExists       uint32 = 3
	replyAlreadyOwner uint32 = 4
)

// ReleaseName replies.
const (
	releaseReleased    uint32 = 1
	releaseNonExistent uint32 = 2
	releaseNotOwner    uint32 = 3
)

// ownerChange is a change of a name's primary owner, for NameOwnerChanged, NameLost and
// NameAcquired.
type ownerChange struct {
	name     string
	old, new *peer // nil for none
}

// claim is one connection's request for a name: the primary owner is the first claim.
type claim struct {
	p     *peer
	flags uint32
}

// registry holds the well-known names: for each, the primary owner followed by the queue of
// connections waiting for it. It is guarded by the broker's lock.
type registry struct {
	names map[string][]claim
}

func newRegistry() *registry { return &registry{names: make(map[string][]claim)} }

// owner returns the primary owner of name, or nil.
func (r *registry) owner(name string) *peer {
	if q := r.names[name]; len(q) > 0 {
		return q[0].p
	}
	return nil
}

// request handles RequestName by p, with the specification's queueing and replacement rules.
func (r *registry) request(p *peer, name string, flags uint32) (uint32, *ownerChange) {
	q := r.names[name]
	if len(q) == 0 {
		r.names[name] = []claim{{p, flags}}
		p.names[name] = struct{}{}
		return replyPrimaryOwner, &ownerChange{name: name, new: p}
	}
	if q[0].p == p {
		q[0].flags = flags
		return replyAlreadyOwner, nil
	}
	at := slices.IndexFunc(q, func(c claim) bool { return c.p == p })
	if q[0].flags&flagAllowReplacement != 0 && flags&flagReplaceExisting != 0 {
		old := q[0]
		if at > 0 {
			q = slices.Delete(q, at, at+1)
		}
		rest := q[1:]
		next := []claim{{p, flags}}
		if old.flags&flagDoNotQueue == 0 {
			// The replaced owner waits at the head of the queue.
			next = append(next, old)
		} else {
			delete(old.p.names, name)
		}
		r.names[name] = append(next, rest...)
		p.names[name] = struct{}{}
		return replyPrimaryOwner, &ownerChange{name: name, old: old.p, new: p}
	}
	if flags&flagDoNotQueue != 0 {
		if at > 0 {
			r.names[name] = slices.Delete(q, at, at+1)
			delete(p.names, name)
		}
		return replyExists, nil
	}
	if at > 0 {
		q[at].flags = flags
	} else {
		r.names[name] = append(q, claim{p, flags})
		p.names[name] = struct{}{}
	}
	return replyInQueue, nil
}

// release handles ReleaseName by p.
func (r *registry) release(p *peer, name string) (uint32, *ownerChange) {
	q := r.names[name]
	if len(q) == 0 {
		return releaseNonExistent, nil
	}
	at := slices.IndexFunc(q, func(c claim) bool { return c.p == p })
	if at < 0 {
		return releaseNotOwner, nil
	}
	delete(p.names, name)
	q = slices.Delete(q, at, at+1)
	if len(q) == 0 {
		delete(r.names, name)
	} else {
		r.names[name] = q
	}
	if at > 0 {
		return releaseReleased, nil
	}
	ch := &ownerChange{name: name, old: p}
	if len(q) > 0 {
		ch.new = q[0].p
	}
	return releaseReleased, ch
}

// releaseAll drops every claim of p, for a disconnect, and returns the owner changes in name
// order.
func (r *registry) releaseAll(p *peer) []ownerChange {
	var out []ownerChange
	for _, name := range slices.Sorted(maps.Keys(p.names)) {
		if _, ch := r.release(p, name); ch != nil {
			out = append(out, *ch)
		}
	}
	return out
}

// queue returns the unique names of name's owner and waiters, in order.
func (r *registry) queue(name string) []string {
	var out []string
	for _, c := range r.names[name] {
		out = append(out, c.p.unique)
	}
	return out
}
