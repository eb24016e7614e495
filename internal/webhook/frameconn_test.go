package webhook

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// frame builds an HTTP/2 frame.
func frame(typ, flags byte, stream uint32, payload []byte) []byte {
	n := len(payload)
	b := []byte{byte(n >> 16), byte(n >> 8), byte(n), typ, flags, byte(stream >> 24), byte(stream >> 16), byte(stream >> 8), byte(stream)}
	return append(b, payload...)
}

var (
	headers200   = frame(frameHeaders, flagEndHeaders, 1, []byte{hpackStatus200, 0xc0, 0xbf})
	headers200b  = frame(frameHeaders, flagEndHeaders, 3, []byte{hpackStatus200, 0xbe})
	headersEnd   = frame(frameHeaders, flagEndHeaders|flagEndStream, 1, []byte{hpackStatus200})
	headers404   = frame(frameHeaders, flagEndHeaders, 1, []byte{0x8d}) // :status 404
	headersCont  = frame(frameHeaders, 0, 1, []byte{hpackStatus200})    // CONTINUATION follows
	windowUpdate = frame(frameWindowUpdate, 0, 0, []byte{0, 0, 0x1e, 0x78})
	data1        = frame(0x0, flagEndStream, 1, []byte(`{"response":{}}`))
	settings     = frame(0x4, 0, 0, []byte{0, 3, 0, 0, 0, 100})
)

func cat(bs ...[]byte) []byte { return bytes.Join(bs, nil) }

func TestFramesScan(t *testing.T) {
	// A DATA payload that looks like a HEADERS frame of a 200 answer.
	lookalike := frame(0x0, 0, 1, headers200)
	tests := []struct {
		name   string
		writes [][]byte
		want   []bool // per write: whole frames that may wait, one a 200's HEADERS
	}{
		{"headers of a 200 with a body", [][]byte{headers200, data1}, []bool{true, false}},
		{"headers then flow-control credit", [][]byte{cat(headers200, windowUpdate)}, []bool{true}},
		{"credit then headers", [][]byte{cat(windowUpdate, headers200)}, []bool{true}},
		{"several answers' headers", [][]byte{headers200, headers200b}, []bool{true, true}},
		{"headers and data together", [][]byte{cat(headers200, data1)}, []bool{false}},
		{"headers ending the stream", [][]byte{headersEnd}, []bool{false}},
		{"a 404", [][]byte{headers404}, []bool{false}},
		{"headers continued", [][]byte{headersCont}, []bool{false}},
		{"credit alone", [][]byte{windowUpdate}, []bool{false}},
		{"settings", [][]byte{cat(settings, headers200)}, []bool{false}},
		{"headers split over writes", [][]byte{headers200[:5], headers200[5:], headers200b}, []bool{false, false, true}},
		{"payload split over writes", [][]byte{headers200[:10], headers200[10:]}, []bool{false, false}},
		{"a body that looks like headers", [][]byte{lookalike[:9], lookalike[9:], headers200}, []bool{false, false, true}},
		{"a frame longer than the write", [][]byte{headers200[:len(headers200)-1]}, []bool{false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var f frames
			for i, w := range tt.writes {
				if mayWait, headers := f.scan(w); (mayWait && headers) != tt.want[i] {
					t.Errorf("write %d (% x): may wait %v, headers %v, want both %v", i, w, mayWait, headers, tt.want[i])
				}
			}
		})
	}
}

// recordConn records the writes that reach the connection.
type recordConn struct {
	net.Conn
	mu     sync.Mutex
	writes [][]byte
	closed bool
}

func (r *recordConn) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.writes = append(r.writes, bytes.Clone(p))
	return len(p), nil
}

func (r *recordConn) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	return nil
}

func (r *recordConn) all() (n int, b []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.writes), bytes.Join(r.writes, nil)
}

func newTestFrameConn(c net.Conn, proto int32) *frameConn {
	fc := &frameConn{Conn: c}
	fc.proto.Store(proto)
	return fc
}

func TestFrameConnHoldsHeadersForTheirData(t *testing.T) {
	rec := &recordConn{}
	c := newTestFrameConn(rec, protoH2)
	for _, w := range [][]byte{settings, headers200, windowUpdate, headers200b, data1} {
		if n, err := c.Write(w); n != len(w) || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
	}
	n, got := rec.all()
	if want := cat(settings, headers200, windowUpdate, headers200b, data1); n != 2 || !bytes.Equal(got, want) {
		t.Errorf("%d writes of % x, want 2 (settings; the rest together) of % x", n, got, want)
	}

	// Headers nothing follows go out on their own after holdHeaders.
	if _, err := c.Write(headers200); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for n, _ = rec.all(); n < 3; n, _ = rec.all() {
		if time.Now().After(deadline) {
			t.Fatal("held headers never written")
		}
		time.Sleep(holdHeaders / 2)
	}

	// Close writes what is held.
	if _, err := c.Write(headers200b); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if n, got = rec.all(); !bytes.HasSuffix(got, headers200b) || !rec.closed {
		t.Errorf("after Close: %d writes ending % x, closed %v", n, got[max(0, len(got)-len(headers200b)):], rec.closed)
	}
}

func TestFrameConnPassesOtherProtocols(t *testing.T) {
	rec := &recordConn{}
	c := newTestFrameConn(rec, protoOther)
	for _, w := range [][]byte{headers200, data1} {
		if _, err := c.Write(w); err != nil {
			t.Fatal(err)
		}
	}
	if n, _ := rec.all(); n != 2 {
		t.Errorf("%d writes, want 2 passed through", n)
	}
}

// frameTestListener returns a loopback listener and a serving key pair for
// it, with the certificate to trust.
func frameTestListener(t *testing.T) (net.Listener, tls.Certificate, *x509.Certificate) {
	t.Helper()
	dir := t.TempDir()
	cert := writeKeyPair(t, dir, 1)
	pair, err := tls.LoadX509KeyPair(filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln, pair, cert
}

// TestFrameListenerStreamingHandler: a handler that sends its headers and
// waits for the client to see them before writing a body still works; the
// held HEADERS go out after holdHeaders.
func TestFrameListenerStreamingHandler(t *testing.T) {
	ln, pair, cert := frameTestListener(t)
	seen := make(chan struct{})
	protocols := new(http.Protocols)
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true)
	srv := &http.Server{Protocols: protocols, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		select {
		case <-seen:
			_, _ = w.Write([]byte("body"))
		case <-r.Context().Done():
		}
	})}
	go func() {
		_ = srv.Serve(frameListener{Listener: ln, tls: &tls.Config{Certificates: []tls.Certificate{pair}, NextProtos: []string{"h2", "http/1.1"}}})
	}()
	defer srv.Close()

	pool := x509.NewCertPool()
	pool.AddCert(cert)
	for _, h2 := range []bool{true, false} {
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: h2}
		if !h2 {
			tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
		}
		c := &http.Client{Transport: tr, Timeout: 5 * time.Second}
		resp, err := c.Get("https://" + ln.Addr().String() + "/")
		if err != nil {
			t.Fatalf("h2 %v: %v", h2, err)
		}
		if (resp.ProtoMajor == 2) != h2 {
			t.Errorf("protocol %s, want HTTP/2 %v", resp.Proto, h2)
		}
		seen <- struct{}{}
		var body bytes.Buffer
		_, _ = body.ReadFrom(resp.Body)
		resp.Body.Close()
		if body.String() != "body" {
			t.Errorf("body %q", body.String())
		}
		tr.CloseIdleConnections()
	}
}

// FuzzFrameConn: whatever is written, in whatever pieces, reaches the
// connection unchanged and in order, and a write is held only when it is
// whole frames that may wait (checked against a parse of the whole stream).
func FuzzFrameConn(f *testing.F) {
	f.Add(cat(settings, headers200, windowUpdate, headers200b, data1), []byte{9, 13, 13, 12})
	f.Add(cat(headers200, data1, headers404, headersEnd), []byte{1, 12, 30})
	f.Add(frame(0, 0, 1, headers200), []byte{9, 12})
	f.Fuzz(func(t *testing.T, stream, cuts []byte) {
		// Frame starts in the whole stream, and which frames may wait.
		starts := map[int]bool{}
		waits := map[int]bool{}  // start → may wait
		hdr200 := map[int]bool{} // start → HEADERS of a 200 with a body to come
		for i := 0; i+frameHeaderLen <= len(stream); {
			n := int(stream[i])<<16 | int(stream[i+1])<<8 | int(stream[i+2])
			starts[i] = true
			typ, flags := stream[i+3], stream[i+4]
			h := typ == frameHeaders && n > 0 && i+frameHeaderLen < len(stream) && stream[i+frameHeaderLen] == hpackStatus200 &&
				flags&(flagEndStream|flagEndHeaders|flagPadded|flagPriority) == flagEndHeaders
			hdr200[i] = h
			waits[i] = h || typ == frameWindowUpdate
			i += frameHeaderLen + n
			if i <= len(stream) {
				starts[i] = true
			}
		}
		rec := &recordConn{}
		c := newTestFrameConn(rec, protoH2)
		pos := 0
		for k := 0; pos < len(stream); k++ {
			n := len(stream) - pos
			if k < len(cuts) {
				n = min(n, int(cuts[k])+1)
			}
			w := stream[pos : pos+n]
			before, _ := rec.all()
			heldBefore := len(c.held) > 0
			if _, err := c.Write(w); err != nil {
				t.Fatal(err)
			}
			if after, _ := rec.all(); after == before {
				// Held: whole frames from a frame start to a frame end, all
				// allowed to wait, one a 200's HEADERS unless some were held.
				anyHdr := false
				for i := pos; i < pos+n; {
					if !starts[i] || !waits[i] {
						t.Fatalf("held a write at %d..%d that is not whole frames that may wait", pos, pos+n)
					}
					anyHdr = anyHdr || hdr200[i]
					i += frameHeaderLen + (int(stream[i])<<16 | int(stream[i+1])<<8 | int(stream[i+2]))
				}
				if !starts[pos+n] || !(anyHdr || heldBefore) {
					t.Fatalf("held a write at %d..%d that ends mid-frame or has no HEADERS", pos, pos+n)
				}
			}
			pos += n
		}
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		if _, got := rec.all(); !bytes.Equal(got, stream) {
			t.Fatalf("connection got % x, want % x", got, stream)
		}
	})
}

// TestFrameListenerLogsHandshakeFailure: a client that does not trust the
// serving certificate is logged, as net/http logs it for its own TLS.
func TestFrameListenerLogsHandshakeFailure(t *testing.T) {
	ln, pair, _ := frameTestListener(t)
	var logs syncBuffer
	srv := &http.Server{Handler: http.NotFoundHandler()}
	go func() {
		_ = srv.Serve(frameListener{Listener: ln, tls: &tls.Config{Certificates: []tls.Certificate{pair}},
			log: slog.New(slog.NewTextHandler(&logs, nil))})
	}()
	defer srv.Close()
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: x509.NewCertPool()}}, Timeout: 5 * time.Second}
	if _, err := c.Get("https://" + ln.Addr().String() + "/"); err == nil {
		t.Fatal("a client that does not trust the certificate got through")
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(logs.String(), "TLS handshake failed") {
		if time.Now().After(deadline) {
			t.Fatalf("handshake failure not logged: %q", logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
