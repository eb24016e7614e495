package oidc

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func mustPolicy(t testing.TB, entries ...string) *FetchPolicy {
	t.Helper()
	p, err := ParseFetchPolicy(entries)
	if err != nil {
		t.Fatalf("ParseFetchPolicy(%q): %v", entries, err)
	}
	return p
}

func TestFetchPolicyAllow(t *testing.T) {
	var none *FetchPolicy
	open := mustPolicy(t)
	hosts := mustPolicy(t, "oidc.example.com,*.clusters.example.com")
	cidrs := mustPolicy(t, "10.0.0.0/8", "fd00::/8")
	metaOK := mustPolicy(t, "169.254.169.254/32", "metadata.google.internal")
	linkLocalOK := mustPolicy(t, "169.254.0.0/16")
	everything := mustPolicy(t, "0.0.0.0/0,::/0")
	tests := []struct {
		name  string
		p     *FetchPolicy
		host  string
		ip    string
		allow bool
	}{
		{"nil: public", none, "oidc.example.com", "203.0.113.7", true},
		{"default: public", open, "oidc.example.com", "203.0.113.7", true},
		{"default: private", open, "k8s.internal.corp", "10.1.2.3", true},
		{"default: private v6", open, "k8s.internal.corp", "fd12::1", true},
		{"default: loopback", open, "localhost", "127.0.0.1", true},
		{"default: loopback v6", open, "localhost", "::1", true},
		{"default: link-local", open, "169.254.10.1", "169.254.10.1", false},
		{"default: IMDS", open, "169.254.169.254", "169.254.169.254", false},
		{"default: IMDS v4-in-v6", open, "::ffff:169.254.169.254", "::ffff:169.254.169.254", false},
		{"default: name resolving to IMDS", open, "rebind.example.com", "169.254.169.254", false},
		{"default: link-local v6", open, "fe80::1", "fe80::1", false},
		{"default: AWS IMDS v6", open, "fd00:ec2::254", "fd00:ec2::254", false},
		{"default: Alibaba", open, "100.100.100.200", "100.100.100.200", false},
		{"default: metadata name", open, "metadata.google.internal", "203.0.113.7", false},
		{"default: metadata name, any case, trailing dot", open, "Metadata.Google.Internal.", "203.0.113.7", false},
		{"nil: IMDS", none, "169.254.169.254", "169.254.169.254", false},
		{"hosts: listed", hosts, "oidc.example.com", "203.0.113.7", true},
		{"hosts: listed, any case", hosts, "OIDC.example.com.", "203.0.113.7", true},
		{"hosts: wildcard", hosts, "a.clusters.example.com", "10.0.0.1", true},
		{"hosts: wildcard is not the apex", hosts, "clusters.example.com", "10.0.0.1", false},
		{"hosts: other host", hosts, "evil.example.com", "203.0.113.7", false},
		{"hosts: loopback not listed", hosts, "localhost", "127.0.0.1", false},
		{"hosts: listed host resolving to IMDS", hosts, "oidc.example.com", "169.254.169.254", false},
		{"cidrs: inside", cidrs, "k8s.corp", "10.9.8.7", true},
		{"cidrs: inside v6", cidrs, "k8s.corp", "fd00::5", true},
		{"cidrs: v4-mapped inside", cidrs, "k8s.corp", "::ffff:10.9.8.7", true},
		{"cidrs: outside", cidrs, "k8s.corp", "192.168.1.1", false},
		{"cidrs: public outside", cidrs, "oidc.example.com", "203.0.113.7", false},
		{"explicit IMDS prefix", metaOK, "169.254.169.254", "169.254.169.254", true},
		{"explicit IMDS prefix, other link-local", metaOK, "169.254.1.1", "169.254.1.1", false},
		{"explicit metadata host and its address", metaOK, "metadata.google.internal", "169.254.169.254", true},
		{"explicit link-local range", linkLocalOK, "169.254.1.1", "169.254.1.1", true},
		{"0.0.0.0/0 is not explicit", everything, "169.254.169.254", "169.254.169.254", false},
		{"0.0.0.0/0 allows public", everything, "oidc.example.com", "203.0.113.7", true},
		{"::/0 does not allow link-local v6", everything, "fe80::1", "fe80::1", false},
		{"zone is ignored", open, "fe80::1%eth0", "fe80::1%eth0", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.p.Allow(tt.host, netip.MustParseAddr(tt.ip))
			if got := err == nil; got != tt.allow {
				t.Fatalf("Allow(%q, %s) = %v, want allowed %v", tt.host, tt.ip, err, tt.allow)
			}
			if err != nil && !errors.Is(err, ErrFetchRefused) {
				t.Errorf("err = %v, want ErrFetchRefused", err)
			}
		})
	}
	if err := open.Allow("x", netip.Addr{}); !errors.Is(err, ErrFetchRefused) {
		t.Errorf("Allow with no address = %v, want ErrFetchRefused", err)
	}
}

func TestParseFetchPolicy(t *testing.T) {
	good := []string{"oidc.example.com", "*.example.com", "10.0.0.0/8", "10.1.2.3", "fd00::/8", "::1", "[::1]", "a_b.example", " spaced.example ", "x.example,y.example", ",,", "EXAMPLE.com.", "::ffff:10.0.0.0/104"}
	for _, e := range good {
		if _, err := ParseFetchPolicy([]string{e}); err != nil {
			t.Errorf("ParseFetchPolicy(%q): %v", e, err)
		}
	}
	bad := []string{"https://oidc.example.com", "oidc.example.com:443", "10.0.0.0/33", "10.0.0.0/", "/8", "*", "*.com", "a.*.com", "exa mple.com", "fe80::1%eth0", "a..b", strings.Repeat("a", 64) + ".com", "*example.com", "user@host"}
	for _, e := range bad {
		if _, err := ParseFetchPolicy([]string{e}); err == nil {
			t.Errorf("ParseFetchPolicy(%q) accepted", e)
		}
	}
	// Every problem is reported at once.
	_, err := ParseFetchPolicy([]string{"bad one", "ok.example", "10.0.0.0/99"})
	if err == nil || !strings.Contains(err.Error(), "bad one") || !strings.Contains(err.Error(), "10.0.0.0/99") {
		t.Errorf("err = %v, want both bad entries named", err)
	}
	if p := mustPolicy(t, "10.1.2.3/8"); !p.prefixListed(netip.MustParseAddr("10.200.0.1")) {
		t.Errorf("prefix is not masked: %s", p)
	}
	if mustPolicy(t, ",").Restricted() {
		t.Errorf("empty entries restrict the policy")
	}
}

// TestFetchPolicyDialRefusesBeforeConnecting: a refused address is never
// connected to, and a refused metadata name is not even resolved.
func TestFetchPolicyDialRefusesBeforeConnecting(t *testing.T) {
	ln := newLoopbackListener(t)
	t.Cleanup(func() { ln.Close() })
	var accepted atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			c.Close()
		}
	}()
	d := &net.Dialer{Timeout: 2 * time.Second}
	ctx := context.Background()

	restricted := mustPolicy(t, "10.0.0.0/8").DialContext(d)
	if _, err := restricted(ctx, "tcp", ln.Addr().String()); !errors.Is(err, ErrFetchRefused) {
		t.Fatalf("dial outside the allow-list: err = %v, want ErrFetchRefused", err)
	}
	open := mustPolicy(t).DialContext(d)
	for _, addr := range []string{"169.254.169.254:80", "[fe80::1]:443", "metadata.google.internal:80", "[fd00:ec2::254]:80"} {
		start := time.Now()
		if _, err := open(ctx, "tcp", addr); !errors.Is(err, ErrFetchRefused) {
			t.Errorf("dial %s: err = %v, want ErrFetchRefused", addr, err)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("dial %s took %v: it waited on the network", addr, d)
		}
	}
	time.Sleep(50 * time.Millisecond)
	if n := accepted.Load(); n != 0 {
		t.Fatalf("a refused dial connected (%d connections)", n)
	}
	c, err := open(ctx, "tcp", ln.Addr().String())
	if err != nil {
		t.Fatalf("loopback dial with the default policy: %v", err)
	}
	c.Close()
}

// TestKeySetsRefusedFetch: through KeySets, a refused fetch is an ErrFetch
// that also says ErrFetchRefused, and the issuer sees no request.
func TestKeySetsRefusedFetch(t *testing.T) {
	f := newFakeIssuer(t, jwksJSON(t, jwk{kid: "a", key: &ecKey().PublicKey}))
	ks := newTestKeySets(f, newClock(), func(c *KeySetsConfig) {
		tr := f.srv.Client().Transport.(*http.Transport).Clone()
		tr.DialContext = mustPolicy(t, "oidc.example.com").DialContext(&net.Dialer{})
		c.Client = &http.Client{Transport: tr}
	})
	_, err := ks.Key(context.Background(), f.URL(), "a")
	if !errors.Is(err, ErrFetch) || !errors.Is(err, ErrFetchRefused) {
		t.Fatalf("err = %v, want ErrFetch and ErrFetchRefused", err)
	}
	if n := f.discoveryHits.Load() + f.jwksHits.Load(); n != 0 {
		t.Errorf("issuer got %d requests", n)
	}
}

func FuzzParseFetchPolicy(f *testing.F) {
	for _, s := range []string{"oidc.example.com", "*.example.com,10.0.0.0/8", "fd00::/8", "::ffff:1.2.3.4/120", "[::1]", "169.254.169.254", "a..b", "*", "1.2.3.4/33"} {
		f.Add(s, "169.254.169.254", "metadata.google.internal")
	}
	f.Fuzz(func(t *testing.T, entry, ip, host string) {
		p, err := ParseFetchPolicy([]string{entry})
		if err != nil {
			if p != nil {
				t.Fatalf("policy with an error")
			}
			return
		}
		addr, err := netip.ParseAddr(ip)
		if err != nil {
			return
		}
		err = p.Allow(host, addr)
		if err != nil && !errors.Is(err, ErrFetchRefused) {
			t.Fatalf("Allow error %v is not ErrFetchRefused", err)
		}
		// A link-local or metadata address needs an entry inside its range.
		if refused, ok := refusedPrefix(addr.Unmap().WithZone("")); ok && err == nil {
			narrow := false
			for _, pfx := range p.prefixes {
				narrow = narrow || (pfx.Bits() >= refused.Bits() && pfx.Contains(addr.Unmap().WithZone("")))
			}
			if !narrow {
				t.Fatalf("entry %q allowed %s", entry, addr)
			}
		}
		if !p.Restricted() && err != nil {
			if _, refused := refusedPrefix(addr.Unmap().WithZone("")); !refused && !refusedHosts[normalizeHost(strings.Trim(host, "[]"))] {
				t.Fatalf("open policy refused %q %s: %v", host, addr, err)
			}
		}
	})
}
