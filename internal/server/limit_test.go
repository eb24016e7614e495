package server

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/wifproject/wif/internal/keyvault"
)

// dialFrom connects to addr from the loopback address src.
func dialFrom(t *testing.T, src, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial from %s: %v", src, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// closedByPeer reports whether the server closed c (within a generous
// bound) rather than keeping it open.
func closedByPeer(c net.Conn, within time.Duration) bool {
	c.SetReadDeadline(time.Now().Add(within))
	_, err := c.Read(make([]byte, 1))
	var ne net.Error
	return err != nil && !(errors.As(err, &ne) && ne.Timeout())
}

func TestLimitListener(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := newLimitListener(inner, Limits{MaxConns: 3, MaxConnsPerClient: 2}, nil)
	defer l.Close()
	accepted := make(chan net.Conn, 8)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c
		}
	}()
	addr := l.Addr().String()
	counts := func() (int, int, int) {
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.n, l.open[netip.MustParsePrefix("127.0.0.1/32")], l.open[netip.MustParsePrefix("127.0.0.2/32")]
	}
	admit := func(src string) net.Conn {
		t.Helper()
		dialFrom(t, src, addr)
		select {
		case c := <-accepted:
			return c
		case <-time.After(5 * time.Second):
			t.Fatalf("connection from %s was not accepted", src)
			return nil
		}
	}
	refused := func(src string) {
		t.Helper()
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
		c, err := d.Dial("tcp", addr)
		if err != nil {
			return // reset before the dial returned
		}
		defer c.Close()
		if !closedByPeer(c, 5*time.Second) {
			t.Fatalf("connection from %s over the limit was kept open", src)
		}
	}

	a1 := admit("127.0.0.1")
	admit("127.0.0.1")
	refused("127.0.0.1") // per client
	admit("127.0.0.2")
	refused("127.0.0.3") // in all
	if n, p1, p2 := counts(); n != 3 || p1 != 2 || p2 != 1 {
		t.Fatalf("counts = %d in all, %d and %d per client; want 3, 2, 1", n, p1, p2)
	}
	// Closing twice gives one count back.
	a1.Close()
	a1.Close()
	if n, p1, _ := counts(); n != 2 || p1 != 1 {
		t.Fatalf("after closing twice: %d in all, %d for 127.0.0.1; want 2, 1", n, p1)
	}
	admit("127.0.0.1")
	refused("127.0.0.1")
	if n, p1, _ := counts(); n != 3 || p1 != 2 {
		t.Fatalf("counts = %d in all, %d for 127.0.0.1; want 3, 2", n, p1)
	}
	select {
	case c := <-accepted:
		t.Fatalf("a connection over the limit was accepted from %s", c.RemoteAddr())
	default:
	}
}

func TestLimitListenerHTTP(t *testing.T) {
	// Through net/http, TLS and HTTP/2 included, every connection gives its
	// count back exactly once.
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.Proto)
	}))
	l := newLimitListener(srv.Listener, DefaultLimits(), nil)
	srv.Listener = l
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()
	for _, h2 := range []bool{false, true} {
		tr := srv.Client().Transport.(*http.Transport).Clone()
		tr.ForceAttemptHTTP2 = h2
		if !h2 {
			tr.TLSClientConfig.NextProtos = []string{"http/1.1"}
		}
		c := &http.Client{Transport: tr}
		for range 3 {
			resp, err := c.Get(srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if want := map[bool]string{false: "HTTP/1.1", true: "HTTP/2.0"}[h2]; string(b) != want {
				t.Fatalf("proto %q, want %q", b, want)
			}
		}
		tr.CloseIdleConnections()
	}
	srv.CloseClientConnections()
	deadline := time.Now().Add(5 * time.Second)
	for {
		l.mu.Lock()
		n, m := l.n, len(l.open)
		l.mu.Unlock()
		if n == 0 && m == 0 {
			break
		}
		if n < 0 || time.Now().After(deadline) {
			t.Fatalf("after all connections closed: %d open, %d clients", n, m)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestClientKey(t *testing.T) {
	for _, tc := range []struct {
		addr net.Addr
		want string
	}{
		{&net.TCPAddr{IP: net.ParseIP("192.0.2.7"), Port: 1}, "192.0.2.7/32"},
		{&net.TCPAddr{IP: net.ParseIP("::ffff:192.0.2.7"), Port: 1}, "192.0.2.7/32"},
		{&net.TCPAddr{IP: net.ParseIP("2001:db8:1:2:3:4:5:6"), Port: 1}, "2001:db8:1:2::/64"},
		{&net.TCPAddr{IP: net.ParseIP("fe80::1"), Port: 1, Zone: "eth0"}, "fe80::/64"},
		{&net.UnixAddr{Name: "/tmp/s", Net: "unix"}, "invalid Prefix"},
	} {
		if got := clientKey(tc.addr).String(); got != tc.want {
			t.Errorf("clientKey(%v) = %s, want %s", tc.addr, got, tc.want)
		}
	}
}

func TestLimitsValidate(t *testing.T) {
	if errs := DefaultLimits().validate(); len(errs) != 0 {
		t.Fatalf("defaults: %v", errs)
	}
	if errs := (Limits{}).validate(); len(errs) != 4 {
		t.Fatalf("zero limits: %d errors, want 4: %v", len(errs), errs)
	}
}

// slowBody sends headers announcing 60000 bytes, then a byte every
// interval, and returns the status line of the answer.
func slowBody(t *testing.T, addr, path string, interval time.Duration) (string, error) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 60000\r\n\r\n", path)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				if _, err := c.Write([]byte("a")); err != nil {
					return
				}
			}
		}
	}()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	return bufio.NewReader(c).ReadString('\n')
}

func TestBodyDeadlines(t *testing.T) {
	const timeout = 300 * time.Millisecond
	readErr := make(chan error, 4)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := io.ReadAll(r.Body)
		readErr <- err
		switch {
		case err != nil:
			http.Error(w, "late", http.StatusBadRequest)
		case r.URL.Path == "/slow-handler":
			// Past the body's deadline, the request goes on.
			time.Sleep(3 * timeout)
			if err := r.Context().Err(); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			io.WriteString(w, "ok")
		default:
			io.WriteString(w, "ok")
		}
	})
	classify := func(r *http.Request) requestClass {
		if strings.HasPrefix(r.URL.Path, "/api") {
			return classAPI
		}
		return classToken
	}
	d := Limits{TokenBody: timeout, APIBody: 20 * timeout}.bodyDeadlines(classify, h)

	t.Run("HTTP/1.1", func(t *testing.T) {
		srv := httptest.NewServer(d)
		defer srv.Close()
		addr := srv.Listener.Addr().String()
		start := time.Now()
		line, err := slowBody(t, addr, "/token", 50*time.Millisecond)
		if err != nil || !strings.Contains(line, " 400 ") {
			t.Fatalf("slow body: %q, %v; want a 400", line, err)
		}
		if el := time.Since(start); el < timeout || el > timeout+5*time.Second {
			t.Errorf("answered after %v, want about %v", el, timeout)
		}
		if err := <-readErr; !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("handler's read error %v, want a deadline", err)
		}

		// A whole body clears the deadline: a handler that takes longer
		// is not cancelled.
		resp, err := http.Post(srv.URL+"/slow-handler", "text/plain", strings.NewReader("body"))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if <-readErr; resp.StatusCode != 200 {
			t.Fatalf("slow handler: %d %s", resp.StatusCode, b)
		}
	})

	t.Run("HTTP/2", func(t *testing.T) {
		srv := httptest.NewUnstartedServer(d)
		srv.EnableHTTP2 = true
		srv.StartTLS()
		defer srv.Close()
		c := srv.Client()
		pr, pw := io.Pipe()
		go func() {
			for {
				if _, err := pw.Write([]byte("a")); err != nil {
					return
				}
				time.Sleep(50 * time.Millisecond)
			}
		}()
		defer pw.Close()
		start := time.Now()
		resp, err := c.Post(srv.URL+"/token", "text/plain", pr)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.ProtoMajor != 2 || resp.StatusCode != 400 {
			t.Fatalf("slow stream: %s %d, want HTTP/2 400", resp.Proto, resp.StatusCode)
		}
		if el := time.Since(start); el > timeout+5*time.Second {
			t.Errorf("answered after %v, want about %v", el, timeout)
		}
		if err := <-readErr; !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("handler's read error %v, want a deadline", err)
		}
		// The connection serves on.
		resp, err = c.Post(srv.URL+"/api/x", "text/plain", strings.NewReader("body"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if <-readErr; resp.StatusCode != 200 {
			t.Fatalf("next request: %d", resp.StatusCode)
		}
	})
}

// FuzzClientKey: the key of an address holds the address.
func FuzzClientKey(f *testing.F) {
	f.Add([]byte{192, 0, 2, 7}, "")
	f.Add([]byte(net.ParseIP("2001:db8::1").To16()), "eth0")
	f.Add([]byte(net.ParseIP("::ffff:10.0.0.1").To16()), "")
	f.Fuzz(func(t *testing.T, ip []byte, zone string) {
		a := &net.TCPAddr{IP: ip, Port: 443, Zone: zone}
		k := clientKey(a)
		addr, ok := netip.AddrFromSlice(ip)
		if !ok {
			return
		}
		addr = addr.Unmap()
		if !k.IsValid() || !k.Contains(addr) || k.Bits() != map[bool]int{true: 32, false: 64}[addr.Is4()] {
			t.Fatalf("clientKey(%v) = %v", a, k)
		}
	})
}

// FuzzRequestClass: a request's deadlines are those of the handler that
// serves it.
func FuzzRequestClass(f *testing.F) {
	for _, s := range [][2]string{
		{"localhost:8443", "/tenant/oauth2/v2.0/token"},
		{"localhost", "/subscriptions/x/resourceGroups/y"},
		{"localhost", "/Providers/Microsoft.Authorization"},
		{"v1.vault.localhost:8443", "/secrets/s"},
		{"VAULT.LOCALHOST.", "/subscriptions"},
		{"localhost", "/oidc/x/.well-known/openid-configuration"},
	} {
		f.Add(s[0], s[1])
	}
	served := ""
	stub := func(name string) http.Handler {
		return http.HandlerFunc(func(http.ResponseWriter, *http.Request) { served = name })
	}
	rt := &router{vaults: keyvault.NewHandler(keyvault.Config{DNSSuffix: "vault.localhost"}, keyvault.Deps{}),
		arm: stub("arm"), sts: stub("sts"), oidc: stub("oidc"), ready: func(context.Context) error { return nil }}
	f.Fuzz(func(t *testing.T, host, path string) {
		r := &http.Request{Method: http.MethodPost, Host: host, URL: &url.URL{Path: path}, Header: http.Header{}}
		served = "other"
		class := rt.class(r)
		if rt.vaults.Match(host) {
			served = "keyvault" // as ServeHTTP does first
		} else {
			rt.ServeHTTP(httptest.NewRecorder(), r)
		}
		if api := served == "arm" || served == "keyvault"; (class == classAPI) != api {
			t.Fatalf("host %q path %q: class %d, served by %s", host, path, class, served)
		}
	})
}
