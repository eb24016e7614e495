package server

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// Limits bound what clients can hold open: connections, and the time a
// request's body may take to arrive.
type Limits struct {
	// MaxConns bounds the open connections of all clients together and
	// MaxConnsPerClient those of one client address (an IPv4 address, or an
	// IPv6 /64). A connection over either bound is closed as it is accepted,
	// before its TLS handshake.
	MaxConns          int
	MaxConnsPerClient int
	// TokenBody is how long the body of a request may take to arrive, from
	// when its headers were read, at the token service and every other path
	// that is neither ARM nor Key Vault; APIBody is the same for ARM and Key
	// Vault requests. A body that is late is cut: the handler answers 400 in
	// its own format and the connection is closed (HTTP/1.1) or the stream
	// ends (HTTP/2).
	TokenBody time.Duration
	APIBody   time.Duration
}

// DefaultLimits are the limits of "wif serve". A load test from one
// loopback address (test/load drives up to a few hundred connections)
// stays under MaxConnsPerClient.
func DefaultLimits() Limits {
	return Limits{MaxConns: 4096, MaxConnsPerClient: 1024, TokenBody: 10 * time.Second, APIBody: 30 * time.Second}
}

func (l Limits) validate() []error {
	var errs []error
	if l.MaxConns < 1 {
		errs = append(errs, fmt.Errorf("--max-conns %d: must be at least 1", l.MaxConns))
	}
	if l.MaxConnsPerClient < 1 {
		errs = append(errs, fmt.Errorf("--max-conns-per-client %d: must be at least 1", l.MaxConnsPerClient))
	}
	if l.TokenBody <= 0 {
		errs = append(errs, fmt.Errorf("--body-timeout-token %v: must be positive", l.TokenBody))
	}
	if l.APIBody <= 0 {
		errs = append(errs, fmt.Errorf("--body-timeout-api %v: must be positive", l.APIBody))
	}
	return errs
}

// responseTimeout bounds the time from a request's headers to the end of
// its response (http.Server.WriteTimeout, per request on HTTP/1.1 and per
// stream on HTTP/2), and how long an HTTP/2 connection may make no write
// progress. It covers the handler's own work, such as an issuer's JWKS
// fetch (10 s at most).
const responseTimeout = 60 * time.Second

// requestClass picks the deadlines of a request.
type requestClass int

const (
	classToken requestClass = iota // token service, discovery, cluster issuers, health
	classAPI                       // ARM and Key Vault JSON bodies
	// A class for uploads (Blob, later) will not have a total: its
	// deadline will move forward as bytes arrive (a minimum rate), which
	// a body wrapper like deadlineBody can do with the same
	// ResponseController.
	numClasses
)

// class picks a request's class the way ServeHTTP picks its handler.
func (rt *router) class(r *http.Request) requestClass {
	if rt.vaults.Match(r.Host) {
		return classAPI
	}
	first, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	if armRoots[strings.ToLower(first)] {
		return classAPI
	}
	return classToken
}

// bodyDeadlines sets the read deadline of every request that has a body
// before next runs, by class, and clears it once the body has been read to
// its end, so that a slow handler is not cancelled (net/http cancels a
// request whose connection read fails). Per-request deadlines rather than
// http.Server.ReadTimeout, which would also cut long uploads; they work on
// HTTP/2 streams too, where a late body ends its stream only.
type bodyDeadlines struct {
	next     http.Handler
	classify func(*http.Request) requestClass
	timeout  [numClasses]time.Duration
	now      func() time.Time
}

func (l Limits) bodyDeadlines(classify func(*http.Request) requestClass, next http.Handler) *bodyDeadlines {
	d := &bodyDeadlines{next: next, classify: classify, now: time.Now}
	d.timeout[classToken] = l.TokenBody
	d.timeout[classAPI] = l.APIBody
	return d
}

func (d *bodyDeadlines) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Body == nil || r.Body == http.NoBody {
		d.next.ServeHTTP(w, r)
		return
	}
	rc := http.NewResponseController(w)
	// Only a ResponseWriter of net/http's own servers supports it; others
	// (tests' recorders) have no connection to hold.
	if err := rc.SetReadDeadline(d.now().Add(d.timeout[d.classify(r)])); err != nil {
		d.next.ServeHTTP(w, r)
		return
	}
	// A copy, so that net/http still sees its own body type after the
	// handler (it drains a short unread body to reuse the connection).
	r2 := *r
	r2.Body = &deadlineBody{ReadCloser: r.Body, rc: rc}
	d.next.ServeHTTP(w, &r2)
}

// deadlineBody clears the read deadline at the end of the body.
type deadlineBody struct {
	io.ReadCloser
	rc   *http.ResponseController
	done bool
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF && !b.done {
		b.done = true
		b.rc.SetReadDeadline(time.Time{}) //nolint:errcheck // supported: set before
	}
	return n, err
}

// limitListener closes connections accepted over Limits' bounds. Each
// accepted connection is counted until its Close, once however often it
// is closed (net/http closes hijacked and HTTP/2 connections through the
// TLS connection that wraps it).
type limitListener struct {
	net.Listener
	total, perClient int
	log              *slog.Logger
	now              func() time.Time

	mu      sync.Mutex
	n       int                  // open connections
	open    map[netip.Prefix]int // open connections per client
	refused int                  // since the last report
	last    time.Time            // of the last report
}

// refuseReportEvery bounds how often refused connections are logged.
const refuseReportEvery = 10 * time.Second

func newLimitListener(ln net.Listener, l Limits, log *slog.Logger) *limitListener {
	return &limitListener{Listener: ln, total: l.MaxConns, perClient: l.MaxConnsPerClient, log: log, now: time.Now,
		open: make(map[netip.Prefix]int)}
}

// Accept returns the next connection within the bounds; those over them
// are closed here and never reach the server.
func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		key := clientKey(c.RemoteAddr())
		if reason := l.admit(key); reason != "" {
			refuse(c)
			l.report(key, reason)
			continue
		}
		return &limitedConn{Conn: c, l: l, key: key}, nil
	}
}

// admit counts a new connection of key, or says which bound it is over.
func (l *limitListener) admit(key netip.Prefix) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.n >= l.total:
		return "max-conns"
	case l.open[key] >= l.perClient:
		return "max-conns-per-client"
	}
	l.n++
	l.open[key]++
	return ""
}

func (l *limitListener) release(key netip.Prefix) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.n--
	if l.open[key]--; l.open[key] <= 0 {
		delete(l.open, key)
	}
}

// report logs refused connections, at most once per refuseReportEvery.
func (l *limitListener) report(key netip.Prefix, reason string) {
	l.mu.Lock()
	l.refused++
	now := l.now()
	if now.Sub(l.last) < refuseReportEvery {
		l.mu.Unlock()
		return
	}
	n := l.refused
	l.refused, l.last = 0, now
	l.mu.Unlock()
	if l.log != nil {
		l.log.Warn("connections refused", "limit", reason, "client", key.String(), "refused", n)
	}
}

// refuse closes c with a reset rather than a FIN, so that a flood of
// refused connections leaves no TIME_WAIT state behind here.
func refuse(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0) //nolint:errcheck // closing anyway
	}
	c.Close()
}

// clientKey is the address a connection is counted under: an IPv4
// address, or the /64 of an IPv6 address (one host usually has a whole
// /64). Connections without an IP address count as one client.
func clientKey(a net.Addr) netip.Prefix {
	var ip netip.Addr
	if ta, ok := a.(*net.TCPAddr); ok {
		ip = ta.AddrPort().Addr().Unmap()
	} else if ap, err := netip.ParseAddrPort(a.String()); err == nil {
		ip = ap.Addr().Unmap()
	}
	switch {
	case ip.Is4():
		return netip.PrefixFrom(ip, 32)
	case ip.Is6():
		p, _ := ip.WithZone("").Prefix(64)
		return p
	}
	return netip.Prefix{}
}

// limitedConn gives its count back on its first Close.
type limitedConn struct {
	net.Conn
	l    *limitListener
	key  netip.Prefix
	once sync.Once
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c.key) })
	return err
}
