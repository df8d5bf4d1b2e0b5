// Package version holds the version of kdbus-go's commands and of the code they generate.
package version

// Version is the release of kdbus-go these commands were built from. Generated code names it
// in its header, and kdbusd, protoc-gen-kdbus and aidl2proto print it with --version. It is a
// constant, not the build's module version, so that generating twice gives the same bytes
// whether the plugin was built from a checkout or from the module cache.
const Version = "v0.16.0"
