package pki

import (
	"bytes"
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestCAReuseAndServerCert(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	ca, err := LoadOrCreateCA(dir, now)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, CAKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("CA key mode = %v, want 0600", fi.Mode().Perm())
	}
	again, err := LoadOrCreateCA(dir, now)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ca.CertPEM, again.CertPEM) {
		t.Fatal("restart created a new CA")
	}

	cert, err := ca.ServerCert([]string{"localhost", "127.0.0.1", "::1", "*.vault.localhost", "localhost"}, now)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	for _, name := range []string{"localhost", "127.0.0.1", "::1", "myvault.vault.localhost"} {
		if _, err := cert.Leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: pool}); err != nil {
			t.Errorf("verify %s: %v", name, err)
		}
	}
	if _, err := cert.Leaf.Verify(x509.VerifyOptions{DNSName: "example.com", Roots: pool}); err == nil {
		t.Error("certificate verified for a host it does not name")
	}
}

func TestCorruptCA(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, CAFile), []byte("garbage"), 0o644)
	os.WriteFile(filepath.Join(dir, CAKeyFile), []byte("garbage"), 0o600)
	if _, err := LoadOrCreateCA(dir, time.Now()); err == nil {
		t.Fatal("corrupt CA accepted")
	}
}
