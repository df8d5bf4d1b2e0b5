package hostile

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kdbus-go/kdbus/internal/bustest"
	"github.com/kdbus-go/kdbus/internal/dbustest"
	"github.com/kdbus-go/kdbus/runtime"
	"github.com/kdbus-go/kdbus/transport/classic"
	"github.com/kdbus-go/kdbus/wire"
)

// credsChildEnv makes the test binary a client that reports what the bus let it do (see
// credsChild): its value is the bus address.
const credsChildEnv = "KDBUS_HOSTILE_CREDS_CHILD"

// credsForbidden is a name the group policy of TestGroupPolicyPrimaryGID forbids.
const credsForbidden = "org.kdbusgo.Hostile.Forbidden"

func init() {
	if addr := os.Getenv(credsChildEnv); addr != "" {
		credsChild(addr)
		os.Exit(0)
	}
}

// credsChild connects to addr and prints, one per line, what the bus said: whether it could
// connect, whether it may own credsForbidden, the groups the bus sees it in, and whether it
// may become a monitor.
func credsChild(addr string) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := runtime.Dial(ctx, addr)
	if err != nil {
		fmt.Printf("connect=%s\n", credsOneLine(err))
		return
	}
	defer c.Close()
	fmt.Println("connect=ok")
	if r, err := c.RequestName(ctx, credsForbidden, runtime.NameDoNotQueue); err != nil {
		fmt.Printf("own=%s\n", credsErrName(err))
	} else {
		fmt.Printf("own=%d\n", r)
	}
	if cr, err := c.GetConnectionCredentials(ctx, c.UniqueName()); err != nil {
		fmt.Printf("gids=%s\n", credsErrName(err))
	} else {
		slices.Sort(cr.GIDs)
		fmt.Printf("gids=%s\n", strings.Trim(fmt.Sprint(cr.GIDs), "[]"))
	}
	body, _ := wire.Marshal(wire.NativeOrder, "asu", []string{}, uint32(0))
	m := &wire.Message{Order: wire.NativeOrder, Type: wire.MethodCall, Destination: classic.BusName,
		Path: classic.BusPath, Interface: "org.freedesktop.DBus.Monitoring", Member: "BecomeMonitor",
		Signature: "asu", Body: body}
	if _, _, err := c.Call(ctx, m, nil); err != nil {
		fmt.Printf("monitor=%s\n", credsErrName(err))
	} else {
		fmt.Println("monitor=ok")
	}
}

func credsErrName(err error) string {
	var e *runtime.Error
	if errors.As(err, &e) {
		return e.Name
	}
	return credsOneLine(err)
}

func credsOneLine(err error) string { return strings.ReplaceAll(err.Error(), "\n", " ") }

// credsRequireRoot skips a test that must start clients as other users when this process is
// not root: no tool can be installed to give it that right, so it is a skip even under CI.
func credsRequireRoot(tb testing.TB) {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Skip("not root: cannot start clients as other users")
	}
}

// credsBinary copies the test binary where other users may run it: the original sits in a
// directory only its owner may enter.
func credsBinary(tb testing.TB) string {
	tb.Helper()
	exe, err := os.Executable()
	if err != nil {
		tb.Fatal(err)
	}
	dir := tb.TempDir()
	credsOpenDir(tb, dir)
	src, err := os.Open(exe)
	if err != nil {
		tb.Fatal(err)
	}
	defer src.Close()
	path := filepath.Join(dir, "client")
	dst, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		tb.Fatal(err)
	}
	_, err = io.Copy(dst, src)
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		tb.Fatalf("copying the test binary for other users: %v", err)
	}
	return path
}

// credsRun runs the child client against addr as uid with primary group gid and the
// supplementary groups groups, and returns what it reported.
func credsRun(tb testing.TB, bin, addr string, uid, gid uint32, groups []uint32) map[string]string {
	tb.Helper()
	cmd := exec.Command(bin)
	cmd.Dir = "/"
	cmd.Env = []string{credsChildEnv + "=" + addr}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid, Groups: groups}}
	out, err := cmd.Output()
	if err != nil {
		tb.Fatalf("the client running as uid %d gid %d groups %v failed: %v\n%s", uid, gid, groups, err, out)
	}
	res := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			res[k] = v
		}
	}
	return res
}

// credsOpenDir lets other users enter a test's temporary directory, private to its owner,
// to reach a bus's sockets or run a binary there.
func credsOpenDir(tb testing.TB, dir string) {
	tb.Helper()
	for _, d := range []string{dir, filepath.Dir(dir)} {
		if err := os.Chmod(d, 0o755); err != nil {
			tb.Fatal(err)
		}
	}
}

// credsGroupName returns the name of a group, for policies that name it.
func credsGroupName(tb testing.TB, gid uint32) string {
	tb.Helper()
	g, err := user.LookupGroupId(strconv.FormatUint(uint64(gid), 10))
	if err != nil {
		tb.Skipf("no group %d on this system: %v", gid, err)
	}
	return g.Name
}

const (
	credsNobody = 65534 // the unprivileged user and group of Debian and most others
	credsUsers  = 100   // the "users" group
)

// TestGroupPolicyPrimaryGID: a process's primary group counts for <policy group> and for
// GetConnectionCredentials even when its supplementary groups leave it out, as they do after
// setgroups: a client with primary group nogroup and supplementary group users may not own a
// name denied to nogroup. A client whose primary group is users may.
func TestGroupPolicyPrimaryGID(t *testing.T) {
	credsRequireRoot(t)
	group := credsGroupName(t, credsNobody)
	bin := credsBinary(t)
	policy := fmt.Sprintf(`<policy context="default"><allow user="*"/></policy>
<policy group="%s"><deny own="%s"/></policy>
`, group, credsForbidden)
	for _, kind := range bustest.Kinds {
		t.Run(kind, func(t *testing.T) {
			bus := Start(t, kind, dbustest.Config{Extra: policy})
			credsOpenDir(t, bus.Daemon.Dir)
			denied := credsRun(t, bin, bus.Address, credsNobody, credsNobody, []uint32{credsUsers})
			allowed := credsRun(t, bin, bus.Address, credsNobody, credsUsers, []uint32{credsUsers})
			if denied["own"] != runtime.ErrorAccessDenied {
				t.Errorf("a client in group %s (primary) owning %s: got %q, want %s", group, credsForbidden, denied["own"], runtime.ErrorAccessDenied)
			}
			if want := fmt.Sprintf("%d %d", credsUsers, credsNobody); denied["gids"] != want {
				t.Errorf("UnixGroupIDs of a client with gid %d and groups [%d]: got %q, want %q", credsNobody, credsUsers, denied["gids"], want)
			}
			if allowed["own"] != strconv.Itoa(int(runtime.NamePrimaryOwner)) {
				t.Errorf("a client outside group %s owning %s: got %q, want primary owner", group, credsForbidden, allowed["own"])
			}
			Report(t, "group policy", kind, Figures{Note: fmt.Sprintf("gid %d groups [%d]: own %s, UnixGroupIDs [%s]; gid %d: own %s",
				credsNobody, credsUsers, denied["own"], denied["gids"], credsUsers, allowed["own"])})
		})
	}
}

// TestBusUserAfterSwitch runs the bus as root with <user>: once it has switched, that user is
// the bus's own, who may connect without an <allow user> rule and may become a monitor.
func TestBusUserAfterSwitch(t *testing.T) {
	credsRequireRoot(t)
	u, err := user.LookupId(strconv.Itoa(credsNobody))
	if err != nil {
		t.Skipf("no user %d on this system: %v", credsNobody, err)
	}
	bin := credsBinary(t)
	for _, kind := range []string{bustest.DBusDaemon, bustest.Kdbusd} {
		t.Run(kind, func(t *testing.T) {
			bus := Start(t, kind, dbustest.Config{Extra: "<user>" + u.Username + "</user>\n"})
			credsOpenDir(t, bus.Daemon.Dir)
			got := credsRun(t, bin, bus.ClassicAddress, credsNobody, credsNobody, []uint32{})
			if got["connect"] != "ok" || got["monitor"] != "ok" {
				t.Errorf("the bus's own user (%s): connect %q, BecomeMonitor %q; want both ok", u.Username, got["connect"], got["monitor"])
			}
			connect := got["connect"]
			if connect != "ok" {
				connect = "refused"
			}
			Report(t, "bus user after <user>", kind, Figures{Note: fmt.Sprintf("uid %d connects: %s, monitors: %s", credsNobody, connect, got["monitor"])})
		})
	}
}
