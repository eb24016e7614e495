package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"

	"github.com/spf13/cobra"
	"github.com/wifproject/wif/internal/arm/armapi"
	"github.com/wifproject/wif/internal/federation"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// Annotation keys of the azure-workload-identity contract.
const (
	annotationClientID = "azure.workload.identity/client-id"
	annotationTenantID = "azure.workload.identity/tenant-id"
	labelUse           = "azure.workload.identity/use"
)

// kubeFlags are kubectl's --kubeconfig and --context.
type kubeFlags struct{ kubeconfig, context string }

func (k *kubeFlags) add(c *cobra.Command) {
	c.Flags().StringVar(&k.kubeconfig, "kubeconfig", "", "Path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
	c.Flags().StringVar(&k.context, "context", "", "The kubeconfig context to use")
}

func (k *kubeFlags) client() (*kubernetes.Clientset, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if k.kubeconfig != "" {
		rules.ExplicitPath = k.kubeconfig
	}
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: k.context}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	return kubernetes.NewForConfig(cfg)
}

var ficNameChars = regexp.MustCompile(`[^a-zA-Z0-9_-]`)

// ficName derives a valid, stable credential name for a service account of
// a cluster: readable when it fits, hashed when it would be too long.
func ficName(cluster, ns, sa string) string {
	n := ficNameChars.ReplaceAllString(cluster+"-"+ns+"-"+sa, "-")
	if len(n) <= 120 && len(n) >= 3 && n[0] != '-' && n[0] != '_' {
		return n
	}
	sum := sha256.Sum256([]byte(cluster + "/" + ns + "/" + sa))
	return "sa-" + hex.EncodeToString(sum[:])[:40]
}

func (e *env) federateCmd() *cobra.Command {
	var kf kubeFlags
	var clusterName, clusterRG, ns, sa, identity, identityRG, role, scope string
	c := &cobra.Command{
		Use:   "federate",
		Short: "Federate a Kubernetes service account with a managed identity, in one idempotent command",
		Long: `Federate a service account with a managed identity, like 'azwi serviceaccount create':
  1. create the identity if it is missing;
  2. create the service account, or annotate it with the identity's client id and tenant id;
  3. create the federated credential for system:serviceaccount:<namespace>:<name> with the cluster's issuer;
  4. optionally assign a role to the identity at a scope.
Each step is skipped when already done, and printed.`,
		Example: `  wif federate --context kind-dev --cluster myCluster -g myRG --namespace default \
    --service-account my-app-sa --identity my-app-identity --role "Key Vault Secrets User" --scope $VAULT_ID`,
		Args: cobra.NoArgs,
	}
	sub := subscriptionFlag(c)
	c.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := requireFlags(cmd, "cluster", "resource-group", "service-account", "identity"); err != nil {
			return err
		}
		if (role == "") != (scope == "") {
			return errors.New("--role and --scope go together")
		}
		ctx := cmd.Context()
		cl, err := e.client()
		if err != nil {
			return err
		}
		if identityRG == "" {
			identityRG = clusterRG
		}
		say := func(format string, args ...any) { fmt.Fprintf(e.stderr, format+"\n", args...) }

		// The cluster's issuer.
		var cluster armapi.ManagedCluster
		if err := cl.call(ctx, http.MethodGet, clusterPath(sub(cl), clusterRG, clusterName), nil, &cluster); err != nil {
			return err
		}
		iss := cluster.Properties.OIDCIssuer().IssuerURL
		if iss == "" {
			return fmt.Errorf("cluster %s has no OIDC issuer; run: wif aks update -g %s -n %s --enable-oidc-issuer --enable-workload-identity", clusterName, clusterRG, clusterName)
		}
		say("cluster %s: issuer %s", clusterName, iss)

		// 1. Identity.
		idPath := identityPath(sub(cl), identityRG, identity)
		var id armapi.Identity
		err = cl.call(ctx, http.MethodGet, idPath, nil, &id)
		var ae *armError
		switch {
		case errors.As(err, &ae) && ae.Status == http.StatusNotFound && ae.Code == "ResourceNotFound":
			loc, err := cl.groupLocation(ctx, sub(cl), identityRG, "")
			if err != nil {
				return err
			}
			if err := cl.call(ctx, http.MethodPut, idPath, armapi.Identity{TrackedResource: armapi.TrackedResource{Location: loc}}, &id); err != nil {
				return err
			}
			say("identity %s: created", identity)
		case err != nil:
			return err
		default:
			say("identity %s: exists", identity)
		}
		if id.Properties == nil {
			return fmt.Errorf("identity %s: the answer has no properties", identity)
		}
		clientID, tenantID, principalID := id.Properties.ClientID, id.Properties.TenantID, id.Properties.PrincipalID

		// 2. Service account.
		kc, err := kf.client()
		if err != nil {
			return err
		}
		if ns == "" {
			ns = "default"
		}
		sas := kc.CoreV1().ServiceAccounts(ns)
		cur, err := sas.Get(ctx, sa, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			_, err = sas.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: sa, Namespace: ns,
				Annotations: map[string]string{annotationClientID: clientID, annotationTenantID: tenantID}}}, metav1.CreateOptions{})
			if err != nil {
				return fmt.Errorf("create service account %s/%s: %w", ns, sa, err)
			}
			say("service account %s/%s: created with client id %s", ns, sa, clientID)
		case err != nil:
			return fmt.Errorf("get service account %s/%s: %w", ns, sa, err)
		case cur.Annotations[annotationClientID] == clientID && cur.Annotations[annotationTenantID] == tenantID:
			say("service account %s/%s: already annotated", ns, sa)
		default:
			if cur.Annotations == nil {
				cur.Annotations = map[string]string{}
			}
			cur.Annotations[annotationClientID] = clientID
			cur.Annotations[annotationTenantID] = tenantID
			if _, err := sas.Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
				return fmt.Errorf("annotate service account %s/%s: %w", ns, sa, err)
			}
			say("service account %s/%s: annotated with client id %s", ns, sa, clientID)
		}

		// 3. Federated credential.
		subject := "system:serviceaccount:" + ns + ":" + sa
		fics, err := listOf[armapi.FederatedIdentityCredential](ctx, cl, idPath+"/federatedIdentityCredentials")
		if err != nil {
			return err
		}
		found := ""
		for _, f := range fics {
			if p := f.Properties; p != nil && p.Issuer == iss && p.Subject != nil && *p.Subject == subject {
				found = f.Name
			}
		}
		if found != "" {
			say("federated credential %s: exists (issuer %s, subject %s)", found, iss, subject)
		} else {
			name := ficName(clusterName, ns, sa)
			body := armapi.FederatedIdentityCredential{Properties: &armapi.FederatedIdentityCredentialProperties{Issuer: iss, Subject: &subject, Audiences: []string{federation.DefaultAudience}}}
			if err := cl.call(ctx, http.MethodPut, idPath+"/federatedIdentityCredentials/"+seg(name), body, nil); err != nil {
				return err
			}
			say("federated credential %s: created (issuer %s, subject %s)", name, iss, subject)
		}

		// 4. Role assignment.
		if role != "" {
			sc := "/" + strings.Trim(scope, "/")
			roleID, err := resolveRole(ctx, cl, sc, role)
			if err != nil {
				return err
			}
			existing, err := listOf[armapi.RoleAssignment](ctx, cl, escapeScope(sc)+"/providers/Microsoft.Authorization/roleAssignments?$filter=atScope()")
			if err != nil {
				return err
			}
			have := false
			for _, a := range existing {
				if p := a.Properties; p != nil && strings.EqualFold(p.PrincipalID, principalID) && sameRoleID(p.RoleDefinitionID, roleID) &&
					strings.EqualFold(strings.TrimSuffix(p.Scope, "/"), strings.TrimSuffix(sc, "/")) {
					have = true
				}
			}
			if have {
				say("role %s at %s: already assigned", role, sc)
			} else {
				if _, err := assign(ctx, cl, sc, roleID, principalID, "ServicePrincipal"); err != nil {
					return err
				}
				say("role %s at %s: assigned", role, sc)
			}
		}
		return e.print(map[string]any{"clientId": clientID, "tenantId": tenantID, "principalId": principalID,
			"issuer": iss, "subject": subject, "serviceAccount": ns + "/" + sa})
	}
	kf.add(c)
	f := c.Flags()
	f.StringVar(&clusterName, "cluster", "", "Name of the wif managed cluster")
	f.StringVarP(&clusterRG, "resource-group", "g", "", "Resource group of the cluster")
	f.StringVar(&ns, "namespace", "default", "Namespace of the service account")
	f.StringVar(&sa, "service-account", "", "Name of the service account")
	f.StringVar(&identity, "identity", "", "Name of the managed identity")
	f.StringVar(&identityRG, "identity-resource-group", "", "Resource group of the identity (default: the cluster's)")
	f.StringVar(&role, "role", "", "Optional role to assign to the identity, e.g. \"Key Vault Secrets User\"")
	f.StringVar(&scope, "scope", "", "Scope of the role assignment")
	e.addOutputFlags(c)
	return c
}

func sameRoleID(a, b string) bool {
	ga := a[strings.LastIndex(a, "/")+1:]
	gb := b[strings.LastIndex(b, "/")+1:]
	return strings.EqualFold(ga, gb)
}

// mintToken asks the API server for a service-account token, as the
// kubelet does for a projected volume.
func mintToken(ctx context.Context, kc *kubernetes.Clientset, ns, sa, audience string, seconds int64) (string, error) {
	req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{Audiences: []string{audience}, ExpirationSeconds: &seconds}}
	tr, err := kc.CoreV1().ServiceAccounts(ns).CreateToken(ctx, sa, req, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("TokenRequest for %s/%s: %w", ns, sa, err)
	}
	return tr.Status.Token, nil
}
