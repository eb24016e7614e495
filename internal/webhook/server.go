package webhook

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"k8s.io/client-go/kubernetes"
)

// Routes served by Serve.
const (
	PathMutate  = "/mutate-v1-pod"
	PathHealthz = "/healthz"
	PathReadyz  = "/readyz"
	PathMetrics = "/metrics"
)

// ServerConfig wires Serve. Build it in cmd.
type ServerConfig struct {
	// Addr to listen on, e.g. ":9443"; ignored when Listener is set.
	Addr     string
	Listener net.Listener

	// CertFile and KeyFile are PEM files (e.g. a mounted Secret); they are
	// re-read when their modification time or size changes, checked at most
	// once per CertCheckInterval (default 5s).
	CertFile, KeyFile string
	CertCheckInterval time.Duration
	// TLSMinVersion defaults to TLS 1.2.
	TLSMinVersion uint16

	Webhook Config
	// Client reads service accounts (get, list, watch, cluster-wide).
	Client kubernetes.Interface
	// Resync of the service account informer; 0 disables it.
	Resync time.Duration

	Logger *slog.Logger
	// Registry for /metrics; nil means a new registry with Go and process collectors.
	Registry *prometheus.Registry
	// ShutdownTimeout bounds graceful shutdown (default 10s).
	ShutdownTimeout time.Duration
	// Now is the clock for certificate reload checks (default time.Now).
	Now func() time.Time
}

// Validate reports every problem with c at once.
func (c ServerConfig) Validate() error {
	var errs []error
	if c.Addr == "" && c.Listener == nil {
		errs = append(errs, errors.New("webhook: server config: listen address is required"))
	}
	if c.CertFile == "" {
		errs = append(errs, errors.New("webhook: server config: TLS certificate file is required"))
	}
	if c.KeyFile == "" {
		errs = append(errs, errors.New("webhook: server config: TLS key file is required"))
	}
	if c.Client == nil {
		errs = append(errs, errors.New("webhook: server config: Kubernetes client is required"))
	}
	if c.CertCheckInterval < 0 || c.ShutdownTimeout < 0 || c.Resync < 0 {
		errs = append(errs, errors.New("webhook: server config: durations must not be negative"))
	}
	if c.TLSMinVersion != 0 && (c.TLSMinVersion < tls.VersionTLS12 || c.TLSMinVersion > tls.VersionTLS13) {
		errs = append(errs, fmt.Errorf("webhook: server config: TLS min version %#x: want TLS 1.2 or 1.3", c.TLSMinVersion))
	}
	errs = append(errs, c.Webhook.Validate())
	return errors.Join(errs...)
}

// Serve runs the webhook over TLS (HTTP/2 and HTTP/1.1) until ctx is done,
// then shuts down gracefully. Routes: POST /mutate-v1-pod, /healthz (always
// ok), /readyz (ok once the service account informer has synced), /metrics.
//
// Serve does not query the API server's version: wif injects no
// version-dependent sidecar, so an unparseable version string
// (v0.0.0-master+$Format:%H$) cannot break it.
func Serve(ctx context.Context, cfg ServerConfig) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	certs := &certReloader{
		certFile: cfg.CertFile, keyFile: cfg.KeyFile,
		interval: cmp.Or(cfg.CertCheckInterval, 5*time.Second),
		now:      cfg.Now, log: log,
	}
	if certs.now == nil {
		certs.now = time.Now
	}
	if err := certs.load(); err != nil {
		return err
	}
	reg := cfg.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sas := NewInformerServiceAccounts(cfg.Client, cfg.Resync)
	metrics, err := NewMetrics(reg, sas.Len)
	if err != nil {
		return err
	}

	mux := http.NewServeMux()
	mux.Handle(PathMutate, NewHandler(cfg.Webhook, sas, log, metrics))
	mux.HandleFunc(PathHealthz, func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	mux.HandleFunc(PathReadyz, func(w http.ResponseWriter, _ *http.Request) {
		if !sas.HasSynced() {
			http.Error(w, "service account cache not synced", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok"))
	})
	mux.Handle(PathMetrics, promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))

	ln := cfg.Listener
	if ln == nil {
		if ln, err = net.Listen("tcp", cfg.Addr); err != nil {
			return fmt.Errorf("webhook: listen: %w", err)
		}
	}
	// net/http terminates TLS and serves HTTP/2 (which kube-apiserver calls
	// webhooks over) and HTTP/1.1 (probes, scrapers) by ALPN. It logs a
	// failed handshake, and a handler's panic with its stack, to ErrorLog.
	srv := &http.Server{
		Handler: mux,
		TLSConfig: &tls.Config{
			MinVersion:     cmp.Or(cfg.TLSMinVersion, tls.VersionTLS12),
			GetCertificate: certs.GetCertificate,
			CipherSuites:   h2CipherSuites, // for TLS 1.2; TLS 1.3's are all fine
		},
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}

	sas.Start(ctx)
	defer func() { cancel(); sas.Shutdown() }()
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.ServeTLS(ln, "", "") }()
	log.Info("webhook serving", slog.String("addr", ln.Addr().String()))

	select {
	case err := <-serveErr:
		cancel()
		return fmt.Errorf("webhook: serve: %w", err)
	case <-ctx.Done():
	}
	sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), cmp.Or(cfg.ShutdownTimeout, 10*time.Second))
	defer scancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("webhook: shutdown: %w", err)
	}
	if err := <-serveErr; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("webhook: serve: %w", err)
	}
	return nil
}

// h2CipherSuites are the TLS 1.2 suites HTTP/2 allows (RFC 9113 section
// 9.2.2: ephemeral key exchange and AEAD only), so that no TLS 1.2 client
// negotiates a suite that net/http's HTTP/2 server would then refuse.
var h2CipherSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// certReloader serves the key pair from disk, reloading it when either
// file's modification time or size changes. A pair that fails to load (e.g.
// the certificate was rewritten before the key) keeps the previous one in
// service and is retried on the next check.
type certReloader struct {
	certFile, keyFile string
	interval          time.Duration
	now               func() time.Time
	log               *slog.Logger

	mu                  sync.Mutex
	cert                *tls.Certificate
	certStamp, keyStamp fileStamp
	checked             time.Time
}

type fileStamp struct {
	mod  time.Time
	size int64
}

func (s fileStamp) equal(o fileStamp) bool { return s.mod.Equal(o.mod) && s.size == o.size }

func stamp(path string) (fileStamp, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}, err
	}
	return fileStamp{fi.ModTime(), fi.Size()}, nil
}

// load reads the pair unconditionally.
func (r *certReloader) load() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.loadLocked()
}

func (r *certReloader) loadLocked() error {
	cs, err := stamp(r.certFile)
	if err != nil {
		return fmt.Errorf("webhook: TLS certificate: %w", err)
	}
	ks, err := stamp(r.keyFile)
	if err != nil {
		return fmt.Errorf("webhook: TLS key: %w", err)
	}
	cert, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		return fmt.Errorf("webhook: TLS key pair: %w", err)
	}
	r.cert, r.certStamp, r.keyStamp, r.checked = &cert, cs, ks, r.now()
	return nil
}

func (r *certReloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if now := r.now(); now.Sub(r.checked) >= r.interval {
		r.checked = now
		cs, cerr := stamp(r.certFile)
		ks, kerr := stamp(r.keyFile)
		if cerr == nil && kerr == nil && (!cs.equal(r.certStamp) || !ks.equal(r.keyStamp)) {
			if err := r.loadLocked(); err != nil {
				r.log.Warn("keeping previous TLS certificate", slog.String("error", err.Error()))
			} else {
				r.log.Info("reloaded TLS certificate", slog.String("certFile", r.certFile))
			}
		}
	}
	return r.cert, nil
}
