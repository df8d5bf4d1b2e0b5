package broker

import (
	"testing"
	"time"
)

// TestAccountFairShare checks the sharing rule: a lone user may fill half the pool and no
// more, a second user still finds room, and a release wakes a reader waiting for it.
func TestAccountFairShare(t *testing.T) {
	a := newAccountant(Limits{MaxIncomingBytes: 1 << 20, MaxIncomingUnixFDs: 64})
	pool := a.poolBytes
	alice1, alice2, bob := a.open(1000), a.open(1000), a.open(1001)

	// Alice's first connection reaches its own limit, and stops.
	for alice1.hasRoomLocked() {
		if err := alice1.Reserve(nil, 64<<10); err != nil {
			t.Fatal(err)
		}
	}
	if alice1.bytes < a.connBytes {
		t.Fatalf("the connection stopped at %d, under its limit %d", alice1.bytes, a.connBytes)
	}
	// Her second connection may go on until she holds half the pool.
	for alice2.hasRoomLocked() {
		if err := alice2.Reserve(nil, 64<<10); err != nil {
			t.Fatal(err)
		}
	}
	if held := alice1.u.bytes; held > pool/2 {
		t.Fatalf("alice holds %d of a pool of %d: over her share", held, pool)
	}
	// Bob, another user, still has room.
	if !bob.hasRoomLocked() {
		t.Fatal("a second user finds no room beside a user at her share")
	}
	// A reservation over alice's share waits until something is released.
	a.mu.Lock()
	fits := a.fits(alice2.u, pool/2*memFactor)
	a.mu.Unlock()
	if fits {
		t.Fatal("a reservation over alice's share fits")
	}
	done := make(chan error, 1)
	go func() { done <- alice2.Reserve(nil, pool/2) }()
	alice1.Release(alice1.bytes/memFactor, 0)
	alice2.Release(alice2.bytes/memFactor, 0)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Minute):
		t.Fatal("a release did not wake the waiting reservation")
	}
}

func (c *account) hasRoomLocked() bool {
	c.a.mu.Lock()
	defer c.a.mu.Unlock()
	return c.hasRoom()
}

// TestAccountUserFullSparesIdleConnections fills a user's pool with replies one connection
// asked for and does not read: that connection's further replies are dropped, while another
// connection of the same user that holds nothing unread still gets what it asks for.
func TestAccountUserFullSparesIdleConnections(t *testing.T) {
	a := newAccountant(Limits{MaxIncomingBytes: 1 << 20, MaxIncomingUnixFDs: 64})
	reader, hoarder := a.open(1000), a.open(1000)
	a.mu.Lock()
	for hoarder.u.owned < a.poolBytes {
		hoarder.addOwn(64<<10, 0)
	}
	a.mu.Unlock()
	if !hoarder.userFull() {
		t.Fatal("the connection holding the user's pool of unread replies is not refused more")
	}
	if reader.userFull() {
		t.Fatal("a connection of the same user holding nothing unread is refused its reply")
	}
	// Once it holds an unread reply of its own, it shares the user's fate.
	a.mu.Lock()
	reader.addOwn(64<<10, 0)
	a.mu.Unlock()
	if !reader.userFull() {
		t.Fatal("a connection holding unread replies beside a full user is not refused more")
	}
	a.mu.Lock()
	reader.addOwn(-64<<10, 0)
	a.mu.Unlock()
	if reader.userFull() {
		t.Fatal("a connection that read its replies is still refused")
	}
}
