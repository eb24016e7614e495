package e2e

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// slowAttack is one kind of slow-body request: headers announcing 60000
// bytes, then a byte a second.
type slowAttack struct {
	name     string
	host     string // Host header and TLS server name (without port)
	method   string
	path     string
	auth     string // bearer token, or ""
	deadline time.Duration
	status   int
	code     func(body []byte) string // the error code of the surface's format
}

// slowResult is what one attacking connection saw.
type slowResult struct {
	attack  *slowAttack
	status  int
	body    []byte
	answer  time.Duration // headers sent to answer read
	closed  time.Duration // headers sent to connection closed by wif
	err     error
	refused bool
}

func aadstsCode(b []byte) string {
	var e struct {
		Error string `json:"error"`
		Codes []int  `json:"error_codes"`
	}
	if json.Unmarshal(b, &e) != nil || len(e.Codes) == 0 {
		return ""
	}
	return fmt.Sprintf("%s/%d", e.Error, e.Codes[0])
}

func azureErrorCode(b []byte) string {
	var e struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	json.Unmarshal(b, &e)
	return e.Error.Code
}

// TestSecuritySlowBody: 500 connections that send their bodies a byte a
// second, from ten loopback addresses, across the token endpoint, ARM and
// Key Vault (authenticated and not), are each answered in their surface's
// format and closed within their class's deadline; legitimate requests
// from 127.0.0.1 keep working meanwhile; connections over the per-client
// cap are refused at once, and one client's cap does not touch another.
func TestSecuritySlowBody(t *testing.T) {
	const (
		sources   = 10 // 127.0.0.2 .. 127.0.0.11
		perSource = 50 // = the cap
		tokenTO   = 2 * time.Second
		apiTO     = 3 * time.Second
		margin    = 10 * time.Second // a loaded 2-core machine
	)
	w := startWif(t, "--max-conns-per-client", fmt.Sprint(perSource),
		"--body-timeout-token", tokenTO.String(), "--body-timeout-api", apiTO.String())
	u, _ := url.Parse(w.URL)
	port := u.Port()
	addr := "127.0.0.1:" + port
	tenant, sub := w.Boot.TenantID, w.Boot.SubscriptionID

	w.cli(t, "group", "create", "-n", "slowRG", "-l", "eastus")
	w.cli(t, "keyvault", "create", "-n", "slowvault", "-g", "slowRG")
	vaultHost := "slowvault.vault.localhost"
	kvTok := amToken(t, w, "https://vault.localhost:"+port+"/.default")
	armTok := amARMToken(t, w)
	oid, _ := kvClaims(t, kvTok)["oid"].(string)
	w.cli(t, "role", "assignment", "create", "--assignee-object-id", oid, "--assignee-principal-type", "ServicePrincipal",
		"--role", "Key Vault Secrets Officer", "--scope", "/subscriptions/"+sub+"/resourceGroups/slowRG/providers/Microsoft.KeyVault/vaults/slowvault")

	pemBytes, err := os.ReadFile(w.Boot.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemBytes)
	tlsFor := func(host string) *tls.Config {
		return &tls.Config{RootCAs: pool, ServerName: host, NextProtos: []string{"http/1.1"}}
	}
	dialFrom := func(src, host string) (*tls.Conn, error) {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 10 * time.Second}
		c, err := tls.DialWithDialer(d, "tcp", addr, tlsFor(host))
		if err == nil {
			c.SetDeadline(time.Now().Add(30 * time.Second))
		}
		return c, err
	}

	// A secret for the legitimate reader.
	raw := kvLoopbackClient(t, w.Boot.CAFile, port)
	kvURL := "https://" + vaultHost + ":" + port
	if r := doJSON(t, raw, http.MethodPut, kvURL+"/secrets/s1?api-version=7.4", kvTok, `{"value":"v1"}`); r != 200 {
		t.Fatalf("set secret: %d", r)
	}

	attacks := []*slowAttack{
		{name: "token", host: "localhost", method: "POST", path: "/" + tenant + "/oauth2/v2.0/token",
			deadline: tokenTO, status: 400, code: aadstsCode},
		{name: "arm unauthenticated", host: "localhost", method: "PUT", path: "/subscriptions/" + sub + "/resourcegroups/slow2?api-version=2021-04-01",
			deadline: apiTO, status: 401, code: azureErrorCode},
		{name: "arm", host: "localhost", method: "PUT", path: "/subscriptions/" + sub + "/resourcegroups/slow2?api-version=2021-04-01",
			auth: armTok, deadline: apiTO, status: 400, code: azureErrorCode},
		{name: "keyvault unauthenticated", host: vaultHost, method: "PUT", path: "/secrets/s2?api-version=7.4",
			deadline: apiTO, status: 401, code: azureErrorCode},
		{name: "keyvault", host: vaultHost, method: "PUT", path: "/secrets/s2?api-version=7.4",
			auth: kvTok, deadline: apiTO, status: 400, code: azureErrorCode},
	}
	wantCode := map[string]string{
		"token": "invalid_request/90023", "arm unauthenticated": "AuthenticationFailed", "arm": "InvalidRequestContent",
		"keyvault unauthenticated": "Unauthorized", "keyvault": "BadParameter",
	}

	attack := func(src string, a *slowAttack) slowResult {
		res := slowResult{attack: a}
		c, err := dialFrom(src, a.host)
		if err != nil {
			res.err, res.refused = err, true
			return res
		}
		defer c.Close()
		hdr := a.method + " " + a.path + " HTTP/1.1\r\nHost: " + a.host + ":" + port + "\r\n" +
			"Content-Type: " + map[bool]string{true: "application/x-www-form-urlencoded", false: "application/json"}[a.name == "token"] + "\r\n" +
			"Content-Length: 60000\r\n"
		if a.auth != "" {
			hdr += "Authorization: Bearer " + a.auth + "\r\n"
		}
		start := time.Now()
		if _, err := io.WriteString(c, hdr+"\r\n{"); err != nil {
			res.err = err
			return res
		}
		stop := make(chan struct{})
		defer close(stop)
		go func() {
			tk := time.NewTicker(time.Second)
			defer tk.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tk.C:
					if _, err := c.Write([]byte(" ")); err != nil {
						return
					}
				}
			}
		}()
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			// Closed without an answer is acceptable, if in time.
			res.answer, res.closed = time.Since(start), time.Since(start)
			if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !isReset(err) {
				res.err = err
			}
			return res
		}
		res.answer = time.Since(start)
		res.status = resp.StatusCode
		res.body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if _, err := br.ReadByte(); err == nil {
			res.err = errors.New("data after the answer")
		} else if !errors.Is(err, io.EOF) && !isReset(err) {
			res.err = fmt.Errorf("connection not closed after the answer: %w", err)
		}
		res.closed = time.Since(start)
		return res
	}

	// Legitimate traffic from 127.0.0.1 throughout the attack.
	legitDone := make(chan struct{})
	var legitErrs []string
	var legitN int
	var legitWG sync.WaitGroup
	legitWG.Add(1)
	go func() {
		defer legitWG.Done()
		for {
			select {
			case <-legitDone:
				return
			default:
			}
			begin := time.Now()
			form := url.Values{"grant_type": {"client_credentials"}, "client_id": {w.Boot.ClientID},
				"client_secret": {w.Boot.ClientSecret}, "scope": {w.Boot.ARMEndpoint + ".default"}}
			tok := statusOf(w.HTTP, http.MethodPost, w.URL+"/"+tenant+"/oauth2/v2.0/token", "", "application/x-www-form-urlencoded", form.Encode())
			arm := statusOf(w.HTTP, http.MethodGet, w.URL+"/subscriptions/"+sub+"/resourcegroups/slowRG?api-version=2021-04-01", armTok, "", "")
			kv := statusOf(raw, http.MethodGet, kvURL+"/secrets/s1?api-version=7.4", kvTok, "", "")
			legitN++
			if tok != "200" || arm != "200" || kv != "200" {
				legitErrs = append(legitErrs, fmt.Sprintf("token %s, ARM %s, Key Vault %s", tok, arm, kv))
			}
			if el := time.Since(begin); el > 5*time.Second {
				legitErrs = append(legitErrs, fmt.Sprintf("three legitimate requests took %v", el))
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()

	begin := time.Now()
	results := make([]slowResult, sources*perSource)
	var wg sync.WaitGroup
	for i := range results {
		src := fmt.Sprintf("127.0.0.%d", 2+i%sources)
		a := attacks[i%len(attacks)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = attack(src, a)
		}()
	}

	// Meanwhile, the per-client cap: 127.0.0.20 opens perSource idle TLS
	// connections; the next one is refused before its handshake.
	var held []*tls.Conn
	for range perSource {
		c, err := dialFrom("127.0.0.20", "localhost")
		if err != nil {
			t.Fatalf("connection within the cap refused: %v", err)
		}
		held = append(held, c)
	}
	refusedAt := time.Now()
	if c, err := dialFrom("127.0.0.20", "localhost"); err == nil {
		c.Close()
		t.Errorf("connection %d from 127.0.0.20 was accepted over --max-conns-per-client %d", perSource+1, perSource)
	} else if el := time.Since(refusedAt); el > 5*time.Second {
		t.Errorf("connection over the cap refused after %v", el)
	}
	// Another address is not affected, and closed connections count no more.
	if c, err := dialFrom("127.0.0.21", "localhost"); err != nil {
		t.Errorf("connection from another address refused: %v", err)
	} else {
		c.Close()
	}
	for _, c := range held {
		c.Close()
	}
	var readmitted error
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		c, err := dialFrom("127.0.0.20", "localhost")
		if err == nil {
			c.Close()
			readmitted = nil
			break
		}
		if readmitted = err; time.Now().After(deadline) {
			break
		}
	}
	if readmitted != nil {
		t.Errorf("after closing its connections, 127.0.0.20 is still refused: %v", readmitted)
	}

	wg.Wait()
	attackTime := time.Since(begin)
	close(legitDone)
	legitWG.Wait()

	byKind := map[string]int{}
	for i, r := range results {
		a := r.attack
		switch {
		case r.refused:
			t.Errorf("attack %d (%s): refused within the cap: %v", i, a.name, r.err)
		case r.err != nil:
			t.Errorf("attack %d (%s): %v", i, a.name, r.err)
		case r.closed > a.deadline+margin:
			t.Errorf("attack %d (%s): connection held for %v, deadline %v", i, a.name, r.closed, a.deadline)
		case r.answer < a.deadline*9/10:
			t.Errorf("attack %d (%s): answered after %v, before the deadline %v", i, a.name, r.answer, a.deadline)
		case r.status != 0 && (r.status != a.status || a.code(r.body) != wantCode[a.name]):
			t.Errorf("attack %d (%s): %d %s, want %d %s", i, a.name, r.status, r.body, a.status, wantCode[a.name])
		case strings.Contains(string(r.body), "127.0.0.") || strings.Contains(string(r.body), "timeout"):
			t.Errorf("attack %d (%s): the answer names the connection: %s", i, a.name, r.body)
		}
		if r.status != 0 {
			if byKind[a.name]++; byKind[a.name] == 1 {
				t.Logf("%s: %d %s", a.name, r.status, r.body)
			}
		}
	}
	t.Logf("%d slow-body connections over %v; answered per kind: %v; %d legitimate rounds", len(results), attackTime, byKind, legitN)
	if len(legitErrs) > 0 {
		t.Errorf("legitimate requests during the attack: %d failures, first: %s", len(legitErrs), legitErrs[0])
	}
	if legitN == 0 {
		t.Error("no legitimate request completed during the attack")
	}
	if logs := w.logs.String(); strings.Contains(logs, `"level":"ERROR"`) {
		t.Errorf("wif logged an error during the attack:\n%s", tail(logs, 2000))
	}

	// HTTP/2: a slow body ends its own stream, and the connection serves on.
	t.Run("HTTP/2", func(t *testing.T) {
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}
		defer tr.CloseIdleConnections()
		hc := &http.Client{Transport: tr, Timeout: 30 * time.Second}
		pr, pw := io.Pipe()
		go func() {
			for {
				if _, err := pw.Write([]byte("a")); err != nil {
					return
				}
				time.Sleep(500 * time.Millisecond)
			}
		}()
		defer pw.Close()
		start := time.Now()
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, w.URL+"/"+tenant+"/oauth2/v2.0/token", pr)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if el := time.Since(start); resp.ProtoMajor != 2 || resp.StatusCode != 400 || aadstsCode(b) != "invalid_request/90023" || el > tokenTO+margin {
			t.Fatalf("slow HTTP/2 stream: %s %d %s after %v", resp.Proto, resp.StatusCode, b, el)
		}
		resp, err = hc.Get(w.URL + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.ProtoMajor != 2 {
			t.Fatalf("next stream: %s %d", resp.Proto, resp.StatusCode)
		}
	})
}

// isReset reports a connection reset by wif.
func isReset(err error) bool {
	var ne *net.OpError
	return errors.As(err, &ne) && strings.Contains(ne.Err.Error(), "reset")
}

// statusOf sends a request and returns its status, or the error.
func statusOf(c *http.Client, method, u, token, contentType, body string) string {
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		return err.Error()
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.Do(req)
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return fmt.Sprint(resp.StatusCode)
}

// doJSON sends a Key Vault request with a bearer token and returns the
// status.
func doJSON(t testing.TB, c *http.Client, method, u, token, body string) int {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Errorf("%s %s: %v", method, u, err)
		return 0
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}
