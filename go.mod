module github.com/kdbus-go/kdbus

go 1.26.0

require (
	github.com/godbus/dbus/v5 v5.2.4
	golang.org/x/sys v0.49.0
	google.golang.org/protobuf v1.36.12
)
