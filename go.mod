module github.com/kdbus-go/kdbus

go 1.26.0

require (
	github.com/godbus/dbus/v5 v5.2.4
	github.com/jhump/protoreflect v1.19.0
	golang.org/x/sys v0.49.0
	google.golang.org/protobuf v1.36.12
)

require (
	github.com/golang/protobuf v1.5.4 // indirect
	github.com/jhump/protoreflect/v2 v2.0.0-beta.1 // indirect
	github.com/petermattis/goid v0.0.0-20260113132338-7c7de50cc741 // indirect
	golang.org/x/sync v0.20.0 // indirect
)
