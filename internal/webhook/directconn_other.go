//go:build !linux

package webhook

import "net"

// newDirectConn: the raw system calls of directconn_linux.go are for Linux,
// where the webhook runs; elsewhere the connection is used as it is.
func newDirectConn(c net.Conn) net.Conn { return c }
