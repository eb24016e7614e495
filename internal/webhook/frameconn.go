package webhook

import (
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Go's HTTP/2 server sends an answer as two writes: it flushes the HEADERS
// frame on its own, and only then lets the handler queue the DATA frame
// behind it. Each write on loopback is a system call that also runs the
// receiver's side of TCP and wakes it up; with reviews this small the two
// were about a quarter of the webhook's CPU, and two wake-ups of the API
// server per review.
//
// frameConn sits between the HTTP/2 server and TLS. A write made only of
// HEADERS frames of 200 answers whose bodies are still to come (and
// WINDOW_UPDATEs queued with them) is kept back and sent with the next
// write, which carries the DATA: one TLS record and one system call per
// answer. The client cannot use the HEADERS without the body, so holding
// them costs it nothing. DATA is never held and nothing is reordered. If
// nothing follows within holdHeaders (a handler that flushes its headers
// early and streams), the held frames go out alone, as they would have.
//
// The frames are tracked across writes, so a partial frame or a body that
// happens to look like a frame header is never mistaken for one.

// holdHeaders bounds how long a HEADERS frame waits for its DATA.
const holdHeaders = time.Millisecond

const (
	frameHeaderLen    = 9
	frameHeaders      = 0x1
	frameWindowUpdate = 0x8
	flagEndStream     = 0x1
	flagEndHeaders    = 0x4
	flagPadded        = 0x8
	flagPriority      = 0x20
	hpackStatus200    = 0x88 // ":status: 200", static table entry 8, as Go's encoder writes it first
)

// A frameConn's protocol, known once the TLS handshake is done (a write
// before that, which net/http does not make, is passed through).
const (
	protoUnknown = iota
	protoH2      // ALPN chose h2: writes are HTTP/2 frames
	protoOther   // anything else is passed through
)

// maxHeldCap: a held buffer that grew past this (a large write came after
// the HEADERS) is dropped once written rather than kept for the connection.
const maxHeldCap = 16 << 10

// frameListener accepts TLS connections wrapped in a frameConn, which does
// the handshake on its first read (under the server's read deadline), over
// a directConn. The
// server sees a plain net.Conn, so it must serve HTTP/2 by its preface
// (Protocols.SetUnencryptedHTTP2); ALPN still offers h2 and http/1.1.
type frameListener struct {
	net.Listener
	tls *tls.Config
	log *slog.Logger // handshake failures, at warning level; nil: not logged
}

func (l frameListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tc := tls.Server(newDirectConn(c), l.tls)
	return &frameConn{Conn: tc, tls: tc, log: l.log}, nil
}

// frameConn: see above. It does not expose the TLS connection state, so
// that net/http treats it as a plain connection and reads the HTTP/2
// preface itself.
type frameConn struct {
	net.Conn // the *tls.Conn, for Read, Close, addresses and deadlines
	tls      *tls.Conn
	log      *slog.Logger
	proto    atomic.Int32 // proto*, from ALPN after the handshake

	mu     sync.Mutex
	track  frames    // frame boundaries of what has been written
	held   []byte    // HEADERS frames waiting for their DATA
	heldAt time.Time // when held was started
	timer  *time.Timer
	armed  bool  // the timer will run flushHeld
	err    error // from a write of held bytes by the timer
}

// Read does the TLS handshake first, as net/http does for the *tls.Conn it
// is no longer given: a failure is logged (a client that does not trust
// the CA shows up here) and ends the connection.
func (c *frameConn) Read(p []byte) (int, error) {
	if c.proto.Load() == protoUnknown && c.tls != nil {
		if err := c.tls.Handshake(); err != nil {
			if c.log != nil && !errors.Is(err, io.EOF) {
				c.log.Warn("TLS handshake failed", slog.String("remote", c.RemoteAddr().String()), slog.String("error", err.Error()))
			}
			return 0, err
		}
		proto := int32(protoOther)
		if c.tls.ConnectionState().NegotiatedProtocol == "h2" {
			proto = protoH2
		}
		c.proto.Store(proto)
	}
	return c.Conn.Read(p)
}

func (c *frameConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return 0, c.err
	}
	if c.proto.Load() != protoH2 {
		return c.Conn.Write(p)
	}
	if mayWait, headers := c.track.scan(p); mayWait && (headers || len(c.held) > 0) {
		if len(c.held) == 0 {
			c.heldAt = time.Now()
			if !c.armed {
				c.armed = true
				if c.timer == nil {
					c.timer = time.AfterFunc(holdHeaders, c.flushHeld)
				} else {
					c.timer.Reset(holdHeaders)
				}
			}
		}
		c.held = append(c.held, p...)
		return len(p), nil
	}
	if len(c.held) == 0 {
		return c.Conn.Write(p)
	}
	c.held = append(c.held, p...)
	err := c.writeHeld()
	if err != nil {
		return 0, err
	}
	return len(p), nil
}

// writeHeld writes and empties held.
func (c *frameConn) writeHeld() error {
	_, err := c.Conn.Write(c.held)
	c.held = c.held[:0]
	if cap(c.held) > maxHeldCap {
		c.held = nil
	}
	return err
}

// flushHeld writes held frames that nothing followed within holdHeaders.
// The timer is not stopped when the DATA comes (a timer reset per answer
// woke the network poller and cost more than it saved), so it may find
// nothing held, or frames held since it was armed, which get the rest of
// their time.
func (c *frameConn) flushHeld() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.armed = false
	if len(c.held) == 0 || c.err != nil {
		return
	}
	if wait := holdHeaders - time.Since(c.heldAt); wait > 0 {
		c.armed = true
		c.timer.Reset(wait)
		return
	}
	c.err = c.writeHeld()
}

func (c *frameConn) Close() error {
	c.mu.Lock()
	if c.timer != nil {
		c.timer.Stop()
	}
	if len(c.held) > 0 && c.err == nil {
		_ = c.writeHeld() // best effort, as a flush before close would be
	}
	c.mu.Unlock()
	return c.Conn.Close()
}

// frames follows HTTP/2 frame boundaries across writes.
type frames struct {
	hdr    [frameHeaderLen]byte
	nhdr   int // bytes of hdr read so far
	remain int // payload bytes of the current frame still to come
}

// scan consumes p and reports whether it is whole frames that may wait for
// the next write: HEADERS of a 200 answer whose body is still to come, or
// WINDOW_UPDATE (flow-control credit, which the peer has plenty of); and
// whether one of them is such HEADERS.
func (f *frames) scan(p []byte) (mayWait, headers bool) {
	aligned := f.remain == 0 && f.nhdr == 0
	for i := 0; i < len(p); {
		if f.remain > 0 {
			n := min(f.remain, len(p)-i)
			f.remain -= n
			i += n
			continue
		}
		n := copy(f.hdr[f.nhdr:], p[i:])
		f.nhdr += n
		i += n
		if f.nhdr < frameHeaderLen {
			aligned = false
			continue
		}
		f.nhdr = 0
		f.remain = int(f.hdr[0])<<16 | int(f.hdr[1])<<8 | int(f.hdr[2])
		if !aligned || i+f.remain > len(p) {
			aligned = false
			continue
		}
		switch {
		case f.hdr[3] == frameWindowUpdate:
		case f.hdr[3] == frameHeaders && f.remain > 0 && p[i] == hpackStatus200 &&
			f.hdr[4]&(flagEndStream|flagEndHeaders|flagPadded|flagPriority) == flagEndHeaders:
			headers = true
		default:
			aligned = false
		}
	}
	return aligned && len(p) > 0, headers
}
