package e2e

import (
	"bytes"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// kubeTools finds kube-apiserver, kubectl and etcd: $KUBE_APISERVER,
// $KUBECTL, $ETCD, else the cache that scripts/kube-apiserver.sh builds.
func kubeTools(t *testing.T) (apiserver, kubectl, etcd string) {
	t.Helper()
	cache := os.Getenv("WIF_TOOLS_CACHE")
	if cache == "" {
		cache = filepath.Join(os.Getenv("HOME"), ".cache", "wif")
	}
	pick := func(env, def string) string {
		if v := os.Getenv(env); v != "" {
			return v
		}
		return def
	}
	apiserver = pick("KUBE_APISERVER", filepath.Join(cache, "kube-apiserver"))
	kubectl = pick("KUBECTL", filepath.Join(cache, "kubectl"))
	etcd = pick("ETCD", "/usr/bin/etcd")
	for _, p := range []string{apiserver, kubectl, etcd} {
		if _, err := os.Stat(p); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is required in CI (run scripts/kube-apiserver.sh build): %v", p, err)
			}
			t.Skipf("%s missing; run scripts/kube-apiserver.sh build", p)
		}
	}
	return apiserver, kubectl, etcd
}

// kubeCluster is a real etcd + kube-apiserver on loopback.
type kubeCluster struct {
	t          *testing.T
	dir        string
	apiserver  string
	kubectlBin string
	server     string
	token      string
	kubeconfig string
	etcdURL    string
	port       string
	api        *exec.Cmd
}

func startKube(t *testing.T, saFlags []string) *kubeCluster {
	t.Helper()
	apiserver, kubectl, etcd := kubeTools(t)
	dir := t.TempDir()
	k := &kubeCluster{t: t, dir: dir, apiserver: apiserver, kubectlBin: kubectl, token: fmt.Sprintf("tok%d", time.Now().UnixNano())}
	etcdPort, peerPort := freePort(t), freePort(t)
	k.etcdURL = "http://127.0.0.1:" + etcdPort
	e := exec.Command(etcd, "--name", "wif", "--data-dir", filepath.Join(dir, "etcd"),
		"--listen-client-urls", k.etcdURL, "--advertise-client-urls", k.etcdURL,
		"--listen-peer-urls", "http://127.0.0.1:"+peerPort, "--initial-advertise-peer-urls", "http://127.0.0.1:"+peerPort,
		"--initial-cluster", "wif=http://127.0.0.1:"+peerPort, "--logger", "zap", "--log-level", "warn")
	elog, _ := os.Create(filepath.Join(dir, "etcd.log"))
	e.Stdout, e.Stderr = elog, elog
	if err := e.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Process.Kill(); e.Wait() })
	os.WriteFile(filepath.Join(dir, "tokens.csv"), []byte(k.token+",wif-admin,wif-admin,system:masters\n"), 0o600)
	k.port = freePort(t)
	k.server = "https://127.0.0.1:" + k.port
	k.kubeconfig = filepath.Join(dir, "kubeconfig")
	os.WriteFile(k.kubeconfig, []byte(fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: wif-e2e
  cluster: {server: %q, insecure-skip-tls-verify: true}
users:
- name: admin
  user: {token: %q}
contexts:
- name: wif-e2e
  context: {cluster: wif-e2e, user: admin, namespace: default}
current-context: wif-e2e
`, k.server, k.token)), 0o600)
	k.startAPIServer(saFlags)
	t.Cleanup(k.stopAPIServer)
	return k
}

func (k *kubeCluster) startAPIServer(saFlags []string) {
	t := k.t
	t.Helper()
	args := append([]string{"--etcd-servers", k.etcdURL, "--bind-address", "127.0.0.1", "--advertise-address", "127.0.0.1",
		"--endpoint-reconciler-type", "none", "--secure-port", k.port, "--cert-dir", filepath.Join(k.dir, "certs"),
		"--token-auth-file", filepath.Join(k.dir, "tokens.csv"), "--authorization-mode", "RBAC",
		"--service-cluster-ip-range", "10.0.0.0/24"}, saFlags...)
	k.api = exec.Command(k.apiserver, args...)
	alog, _ := os.OpenFile(filepath.Join(k.dir, "kube-apiserver.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	k.api.Stdout, k.api.Stderr = alog, alog
	if err := k.api.Start(); err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	deadline := time.Now().Add(90 * time.Second)
	for {
		req, _ := http.NewRequest(http.MethodGet, k.server+"/readyz", nil)
		req.Header.Set("Authorization", "Bearer "+k.token)
		if resp, err := hc.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(filepath.Join(k.dir, "kube-apiserver.log"))
			t.Fatalf("kube-apiserver not ready:\n%s", tail(string(b), 3000))
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func (k *kubeCluster) stopAPIServer() {
	if k.api == nil || k.api.Process == nil {
		return
	}
	k.api.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { k.api.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		k.api.Process.Kill()
		<-done
	}
	k.api = nil
}

// kubectl runs the real kubectl against the cluster.
func (k *kubeCluster) kubectl(stdin string, args ...string) (string, error) {
	cmd := exec.Command(k.kubectlBin, append([]string{"--kubeconfig", k.kubeconfig}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("kubectl %s: %v: %s", strings.Join(args, " "), err, errb.String())
	}
	return out.String(), nil
}

func (k *kubeCluster) mustKubectl(stdin string, args ...string) string {
	k.t.Helper()
	out, err := k.kubectl(stdin, args...)
	if err != nil {
		k.t.Fatal(err)
	}
	return out
}

// podEnv returns the env of a pod's first container, from the API server.
type podView struct {
	Spec struct {
		ServiceAccountName string `json:"serviceAccountName"`
		InitContainers     []containerView
		Containers         []containerView
		Volumes            []struct {
			Name      string `json:"name"`
			Projected *struct {
				Sources []struct {
					ServiceAccountToken *struct {
						Audience          string `json:"audience"`
						ExpirationSeconds int64  `json:"expirationSeconds"`
						Path              string `json:"path"`
					} `json:"serviceAccountToken"`
				} `json:"sources"`
			} `json:"projected"`
		} `json:"volumes"`
	} `json:"spec"`
}

type containerView struct {
	Name string `json:"name"`
	Env  []struct {
		Name  string `json:"name"`
		Value string `json:"value"`
	} `json:"env"`
	VolumeMounts []struct {
		Name      string `json:"name"`
		MountPath string `json:"mountPath"`
		ReadOnly  bool   `json:"readOnly"`
	} `json:"volumeMounts"`
}

func (c containerView) env() map[string]string {
	m := map[string]string{}
	for _, e := range c.Env {
		m[e.Name] = e.Value
	}
	return m
}

func (k *kubeCluster) pod(name string) podView {
	k.t.Helper()
	var p podView
	if err := json.Unmarshal([]byte(k.mustKubectl("", "get", "pod", name, "-o", "json")), &p); err != nil {
		k.t.Fatal(err)
	}
	return p
}

func podYAML(name, sa string, labelled bool, extra string) string {
	labels := ""
	if labelled {
		labels = `  labels:
    azure.workload.identity/use: "true"
`
	}
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %s
%sspec:
  serviceAccountName: %s
  initContainers:
  - name: init
    image: busybox
    command: ["true"]
  containers:
  - name: app
    image: busybox
    env:
    - name: USER_SETTING
      value: kept
%s`, name, labels, sa, extra)
}

const tokenPath = "/var/run/secrets/azure/tokens/azure-identity-token"

// TestSeedGuideOnKubernetes runs the seed guide's five steps with wif in
// place of az and kubectl against a real kube-apiserver whose service-account
// issuer is wif, with wif's webhook mutating real pods and an unmodified
// azidentity workload exchanging the pod's token.
func TestSeedGuideOnKubernetes(t *testing.T) {
	_, _, _ = kubeTools(t)
	w := startWif(t)
	b := w.Boot

	// 1. Enable OIDC and workload identity on the cluster.
	w.cli(t, "group", "create", "-n", "myRG", "-l", "eastus")
	w.cli(t, "aks", "create", "-g", "myRG", "-n", "myCluster", "-o", "none")
	w.cli(t, "aks", "update", "-g", "myRG", "-n", "myCluster", "--enable-oidc-issuer", "--enable-workload-identity", "-o", "none")
	// 2. The issuer URL.
	issuer := strings.TrimSpace(w.cli(t, "aks", "show", "-n", "myCluster", "-g", "myRG", "--query", "oidcIssuerProfile.issuerUrl", "-o", "tsv"))
	if !strings.HasPrefix(issuer, w.URL+"/oidc/") || !strings.HasSuffix(issuer, "/") {
		t.Fatalf("issuer URL = %q", issuer)
	}
	keyDir := t.TempDir()
	flags := strings.Fields(w.cli(t, "aks", "oidc-issuer", "export-keys", "-g", "myRG", "-n", "myCluster", "--dir", keyDir))
	if len(flags) != 3 || flags[0] != "--service-account-issuer="+issuer {
		t.Fatalf("export-keys flags = %v", flags)
	}
	k := startKube(t, append(flags, "--api-audiences="+issuer))

	// The webhook, outside the cluster, registered with failurePolicy Fail.
	certDir := t.TempDir()
	whPort := freePort(t)
	whURL := "https://127.0.0.1:" + whPort + "/mutate-v1-pod"
	w.cli(t, "webhook", "install", "--url", whURL, "--cert-dir", certDir, "--tenant-id", b.TenantID,
		"--authority-host", b.AuthorityHost, "--apply", "--kubeconfig", k.kubeconfig)
	wh := exec.Command(filepath.Join(binDir, "wif"), "webhook", "--listen", "127.0.0.1:"+whPort,
		"--tls-cert-file", filepath.Join(certDir, "tls.crt"), "--tls-private-key-file", filepath.Join(certDir, "tls.key"),
		"--tenant-id", b.TenantID, "--authority-host", b.AuthorityHost, "--kubeconfig", k.kubeconfig)
	whLog := &syncBuffer{}
	wh.Stdout, wh.Stderr = whLog, whLog
	if err := wh.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { wh.Process.Signal(os.Interrupt); wh.Wait() })
	whClient := clientTrusting(t, filepath.Join(certDir, "ca.crt"))
	for deadline := time.Now().Add(30 * time.Second); ; {
		resp, err := whClient.Get("https://127.0.0.1:" + whPort + "/readyz")
		if err == nil && resp.StatusCode == 200 {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("webhook not ready: %v\n%s", err, whLog.String())
		}
		time.Sleep(100 * time.Millisecond)
	}

	// 3. The managed identity.
	w.cli(t, "identity", "create", "--name", "my-app-identity", "--resource-group", "myRG", "-o", "none")
	// 4. The service account, annotated with the identity's client id.
	clientID := strings.TrimSpace(w.cli(t, "identity", "show", "--name", "my-app-identity", "--resource-group", "myRG", "--query", "clientId", "-o", "tsv"))
	k.mustKubectl("", "create", "serviceaccount", "my-app-sa")
	k.mustKubectl("", "annotate", "serviceaccount", "my-app-sa", "azure.workload.identity/client-id="+clientID)
	// 5. Federate.
	w.cli(t, "identity", "federated-credential", "create", "--name", "my-federated-id", "--identity-name", "my-app-identity",
		"--resource-group", "myRG", "--issuer", issuer, "--subject", "system:serviceaccount:default:my-app-sa", "-o", "none")

	// A labelled pod is mutated.
	k.mustKubectl(podYAML("app", "my-app-sa", true, ""), "apply", "-f", "-")
	p := k.pod("app")
	for _, c := range append(p.Spec.InitContainers, p.Spec.Containers...) {
		env := c.env()
		want := map[string]string{"AZURE_CLIENT_ID": clientID, "AZURE_TENANT_ID": b.TenantID,
			"AZURE_FEDERATED_TOKEN_FILE": tokenPath, "AZURE_AUTHORITY_HOST": b.AuthorityHost}
		for name, v := range want {
			if env[name] != v {
				t.Errorf("container %s: %s = %q, want %q", c.Name, name, env[name], v)
			}
		}
		mounted := false
		for _, m := range c.VolumeMounts {
			if m.Name == "azure-identity-token" && m.MountPath == "/var/run/secrets/azure/tokens" && m.ReadOnly {
				mounted = true
			}
		}
		if !mounted {
			t.Errorf("container %s lacks the read-only token mount", c.Name)
		}
	}
	if env := p.Spec.Containers[0].env(); env["USER_SETTING"] != "kept" {
		t.Errorf("user env lost: %v", env)
	}
	var tokenVol bool
	for _, v := range p.Spec.Volumes {
		if v.Name == "azure-identity-token" && v.Projected != nil {
			for _, s := range v.Projected.Sources {
				if s.ServiceAccountToken != nil && s.ServiceAccountToken.Audience == "api://AzureADTokenExchange" &&
					s.ServiceAccountToken.ExpirationSeconds == 3600 && s.ServiceAccountToken.Path == "azure-identity-token" {
					tokenVol = true
				}
			}
		}
	}
	if !tokenVol {
		t.Errorf("no projected azure-identity-token volume: %+v", p.Spec.Volumes)
	}

	// A pod without the label is untouched.
	k.mustKubectl(podYAML("plain", "my-app-sa", false, ""), "apply", "-f", "-")
	if env := k.pod("plain").Spec.Containers[0].env(); env["AZURE_CLIENT_ID"] != "" {
		t.Errorf("unlabelled pod was mutated: %v", env)
	}
	// A pod whose service account is missing is denied with a clear message.
	if out, err := k.kubectl(podYAML("orphan", "missing-sa", true, ""), "apply", "-f", "-"); err == nil ||
		!strings.Contains(err.Error(), "missing-sa") || !strings.Contains(err.Error(), "not found") {
		t.Errorf("pod with a missing service account: %v %s", err, out)
	}

	// Kubelet stand-in: request the pod-bound token with the volume's
	// audience and expiry, and write it where the pod would see it.
	writeToken := func(sa, pod string) string {
		t.Helper()
		tok := strings.TrimSpace(k.mustKubectl("", "create", "token", sa, "--audience", "api://AzureADTokenExchange",
			"--duration", "3600s", "--bound-object-kind", "Pod", "--bound-object-name", pod))
		path := tokenPath
		if os.MkdirAll(filepath.Dir(path), 0o755) != nil || os.WriteFile(path, []byte(tok), 0o644) != nil {
			// Not root: keep the same file name under a temporary directory.
			path = filepath.Join(t.TempDir(), "azure-identity-token")
			os.WriteFile(path, []byte(tok), 0o644)
		}
		return path
	}
	runPodWorkload := func(c containerView, path string) (string, error) {
		env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "SSL_CERT_FILE=" + b.CAFile}
		for name, v := range c.env() {
			if name == "AZURE_FEDERATED_TOKEN_FILE" {
				v = path
			}
			env = append(env, name+"="+v)
		}
		cmd := exec.Command(filepath.Join(binDir, "workload"), "-scope", "https://vault.localhost:8443/.default")
		cmd.Env = env
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			return "", fmt.Errorf("%v: %s", err, errb.String())
		}
		return strings.TrimSpace(out.String()), nil
	}

	// The workload, given exactly the injected environment, gets a token.
	path := writeToken("my-app-sa", "app")
	if _, err := runPodWorkload(p.Spec.Containers[0], path); err != nil {
		t.Fatalf("workload: %v", err)
	}

	// Negative: a service account whose identity has no federated credential.
	w.cli(t, "identity", "create", "--name", "lonely-identity", "--resource-group", "myRG", "-o", "none")
	lonelyID := strings.TrimSpace(w.cli(t, "identity", "show", "--name", "lonely-identity", "--resource-group", "myRG", "--query", "clientId", "-o", "tsv"))
	k.mustKubectl("", "create", "serviceaccount", "lonely-sa")
	k.mustKubectl("", "annotate", "serviceaccount", "lonely-sa", "azure.workload.identity/client-id="+lonelyID)
	k.mustKubectl(podYAML("lonely", "lonely-sa", true, ""), "apply", "-f", "-")
	lp := k.pod("lonely")
	_, err := runPodWorkload(lp.Spec.Containers[0], writeToken("lonely-sa", "lonely"))
	if err == nil || !strings.Contains(err.Error(), "AADSTS70021") || !strings.Contains(err.Error(), "Assertion Issuer: '"+issuer+"'") ||
		!strings.Contains(err.Error(), "system:serviceaccount:default:lonely-sa") || !strings.Contains(err.Error(), "api://AzureADTokenExchange") {
		t.Errorf("workload without a credential: %v", err)
	}
	explain, err := w.tryCLI("explain", "--namespace", "default", "--service-account", "lonely-sa", "--pod", "lonely",
		"--identity", "lonely-identity", "-g", "myRG", "--kubeconfig", k.kubeconfig)
	if err == nil || !strings.Contains(explain, "no federated credentials") || !strings.Contains(explain, "--subject \"system:serviceaccount:default:lonely-sa\"") {
		t.Errorf("wif explain did not name the cause (err=%v):\n%s", err, explain)
	}
	if out, err := w.tryCLI("explain", "--namespace", "default", "--service-account", "my-app-sa", "--pod", "app",
		"--identity", "my-app-identity", "-g", "myRG", "--kubeconfig", k.kubeconfig); err != nil || !strings.Contains(out, "will succeed") {
		t.Errorf("wif explain for a working setup (err=%v):\n%s", err, out)
	}

	// wif federate does steps 3-5 in one idempotent command.
	k.mustKubectl("", "create", "namespace", "team")
	fed := []string{"federate", "--kubeconfig", k.kubeconfig, "--cluster", "myCluster", "-g", "myRG", "--namespace", "team",
		"--service-account", "fed-sa", "--identity", "fed-identity", "--role", "Reader",
		"--scope", "/subscriptions/" + b.SubscriptionID + "/resourceGroups/myRG", "-o", "json"}
	out1 := w.cli(t, fed...)
	out2 := w.cli(t, fed...)
	if out1 != out2 {
		t.Errorf("federate is not idempotent:\n%s\n%s", out1, out2)
	}
	if fics := w.cli(t, "identity", "federated-credential", "list", "--identity-name", "fed-identity", "-g", "myRG", "--query", "length(@)"); strings.TrimSpace(fics) != "1" {
		t.Errorf("federate twice made %s credentials", fics)
	}
	k.mustKubectl(podYAML("fedpod", "fed-sa", true, ""), "apply", "-f", "-", "-n", "team")
	var fp podView
	json.Unmarshal([]byte(k.mustKubectl("", "get", "pod", "fedpod", "-n", "team", "-o", "json")), &fp)
	tok := strings.TrimSpace(k.mustKubectl("", "create", "token", "fed-sa", "-n", "team", "--audience", "api://AzureADTokenExchange"))
	fedPath := filepath.Join(t.TempDir(), "token")
	os.WriteFile(fedPath, []byte(tok), 0o644)
	if _, err := runPodWorkload(fp.Spec.Containers[0], fedPath); err != nil {
		t.Errorf("workload after wif federate: %v", err)
	}

	// A rotated cluster key keeps working through the overlap window: a
	// token signed by the old key still exchanges; after re-exporting the
	// keys and restarting kube-apiserver, new tokens use the new key.
	oldPath := writeToken("my-app-sa", "app")
	oldKID := kidOf(t, readFile(t, oldPath))
	w.cli(t, "aks", "oidc-issuer", "rotate-signing-keys", "-g", "myRG", "-n", "myCluster", "--yes")
	if _, err := runPodWorkload(p.Spec.Containers[0], oldPath); err != nil {
		t.Errorf("token signed by the rotated-out key: %v", err)
	}
	flags = strings.Fields(w.cli(t, "aks", "oidc-issuer", "export-keys", "-g", "myRG", "-n", "myCluster", "--dir", keyDir))
	k.stopAPIServer()
	k.startAPIServer(append(flags, "--api-audiences="+issuer))
	newPath := writeToken("my-app-sa", "app")
	if _, err := runPodWorkload(p.Spec.Containers[0], newPath); err != nil {
		t.Errorf("token signed by the new key: %v", err)
	}
	if oldKID == kidOf(t, readFile(t, newPath)) {
		t.Error("kube-apiserver still signs with the old key after rotation")
	}

	// wif itself as replicas in the cluster: the real API server accepts
	// every object "wif serve install" renders (server-side dry run).
	k.mustKubectl("", "create", "namespace", "wif-system")
	manifests := w.cli(t, "serve", "install", "--image", "registry.example/wif:v1", "--public-url", "https://wif.example.com",
		"--with-shared-files", "--data-dir", w.DataDir, "--dsn", "postgres://wif:secret@db.example:5432/wif?sslmode=verify-full")
	out := k.mustKubectl(manifests, "apply", "--dry-run=server", "-f", "-")
	for _, want := range []string{"deployment.apps/wif", "poddisruptionbudget.policy/wif", "service/wif", "secret/wif-shared", "secret/wif-store"} {
		if !strings.Contains(out, want) {
			t.Errorf("kubectl apply --dry-run=server of wif serve install: no %s in\n%s", want, out)
		}
	}
}

func readFile(t *testing.T, p string) string {
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func kidOf(t *testing.T, jwt string) string {
	var h struct {
		KID string `json:"kid"`
	}
	parts := strings.Split(strings.TrimSpace(jwt), ".")
	b, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		t.Fatal(err)
	}
	json.Unmarshal(b, &h)
	return h.KID
}
