module github.com/kdbus-go/kdbus

go 1.26.0
