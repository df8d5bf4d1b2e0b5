// Package daemon runs the broker as a system or session bus daemon with dbus-daemon's
// command line and configuration: cmd/kdbusd is a thin main over Main.
package daemon

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/kdbus-go/kdbus/broker"
	"github.com/kdbus-go/kdbus/broker/config"
	"github.com/kdbus-go/kdbus/internal/version"
	"github.com/kdbus-go/kdbus/transport/address"
)

// Standard configuration files, as dbus-daemon installs them.
var (
	sessionConfigs = []string{"/usr/share/dbus-1/session.conf", "/etc/dbus-1/session.conf"}
	systemConfigs  = []string{"/usr/share/dbus-1/system.conf", "/etc/dbus-1/system.conf"}
)

// builtinSession is the session configuration used when dbus's own files are not installed:
// a socket in /tmp, and every connection of the bus's user allowed everything.
const builtinSession = `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:tmpdir=/tmp</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
`

// fdFlag is a flag that may be given alone (meaning standard output) or with a descriptor
// number, like dbus-daemon's --print-address[=FD].
type fdFlag struct {
	set bool
	fd  int
}

func (f *fdFlag) IsBoolFlag() bool { return true }

func (f *fdFlag) String() string {
	if !f.set {
		return ""
	}
	return strconv.Itoa(f.fd)
}

func (f *fdFlag) Set(s string) error {
	switch s {
	case "true":
		f.set, f.fd = true, 1
	case "false":
		f.set = false
	default:
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return fmt.Errorf("want a file descriptor number, got %q", s)
		}
		f.set, f.fd = true, n
	}
	return nil
}

// Options are the parsed command line.
type Options struct {
	Session, System bool
	ConfigFile      string
	Address         string
	PrintAddress    fdFlag
	PrintPID        fdFlag
	Fork, NoFork    bool
	NoPIDFile       bool
	Syslog          bool
	Version         bool
	// NoLanes turns lanes off (--no-lanes).
	NoLanes bool
}

// ParseArgs parses dbus-daemon's command line.
func ParseArgs(args []string, stderr io.Writer) (*Options, error) {
	var o Options
	fs := flag.NewFlagSet("kdbusd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.BoolVar(&o.Session, "session", false, "use the standard session bus configuration")
	fs.BoolVar(&o.System, "system", false, "use the standard system bus configuration")
	fs.StringVar(&o.ConfigFile, "config-file", "", "use this configuration `file`")
	fs.StringVar(&o.Address, "address", "", "listen on this D-Bus `address` instead of the configuration's <listen>")
	fs.Var(&o.PrintAddress, "print-address", "print the bus address to standard output, or to file descriptor `FD`")
	fs.Var(&o.PrintPID, "print-pid", "print the process ID to standard output, or to file descriptor `FD`")
	fs.BoolVar(&o.Fork, "fork", false, "run in the background")
	fs.BoolVar(&o.NoFork, "nofork", false, "stay in the foreground (the default unless the configuration says <fork/>)")
	fs.BoolVar(&o.NoPIDFile, "nopidfile", false, "do not write the configuration's <pidfile>")
	fs.BoolVar(&o.Syslog, "syslog", false, "accepted for compatibility; logs go to standard error")
	fs.Bool("nosyslog", false, "accepted for compatibility")
	fs.Bool("syslog-only", false, "accepted for compatibility")
	fs.Bool("systemd-activation", false, "accepted for compatibility; socket activation is detected from LISTEN_FDS")
	fs.BoolVar(&o.Version, "version", false, "print the version and exit")
	fs.BoolVar(&o.NoLanes, "no-lanes", false, "grant native peers no lanes: route every message through the bus")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q; see kdbusd --help", fs.Arg(0))
	}
	n := 0
	for _, b := range []bool{o.Session, o.System, o.ConfigFile != ""} {
		if b {
			n++
		}
	}
	if n > 1 {
		return nil, errors.New("give only one of --session, --system and --config-file")
	}
	if o.Fork && o.NoFork {
		return nil, errors.New("give only one of --fork and --nofork")
	}
	return &o, nil
}

// loadConfig reads the configuration the options name.
func loadConfig(o *Options) (*config.Config, error) {
	switch {
	case o.ConfigFile != "":
		return config.Load(o.ConfigFile)
	case o.System:
		return loadFirst(systemConfigs)
	case o.Session:
		cfg, err := loadFirst(sessionConfigs)
		if err != nil {
			// Without dbus's files, a session bus open to its own user is the useful default.
			return config.Parse(strings.NewReader(builtinSession), "built-in session configuration", "/")
		}
		return cfg, nil
	}
	return nil, errors.New("no configuration: give --session, --system or --config-file=FILE")
}

func loadFirst(paths []string) (*config.Config, error) {
	for _, p := range paths {
		if _, err := os.Stat(p); err == nil {
			return config.Load(p)
		}
	}
	return nil, fmt.Errorf("none of %s exists: install dbus's configuration files (Debian: dbus-daemon) or pass --config-file", strings.Join(paths, ", "))
}

// Main runs the daemon and returns its exit status.
func Main(args []string, stdout, stderr io.Writer) int {
	log := slog.New(slog.NewTextHandler(stderr, nil))
	o, err := ParseArgs(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "kdbusd:", err)
		return 2
	}
	if o.Version {
		fmt.Fprintln(stdout, version.Line("kdbusd"))
		fmt.Fprintln(stdout, "A D-Bus message bus from kdbus-go; speaks D-Bus protocol version 1.")
		return 0
	}
	cfg, err := loadConfig(o)
	if err != nil {
		fmt.Fprintln(stderr, "kdbusd:", err)
		return 1
	}
	for _, w := range cfg.Warnings {
		log.Warn("configuration", "warning", w.String())
	}
	if (cfg.Fork || o.Fork) && !o.NoFork {
		return forkDaemon(args, o, stdout, stderr)
	}
	listeners, err := listen(o, cfg)
	if err != nil {
		fmt.Fprintln(stderr, "kdbusd:", err)
		return 1
	}
	if err := dropPrivileges(cfg.User); err != nil {
		fmt.Fprintln(stderr, "kdbusd:", err)
		return 1
	}
	// The broker learns the user it runs as, who may connect and monitor, so it is made only
	// once the daemon has become that user. Its descriptor budget follows RLIMIT_NOFILE, whose
	// soft limit Go raises at start to one below the hard limit (package syscall's init; the
	// one left lets it tell its own change from a later prlimit), as dbus-daemon raises its own.
	b := broker.New(broker.Options{Limits: broker.LimitsFromConfig(cfg.Limits), Logger: log, Policy: cfg.Policy, NoLanes: o.NoLanes})
	addrs := make([]string, len(listeners))
	for i, l := range listeners {
		addrs[i] = l.connect.String()
		if !strings.Contains(addrs[i], "guid=") {
			addrs[i] += ",guid=" + b.GUID()
		}
	}
	if o.PrintAddress.set {
		if err := writeTo(o.PrintAddress.fd, stdout, strings.Join(addrs, ";")+"\n"); err != nil {
			fmt.Fprintln(stderr, "kdbusd: printing the address:", err)
			return 1
		}
	}
	if o.PrintPID.set {
		if err := writeTo(o.PrintPID.fd, stdout, strconv.Itoa(os.Getpid())+"\n"); err != nil {
			fmt.Fprintln(stderr, "kdbusd: printing the pid:", err)
			return 1
		}
	}
	if fd, err := strconv.Atoi(os.Getenv(readyFDEnv)); err == nil {
		os.Unsetenv(readyFDEnv)
		writeTo(fd, stdout, strings.Join(addrs, ";")+"\n"+strconv.Itoa(os.Getpid())+"\n")
	}
	if cfg.PIDFile != "" && !o.NoPIDFile {
		if err := os.WriteFile(cfg.PIDFile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
			log.Warn("cannot write the pid file", "path", cfg.PIDFile, "err", err)
		} else {
			defer os.Remove(cfg.PIDFile)
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	errc := make(chan error, len(listeners))
	for _, l := range listeners {
		if l.native {
			go func() { errc <- b.ServeNative(l.l) }()
		} else {
			go func() { errc <- b.Serve(l.l) }()
		}
	}
	notify("READY=1\nSTATUS=Accepting connections on " + strings.Join(addrs, ";"))
	log.Info("kdbusd is ready", "address", strings.Join(addrs, ";"), "type", cfg.Type)
	status := 0
	select {
	case <-ctx.Done():
		log.Info("shutting down", "reason", "signal")
	case err := <-errc:
		log.Error("a listener failed", "err", err)
		status = 1
	}
	notify("STOPPING=1")
	b.Close()
	for _, l := range listeners {
		if l.path != "" {
			os.Remove(l.path)
		}
	}
	return status
}

// listener is a socket the daemon serves and the address clients use for it.
type listener struct {
	l       *net.UnixListener
	connect address.Address
	path    string // a socket file to remove at exit, if the daemon created it
	native  bool   // a kdbus: socket, for the native transport
}

// listen opens the sockets: those systemd passed (socket activation), else --address or the
// configuration's <listen> entries.
func listen(o *Options, cfg *config.Config) ([]listener, error) {
	if ls, err := activationListeners(); err != nil || len(ls) > 0 {
		return ls, err
	}
	entries := cfg.Listen
	if o.Address != "" {
		entries = []string{o.Address}
	}
	if len(entries) == 0 {
		return nil, errors.New("the configuration has no <listen> address and no --address was given")
	}
	var out []listener
	for _, e := range entries {
		list, err := address.Parse(e)
		if err != nil {
			return nil, err
		}
		for _, a := range list {
			if a.Transport == "systemd" {
				return nil, fmt.Errorf("%s: the configuration asks for systemd socket activation, but LISTEN_FDS is not set", e)
			}
			// A kdbus: entry is the native transport: the same socket address forms as
			// unix:, on a SOCK_SEQPACKET socket.
			isNative := a.Transport == "kdbus"
			if isNative {
				a.Transport = "unix"
			}
			network, addr, connect, err := a.ListenTarget(nil)
			if err != nil {
				return nil, err
			}
			if isNative {
				network = "unixpacket"
				connect.Transport = "kdbus"
				a.Transport = "kdbus"
			}
			if !strings.HasPrefix(addr, "@") {
				if err := removeStaleSocket(network, addr); err != nil {
					return nil, err
				}
			}
			l, err := net.ListenUnix(network, &net.UnixAddr{Name: addr, Net: network})
			if err != nil {
				return nil, fmt.Errorf("listening on %s: %w", a, err)
			}
			l.SetUnlinkOnClose(false)
			path := ""
			if !strings.HasPrefix(addr, "@") {
				path = addr
				os.Chmod(addr, 0o777) // policy, not file permissions, decides who may connect
			}
			out = append(out, listener{l: l, connect: connect, path: path, native: isNative})
		}
	}
	return out, nil
}

// removeStaleSocket removes a socket file left by a daemon that died, and refuses to touch
// anything else or a socket someone still listens on.
func removeStaleSocket(network, path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.Mode()&os.ModeSocket == 0 {
		return fmt.Errorf("%s exists and is not a socket: remove it or choose another address", path)
	}
	c, err := net.Dial(network, path)
	if err == nil {
		c.Close()
		return fmt.Errorf("%s is in use by a running bus", path)
	}
	// Only a refusal proves nobody listens: a live bus whose backlog is full answers EAGAIN,
	// and a socket we may not reach tells nothing either.
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("%s may be in use by a running bus (connecting to it failed: %v); remove it by hand if it is stale", path, err)
	}
	return os.Remove(path)
}

// activationListeners returns the sockets systemd passed by socket activation, if any.
func activationListeners() ([]listener, error) {
	pid, _ := strconv.Atoi(os.Getenv("LISTEN_PID"))
	n, _ := strconv.Atoi(os.Getenv("LISTEN_FDS"))
	if pid != os.Getpid() || n <= 0 {
		return nil, nil
	}
	os.Unsetenv("LISTEN_PID")
	os.Unsetenv("LISTEN_FDS")
	os.Unsetenv("LISTEN_FDNAMES")
	var out []listener
	for fd := 3; fd < 3+n; fd++ {
		syscall.CloseOnExec(fd)
		f := os.NewFile(uintptr(fd), "systemd-socket-"+strconv.Itoa(fd))
		l, err := net.FileListener(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("socket activation: descriptor %d: %w", fd, err)
		}
		ul, ok := l.(*net.UnixListener)
		if !ok {
			l.Close()
			return nil, fmt.Errorf("socket activation: descriptor %d is not a unix stream or seqpacket socket", fd)
		}
		ul.SetUnlinkOnClose(false)
		a := address.Address{Transport: "unix", Params: map[string]string{}}
		native := ul.Addr().Network() == "unixpacket"
		if native {
			a.Transport = "kdbus"
		}
		if name := ul.Addr().String(); strings.HasPrefix(name, "@") {
			a.Params["abstract"], a.Keys = name[1:], []string{"abstract"}
		} else {
			a.Params["path"], a.Keys = name, []string{"path"}
		}
		out = append(out, listener{l: ul, connect: a, native: native})
	}
	return out, nil
}

// notify sends a state change to systemd when it supervises the daemon (NOTIFY_SOCKET).
func notify(state string) {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return
	}
	if strings.HasPrefix(path, "@") {
		path = "\x00" + path[1:]
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return
	}
	defer c.Close()
	c.Write([]byte(state))
}

func writeTo(fd int, stdout io.Writer, s string) error {
	if fd == 1 {
		_, err := io.WriteString(stdout, s)
		return err
	}
	f := os.NewFile(uintptr(fd), "fd"+strconv.Itoa(fd))
	if f == nil {
		return fmt.Errorf("descriptor %d is not open", fd)
	}
	_, err := f.WriteString(s)
	f.Close()
	return err
}

// readyFDEnv names the descriptor on which a forked daemon reports its address and pid to
// the process that started it.
const readyFDEnv = "KDBUSD_READY_FD"

// forkDaemon starts the daemon again in the background, in a new session, waits until it is
// ready and prints what the command line asked for, as dbus-daemon --fork does. The
// background daemon's output goes to /dev/null: run it with --nofork under a supervisor to
// keep its logs.
func forkDaemon(args []string, o *Options, stdout, stderr io.Writer) int {
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintln(stderr, "kdbusd: cannot find its own executable to fork:", err)
		return 1
	}
	r, w, err := os.Pipe()
	if err != nil {
		fmt.Fprintln(stderr, "kdbusd:", err)
		return 1
	}
	var childArgs []string
	for _, a := range args {
		if !strings.HasPrefix(a, "--print-") && !strings.HasPrefix(a, "-print-") && a != "--fork" && a != "-fork" {
			childArgs = append(childArgs, a)
		}
	}
	cmd := exec.Command(exe, append(childArgs, "--nofork")...)
	cmd.Env = append(os.Environ(), readyFDEnv+"=3")
	cmd.ExtraFiles = []*os.File{w}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(stderr, "kdbusd: starting the background daemon:", err)
		return 1
	}
	w.Close()
	report, _ := io.ReadAll(io.LimitReader(r, 64<<10))
	r.Close()
	addr, pid, ok := strings.Cut(strings.TrimSpace(string(report)), "\n")
	if !ok {
		cmd.Wait()
		fmt.Fprintln(stderr, "kdbusd: the background daemon failed to start; run with --nofork to see why")
		return 1
	}
	cmd.Process.Release()
	if o.PrintAddress.set {
		writeTo(o.PrintAddress.fd, stdout, addr+"\n")
	}
	if o.PrintPID.set {
		writeTo(o.PrintPID.fd, stdout, pid+"\n")
	}
	return 0
}

// dropPrivileges switches to the configuration's <user> when running as root.
func dropPrivileges(user string) error {
	if user == "" || os.Getuid() != 0 {
		return nil
	}
	uid, gid, err := lookupUser(user)
	if err != nil {
		return fmt.Errorf("<user>%s</user>: %w", user, err)
	}
	if uid == 0 {
		return nil
	}
	if err := syscall.Setgroups(nil); err != nil {
		return err
	}
	if err := syscall.Setgid(gid); err != nil {
		return err
	}
	return syscall.Setuid(uid)
}
