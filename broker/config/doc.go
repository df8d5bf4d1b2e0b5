// Package config reads dbus-daemon's XML configuration files and evaluates their security
// policy, so that kdbusd can run from the same /usr/share/dbus-1/system.conf and
// session.conf (and everything they include) as dbus-daemon, with the same meaning. The
// format is described in dbus-daemon(1), section CONFIGURATION FILE.
//
// # Reading
//
// Load and Parse read a file and its <include> and <includedir> files and merge them as
// dbus-daemon does:
//
//   - Included files are expanded where they stand. A relative path resolves against the
//     directory of the file that names it; <includedir> takes every *.conf file of the
//     directory in name order, and skips a directory that does not exist.
//   - <listen>, <auth>, <servicedir> and policies accumulate in order; <type>, <user>,
//     <pidfile>, <servicehelper> and each <limit> take the last value read; <fork/>,
//     <keep_umask/>, <syslog/> and <allow_anonymous/> hold if any file says so.
//   - An included file contributes only if it loads completely. A file under <includedir>
//     that does not load is skipped with a warning (dbus-daemon logs and skips it too); a
//     broken <include> is an error, unless it is missing and says ignore_missing="yes".
//   - Circular includes are errors; Options bounds the bytes, files and include depth read.
//
// Anything else dbus-daemon rejects is an error that names the file, line, column and
// element, and says what to write instead: unknown elements and attributes, attributes
// given twice, text where none belongs, missing text, impossible attribute combinations
// (send_ with receive_ attributes, own with user, send_member without send_interface or
// send_path, send_error with send_member, ...), malformed values (booleans, message types,
// numbers, limit names, listen addresses) and malformed XML. Some things dbus-daemon
// tolerates become Config.Warnings instead: users and groups that do not exist (their
// policies and rules are dropped, as dbus-daemon drops them), names in rules that are not
// valid D-Bus names (Options.Strict makes these errors), and what kdbusd parses but does not
// enforce.
//
// Text content is trimmed of surrounding white space, which dbus-daemon does not do; a
// <limit> must hold a whole decimal number, where dbus-daemon ignores trailing garbage; and
// log= must be "true" or "false". <syslog/> in an included file counts, which dbus-daemon
// 1.14 forgets to merge.
//
// # Policy
//
// Config.Policy is the compiled policy; see Policy for the order in which rules apply and
// what each attribute matches. A bus calls Policy.CanConnect once a connection has
// authenticated, keeps Policy.For(subject) with the connection, and asks it CanOwn,
// CanSend and CanReceive for every request and every delivery, as dbus-daemon does:
//
//   - a message from a connection to a connection: CanSend on the sender's policy with the
//     recipient's names, then CanReceive on the recipient's policy with the sender's names;
//   - to the bus driver, or to activate a service: only CanSend, with destNames holding
//     just the destination;
//   - from the bus driver: only CanReceive, with senderNames "org.freedesktop.DBus";
//   - a broadcast signal: both checks for every recipient;
//   - an eavesdropped copy: both checks for the eavesdropper, with RequestedReply false.
//
// A connection that has not yet called Hello may only send Hello to the driver; that rule
// belongs to the bus, not to the policy.
//
// # Parsed but not enforced
//
// kdbusd keeps the <selinux> <associate> elements and the <apparmor> mode but mediates
// through neither; an <include if_selinux_enabled="yes"> is skipped, as on a system with
// SELinux disabled. <policy at_console> rules apply according to Subject.AtConsole, which
// kdbusd cannot determine. The min_fds and max_fds attributes, which dbus-daemon also
// supports, are enforced. log="true" is recorded on the rule (Rule.Log) for the bus to act
// on.
package config
