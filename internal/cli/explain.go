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

	"github.com/wifproject/wif/internal/arm/armapi"
	"github.com/wifproject/wif/internal/federation"
)

// finding is one line of an explanation.
type finding struct {
	Check  string `json:"check"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
	Fix    string `json:"fix,omitempty"`
}

type explanation struct {
	Issuer   string   `json:"issuer"`
	Subject  string   `json:"subject"`
	Audience []string `json:"audience"`
	Verdict  string   `json:"verdict"`
	// AADSTS is the token endpoint's error code; 0 when it would issue a token.
	AADSTS   int       `json:"aadsts"`
	Findings []finding `json:"findings"`
	// TokenService is the server's verdict as it sent it.
	TokenService *armapi.ExplainTokenResult `json:"tokenService,omitempty"`
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
TokenRequest API for --namespace/--service-account — and an identity, wif's token service runs its own
checks on the token for the identity, exactly as its token endpoint would but without issuing a token
(POST {identity}/explainToken; the caller needs read access to the identity): the claims and their times,
the match with every federated credential of the identity, the issuer's keys and the signature. It prints
the token endpoint's verdict (its AADSTS code and message), the closest credential and why it does not
match, and the exact fix. With a cluster at hand it also checks the service account's annotation and (with
--pod) the pod's label and injected environment. It exits non-zero when the exchange would fail. The token
itself is sent only to wif, and never printed.`,
		Example: `  wif explain --namespace default --service-account my-app-sa --identity my-app-identity -g myRG
  wif explain --token-file /var/run/secrets/azure/tokens/azure-identity-token --identity my-app-identity -g myRG
  wif explain --token-file token.jwt --identity my-app-identity -g myRG -o json --query aadsts`,
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
		if raw == "" {
			return errors.New("the token is empty")
		}

		// The token service's own verdict.
		idPath := identityPath(sub(cl), rg, identity)
		var v armapi.ExplainTokenResult
		if err := cl.call(ctx, http.MethodPost, idPath+"/explainToken", armapi.ExplainTokenRequest{Token: raw}, &v); err != nil {
			return err
		}
		x.TokenService = &v
		clientID := v.ClientID
		explainVerdict(x, &v, identity, rg)

		// The service account and the pod, when the cluster is reachable.
		if sa == "" && v.Claims != nil {
			sa, ns = saOf(v.Claims.Subject), nsOf(v.Claims.Subject)
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

// The stages of the token service's checks, in the order it runs them.
const (
	stageToken      = "token"
	stageValidity   = "validity"
	stageCredential = "federated credential"
	stageIssuer     = "issuer"
	stageSignature  = "signature"
)

// failedStage is the check an AADSTS code comes from.
func failedStage(code int) string {
	switch code {
	case 50027, 700222:
		return stageToken
	case 700024, 70023:
		return stageValidity
	case 700211, 700213, 7002138, 70021:
		return stageCredential
	case 90061:
		return stageIssuer
	case 700027:
		return stageSignature
	}
	return "identity"
}

// explainVerdict turns the token service's verdict into findings: the
// token endpoint's answer, each check it passed, the one it failed with
// the fix, and the credential match (which the service reports even when
// an earlier check failed).
func explainVerdict(x *explanation, v *armapi.ExplainTokenResult, identity, rg string) {
	if c := v.Claims; c != nil {
		x.Issuer, x.Subject, x.Audience = c.Issuer, c.Subject, c.Audiences
		exp := "(none)"
		if c.ExpiresOn != nil {
			exp = c.ExpiresOn.UTC().Format(time.RFC3339)
		}
		x.add("claims", true, fmt.Sprintf("iss=%q sub=%q aud=%q exp=%s", c.Issuer, c.Subject, strings.Join(c.Audiences, ","), exp), "")
	}
	if v.Succeeded {
		x.add("token endpoint", true, "would issue a token for client "+v.ClientID, "")
	} else if v.Error != nil {
		x.AADSTS = v.Error.Code
		x.add("token endpoint", false, v.Error.Message, "")
	}
	failed := ""
	if v.Error != nil {
		failed = failedStage(v.Error.Code)
	}
	passed := func(stage string) bool { return failed == "" || stageIndex(stage) < stageIndex(failed) }
	switch {
	case failed == stageToken:
		x.add(stageToken, false, "the token service cannot use this token",
			"pass the workload's projected service-account token (a JWT from its issuer), not a file path, a legacy secret token or a wif access token")
	case failed == stageValidity:
		x.add(stageValidity, false, "outside its validity period, or valid for longer than 25 hours",
			"use the current projected token; the kubelet refreshes it at 80% of its lifetime (at most 24h)")
	case passed(stageValidity):
		x.add(stageValidity, true, "within its validity period and its lifetime within the token service's bounds", "")
	}

	// The credential match, reported even when the times failed.
	m := v.Credentials
	sub := ""
	if v.Claims != nil {
		sub = v.Claims.Subject
	}
	fixFIC := fmt.Sprintf("wif identity federated-credential create --name %s --identity-name %s -g %s --issuer %q --subject %q",
		ficName("cluster", nsOf(sub), saOf(sub)), identity, rg, x.Issuer, sub)
	switch {
	case m == nil:
	case m.Outcome == armapi.MatchMatched && m.Matched != nil:
		x.add(stageCredential, true, "matches credential '"+m.Matched.Name+"'", "")
	default:
		x.add(stageCredential, false, credentialDetail(m), credentialFix(m, x.Issuer, x.Audience, fixFIC))
	}

	switch failed {
	case "":
		x.add(stageSignature, true, "verified with the issuer's published keys", "")
	case stageToken, stageValidity, stageCredential:
		// Reported above.
	case stageIssuer:
		x.add(stageIssuer, false, fmt.Sprintf("the keys of %s could not be had", x.Issuer),
			"the issuer must serve {iss}/.well-known/openid-configuration and its jwks_uri over https to wif (and be allowed by --issuer-fetch-allow); for a wif cluster run 'wif aks oidc-issuer export-keys' and restart kube-apiserver with the printed flags")
	case stageSignature:
		x.add(stageSignature, false, "the signature does not verify with the issuer's published keys",
			"kube-apiserver signs with a key wif does not publish: re-run 'wif aks oidc-issuer export-keys' after every rotation, or publish the cluster's own keys with 'wif aks oidc-issuer set-keys'")
	default:
		x.add(failed, false, "the token service does not know this identity's client in its tenant", "check --identity, -g and --subscription")
	}
}

func stageIndex(stage string) int {
	for i, s := range []string{stageToken, stageValidity, stageCredential, stageIssuer, stageSignature} {
		if s == stage {
			return i
		}
	}
	return -1
}

func credentialDetail(m *armapi.ExplainTokenMatch) string {
	switch m.Outcome {
	case armapi.MatchNoCredentials:
		return "the identity has no federated credentials"
	case armapi.MatchIssuerMismatch:
		return "no credential trusts the token's issuer: " + m.Reason
	}
	return m.Reason
}

func credentialFix(m *armapi.ExplainTokenMatch, issuer string, audiences []string, fixFIC string) string {
	c := m.Closest
	switch {
	case m.Outcome == armapi.MatchIssuerMismatch && c != nil && strings.TrimSuffix(c.Issuer, "/") == strings.TrimSuffix(issuer, "/"):
		return fmt.Sprintf("recreate credential '%s' with --issuer %q exactly (the trailing slash matters)", c.Name, issuer)
	case m.Outcome == armapi.MatchAudienceMismatch && c != nil:
		return fmt.Sprintf("request the token with audience %s (the webhook's projected volume does this), or give credential '%s' --audiences %s",
			c.Audience, c.Name, strings.Join(audiences, ","))
	case m.Outcome == armapi.MatchExpressionMismatch && c != nil:
		return fmt.Sprintf("change the claims-matching expression of credential '%s', or %s", c.Name, fixFIC)
	}
	return fixFIC
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
	if x.AADSTS != 0 {
		x.Verdict = fmt.Sprintf("the exchange will fail with AADSTS%d", x.AADSTS)
	}
	failed := false
	for _, f := range x.Findings {
		if !f.OK {
			failed = true
		}
	}
	if failed && x.AADSTS == 0 {
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
