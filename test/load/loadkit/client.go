package loadkit

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"
)

// ErrProto is returned by TrustingClient for a protocol other than h1 or h2.
var ErrProto = errors.New("loadkit: protocol: want h1 or h2")

// ClientOptions shape the client TrustingClient returns.
type ClientOptions struct {
	// Proto is "h1" (HTTP/1.1 keep-alive, HTTP/2 disabled, at most Conns
	// connections) or "h2" (HTTP/2 forced, requests multiplexed).
	Proto string
	// Conns bounds the idle connections kept (and, for h1, all of them).
	Conns int
	// ServerName, when set, is the host name TLS verifies instead of the
	// URL's.
	ServerName string
	// DialAddr, when set, is where every connection goes whatever the
	// URL's host (e.g. "127.0.0.1:8443"), so no name resolution is needed.
	DialAddr string
	// Timeout bounds each request (default 60s).
	Timeout time.Duration
}

// TrustingClient returns a keep-alive HTTPS client that trusts only the
// certificates in the PEM file caFile.
func TrustingClient(caFile string, o ClientOptions) (*http.Client, error) {
	pemBytes, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		return nil, errors.New("no certificates in " + caFile)
	}
	tr := &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: pool, ServerName: o.ServerName},
		MaxIdleConns:        o.Conns,
		MaxIdleConnsPerHost: o.Conns,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	switch o.Proto {
	case "h1":
		tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
		tr.MaxConnsPerHost = o.Conns
	case "h2":
		tr.ForceAttemptHTTP2 = true
	default:
		return nil, fmt.Errorf("%w, got %q", ErrProto, o.Proto)
	}
	if o.DialAddr != "" {
		d := &net.Dialer{Timeout: 10 * time.Second}
		tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, o.DialAddr)
		}
	}
	timeout := o.Timeout
	if timeout == 0 {
		timeout = 60 * time.Second
	}
	return &http.Client{Transport: tr, Timeout: timeout}, nil
}
