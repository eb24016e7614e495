package webhook

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"
)

// directPair returns a directConn accepted on loopback and the plain client
// connection at the other end.
func directPair(t *testing.T) (*directConn, *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	dc, ok := newDirectConn(c).(*directConn)
	if !ok {
		t.Fatalf("newDirectConn(%T) did not wrap it", c)
	}
	t.Cleanup(func() { dc.Close() })
	return dc, client.(*net.TCPConn)
}

// TestDirectConnCarriesBytes: writes far larger than the socket buffers
// (so the write waits for room in the poller) and reads of every size
// carry every byte, in order, both ways; the peer's close is io.EOF.
func TestDirectConnCarriesBytes(t *testing.T) {
	dc, client := directPair(t)
	out := make([]byte, 16<<20)
	_, _ = rand.Read(out)
	got := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(io.LimitReader(client, int64(len(out))))
		got <- b
	}()
	if n, err := dc.Write(out); n != len(out) || err != nil {
		t.Fatalf("Write = %d, %v; want %d, nil", n, err, len(out))
	}
	if b := <-got; !bytes.Equal(b, out) {
		t.Fatalf("client read %d bytes, not the %d written", len(b), len(out))
	}

	in := out[:3<<20]
	go func() {
		for rest := in; len(rest) > 0; {
			n := min(len(rest), 1+len(rest)%7919)
			if _, err := client.Write(rest[:n]); err != nil {
				return
			}
			rest = rest[n:]
		}
		client.CloseWrite()
	}()
	if n, err := dc.Read(nil); n != 0 || err != nil {
		t.Errorf("Read(nil) = %d, %v; want 0, nil", n, err)
	}
	var back bytes.Buffer
	buf := make([]byte, 4096)
	for {
		n, err := dc.Read(buf)
		back.Write(buf[:n])
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("Read: %v", err)
		}
	}
	if !bytes.Equal(back.Bytes(), in) {
		t.Fatalf("read %d bytes, not the %d the client wrote", back.Len(), len(in))
	}
}

// TestDirectConnErrors: deadlines, a reset peer and a closed connection
// give the errors net's own connection gives, which net/http branches on.
func TestDirectConnErrors(t *testing.T) {
	t.Run("read deadline", func(t *testing.T) {
		dc, _ := directPair(t)
		_ = dc.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		_, err := dc.Read(make([]byte, 10))
		var ne net.Error
		if !errors.Is(err, os.ErrDeadlineExceeded) || !errors.As(err, &ne) || !ne.Timeout() {
			t.Errorf("Read past deadline: %v, want a timeout net.Error", err)
		}
	})
	t.Run("write deadline", func(t *testing.T) {
		dc, _ := directPair(t) // the client never reads: the buffers fill
		_ = dc.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
		n, err := dc.Write(make([]byte, 64<<20))
		if !errors.Is(err, os.ErrDeadlineExceeded) || n == 0 || n == 64<<20 {
			t.Errorf("Write past deadline = %d, %v; want part written and os.ErrDeadlineExceeded", n, err)
		}
	})
	t.Run("reset by peer", func(t *testing.T) {
		dc, client := directPair(t)
		_ = client.SetLinger(0)
		client.Close()
		_ = dc.SetDeadline(time.Now().Add(5 * time.Second))
		_, rerr := dc.Read(make([]byte, 10))
		var op *net.OpError
		if !errors.Is(rerr, syscall.ECONNRESET) || !errors.As(rerr, &op) || op.Op != "read" {
			t.Errorf("Read after reset: %v, want a read *net.OpError wrapping ECONNRESET", rerr)
		}
		var werr error
		for range 10 {
			if _, werr = dc.Write([]byte("x")); werr != nil {
				break
			}
		}
		if !errors.Is(werr, syscall.EPIPE) && !errors.Is(werr, syscall.ECONNRESET) {
			t.Errorf("Write after reset: %v, want EPIPE or ECONNRESET", werr)
		}
	})
	t.Run("closed", func(t *testing.T) {
		dc, _ := directPair(t)
		dc.Close()
		if _, err := dc.Read(make([]byte, 10)); !errors.Is(err, net.ErrClosed) {
			t.Errorf("Read after Close: %v, want net.ErrClosed", err)
		}
		if _, err := dc.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
			t.Errorf("Write after Close: %v, want net.ErrClosed", err)
		}
	})
}

// TestFrameListenerUsesDirectConn: TCP connections get the raw system
// calls under TLS; anything else is left as it is.
func TestFrameListenerUsesDirectConn(t *testing.T) {
	ln, pair, _ := frameTestListener(t)
	defer ln.Close()
	fl := frameListener{Listener: ln, tls: &tls.Config{Certificates: []tls.Certificate{pair}}}
	go func() {
		if c, err := net.Dial("tcp", ln.Addr().String()); err == nil {
			defer c.Close()
			time.Sleep(100 * time.Millisecond)
		}
	}()
	c, err := fl.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if under := c.(*frameConn).tls.NetConn(); under == nil {
		t.Fatal("no connection under TLS")
	} else if _, ok := under.(*directConn); !ok {
		t.Errorf("under TLS: %T, want *directConn", under)
	}

	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if got := newDirectConn(a); got != a {
		t.Errorf("newDirectConn(pipe) = %T, want the pipe itself", got)
	}
}
