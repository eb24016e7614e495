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
	"github.com/wifproject/wif/internal/arm/armapi"
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
	var name, rg, version string
	var oidc, wi bool

	create := e.createCmd(clusters, "Create a managed cluster record (wif does not run nodes)", "Name of the managed cluster",
		"  wif aks create -g myRG -n myCluster --enable-oidc-issuer --enable-workload-identity",
		func(_ *client, location string, tags map[string]string) any {
			props := armapi.ManagedClusterProperties{}
			props.SetOIDCIssuer(armapi.OIDCIssuerProfile{Enabled: oidc})
			if wi {
				props.SetWorkloadIdentity(true)
			}
			if version != "" {
				props["kubernetesVersion"] = version
			}
			return armapi.ManagedCluster{TrackedResource: armapi.TrackedResource{Location: location, Tags: tags}, Properties: props}
		})
	create.Flags().StringVarP(&version, "kubernetes-version", "k", "", "Kubernetes version to record")
	create.Flags().BoolVar(&oidc, "enable-oidc-issuer", false, "Enable the OIDC issuer")
	create.Flags().BoolVar(&wi, "enable-workload-identity", false, "Enable workload identity (needs the OIDC issuer)")

	update := &cobra.Command{Use: "update", Short: "Update a managed cluster", Args: cobra.NoArgs,
		Example: "  wif aks update -g myRG -n myCluster --enable-oidc-issuer --enable-workload-identity"}
	updateSub := subscriptionFlag(update)
	update.RunE = func(cmd *cobra.Command, _ []string) error {
		cl, err := e.clientFor(cmd, "name", "resource-group")
		if err != nil {
			return err
		}
		// As az aks update: GET the cluster, change it, PUT it back whole.
		path := clusterPath(updateSub(cl), rg, name)
		var cur armapi.ManagedCluster
		if err := cl.call(cmd.Context(), http.MethodGet, path, nil, &cur); err != nil {
			return err
		}
		props := cur.Properties
		if props == nil {
			props = armapi.ManagedClusterProperties{}
		}
		if oidc {
			props.SetOIDCIssuer(armapi.OIDCIssuerProfile{Enabled: true})
		}
		if wi {
			props.SetWorkloadIdentity(true)
		}
		body := armapi.ManagedCluster{TrackedResource: armapi.TrackedResource{Location: cur.Location}, Properties: props}
		if err := cl.call(cmd.Context(), http.MethodPut, path, body, nil); err != nil {
			return err
		}
		out, err := cl.do(cmd.Context(), http.MethodGet, path, nil)
		if err != nil {
			return err
		}
		return e.print(clusterOut(out))
	}
	update.Flags().StringVarP(&name, "name", "n", "", "Name of the managed cluster")
	update.Flags().StringVarP(&rg, "resource-group", "g", "", "Name of resource group")
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
		cl, err := e.clientFor(cmd, "name", "resource-group", "dir")
		if err != nil {
			return err
		}
		var keys armapi.ServiceAccountKeys
		if err := cl.call(cmd.Context(), http.MethodPost, clusterPath(exportSub(cl), rg, name)+"/listServiceAccountSigningKeys", nil, &keys); err != nil {
			return err
		}
		key := keys.SigningKey
		if key == "" {
			return errors.New("the cluster publishes its own keys (bring your own); there is no signing key to export")
		}
		var pubs strings.Builder
		for _, p := range keys.PublicKeys {
			pubs.WriteString(p.PublicKey)
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
		issuer := keys.IssuerURL
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
		cl, err := e.clientFor(cmd, "name", "resource-group")
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
		var body armapi.ServiceAccountPublicKeys
		switch {
		case jwksFile != "" && len(pemFiles) > 0:
			return errors.New("use either --public-key-file or --jwks-file")
		case jwksFile != "":
			b, err := os.ReadFile(jwksFile)
			if err != nil {
				return err
			}
			body.JWKS = json.RawMessage(b)
		case len(pemFiles) > 0:
			var all []byte
			for _, f := range pemFiles {
				b, err := os.ReadFile(f)
				if err != nil {
					return err
				}
				all = append(append(all, b...), '\n')
			}
			body.PEM = string(all)
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
