package webhook

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/version"
	fakediscovery "k8s.io/client-go/discovery/fake"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

func TestConfigValidate(t *testing.T) {
	ok := Config{TenantID: "tenant", AuthorityHost: "https://wif.example:8443/"}
	tests := []struct {
		name     string
		mutate   func(*Config)
		problems int
	}{
		{"valid", func(*Config) {}, 0},
		{"valid with CA bundle and audience", func(c *Config) {
			c.Audience = "api://wif"
			c.CABundle = &CABundle{ConfigMapName: "wif-ca", Key: "ca.crt"}
		}, 0},
		{"empty", func(c *Config) { *c = Config{} }, 2},
		{"http authority", func(c *Config) { c.AuthorityHost = "http://wif.example/" }, 1},
		{"authority without host", func(c *Config) { c.AuthorityHost = "https:///path" }, 1},
		{"authority with query", func(c *Config) { c.AuthorityHost = "https://wif.example/?x=1" }, 1},
		{"unparseable authority", func(c *Config) { c.AuthorityHost = "https://wif example/%zz" }, 1},
		{"tenant with space", func(c *Config) { c.TenantID = " tenant" }, 1},
		{"audience with space", func(c *Config) { c.Audience = "api://x " }, 1},
		{"CA bundle empty", func(c *Config) { c.CABundle = &CABundle{} }, 2},
		{"CA bundle invalid names", func(c *Config) { c.CABundle = &CABundle{ConfigMapName: "Not_Valid", Key: "a/b"} }, 2},
		{"everything wrong at once", func(c *Config) {
			*c = Config{AuthorityHost: "ftp://", Audience: " a", CABundle: &CABundle{}}
		}, 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			tt.mutate(&c)
			err := c.Validate()
			got := 0
			if err != nil {
				got = len(err.(interface{ Unwrap() []error }).Unwrap())
				if !errors.Is(err, ErrInvalidConfig) {
					t.Errorf("error does not wrap ErrInvalidConfig: %v", err)
				}
			}
			if got != tt.problems {
				t.Errorf("problems = %d, want %d: %v", got, tt.problems, err)
			}
		})
	}
}

func TestServerConfigValidate(t *testing.T) {
	err := ServerConfig{TLSMinVersion: tls.VersionTLS10}.Validate()
	if err == nil {
		t.Fatal("empty ServerConfig validated")
	}
	for _, want := range []string{"listen address", "certificate file", "key file", "Kubernetes client", "TLS min version", "tenant ID", "authority host"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

func TestInformerServiceAccounts(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	client := fake.NewClientset(testSA("apps", "cached", map[string]string{AnnotationClientID: "c"}))
	var mu sync.Mutex
	apiGets := 0
	client.PrependReactor("get", "serviceaccounts", func(a k8stesting.Action) (bool, runtime.Object, error) {
		mu.Lock()
		defer mu.Unlock()
		apiGets++
		if a.(k8stesting.GetAction).GetName() == "flaky" {
			return true, nil, apierrors.NewServiceUnavailable("etcd is sad")
		}
		return false, nil, nil
	})
	gets := func() int { mu.Lock(); defer mu.Unlock(); return apiGets }
	sas := NewInformerServiceAccounts(client, 0)

	// Before the cache syncs, lookups go to the API server.
	if sa, err := sas.Get(ctx, "apps", "cached"); err != nil || sa.Annotations[AnnotationClientID] != "c" {
		t.Fatalf("unsynced Get = %v, %v", sa, err)
	}
	if gets() != 1 {
		t.Fatalf("API GETs = %d, want 1", gets())
	}

	sas.Start(ctx)
	defer func() { cancel(); sas.Shutdown() }()
	if !sas.WaitForCacheSync(ctx) || !sas.HasSynced() {
		t.Fatal("cache did not sync")
	}
	if sas.Len() != 1 {
		t.Errorf("Len = %d, want 1", sas.Len())
	}

	// A cache hit does not touch the API server.
	if _, err := sas.Get(ctx, "apps", "cached"); err != nil {
		t.Fatal(err)
	}
	if gets() != 1 {
		t.Errorf("cache hit made an API GET (total %d)", gets())
	}

	// A miss falls back to the API server: NotFound becomes the sentinel...
	_, err := sas.Get(ctx, "apps", "absent")
	if !errors.Is(err, ErrServiceAccountNotFound) {
		t.Errorf("missing SA error = %v, want ErrServiceAccountNotFound", err)
	}
	// ...and anything else stays a transient error.
	_, err = sas.Get(ctx, "apps", "flaky")
	if err == nil || errors.Is(err, ErrServiceAccountNotFound) || !apierrors.IsServiceUnavailable(err) {
		t.Errorf("flaky SA error = %v, want a transient (non-NotFound) error", err)
	}
	if gets() != 3 {
		t.Errorf("API GETs = %d, want 3", gets())
	}

	// Managed fields and secret references are not cached.
	sa, err := sas.Get(ctx, "apps", "cached")
	if err != nil || sa.ManagedFields != nil || sa.Secrets != nil {
		t.Errorf("cached SA not slimmed: %+v, %v", sa, err)
	}
}

// writeKeyPair writes a self-signed certificate for 127.0.0.1 and returns it.
func writeKeyPair(t *testing.T, dir string, serial int64) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: "wif-webhook"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:         true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, typ string, b []byte, mtime time.Time) {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600); err != nil {
			t.Fatal(err)
		}
		// Distinct mtimes even on coarse file systems.
		if err := os.Chtimes(path, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	mtime := time.Unix(1_700_000_000+serial, 0)
	write("tls.crt", "CERTIFICATE", der, mtime)
	write("tls.key", "PRIVATE KEY", keyDER, mtime)
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// fakeClock is a settable clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestCertReloader(t *testing.T) {
	dir := t.TempDir()
	writeKeyPair(t, dir, 1)
	clock := &fakeClock{now: time.Unix(1_800_000_000, 0)}
	r := &certReloader{certFile: filepath.Join(dir, "tls.crt"), keyFile: filepath.Join(dir, "tls.key"),
		interval: 5 * time.Second, now: clock.Now, log: slog.New(slog.DiscardHandler)}
	if err := r.load(); err != nil {
		t.Fatal(err)
	}
	serial := func() int64 {
		t.Helper()
		c, err := r.GetCertificate(nil)
		if err != nil {
			t.Fatal(err)
		}
		return c.Leaf.SerialNumber.Int64()
	}
	if s := serial(); s != 1 {
		t.Fatalf("serial = %d, want 1", s)
	}
	writeKeyPair(t, dir, 2)
	if s := serial(); s != 1 {
		t.Errorf("reloaded before the check interval: serial %d", s)
	}
	clock.Add(5 * time.Second)
	if s := serial(); s != 2 {
		t.Errorf("not reloaded after the interval: serial %d", s)
	}

	// A broken pair (key not yet rewritten) keeps the old certificate.
	if err := os.WriteFile(filepath.Join(dir, "tls.key"), []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	clock.Add(5 * time.Second)
	if s := serial(); s != 2 {
		t.Errorf("serial after broken rewrite = %d, want 2 kept", s)
	}
	writeKeyPair(t, dir, 3)
	clock.Add(5 * time.Second)
	if s := serial(); s != 3 {
		t.Errorf("serial after repair = %d, want 3", s)
	}

	bad := &certReloader{certFile: filepath.Join(dir, "missing"), keyFile: filepath.Join(dir, "tls.key"), now: time.Now}
	if err := bad.load(); err == nil {
		t.Error("loading a missing certificate succeeded")
	}
}

// TestServe runs the real server over TLS with HTTP/2, a fake clientset and
// certificate rotation.
func TestServe(t *testing.T) {
	dir := t.TempDir()
	cert1 := writeKeyPair(t, dir, 1)
	client := fake.NewClientset(testSA("apps", "workload", map[string]string{AnnotationClientID: "client-1"}))
	// An unparseable kube-apiserver version must not matter (Serve never asks).
	client.Discovery().(*fakediscovery.FakeDiscovery).FakedServerVersion = &version.Info{GitVersion: "v0.0.0-master+$Format:%H$"}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{now: time.Now()}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- Serve(ctx, ServerConfig{
			Listener: ln, CertFile: filepath.Join(dir, "tls.crt"), KeyFile: filepath.Join(dir, "tls.key"),
			CertCheckInterval: time.Second, Now: clock.Now,
			Webhook: testConfig, Client: client, ShutdownTimeout: 5 * time.Second,
		})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()

	pool := x509.NewCertPool()
	pool.AddCert(cert1)
	newClient := func(pool *x509.CertPool) *http.Client {
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}
		return &http.Client{Transport: tr, Timeout: 5 * time.Second}
	}
	c := newClient(pool)
	base := "https://" + ln.Addr().String()

	// /readyz turns ok once the informer has synced.
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := c.Get(base + PathReadyz)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				if resp.ProtoMajor != 2 {
					t.Errorf("protocol = %s, want HTTP/2", resp.Proto)
				}
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("never ready: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if resp, err := c.Get(base + PathHealthz); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz: %v %v", resp, err)
	}

	const reviews = 20
	for range reviews {
		resp, err := c.Post(base+PathMutate+"?timeout=10s", "application/json",
			bytes.NewReader(reviewJSON(t, reviewV1, admissionv1.Create, "apps", labelledPod)))
		if err != nil {
			t.Fatal(err)
		}
		var review admissionv1.AdmissionReview
		if err := json.NewDecoder(resp.Body).Decode(&review); err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.ProtoMajor != 2 || !review.Response.Allowed || len(review.Response.Patch) == 0 {
			t.Fatalf("mutate over TLS (%s): %+v", resp.Proto, review.Response)
		}
	}

	// HTTP/1.1 over TLS (probes, scrapers) is served too.
	h1 := newClient(pool)
	h1.Transport.(*http.Transport).TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	if resp, err := h1.Get(base + PathHealthz); err != nil || resp.StatusCode != http.StatusOK || resp.ProtoMajor != 1 {
		t.Fatalf("healthz over HTTP/1.1: %v %v", resp, err)
	}

	resp, err := c.Get(base + PathMetrics)
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`wif_webhook_admission_requests_total{outcome="patched"} 20`,
		"wif_webhook_admission_duration_seconds_count 20",
		"wif_webhook_cached_service_accounts 1",
		"go_goroutines",
	} {
		if !bytes.Contains(metrics, []byte(want)) {
			t.Errorf("/metrics lacks %q", want)
		}
	}

	// Rotate the certificate on disk: new connections get it after the check interval.
	cert2 := writeKeyPair(t, dir, 2)
	clock.Add(2 * time.Second)
	pool2 := x509.NewCertPool()
	pool2.AddCert(cert2)
	resp, err = newClient(pool2).Get(base + PathHealthz)
	if err != nil {
		t.Fatalf("after rotation: %v", err)
	}
	resp.Body.Close()
	if got := resp.TLS.PeerCertificates[0].SerialNumber.Int64(); got != 2 {
		t.Errorf("served serial %d after rotation, want 2", got)
	}
}

func TestServeRejectsBadConfig(t *testing.T) {
	err := Serve(t.Context(), ServerConfig{Addr: "127.0.0.1:0"})
	if err == nil {
		t.Fatal("Serve accepted an empty config")
	}
	dir := t.TempDir()
	err = Serve(t.Context(), ServerConfig{Addr: "127.0.0.1:0", CertFile: filepath.Join(dir, "no.crt"), KeyFile: filepath.Join(dir, "no.key"),
		Webhook: testConfig, Client: fake.NewClientset()})
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing cert error = %v, want os.ErrNotExist", err)
	}
}

// syncBuffer is a log sink safe for concurrent writes.
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

// TestServeLogsPanicsAndHandshakeFailures: a review whose handler panics
// (here in the lookup of a service account that misses the cache) gets no
// answer, over HTTP/2 (kube-apiserver's) and HTTP/1.1, and the panic reaches
// the server's slog log with its stack; so does a client that does not
// trust the serving certificate. The server keeps serving.
func TestServeLogsPanicsAndHandshakeFailures(t *testing.T) {
	dir := t.TempDir()
	cert := writeKeyPair(t, dir, 1)
	client := fake.NewClientset()
	client.PrependReactor("get", "serviceaccounts", func(k8stesting.Action) (bool, runtime.Object, error) {
		panic("service account lookup exploded")
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- Serve(ctx, ServerConfig{
			Listener: ln, CertFile: filepath.Join(dir, "tls.crt"), KeyFile: filepath.Join(dir, "tls.key"),
			Webhook: testConfig, Client: client, ShutdownTimeout: 5 * time.Second,
			Logger: slog.New(slog.NewJSONHandler(logs, nil)),
		})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()
	base := "https://" + ln.Addr().String()
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	h2 := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}, Timeout: 5 * time.Second}
	h1 := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{}}, Timeout: 5 * time.Second}
	body := reviewJSON(t, reviewV1, admissionv1.Create, "apps", labelledPod)
	waitFor := func(what, want string) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); !strings.Contains(logs.String(), want); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: log lacks %q:\n%s", what, want, logs.String())
			}
		}
	}
	for name, c := range map[string]*http.Client{"HTTP/2": h2, "HTTP/1.1": h1} {
		resp, err := c.Post(base+PathMutate+"?timeout=10s", "application/json", bytes.NewReader(body))
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			t.Fatalf("%s: a panicking review was answered: %s %d %s", name, resp.Proto, resp.StatusCode, b)
		}
		waitFor(name, "service account lookup exploded")
	}
	// The stack, with the handler's frame in it, is in the log line.
	var panics int
	for line := range strings.Lines(logs.String()) {
		var entry struct{ Level, Msg string }
		if err := json.Unmarshal([]byte(line), &entry); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		if strings.Contains(entry.Msg, "service account lookup exploded") {
			panics++
			if entry.Level != "WARN" || !strings.Contains(entry.Msg, "goroutine ") || !strings.Contains(entry.Msg, "webhook.(*Handler).ServeHTTP") {
				t.Errorf("panic logged without its stack at warning level: %s %.300q", entry.Level, entry.Msg)
			}
		}
	}
	if panics != 2 {
		t.Errorf("%d panics logged, want 2:\n%s", panics, logs.String())
	}

	untrusting := &http.Client{Transport: &http.Transport{}, Timeout: 5 * time.Second}
	if resp, err := untrusting.Get(base + PathHealthz); err == nil {
		resp.Body.Close()
		t.Fatal("a client without the CA was served")
	}
	waitFor("untrusting client", "TLS handshake error")

	if resp, err := h2.Get(base + PathHealthz); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz after the panics: %v %v", resp, err)
	}
}
