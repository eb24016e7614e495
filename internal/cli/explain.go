package cli

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/wifproject/wif/internal/federation"
	"github.com/wifproject/wif/internal/oidc"
)

// finding is one line of an explanation.
type finding struct {
	Check  string `json:"check"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
	Fix    string `json:"fix,omitempty"`
}

type explanation struct {
	Issuer   string    `json:"issuer"`
	Subject  string    `json:"subject"`
	Audience []string  `json:"audience"`
	Verdict  string    `json:"verdict"`
	Findings []finding `json:"findings"`
}

func (x *explanation) add(check string, ok bool, detail, fix string) {
	x.Findings = append(x.Findings, finding{Check: check, OK: ok, Detail: detail, Fix: fix})
}

func (e *env) explainCmd() *cobra.Command {
	var kf kubeFlags
	var tokenFile, ns, sa, pod, identity, rg string
	c := &cobra.Command{
		Use:   "explain",
		Short: "Explain why a token would or would not be exchanged for an identity, and how to fix it",
		Long: `Explain an exchange before (or after) it fails. Given a token — a file, or one minted through the
TokenRequest API for --namespace/--service-account — and an identity, it decodes the claims, checks that
the issuer's discovery document and JWKS are reachable and that the signature verifies, compares the token
with every federated credential of the identity, checks the service account's annotation and (with --pod)
the pod's label and injected environment, and gives a verdict with the exact fix.`,
		Example: `  wif explain --namespace default --service-account my-app-sa --identity my-app-identity -g myRG
  wif explain --token-file /var/run/secrets/azure/tokens/azure-identity-token --identity my-app-identity -g myRG`,
		Args: cobra.NoArgs,
	}
	sub := subscriptionFlag(c)
	c.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := requireFlags(cmd, "identity", "resource-group"); err != nil {
			return err
		}
		if (tokenFile == "") == (sa == "") {
			return errors.New("give either --token-file, or --service-account (and --namespace) to mint a token")
		}
		ctx := cmd.Context()
		cl, err := e.client()
		if err != nil {
			return err
		}
		x := &explanation{}
		raw := ""
		if tokenFile != "" {
			b, err := os.ReadFile(tokenFile)
			if err != nil {
				return err
			}
			raw = strings.TrimSpace(string(b))
		} else {
			kc, err := kf.client()
			if err != nil {
				return err
			}
			if raw, err = mintToken(ctx, kc, ns, sa, federation.DefaultAudience, 3600); err != nil {
				x.add("service account", false, err.Error(), fmt.Sprintf("kubectl create serviceaccount %s -n %s", sa, ns))
				return e.report(cmd, x)
			}
		}
		a, err := oidc.Parse(raw)
		if err != nil {
			x.add("token", false, err.Error(), "pass the projected service-account token (a JWT), not a file path or a legacy secret token")
			return e.report(cmd, x)
		}
		cl2 := &a.Claims
		x.Issuer, x.Subject, x.Audience = cl2.Issuer, cl2.Subject, cl2.Audience
		x.add("claims", true, fmt.Sprintf("iss=%q sub=%q aud=%q exp=%s", cl2.Issuer, cl2.Subject, strings.Join(cl2.Audience, ","), cl2.Expiry.UTC().Format(time.RFC3339)), "")
		if err := oidc.CheckTime(cl2, time.Now(), oidc.TimeRules{}); err != nil {
			x.add("validity", false, err.Error(), "use the current projected token; the kubelet refreshes it at 80% of its lifetime (at most 24h)")
		} else {
			x.add("validity", true, "within its validity period and at most 25h long", "")
		}

		// The issuer's keys and the signature, fetched as wif fetches them.
		keys := oidc.NewKeySets(oidc.KeySetsConfig{Client: cl.http, Now: time.Now})
		key, err := keys.Key(ctx, cl2.Issuer, a.Header.KID)
		switch {
		case err != nil:
			x.add("issuer", false, fmt.Sprintf("discovery or JWKS of %s: %v", cl2.Issuer, err),
				"the issuer must serve {iss}/.well-known/openid-configuration and its jwks_uri over https to wif; for a wif cluster run 'wif aks oidc-issuer export-keys' and restart kube-apiserver with the printed flags")
		case a.Verify(key) != nil:
			x.add("signature", false, "the signature does not verify with the issuer's published keys",
				"kube-apiserver signs with a key wif does not publish: re-run 'wif aks oidc-issuer export-keys' after every rotation, or publish the cluster's own keys with 'wif aks oidc-issuer set-keys'")
		default:
			x.add("signature", true, "verified with key "+a.Header.KID+" from the issuer's JWKS", "")
		}

		// The identity and its credentials.
		idPath := identityPath(sub(cl), rg, identity)
		id, err := cl.do(ctx, http.MethodGet, idPath, nil)
		if err != nil {
			return err
		}
		clientID, _ := flatten(id)["clientId"].(string)
		items, err := cl.list(ctx, idPath+"/federatedIdentityCredentials")
		if err != nil {
			return err
		}
		var creds []federation.Credential
		for _, it := range flattenAll(items) {
			m := it.(map[string]any)
			spec := federation.Spec{Name: str(m["name"]), Issuer: str(m["issuer"]), Subject: str(m["subject"])}
			if auds, ok := m["audiences"].([]any); ok {
				for _, a := range auds {
					spec.Audiences = append(spec.Audiences, str(a))
				}
			}
			if cme, ok := m["claimsMatchingExpression"].(map[string]any); ok {
				spec.Expression = str(cme["value"])
			}
			if cred, err := federation.Validate(spec); err == nil {
				creds = append(creds, cred)
			}
		}
		res := federation.Match(federation.Presented{Issuer: cl2.Issuer, Subject: cl2.Subject, Audiences: cl2.Audience, Claim: cl2.Claim}, creds)
		fixFIC := fmt.Sprintf("wif identity federated-credential create --name %s --identity-name %s -g %s --issuer %q --subject %q",
			ficName("cluster", nsOf(cl2.Subject), saOf(cl2.Subject)), identity, rg, cl2.Issuer, cl2.Subject)
		switch res.Outcome {
		case federation.Matched:
			x.add("federated credential", true, "matches credential '"+res.Matched.Name+"'", "")
		case federation.IssuerMismatch:
			fix := fixFIC
			if res.Closest != nil && strings.TrimSuffix(res.Closest.Issuer, "/") == strings.TrimSuffix(cl2.Issuer, "/") {
				fix = fmt.Sprintf("recreate credential '%s' with --issuer %q exactly (the trailing slash matters)", res.Closest.Name, cl2.Issuer)
			}
			x.add("federated credential", false, "AADSTS700211: no credential trusts issuer "+cl2.Issuer+". "+res.Reason, fix)
		case federation.AudienceMismatch:
			x.add("federated credential", false, "AADSTS70021: "+res.Reason, "request the token with audience "+res.Closest.Audience+" (the webhook's projected volume does this)")
		case federation.NoCredentials:
			x.add("federated credential", false, "AADSTS70021: the identity has no federated credentials", fixFIC)
		default:
			x.add("federated credential", false, "AADSTS700213: "+res.Reason, fixFIC)
		}

		// The service account and the pod, when the cluster is reachable.
		if sa == "" {
			sa, ns = saOf(cl2.Subject), nsOf(cl2.Subject)
		}
		if kc, err := kf.client(); err == nil && sa != "" {
			s, err := kc.CoreV1().ServiceAccounts(ns).Get(ctx, sa, metav1.GetOptions{})
			switch {
			case apierrors.IsNotFound(err):
				x.add("service account", false, fmt.Sprintf("%s/%s does not exist", ns, sa), fmt.Sprintf("kubectl create serviceaccount %s -n %s", sa, ns))
			case err != nil:
				x.add("service account", false, "cannot read it: "+err.Error(), "")
			case s.Annotations[annotationClientID] != clientID:
				x.add("service account", false, fmt.Sprintf("%s/%s has %s=%q, the identity's client id is %s", ns, sa, annotationClientID, s.Annotations[annotationClientID], clientID),
					fmt.Sprintf("kubectl annotate serviceaccount %s -n %s --overwrite %s=%s", sa, ns, annotationClientID, clientID))
			default:
				x.add("service account", true, fmt.Sprintf("%s/%s is annotated with the identity's client id", ns, sa), "")
			}
			if pod != "" {
				e.explainPod(ctx, x, kf, ns, pod, sa)
			}
		}
		return e.report(cmd, x)
	}
	kf.add(c)
	f := c.Flags()
	f.StringVar(&tokenFile, "token-file", "", "File holding the token to explain")
	f.StringVar(&ns, "namespace", "default", "Namespace of the service account or pod")
	f.StringVar(&sa, "service-account", "", "Mint a token for this service account through the TokenRequest API")
	f.StringVar(&pod, "pod", "", "Also check this pod's label and injected environment")
	f.StringVar(&identity, "identity", "", "Name of the managed identity")
	f.StringVarP(&rg, "resource-group", "g", "", "Resource group of the identity")
	e.addOutputFlags(c)
	return c
}

func (e *env) explainPod(ctx context.Context, x *explanation, kf kubeFlags, ns, name, sa string) {
	kc, err := kf.client()
	if err != nil {
		return
	}
	p, err := kc.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		x.add("pod", false, err.Error(), "")
		return
	}
	if p.Labels[labelUse] != "true" {
		x.add("pod label", false, fmt.Sprintf("pod %s/%s lacks the label %s=true, so the webhook never saw it", ns, name, labelUse),
			fmt.Sprintf("add metadata.labels[%q]: \"true\" to the pod template and recreate the pod", labelUse))
	} else {
		x.add("pod label", true, labelUse+"=true", "")
	}
	if p.Spec.ServiceAccountName != sa && p.Spec.ServiceAccountName != "" {
		x.add("pod service account", false, fmt.Sprintf("the pod runs as %s, not %s", p.Spec.ServiceAccountName, sa), "set spec.serviceAccountName: "+sa)
	}
	injected := false
	for _, c := range p.Spec.Containers {
		for _, env := range c.Env {
			if env.Name == "AZURE_FEDERATED_TOKEN_FILE" {
				injected = true
			}
		}
	}
	if !injected {
		x.add("pod environment", false, "no container has AZURE_FEDERATED_TOKEN_FILE: the pod was not mutated",
			"check that 'wif webhook' is registered (MutatingWebhookConfiguration) and recreate the pod")
	} else {
		x.add("pod environment", true, "the webhook injected AZURE_* and the token volume", "")
	}
}

func (e *env) report(cmd *cobra.Command, x *explanation) error {
	x.Verdict = "the exchange will succeed"
	failed := false
	for _, f := range x.Findings {
		if !f.OK {
			failed = true
		}
	}
	if failed {
		x.Verdict = "the exchange will fail"
	}
	if cmd.Flags().Changed("output") || e.query != "" {
		if err := e.print(x); err != nil {
			return err
		}
	} else {
		for _, f := range x.Findings {
			mark := "ok  "
			if !f.OK {
				mark = "FAIL"
			}
			fmt.Fprintf(e.stdout, "%s %-22s %s\n", mark, f.Check, f.Detail)
			if f.Fix != "" {
				fmt.Fprintf(e.stdout, "     %-22s fix: %s\n", "", f.Fix)
			}
		}
		fmt.Fprintf(e.stdout, "Verdict: %s\n", x.Verdict)
	}
	if failed {
		return errors.New(x.Verdict)
	}
	return nil
}

func str(v any) string { s, _ := v.(string); return s }

func nsOf(subject string) string {
	p := strings.Split(subject, ":")
	if len(p) == 4 && p[0] == "system" && p[1] == "serviceaccount" {
		return p[2]
	}
	return "default"
}

func saOf(subject string) string {
	p := strings.Split(subject, ":")
	if len(p) == 4 && p[0] == "system" && p[1] == "serviceaccount" {
		return p[3]
	}
	return ""
}
