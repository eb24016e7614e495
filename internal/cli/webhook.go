package cli

import (
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"github.com/wifproject/wif/internal/atomicfile"
	"github.com/wifproject/wif/internal/deploy"
	"github.com/wifproject/wif/internal/webhook"
)

func (e *env) webhookCmd() *cobra.Command {
	var kf kubeFlags
	var listen, certFile, keyFile, tenant, authority, audience, caConfigMap, caKey, tlsMin string
	var lf logFlags
	c := &cobra.Command{
		Use:   "webhook",
		Short: "Run the workload identity mutating admission webhook",
		Long: `Run the mutating admission webhook that keeps the azure-workload-identity contract: pods labelled
azure.workload.identity/use=true whose service account is annotated with azure.workload.identity/client-id get
AZURE_CLIENT_ID, AZURE_TENANT_ID, AZURE_FEDERATED_TOKEN_FILE and AZURE_AUTHORITY_HOST (wif's URL) and a projected
service-account token at /var/run/secrets/azure/tokens/azure-identity-token (audience api://AzureADTokenExchange).

Routes: /mutate-v1-pod, /healthz, /readyz, /metrics (Prometheus). The TLS key pair is reloaded when its files
change. With --ca-bundle-configmap, mutated containers also trust wif's CA (SSL_CERT_DIR, NODE_EXTRA_CA_CERTS).
Use 'wif webhook install' to deploy it in a cluster.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if tenant == "" {
				tenant = e.getenv("AZURE_TENANT_ID")
			}
			if authority == "" {
				authority = e.getenv("AZURE_AUTHORITY_HOST")
			}
			cfg := webhook.Config{TenantID: tenant, AuthorityHost: authority, Audience: audience}
			if caConfigMap != "" {
				cfg.CABundle = &webhook.CABundle{ConfigMapName: caConfigMap, Key: caKey}
			}
			var minVersion uint16
			switch tlsMin {
			case "1.2":
				minVersion = tls.VersionTLS12
			case "1.3":
				minVersion = tls.VersionTLS13
			default:
				return fmt.Errorf("--tls-min-version %q: must be 1.2 or 1.3", tlsMin)
			}
			kc, err := kf.client()
			if err != nil {
				return err
			}
			log, closeLog, err := lf.logger(e.stderr)
			if err != nil {
				return err
			}
			defer closeLog()
			return webhook.Serve(cmd.Context(), webhook.ServerConfig{
				Addr: listen, CertFile: certFile, KeyFile: keyFile, TLSMinVersion: minVersion,
				Webhook: cfg, Client: kc, Logger: log,
			})
		},
	}
	kf.add(c)
	f := c.Flags()
	f.StringVar(&listen, "listen", ":9443", "Address to serve on (HTTPS)")
	f.StringVar(&certFile, "tls-cert-file", "/certs/tls.crt", "Serving certificate (PEM), reloaded on change")
	f.StringVar(&keyFile, "tls-private-key-file", "/certs/tls.key", "Serving key (PEM), reloaded on change")
	f.StringVar(&tlsMin, "tls-min-version", "1.2", "Minimum TLS version: 1.2 or 1.3")
	f.StringVar(&tenant, "tenant-id", "", "Default AZURE_TENANT_ID (env AZURE_TENANT_ID); a service account's tenant-id annotation wins")
	f.StringVar(&authority, "authority-host", "", "AZURE_AUTHORITY_HOST injected into pods: wif's URL as pods reach it (env AZURE_AUTHORITY_HOST)")
	f.StringVar(&audience, "audience", "", "Audience of the projected token (default api://AzureADTokenExchange)")
	f.StringVar(&caConfigMap, "ca-bundle-configmap", "", "Opt in to CA distribution: project this ConfigMap (in the pod's namespace) into mutated containers")
	f.StringVar(&caKey, "ca-bundle-key", "ca.crt", "Key of the CA bundle in that ConfigMap")
	lf.add(c)
	c.AddCommand(e.webhookInstallCmd())
	return c
}

func (e *env) webhookInstallCmd() *cobra.Command {
	var kf kubeFlags
	var o deploy.Options
	var apply bool
	var certDir string
	c := &cobra.Command{
		Use:   "install",
		Short: "Render or apply the webhook's Kubernetes objects, with a generated CA bundle",
		Long: `Render (default) or apply (--apply) the objects that run the webhook: namespace, RBAC, a Deployment with
2 replicas, a PodDisruptionBudget, a Service, the serving certificate Secret, and a MutatingWebhookConfiguration
(failurePolicy Fail, objectSelector azure.workload.identity/use=true, reinvocationPolicy IfNeeded). A CA and a
serving certificate are generated for the Service's DNS name.

With --url, only the MutatingWebhookConfiguration is produced, pointing at a webhook running outside the cluster
(for example 'wif webhook' on the API server's host); --cert-dir then receives the serving key pair for it.`,
		Example: `  wif webhook install --image registry.example/wif:v1 --tenant-id $TENANT --authority-host https://wif.example:8443/ > wif-webhook.yaml
  wif webhook install --url https://127.0.0.1:9443/mutate-v1-pod --cert-dir ./webhook-certs --tenant-id $TENANT \
    --authority-host https://wif.example:8443/ --apply`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			hosts := []string{o.ServiceHost(), deploy.Name + "." + o.Namespace + ".svc.cluster.local"}
			if o.URL != "" {
				if certDir == "" {
					return errors.New("--url needs --cert-dir for the serving key pair")
				}
				hosts = []string{"localhost", "127.0.0.1", "::1"}
			}
			ca, cert, key, err := deploy.Certificates(hosts, time.Now())
			if err != nil {
				return err
			}
			o.CACert, o.ServingCert, o.ServingKey = ca, cert, key
			if err := o.Validate(); err != nil {
				return err
			}
			if certDir != "" {
				if err := os.MkdirAll(certDir, 0o700); err != nil {
					return err
				}
				for name, data := range map[string][]byte{"tls.crt": cert, "tls.key": key, "ca.crt": ca} {
					if err := atomicfile.Write(filepath.Join(certDir, name), data, 0o600); err != nil {
						return err
					}
				}
			}
			objs := deploy.Objects(o)
			if !apply {
				y, err := deploy.Render(objs)
				if err != nil {
					return err
				}
				_, err = e.stdout.Write(y)
				return err
			}
			kc, err := kf.client()
			if err != nil {
				return err
			}
			if err := deploy.Apply(cmd.Context(), kc, objs); err != nil {
				return err
			}
			fmt.Fprintf(e.stderr, "applied %d objects\n", len(objs))
			return nil
		},
	}
	kf.add(c)
	f := c.Flags()
	f.StringVar(&o.Namespace, "namespace", "wif-system", "Namespace of the webhook")
	f.StringVar(&o.Image, "image", "", "Image that contains the wif binary (in-cluster mode)")
	f.StringVar(&o.TenantID, "tenant-id", "", "Default tenant id injected into pods")
	f.StringVar(&o.AuthorityHost, "authority-host", "", "wif's URL as pods reach it, injected as AZURE_AUTHORITY_HOST")
	f.StringVar(&o.CABundleConfigMap, "ca-bundle-configmap", "", "Opt in to CA distribution from this ConfigMap")
	f.StringVar(&o.URL, "url", "", "Register a webhook running outside the cluster at this https URL")
	f.StringVar(&certDir, "cert-dir", "", "Write the generated tls.crt, tls.key and ca.crt here")
	f.BoolVar(&apply, "apply", false, "Apply to the cluster instead of printing YAML")
	return c
}
