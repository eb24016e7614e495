package cli

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/wifproject/wif/internal/deploy"
	"github.com/wifproject/wif/internal/server"
)

func (e *env) serveInstallCmd() *cobra.Command {
	var o deploy.ServerOptions
	dataDir := server.DefaultDataDir(e.getenv)
	var withShared bool
	c := &cobra.Command{
		Use:   "install",
		Short: "Render the Kubernetes objects that run wif serve as replicas on one PostgreSQL",
		Long: `Render the objects that run wif serve in a cluster, as YAML on standard output: a namespace, a
Deployment (3 replicas by default, readiness on /readyz and liveness on /healthz), a PodDisruptionBudget that
keeps all but one replica, and a Service. The replicas read the store's DSN from the Secret wif-store (key
"dsn") and their shared files (ca.pem, ca-key.pem, kek.bin) from the Secret wif-shared.

With --with-shared-files those files are read from --data-dir and rendered into wif-shared; with --dsn the DSN
is rendered into wif-store. Both Secrets then hold secrets: keep the output safe. Without them, create the
Secrets yourself (for example from a vault). See docs/replicas.md.`,
		Example: `  wif serve install --image registry.example/wif:v1 --public-url https://wif.example.com > wif.yaml
  wif serve install --image registry.example/wif:v1 --public-url https://wif.example.com \
    --with-shared-files --dsn "$DSN" | kubectl apply -f -`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if withShared {
				o.Shared = map[string][]byte{}
				for _, f := range deploy.SharedFiles {
					b, err := os.ReadFile(filepath.Join(dataDir, f))
					if err != nil {
						return fmt.Errorf("shared file: %w", err)
					}
					o.Shared[f] = b
				}
			}
			if err := o.Validate(); err != nil {
				return err
			}
			y, err := deploy.Render(deploy.ServerObjects(o))
			if err != nil {
				return err
			}
			_, err = e.stdout.Write(y)
			return err
		},
	}
	f := c.Flags()
	f.StringVar(&o.Image, "image", "", "The wif image")
	f.StringVar(&o.Namespace, "namespace", "wif-system", "Namespace")
	f.Int32Var(&o.Replicas, "replicas", 3, "Replicas")
	f.StringVar(&o.PublicURL, "public-url", "", "The URL clients reach the replicas at (the load balancer's)")
	f.StringVar(&o.DSN, "dsn", "", "Render this postgres:// DSN into the wif-store Secret")
	f.BoolVar(&withShared, "with-shared-files", false, "Render ca.pem, ca-key.pem and kek.bin from --data-dir into the wif-shared Secret")
	f.StringVar(&dataDir, "data-dir", dataDir, "Where the shared files are (env WIF_DATA_DIR)")
	return c
}
