package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/wifproject/wif/internal/atomicfile"
)

var clusters = resourceType{path: "Microsoft.ContainerService/managedClusters", out: clusterOut}

func clusterPath(sub, rg, name string) string { return clusters.itemPath(sub, rg, name) }

// clusterOut mirrors az aks output: properties flattened, resourceGroup
// added, and the REST field issuerURL printed as issuerUrl.
func clusterOut(m map[string]any) map[string]any {
	out := flatten(m)
	if p, ok := out["oidcIssuerProfile"].(map[string]any); ok {
		if u, ok := p["issuerURL"]; ok {
			p["issuerUrl"] = u
			delete(p, "issuerURL")
		}
	}
	return out
}

func (e *env) aksCmd() *cobra.Command {
	c := &cobra.Command{Use: "aks", Short: "Manage managed clusters and their OIDC issuers"}
	var name, rg, location, version string
	var oidc, wi bool

	nameFlags := func(cmd *cobra.Command) {
		cmd.Flags().StringVarP(&name, "name", "n", "", "Name of the managed cluster")
		cmd.Flags().StringVarP(&rg, "resource-group", "g", "", "Name of resource group")
	}

	create := &cobra.Command{Use: "create", Short: "Create a managed cluster record (wif does not run nodes)", Args: cobra.NoArgs,
		Example: "  wif aks create -g myRG -n myCluster --enable-oidc-issuer --enable-workload-identity"}
	createSub := subscriptionFlag(create)
	create.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := requireFlags(cmd, "name", "resource-group"); err != nil {
			return err
		}
		cl, err := e.client()
		if err != nil {
			return err
		}
		if location == "" {
			g, err := cl.do(cmd.Context(), http.MethodGet, "/subscriptions/"+seg(createSub(cl))+"/resourcegroups/"+seg(rg), nil)
			if err != nil {
				return err
			}
			location, _ = g["location"].(string)
		}
		props := map[string]any{"oidcIssuerProfile": map[string]any{"enabled": oidc}}
		if wi {
			props["securityProfile"] = map[string]any{"workloadIdentity": map[string]any{"enabled": true}}
		}
		if version != "" {
			props["kubernetesVersion"] = version
		}
		out, err := cl.do(cmd.Context(), http.MethodPut, clusterPath(createSub(cl), rg, name), map[string]any{"location": location, "properties": props})
		if err != nil {
			return err
		}
		return e.print(clusterOut(out))
	}
	nameFlags(create)
	create.Flags().StringVarP(&location, "location", "l", "", "Location (default: the resource group's)")
	create.Flags().StringVarP(&version, "kubernetes-version", "k", "", "Kubernetes version to record")
	create.Flags().BoolVar(&oidc, "enable-oidc-issuer", false, "Enable the OIDC issuer")
	create.Flags().BoolVar(&wi, "enable-workload-identity", false, "Enable workload identity (needs the OIDC issuer)")
	e.addOutputFlags(create)

	update := &cobra.Command{Use: "update", Short: "Update a managed cluster", Args: cobra.NoArgs,
		Example: "  wif aks update -g myRG -n myCluster --enable-oidc-issuer --enable-workload-identity"}
	updateSub := subscriptionFlag(update)
	update.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := requireFlags(cmd, "name", "resource-group"); err != nil {
			return err
		}
		cl, err := e.client()
		if err != nil {
			return err
		}
		path := clusterPath(updateSub(cl), rg, name)
		cur, err := cl.do(cmd.Context(), http.MethodGet, path, nil)
		if err != nil {
			return err
		}
		props, _ := cur["properties"].(map[string]any)
		if props == nil {
			props = map[string]any{}
		}
		if oidc {
			props["oidcIssuerProfile"] = map[string]any{"enabled": true}
		}
		if wi {
			sec, _ := props["securityProfile"].(map[string]any)
			if sec == nil {
				sec = map[string]any{}
			}
			sec["workloadIdentity"] = map[string]any{"enabled": true}
			props["securityProfile"] = sec
		}
		body := map[string]any{"location": cur["location"], "properties": props}
		if _, err := cl.do(cmd.Context(), http.MethodPut, path, body); err != nil {
			return err
		}
		out, err := cl.do(cmd.Context(), http.MethodGet, path, nil)
		if err != nil {
			return err
		}
		return e.print(clusterOut(out))
	}
	nameFlags(update)
	update.Flags().BoolVar(&oidc, "enable-oidc-issuer", false, "Enable the OIDC issuer")
	update.Flags().BoolVar(&wi, "enable-workload-identity", false, "Enable workload identity (needs the OIDC issuer)")
	e.addOutputFlags(update)

	show := e.itemCmd(clusters, http.MethodGet, "show", "Show a managed cluster", "Name of the managed cluster")
	show.Example = `  AKS_OIDC_ISSUER=$(wif aks show -n myCluster -g myRG --query "oidcIssuerProfile.issuerUrl" -o tsv)`
	list := e.listCmd(clusters, "List managed clusters")
	del := e.itemCmd(clusters, http.MethodDelete, "delete", "Delete a managed cluster and its OIDC issuer", "Name of the managed cluster")

	c.AddCommand(create, update, show, list, del, e.oidcIssuerCmd())
	return c
}

func (e *env) oidcIssuerCmd() *cobra.Command {
	c := &cobra.Command{Use: "oidc-issuer", Short: "Manage a cluster's OIDC issuer signing keys"}
	var name, rg, dir string
	var pemFiles []string
	var jwksFile string
	var yes bool
	nameFlags := func(cmd *cobra.Command) {
		cmd.Flags().StringVarP(&name, "name", "n", "", "Name of the managed cluster")
		cmd.Flags().StringVarP(&rg, "resource-group", "g", "", "Name of resource group")
	}

	export := &cobra.Command{Use: "export-keys", Short: "Write the cluster's service-account keys and print the kube-apiserver flags", Args: cobra.NoArgs,
		Long: `Write the issuer's current signing key (sa.key, mode 0600) and every published public key (sa.pub,
so that tokens signed by a key still in its rotation overlap keep verifying) to --dir, and print the
kube-apiserver flags that make the cluster issue tokens wif trusts. Run it again after a rotation and
restart kube-apiserver.`,
		Example: "  wif aks oidc-issuer export-keys -g myRG -n myCluster --dir /etc/kubernetes/wif"}
	exportSub := subscriptionFlag(export)
	export.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := requireFlags(cmd, "name", "resource-group", "dir"); err != nil {
			return err
		}
		cl, err := e.client()
		if err != nil {
			return err
		}
		out, err := cl.do(cmd.Context(), http.MethodPost, clusterPath(exportSub(cl), rg, name)+"/listServiceAccountSigningKeys", nil)
		if err != nil {
			return err
		}
		key, _ := out["signingKey"].(string)
		if key == "" {
			return errors.New("the cluster publishes its own keys (bring your own); there is no signing key to export")
		}
		var pubs strings.Builder
		for _, p := range out["publicKeys"].([]any) {
			pubs.WriteString(p.(map[string]any)["publicKey"].(string))
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
		keyFile, pubFile := filepath.Join(dir, "sa.key"), filepath.Join(dir, "sa.pub")
		if err := atomicfile.Write(keyFile, []byte(key), 0o600); err != nil {
			return err
		}
		if err := atomicfile.Write(pubFile, []byte(pubs.String()), 0o644); err != nil {
			return err
		}
		absKey, _ := filepath.Abs(keyFile)
		absPub, _ := filepath.Abs(pubFile)
		issuer, _ := out["issuerURL"].(string)
		flags := []string{
			"--service-account-issuer=" + issuer,
			"--service-account-signing-key-file=" + absKey,
			"--service-account-key-file=" + absPub,
		}
		if e.format == "json" && e.query == "" && !cmd.Flags().Changed("output") {
			fmt.Fprintln(e.stdout, strings.Join(flags, "\n"))
			return nil
		}
		return e.print(map[string]any{"issuerUrl": issuer, "signingKeyFile": absKey, "publicKeyFile": absPub, "flags": flags})
	}
	nameFlags(export)
	export.Flags().StringVar(&dir, "dir", "", "Directory for sa.key and sa.pub")
	e.addOutputFlags(export)

	rotate := &cobra.Command{Use: "rotate-signing-keys", Short: "Rotate the issuer's signing key (the old key stays published for 24h)", Args: cobra.NoArgs}
	rotateSub := subscriptionFlag(rotate)
	rotate.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := requireFlags(cmd, "name", "resource-group"); err != nil {
			return err
		}
		cl, err := e.client()
		if err != nil {
			return err
		}
		_, err = cl.do(cmd.Context(), http.MethodPost, clusterPath(rotateSub(cl), rg, name)+"/rotateServiceAccountSigningKeys", nil)
		return err
	}
	nameFlags(rotate)
	rotate.Flags().BoolVarP(&yes, "yes", "y", false, "Do not prompt for confirmation")
	e.addOutputFlags(rotate)

	setKeys := &cobra.Command{Use: "set-keys", Short: "Publish a cluster's own service-account public keys (bring your own keys)", Args: cobra.NoArgs,
		Long: `Publish the public keys of a cluster that signs its own service-account tokens (the files given
to kube-apiserver's --service-account-key-file), as PEM files or a JWKS. The private keys never leave
the cluster; kids are derived as kube-apiserver derives them.`,
		Example: "  wif aks oidc-issuer set-keys -g myRG -n myCluster --public-key-file /etc/kubernetes/pki/sa.pub"}
	setSub := subscriptionFlag(setKeys)
	setKeys.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := requireFlags(cmd, "name", "resource-group"); err != nil {
			return err
		}
		body := map[string]any{}
		switch {
		case jwksFile != "" && len(pemFiles) > 0:
			return errors.New("use either --public-key-file or --jwks-file")
		case jwksFile != "":
			b, err := os.ReadFile(jwksFile)
			if err != nil {
				return err
			}
			body["jwks"] = json.RawMessage(b)
		case len(pemFiles) > 0:
			var all []byte
			for _, f := range pemFiles {
				b, err := os.ReadFile(f)
				if err != nil {
					return err
				}
				all = append(append(all, b...), '\n')
			}
			body["pem"] = string(all)
		default:
			return errors.New("one of --public-key-file or --jwks-file is required")
		}
		cl, err := e.client()
		if err != nil {
			return err
		}
		out, err := cl.do(cmd.Context(), http.MethodPost, clusterPath(setSub(cl), rg, name)+"/setServiceAccountPublicKeys", body)
		if err != nil {
			return err
		}
		return e.print(out)
	}
	nameFlags(setKeys)
	setKeys.Flags().StringSliceVar(&pemFiles, "public-key-file", nil, "PEM file of public keys (repeatable)")
	setKeys.Flags().StringVar(&jwksFile, "jwks-file", "", "JWKS file of public keys")
	e.addOutputFlags(setKeys)

	c.AddCommand(export, rotate, setKeys)
	return c
}
