package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/wifproject/wif/internal/arm"
	"github.com/wifproject/wif/internal/cluster"
	"github.com/wifproject/wif/internal/federation"
	"github.com/wifproject/wif/internal/keyvault"
	"github.com/wifproject/wif/internal/oidc"
	"github.com/wifproject/wif/internal/pki"
	"github.com/wifproject/wif/internal/reqlog"
	"github.com/wifproject/wif/internal/seal"
	"github.com/wifproject/wif/internal/store"
	"github.com/wifproject/wif/internal/sts"
	"github.com/wifproject/wif/internal/token"
)

// DefaultConfig returns the defaults of "wif serve".
func DefaultConfig(getenv func(string) string) Config {
	return Config{
		DataDir:            DefaultDataDir(getenv),
		Listen:             "127.0.0.1:8443",
		TokenSigningAlg:    "RS256",
		TokenLifetime:      time.Hour,
		MaxFICsPerIdentity: federation.DefaultMaxPerIdentity,
		VaultDNSSuffix:     "vault.localhost",
		CacheTTL:           5 * time.Second,
		Limits:             DefaultLimits(),
	}
}

// Run serves until ctx is cancelled, then shuts down gracefully. ready, if
// not nil, is called with the bound address once the server accepts
// connections. Hints for users (how to trust the CA) go to stdout.
func Run(ctx context.Context, cfg Config, log *slog.Logger, stdout io.Writer, ready func(addr string)) error {
	if err := cfg.Complete(); err != nil {
		return fmt.Errorf("invalid configuration:\n%w", err)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("server: data dir: %w", err)
	}
	now := time.Now

	// ca.pem first, bootstrap.json last.
	ca, err := pki.LoadOrCreateCA(cfg.DataDir, now())
	if err != nil {
		return err
	}
	hosts := []string{"localhost", "127.0.0.1", "::1", "*." + cfg.VaultDNSSuffix, cfg.publicHost()}
	cert, err := ca.ServerCert(hosts, now())
	if err != nil {
		return err
	}

	// The key-encryption key seals Key Vault secret values and the store's
	// private keys, so it comes before the store.
	kekPath := filepath.Join(cfg.DataDir, "kek.bin")
	kek, err := seal.LoadOrCreate(kekPath)
	if err != nil {
		return err
	}
	db, err := store.Open(ctx, cfg.Store, store.WithSealer(kek))
	if errors.Is(err, store.ErrKEKMismatch) {
		return fmt.Errorf("the store at %s was sealed with a different key-encryption key than %s; restore the original kek.bin: %w",
			storeLocation(cfg.Store), kekPath, err)
	}
	if err != nil {
		return err
	}
	defer db.Close()
	setup, err := ensureSetup(ctx, db, &cfg, now())
	if err != nil {
		return err
	}

	fetchPolicy, err := oidc.ParseFetchPolicy(cfg.IssuerFetchAllow)
	if err != nil {
		return err
	}
	if fetchPolicy.Restricted() {
		log.Info("issuer fetches restricted", "allow", fetchPolicy.String())
	}
	outbound, err := outboundClient(cfg.ExtraCAFile, ca.CertPEM, fetchPolicy)
	if err != nil {
		return err
	}
	policy := token.DefaultPolicy()
	policy.Alg = cfg.TokenSigningAlg
	policy.RetainAfter = cfg.TokenLifetime + time.Hour
	keyring := token.NewKeyring(db, policy, time.Minute, now)
	tenants, err := db.ListTenants(ctx)
	if err != nil {
		return err
	}
	for _, t := range tenants {
		if err := keyring.Load(ctx, t.ID); err != nil {
			return err
		}
	}

	dir := sts.NewDirectory(db, cfg.CacheTTL, now)
	db.OnChange(dir.Invalidate)
	stsCfg := sts.DefaultConfig(cfg.PublicURL)
	stsCfg.TokenLifetime = cfg.TokenLifetime
	stsCfg.TokenReuse = cfg.TokenReuse
	if stsCfg.Resources, err = sts.NewResources(cfg.PublicURL, cfg.VaultDNSSuffix, cfg.Audiences); err != nil {
		return err
	}
	keySets := oidc.NewKeySets(oidc.KeySetsConfig{Client: outbound, Now: now})
	// The cluster issuers wif hosts are read from the store, not fetched.
	issuerKeys := cluster.NewLocalKeys(db, cfg.PublicURL, cfg.CacheTTL, now, keySets)
	db.OnChange(issuerKeys.Invalidate)
	svc := sts.NewService(stsCfg, dir, issuerKeys, keyring, now)
	verifier := token.NewVerifier(keyring, dir, svc.Issuer, now)
	armHandler := arm.NewHandler(arm.Config{
		PublicURL:          cfg.PublicURL,
		Audiences:          []string{cfg.PublicURL + "/", "https://management.core.windows.net/", "https://management.azure.com/"},
		MaxFICsPerIdentity: cfg.MaxFICsPerIdentity,
		IssuerFor:          svc.Issuer,
		VaultURL:           cfg.vaultURL,
		Tokens:             svc,
	}, db, verifier, now)

	publicPort := ""
	if u, err := url.Parse(cfg.PublicURL); err == nil {
		publicPort = u.Port()
	}
	vaults := keyvault.NewHandler(keyvault.Config{DNSSuffix: cfg.VaultDNSSuffix, PublicURL: cfg.PublicURL, Port: publicPort},
		keyvault.Deps{Store: db, Roles: db, Tokens: verifier, Sealer: kek, Now: now, CacheTTL: cfg.CacheTTL})
	db.OnChange(vaults.Invalidate)

	stsMux := http.NewServeMux()
	sts.NewHandler(svc, now).Register(stsMux)
	root := &router{arm: armHandler, sts: stsMux, oidc: cluster.NewIssuerHandler(db, cfg.PublicURL, now), vaults: vaults, ready: func(ctx context.Context) error {
		// Unready within a second of the store going away, not after a
		// TCP timeout.
		ctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		_, err := db.Generation(ctx)
		return err
	}}

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("server: listen: %w", err)
	}
	ln = newLimitListener(ln, cfg.Limits, log)
	srv := &http.Server{
		Handler:           cfg.Limits.bodyDeadlines(root.class, reqlog.Middleware(log, root)),
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		ReadHeaderTimeout: 10 * time.Second, // and the TLS handshake's
		WriteTimeout:      responseTimeout,
		HTTP2:             &http.HTTP2Config{WriteByteTimeout: responseTimeout},
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}

	caPath, _ := filepath.Abs(filepath.Join(cfg.DataDir, pki.CAFile))
	log.Info("wif serving", "url", cfg.PublicURL, "listen", ln.Addr().String(), "tenant", setup.TenantID,
		"subscription", setup.SubscriptionID, "data_dir", cfg.DataDir, "store", storeKind(cfg.Store))
	fmt.Fprintf(stdout, "wif is serving %s (tenant %s, subscription %s)\n", cfg.PublicURL, setup.TenantID, setup.SubscriptionID)
	fmt.Fprintf(stdout, "Bootstrap credentials: %s\n", filepath.Join(cfg.DataDir, BootstrapFile))
	fmt.Fprintf(stdout, "Trust wif's CA in clients:\n  export SSL_CERT_FILE=%[1]s        # Go\n  export NODE_EXTRA_CA_CERTS=%[1]s  # Node.js\n  export REQUESTS_CA_BUNDLE=%[1]s   # Azure CLI, Python\n", caPath)

	errc := make(chan error, 1)
	go func() { errc <- srv.ServeTLS(ln, "", "") }()
	go rotateKeys(ctx, keyring, db, db.Instance(), log)
	go purgeDeletedSecrets(ctx, db, db.Instance(), now, log)
	go db.Watch(ctx, log) // writes by other replicas on the same store
	if ready != nil {
		ready(ln.Addr().String())
	}
	select {
	case err := <-errc:
		return fmt.Errorf("server: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("server: shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func storeKind(dsn string) string {
	if k, _, ok := strings.Cut(dsn, "://"); ok {
		return k
	}
	return "sqlite"
}

// storeLocation names the store in messages, without credentials.
func storeLocation(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && u.User != nil {
		return u.Redacted()
	}
	return strings.TrimPrefix(dsn, "sqlite://")
}

// rotateKeys reloads every tenant's keys ahead of the keyring's refresh, so
// that rotation and reloads happen off the request path.
func rotateKeys(ctx context.Context, k *token.Keyring, db *store.DB, holder string, log *slog.Logger) {
	const every = 30 * time.Second
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !leader(ctx, db, "key-rotation", holder, 3*every, log) {
			continue
		}
		tenants, err := db.ListTenants(ctx)
		if err != nil {
			log.Warn("key rotation: list tenants", "error", err)
			continue
		}
		for _, tn := range tenants {
			if err := k.Load(ctx, tn.ID); err != nil {
				log.Warn("key rotation", "tenant", tn.ID, "error", err)
			}
		}
	}
}

// leader takes or renews the lease called job for holder, so that one
// replica at a time runs each periodic job; when the holder dies, another
// takes over once the lease (ttl) runs out.
func leader(ctx context.Context, db *store.DB, job, holder string, ttl time.Duration, log *slog.Logger) bool {
	ok, err := db.AcquireLease(ctx, job, holder, ttl, time.Now())
	if err != nil {
		log.Warn("periodic job lease", "job", job, "error", err)
	}
	return ok
}

// purgeDeletedSecrets removes soft-deleted secrets whose retention ended,
// on one replica at a time.
func purgeDeletedSecrets(ctx context.Context, db *store.DB, holder string, now func() time.Time, log *slog.Logger) {
	const every = 10 * time.Minute
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if leader(ctx, db, "purge-deleted-secrets", holder, 3*every, log) {
			if n, err := db.PurgeExpiredSecrets(ctx, now()); err != nil {
				log.Warn("purge deleted secrets", "error", err)
			} else if n > 0 {
				log.Info("purged deleted secrets", "count", n)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// outboundClient trusts the system pool (so SSL_CERT_FILE and SSL_CERT_DIR
// work), wif's own CA, and an optional extra CA file. It connects only to
// addresses the policy allows, checked at dial time, and directly, without
// a proxy, so that the address checked is the issuer's.
func outboundClient(extraCA string, ownCA []byte, policy *oidc.FetchPolicy) (*http.Client, error) {
	// wif's own CA, for issuers behind a certificate it issued. (The cluster
	// issuers wif hosts are read from the store, not fetched.)
	tr, err := pki.ClientTransport(extraCA, ownCA)
	if err != nil {
		return nil, fmt.Errorf("server: extra CA: %w", err)
	}
	tr.MaxIdleConnsPerHost = 4
	tr.Proxy = nil
	tr.DialContext = policy.DialContext(&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second})
	return &http.Client{Transport: tr, Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}, nil
}

// router sends ARM paths to the control plane, health paths to the health
// checks and everything else to the token service.
type router struct {
	vaults *keyvault.Handler // Key Vault data plane, by Host
	arm    http.Handler
	sts    http.Handler
	oidc   http.Handler // cluster OIDC issuers
	ready  func(context.Context) error
}

var armRoots = map[string]bool{"subscriptions": true, "tenants": true, "providers": true, "metadata": true}

func (rt *router) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if rt.vaults.Match(r.Host) {
		rt.vaults.ServeHTTP(w, r)
		return
	}
	first, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	first = strings.ToLower(first)
	switch {
	case armRoots[first]:
		rt.arm.ServeHTTP(w, r)
	case first == "oidc":
		rt.oidc.ServeHTTP(w, r)
	case first == "healthz":
		w.Write([]byte("ok\n"))
	case first == "readyz":
		if err := rt.ready(r.Context()); err != nil {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ok\n"))
	default:
		rt.sts.ServeHTTP(w, r)
	}
}
