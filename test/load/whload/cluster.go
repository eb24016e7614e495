package main

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/wifproject/wif/test/load/loadkit"
)

// cluster is a real etcd + kube-apiserver on loopback, started the way
// test/e2e/kube_test.go and scripts/kube-apiserver.sh start them.
type cluster struct {
	Server     string // https://127.0.0.1:PORT
	Token      string // static bearer token of a system:masters user
	Kubeconfig string
	etcd, api  *loadkit.Proc
}

// startCluster runs etcd (data under dir) and kube-apiserver and waits for
// the API server's /readyz.
func startCluster(ctx context.Context, apiserver, etcdBin, dir string) (*cluster, error) {
	tok := make([]byte, 24)
	if _, err := rand.Read(tok); err != nil {
		return nil, err
	}
	c := &cluster{Token: hex.EncodeToString(tok)}
	etcdPort, err := loadkit.FreePort()
	if err != nil {
		return nil, err
	}
	peerPort, err := loadkit.FreePort()
	if err != nil {
		return nil, err
	}
	etcdURL := "http://127.0.0.1:" + etcdPort
	c.etcd, err = loadkit.Start(filepath.Join(dir, "etcd.log"), nil, etcdBin, "--name", "wif", "--data-dir", filepath.Join(dir, "etcd"),
		"--listen-client-urls", etcdURL, "--advertise-client-urls", etcdURL,
		"--listen-peer-urls", "http://127.0.0.1:"+peerPort, "--initial-advertise-peer-urls", "http://127.0.0.1:"+peerPort,
		"--initial-cluster", "wif=http://127.0.0.1:"+peerPort, "--logger", "zap", "--log-level", "warn")
	if err != nil {
		return nil, fmt.Errorf("etcd: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tokens.csv"), []byte(c.Token+",wif-admin,wif-admin,system:masters\n"), 0o600); err != nil {
		c.Stop()
		return nil, err
	}
	port, err := loadkit.FreePort()
	if err != nil {
		c.Stop()
		return nil, err
	}
	c.Server = "https://127.0.0.1:" + port
	saKey := filepath.Join(dir, "sa.key")
	if err := writeRSAKey(saKey); err != nil {
		c.Stop()
		return nil, err
	}
	c.api, err = loadkit.Start(filepath.Join(dir, "kube-apiserver.log"), nil, apiserver,
		"--etcd-servers", etcdURL, "--bind-address", "127.0.0.1", "--advertise-address", "127.0.0.1",
		"--endpoint-reconciler-type", "none", "--secure-port", port, "--cert-dir", filepath.Join(dir, "certs"),
		"--token-auth-file", filepath.Join(dir, "tokens.csv"), "--authorization-mode", "RBAC",
		"--service-cluster-ip-range", "10.0.0.0/24",
		"--service-account-issuer", "https://127.0.0.1:"+port,
		"--service-account-signing-key-file", saKey, "--service-account-key-file", saKey)
	if err != nil {
		c.Stop()
		return nil, fmt.Errorf("kube-apiserver: %w", err)
	}
	c.Kubeconfig = filepath.Join(dir, "kubeconfig")
	kc := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: whload
  cluster: {server: %q, insecure-skip-tls-verify: true}
users:
- name: admin
  user: {token: %q}
contexts:
- name: whload
  context: {cluster: whload, user: admin, namespace: default}
current-context: whload
`, c.Server, c.Token)
	if err := os.WriteFile(c.Kubeconfig, []byte(kc), 0o600); err != nil {
		c.Stop()
		return nil, err
	}
	hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	defer hc.CloseIdleConnections()
	for deadline := time.Now().Add(120 * time.Second); ; {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.Server+"/readyz", nil)
		req.Header.Set("Authorization", "Bearer "+c.Token)
		if resp, err := hc.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return c, nil
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil || c.api.Exited() || c.etcd.Exited() {
			c.Stop()
			b, _ := os.ReadFile(filepath.Join(dir, "kube-apiserver.log"))
			return nil, fmt.Errorf("kube-apiserver not ready:\n%s", tail(string(b), 2000))
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// Pids of the API server and etcd (for pinning and the caller's cleanup).
func (c *cluster) Pids() []int {
	var p []int
	for _, proc := range []*loadkit.Proc{c.api, c.etcd} {
		if proc != nil {
			p = append(p, proc.Pid)
		}
	}
	return p
}

// Stop stops kube-apiserver, then etcd.
func (c *cluster) Stop() {
	c.api.Stop(20 * time.Second)
	c.etcd.Stop(10 * time.Second)
}

// writeRSAKey writes a new RSA-2048 key (PKCS#8 PEM) for the API server's
// service-account tokens.
func writeRSAKey(path string) error {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return err
	}
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return strings.TrimSpace(s)
}
