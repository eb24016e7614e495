package e2e

// Helpers of the Key Vault end-to-end tests (keyvault_test.go): vault host
// name resolution, the examples/keyvault and test/js workloads, principals
// with federated credentials and roles, and raw data-plane HTTP.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// Role names as Azure spells them.
const (
	kvRoleSecretsUser    = "Key Vault Secrets User"
	kvRoleSecretsOfficer = "Key Vault Secrets Officer"
	kvRoleReader         = "Key Vault Reader"
	kvRoleAdministrator  = "Key Vault Administrator"
)

// kvHostsFile is where kvEnsureHosts adds vault host names.
const kvHostsFile = "/etc/hosts"

var kvHostsMu sync.Mutex

// kvEnsureHosts makes NAME.vault.localhost resolve to 127.0.0.1 for every
// vault name: "*.localhost" does not resolve through glibc, Go or Node on
// a stock Debian machine, and the SDKs need real vault host names (the
// challenge resource must be a parent domain of the vault host). Missing
// names are appended to /etc/hosts (CI runs as root); if it is not
// writable, names that already resolve to a loopback address (e.g. through
// a wildcard DNS record) are accepted, and anything else fails the test
// with the lines to add.
func kvEnsureHosts(t testing.TB, vaults ...string) {
	t.Helper()
	kvHostsMu.Lock()
	defer kvHostsMu.Unlock()
	have := kvHostsEntries(t)
	var missing []string
	for _, v := range vaults {
		h := strings.ToLower(v) + ".vault.localhost"
		switch addr, ok := have[h]; {
		case !ok:
			missing = append(missing, h)
		case addr != "127.0.0.1":
			t.Fatalf("%s maps %s to %s; the tests need 127.0.0.1 (wif listens there)", kvHostsFile, h, addr)
		}
	}
	if len(missing) == 0 {
		return
	}
	var lines strings.Builder
	for _, h := range missing {
		fmt.Fprintf(&lines, "127.0.0.1 %s # wif e2e\n", h)
	}
	f, err := os.OpenFile(kvHostsFile, os.O_WRONLY|os.O_APPEND, 0)
	if err == nil {
		// Keep the file's last line terminated before appending.
		if b, rerr := os.ReadFile(kvHostsFile); rerr == nil && len(b) > 0 && b[len(b)-1] != '\n' {
			f.WriteString("\n")
		}
		_, err = f.WriteString(lines.String())
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			return
		}
	}
	// Not writable: accept names that already resolve to loopback.
	var unresolved []string
	for _, h := range missing {
		addrs, lerr := net.DefaultResolver.LookupHost(context.Background(), h)
		ok := lerr == nil && len(addrs) > 0
		for _, a := range addrs {
			if ip := net.ParseIP(a); ip == nil || !ip.IsLoopback() {
				ok = false
			}
		}
		if !ok {
			unresolved = append(unresolved, h)
		}
	}
	if len(unresolved) > 0 {
		t.Fatalf("vault host names %v do not resolve and %s is not writable (%v).\n"+
			"Run the tests as root (as .ci/run does), or add these lines to %s:\n%s",
			unresolved, kvHostsFile, err, kvHostsFile, lines.String())
	}
}

// kvHostsEntries maps each lower-case host name in /etc/hosts to its
// first address.
func kvHostsEntries(t testing.TB) map[string]string {
	t.Helper()
	b, err := os.ReadFile(kvHostsFile)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("read %s: %v", kvHostsFile, err)
	}
	m := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		line, _, _ = strings.Cut(line, "#")
		f := strings.Fields(line)
		for _, h := range f[min(1, len(f)):] {
			if _, ok := m[strings.ToLower(h)]; !ok {
				m[strings.ToLower(h)] = f[0]
			}
		}
	}
	return m
}

var (
	kvBuildOnce sync.Once
	kvBuildErr  error
)

// kvBinary builds examples/keyvault into the e2e binary directory once.
func kvBinary(t testing.TB) string {
	t.Helper()
	kvBuildOnce.Do(func() {
		cmd := exec.Command("go", "build", "-o", binDir+"/", "./examples/keyvault")
		cmd.Dir = "../.."
		if out, err := cmd.CombinedOutput(); err != nil {
			kvBuildErr = fmt.Errorf("build examples/keyvault: %v\n%s", err, out)
		}
	})
	if kvBuildErr != nil {
		t.Fatal(kvBuildErr)
	}
	return filepath.Join(binDir, "keyvault")
}

var (
	kvNodeOnce sync.Once
	kvNodeErr  error
	kvNodeSkip string
)

// kvJSDir is test/js, relative to this package.
const kvJSDir = "../js"

// kvNode returns the node binary after making sure test/js's dependencies
// are installed (npm ci from the committed package-lock.json when
// node_modules is missing). Without node or npm the test is skipped,
// except with CI=true, where that fails it.
func kvNode(t testing.TB) string {
	t.Helper()
	kvNodeOnce.Do(func() {
		for _, tool := range []string{"node", "npm"} {
			if _, err := exec.LookPath(tool); err != nil {
				kvNodeSkip = tool + " not installed (Debian: apt-get install nodejs npm; Node >= 20)"
				return
			}
		}
		if _, err := os.Stat(filepath.Join(kvJSDir, "node_modules", ".package-lock.json")); err != nil {
			cmd := exec.Command("npm", "ci", "--no-audit", "--no-fund")
			cmd.Dir = kvJSDir
			if out, err := cmd.CombinedOutput(); err != nil {
				kvNodeErr = fmt.Errorf("npm ci in test/js: %v\n%s", err, out)
				return
			}
		}
		// The pinned versions are what is installed.
		for pkg, want := range map[string]string{"@azure/identity": "4.13.1", "@azure/keyvault-secrets": "4.11.2"} {
			b, err := os.ReadFile(filepath.Join(kvJSDir, "node_modules", pkg, "package.json"))
			var m struct{ Version string }
			if err != nil || json.Unmarshal(b, &m) != nil || m.Version != want {
				kvNodeErr = fmt.Errorf("test/js/node_modules/%s is %q, want %s (run npm ci in test/js): %v", pkg, m.Version, want, err)
				return
			}
		}
	})
	if kvNodeSkip != "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true: %s", kvNodeSkip)
		}
		t.Skip(kvNodeSkip)
	}
	if kvNodeErr != nil {
		t.Fatal(kvNodeErr)
	}
	p, _ := exec.LookPath("node")
	return p
}

// kvEnv is a wif server, a test OIDC issuer it trusts, and one resource
// group for vaults and identities.
type kvEnv struct {
	w      *wifProc
	iss    *issuer
	tenant string
	sub    string
	port   string
	rg     string
	raw    *http.Client // dials 127.0.0.1 whatever the host name
}

func kvStart(t *testing.T) *kvEnv {
	t.Helper()
	iss := newIssuer(t)
	w := startWif(t, "--extra-ca-file", iss.CAFile)
	u, err := url.Parse(w.URL)
	if err != nil {
		t.Fatal(err)
	}
	e := &kvEnv{w: w, iss: iss, tenant: w.Boot.TenantID, sub: w.Boot.SubscriptionID, port: u.Port(), rg: "kvRG"}
	e.raw = kvLoopbackClient(t, w.Boot.CAFile, e.port)
	w.cli(t, "group", "create", "-n", e.rg, "-l", "eastus")
	return e
}

// kvLoopbackClient is an HTTPS client trusting caFile that connects every
// request to 127.0.0.1:port, so raw requests need no name resolution and
// can carry any Host.
func kvLoopbackClient(t testing.TB, caFile, port string) *http.Client {
	pemBytes, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemBytes)
	d := &net.Dialer{Timeout: 10 * time.Second}
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: pool},
		MaxIdleConnsPerHost: 16,
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, "127.0.0.1:"+port)
		},
	}}
}

func (e *kvEnv) vaultHost(name string) string { return name + ".vault.localhost:" + e.port }
func (e *kvEnv) vaultURL(name string) string  { return "https://" + e.vaultHost(name) + "/" }
func (e *kvEnv) resource() string             { return "https://vault.localhost:" + e.port }
func (e *kvEnv) groupScope(rg string) string {
	return "/subscriptions/" + e.sub + "/resourceGroups/" + rg
}
func (e *kvEnv) vaultScope(rg, name string) string {
	return e.groupScope(rg) + "/providers/Microsoft.KeyVault/vaults/" + name
}

// createVault creates a vault with the wif CLI and checks its vaultUri.
func (e *kvEnv) createVault(t *testing.T, rg, name string) {
	t.Helper()
	v := jsonObject(t, e.w.cli(t, "keyvault", "create", "-n", name, "-g", rg))
	props, _ := v["properties"].(map[string]any)
	if props["vaultUri"] != e.vaultURL(name) {
		t.Fatalf("vaultUri = %v, want %s", props["vaultUri"], e.vaultURL(name))
	}
}

// kvPrincipal is a managed identity a workload signs in as, with a
// federated credential for the test issuer and a service-account token
// file that matches it.
type kvPrincipal struct {
	name      string
	clientID  string
	objectID  string
	tokenFile string
}

// identity creates a managed identity federated with the test issuer for
// system:serviceaccount:kv:NAME and writes a matching token file.
func (e *kvEnv) identity(t *testing.T, name string) kvPrincipal {
	t.Helper()
	var id struct{ ClientID, PrincipalID string }
	if err := json.Unmarshal([]byte(e.w.cli(t, "identity", "create", "-n", name, "-g", e.rg)), &id); err != nil || id.ClientID == "" {
		t.Fatalf("identity create %s: %v", name, err)
	}
	e.w.cli(t, "identity", "federated-credential", "create", "--name", "kv-fic", "--identity-name", name, "-g", e.rg,
		"--issuer", e.iss.URL, "--subject", "system:serviceaccount:kv:"+name)
	file := filepath.Join(t.TempDir(), name+"-token")
	if err := os.WriteFile(file, []byte(e.iss.mint(t, e.iss.saClaims("kv", name, time.Now()))), 0o600); err != nil {
		t.Fatal(err)
	}
	return kvPrincipal{name: name, clientID: id.ClientID, objectID: id.PrincipalID, tokenFile: file}
}

// assign gives p a role at scope with the wif CLI.
func (e *kvEnv) assign(t *testing.T, principalID, role, scope string) {
	t.Helper()
	e.w.cli(t, "role", "assignment", "create", "--assignee-object-id", principalID,
		"--assignee-principal-type", "ServicePrincipal", "--role", role, "--scope", scope)
}

// token gets an access token for p from wif's token endpoint, with the
// scope the Key Vault challenge leads the SDKs to (or another).
func (e *kvEnv) token(t testing.TB, p kvPrincipal, scope string) string {
	t.Helper()
	assertion, err := os.ReadFile(p.tokenFile)
	if err != nil {
		t.Fatal(err)
	}
	tr := e.w.postToken(t, e.tenant, url.Values{
		"grant_type": {"client_credentials"}, "client_id": {p.clientID}, "scope": {scope},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
		"client_assertion":      {string(assertion)},
	})
	if tr.Status != 200 || tr.AccessToken == "" {
		t.Fatalf("token for %s: %d %s", p.name, tr.Status, tr.Description)
	}
	return tr.AccessToken
}

// adminToken is the bootstrap admin's access token for scope, and its
// object id.
func (e *kvEnv) adminToken(t testing.TB, scope string) (string, string) {
	t.Helper()
	tr := e.w.postToken(t, e.tenant, url.Values{"grant_type": {"client_credentials"}, "client_id": {e.w.Boot.ClientID},
		"client_secret": {e.w.Boot.ClientSecret}, "scope": {scope}})
	if tr.Status != 200 {
		t.Fatalf("admin token: %d %s", tr.Status, tr.Description)
	}
	return tr.AccessToken, kvClaims(t, tr.AccessToken)["oid"].(string)
}

// kvClaims decodes a JWT's payload without verifying it.
func kvClaims(t testing.TB, jwt string) map[string]any {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT")
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	var m map[string]any
	if err != nil || json.Unmarshal(b, &m) != nil {
		t.Fatalf("JWT payload does not decode: %v", err)
	}
	return m
}

// workloadEnv is the environment the workload identity webhook injects,
// plus the CA trust of Go and Node and the vault URL.
func (e *kvEnv) workloadEnv(t testing.TB, p kvPrincipal, vault string) []string {
	return []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(),
		"AZURE_CLIENT_ID=" + p.clientID, "AZURE_TENANT_ID=" + e.tenant,
		"AZURE_FEDERATED_TOKEN_FILE=" + p.tokenFile, "AZURE_AUTHORITY_HOST=" + e.w.Boot.AuthorityHost,
		"SSL_CERT_FILE=" + e.w.Boot.CAFile, "NODE_EXTRA_CA_CERTS=" + e.w.Boot.CAFile,
		"AZURE_KEYVAULT_URL=" + vault,
	}
}

// kvGo runs one examples/keyvault command and decodes its JSON output
// (an {"error":…} object when the call failed).
func (e *kvEnv) kvGo(t *testing.T, p kvPrincipal, vault string, args ...string) map[string]any {
	t.Helper()
	cmd := exec.Command(kvBinary(t), args...)
	cmd.Env = e.workloadEnv(t, p, vault)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var m map[string]any
	if jerr := json.Unmarshal(stdout.Bytes(), &m); jerr != nil {
		t.Fatalf("keyvault %v: %v; output is not JSON: %v\nstdout: %s\nstderr: %s", args, err, jerr, stdout.String(), stderr.String())
	}
	if _, failed := m["error"]; failed != (err != nil) {
		t.Fatalf("keyvault %v: exit %v but output %s\nstderr: %s", args, err, stdout.String(), stderr.String())
	}
	return m
}

// kvSession is one examples/keyvault process in batch mode: one client,
// one token, one command per call.
type kvSession struct {
	t      *testing.T
	cmd    *exec.Cmd
	in     io.WriteCloser
	out    *bufio.Scanner
	stderr *syncBuffer
}

func (e *kvEnv) session(t *testing.T, p kvPrincipal, vault string) *kvSession {
	t.Helper()
	s := &kvSession{t: t, stderr: &syncBuffer{}}
	s.cmd = exec.Command(kvBinary(t), "-timeout", "5m", "batch")
	s.cmd.Env = e.workloadEnv(t, p, vault)
	s.cmd.Stderr = s.stderr
	var err error
	if s.in, err = s.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	s.out = bufio.NewScanner(stdout)
	s.out.Buffer(make([]byte, 0, 1<<20), 64<<20)
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.in.Close()
		done := make(chan error, 1)
		go func() { done <- s.cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			s.cmd.Process.Kill()
			<-done
		}
	})
	return s
}

// do runs one command line and returns its JSON result.
func (s *kvSession) do(args ...string) map[string]any {
	s.t.Helper()
	if _, err := fmt.Fprintln(s.in, strings.Join(args, " ")); err != nil {
		s.t.Fatalf("keyvault batch %v: %v; stderr: %s", args, err, s.stderr.String())
	}
	if !s.out.Scan() {
		s.t.Fatalf("keyvault batch %v: no output (%v); stderr: %s", args, s.out.Err(), s.stderr.String())
	}
	var m map[string]any
	if err := json.Unmarshal(s.out.Bytes(), &m); err != nil {
		s.t.Fatalf("keyvault batch %v: output is not JSON: %v: %s", args, err, s.out.Text())
	}
	return m
}

// ok runs a command that must succeed.
func (s *kvSession) ok(args ...string) map[string]any {
	s.t.Helper()
	m := s.do(args...)
	if e, failed := m["error"]; failed {
		s.t.Fatalf("keyvault %v failed: %v", args, e)
	}
	return m
}

// fails runs a command that must fail with status and code.
func (s *kvSession) fails(status int, code string, args ...string) map[string]any {
	s.t.Helper()
	m := s.do(args...)
	e, _ := m["error"].(map[string]any)
	if e == nil {
		s.t.Errorf("keyvault %v succeeded, want %d %s: %v", args, status, code, m)
		return m
	}
	if kvNum(e["status"]) != int64(status) || e["code"] != code {
		s.t.Errorf("keyvault %v: error %v %v (%v), want %d %s", args, e["status"], e["code"], e["message"], status, code)
	}
	return e
}

// kvResp is a raw data-plane answer.
type kvResp struct {
	Status int
	Header http.Header
	Body   []byte
}

// errorCode returns the Key Vault error's code and inner code, failing the
// test if the body is not Key Vault's JSON error shape.
func (r kvResp) errorCode(t testing.TB) (code, inner string) {
	t.Helper()
	var b struct {
		Error *struct {
			Code       string `json:"code"`
			Message    string `json:"message"`
			InnerError *struct {
				Code string `json:"code"`
			} `json:"innererror"`
		} `json:"error"`
	}
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") || json.Unmarshal(r.Body, &b) != nil ||
		b.Error == nil || b.Error.Code == "" || b.Error.Message == "" {
		t.Errorf("%d answer is not a Key Vault error (Content-Type %q): %s", r.Status, r.Header.Get("Content-Type"), kvShort(r.Body))
		return "", ""
	}
	if b.Error.InnerError != nil {
		inner = b.Error.InnerError.Code
	}
	return b.Error.Code, inner
}

func (r kvResp) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("%d answer is not JSON: %s", r.Status, kvShort(r.Body))
	}
	return m
}

func kvShort(b []byte) string {
	if len(b) > 400 {
		return string(b[:400]) + "..."
	}
	return string(b)
}

// do sends a raw request to host (a vault host[:port], or anything) with
// an optional bearer token; path carries its own query.
func (e *kvEnv) do(t testing.TB, host, token, method, path string, body []byte) kvResp {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, "https://"+e.vaultHost("x")+"/", rd)
	if err != nil {
		t.Fatal(err)
	}
	// The path goes on the wire as written, even when it is not valid.
	p, q, _ := strings.Cut(path, "?")
	req.URL.Opaque, req.URL.RawQuery = p, q
	req.Host = host
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := e.raw.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return kvResp{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// kvSnapshot is a vault's observable state: every secret with its
// versions and attributes, and every deleted secret.
func (e *kvEnv) snapshot(t testing.TB, vault, token string) []string {
	t.Helper()
	host := e.vaultHost(vault)
	var out []string
	list := func(path string) []map[string]any {
		var items []map[string]any
		next := path
		for next != "" {
			r := e.do(t, host, token, http.MethodGet, next, nil)
			if r.Status != 200 {
				t.Fatalf("snapshot GET %s: %d %s", next, r.Status, kvShort(r.Body))
			}
			var page struct {
				Value    []map[string]any `json:"value"`
				NextLink *string          `json:"nextLink"`
			}
			if err := json.Unmarshal(r.Body, &page); err != nil {
				t.Fatal(err)
			}
			items = append(items, page.Value...)
			next = ""
			if page.NextLink != nil && *page.NextLink != "" {
				u, err := url.Parse(*page.NextLink)
				if err != nil {
					t.Fatal(err)
				}
				next = u.RequestURI()
			}
		}
		return items
	}
	for _, s := range list("/secrets?api-version=7.6") {
		id, _ := s["id"].(string)
		name := id[strings.LastIndex(id, "/")+1:]
		for _, v := range list("/secrets/" + name + "/versions?api-version=7.6") {
			b, _ := json.Marshal(v)
			out = append(out, string(b))
		}
	}
	for _, d := range list("/deletedsecrets?api-version=7.6") {
		b, _ := json.Marshal(d)
		out = append(out, "deleted "+string(b))
	}
	slices.Sort(out)
	return out
}

// kvNum reads a JSON number.
func kvNum(v any) int64 {
	f, _ := v.(float64)
	return int64(f)
}

func kvStr(v any) string { s, _ := v.(string); return s }

func kvMap(v any) map[string]any { m, _ := v.(map[string]any); return m }
