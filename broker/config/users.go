package config

import (
	"fmt"
	"math"
	"os/user"
	"strconv"
)

// uid resolves a user name or decimal uid for the policy, remembering the answer.
func (l *loader) uid(name string) (uint32, bool) {
	return resolveID(name, l.users, l.o.LookupUser)
}

// gid resolves a group name or decimal gid for the policy, remembering the answer.
func (l *loader) gid(name string) (uint32, bool) {
	return resolveID(name, l.groups, l.o.LookupGroup)
}

func resolveID(name string, cache map[string]idLookup, lookup func(string) (uint32, error)) (uint32, bool) {
	if id, ok := parseID(name); ok {
		return id, true
	}
	r, ok := cache[name]
	if !ok {
		r.id, r.err = lookup(name)
		cache[name] = r
	}
	return r.id, r.err == nil
}

// parseID accepts a decimal id. 4294967295 is (uid_t)-1, which names nobody.
func parseID(s string) (uint32, bool) {
	if s == "" || s[0] < '0' || s[0] > '9' {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil || n == math.MaxUint32 {
		return 0, false
	}
	return uint32(n), true
}

func lookupUser(name string) (uint32, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return 0, err
	}
	id, ok := parseID(u.Uid)
	if !ok {
		return 0, fmt.Errorf("user %q has uid %q, which is not a Unix uid", name, u.Uid)
	}
	return id, nil
}

func lookupGroup(name string) (uint32, error) {
	g, err := user.LookupGroup(name)
	if err != nil {
		return 0, err
	}
	id, ok := parseID(g.Gid)
	if !ok {
		return 0, fmt.Errorf("group %q has gid %q, which is not a Unix gid", name, g.Gid)
	}
	return id, nil
}

// LookupGroups returns the groups of the user with the given uid from the user database,
// primary group first. dbus-daemon uses these for Policy.CanConnect, and for per-connection
// rules when the kernel cannot report a peer's groups. os/user consults NSS (LDAP, sssd,
// systemd's dynamic users) only in cgo builds; pure-Go builds read /etc/passwd and
// /etc/group.
func LookupGroups(uid uint32) ([]uint32, error) {
	u, err := user.LookupId(strconv.FormatUint(uint64(uid), 10))
	if err != nil {
		return nil, err
	}
	ids, err := u.GroupIds()
	if err != nil {
		return nil, err
	}
	out := make([]uint32, 0, len(ids)+1)
	if g, ok := parseID(u.Gid); ok {
		out = append(out, g)
	}
	for _, s := range ids {
		if g, ok := parseID(s); ok && !containsID(out, g) {
			out = append(out, g)
		}
	}
	return out, nil
}
