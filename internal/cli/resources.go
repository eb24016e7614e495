package cli

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/spf13/cobra"
	"github.com/wifproject/wif/internal/arm/armapi"
	"github.com/wifproject/wif/internal/federation"
)

// parseTags turns az's space-separated key[=value] list into a map.
func parseTags(tags []string) map[string]string {
	if tags == nil {
		return nil
	}
	m := map[string]string{}
	for _, t := range tags {
		k, v, _ := strings.Cut(t, "=")
		if k != "" {
			m[k] = v
		}
	}
	return m
}

// requireFlags reports every missing required flag at once, like az.
func requireFlags(c *cobra.Command, names ...string) error {
	var missing []string
	for _, n := range names {
		if !c.Flags().Changed(n) {
			missing = append(missing, "--"+n)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("the following arguments are required: %s", strings.Join(missing, ", "))
	}
	return nil
}

// resourceGroupOf derives the resource group from an ARM id, as az does.
func resourceGroupOf(id string) string {
	parts := strings.Split(id, "/")
	for i := 0; i+1 < len(parts); i++ {
		if strings.EqualFold(parts[i], "resourceGroups") {
			return parts[i+1]
		}
	}
	return ""
}

// flatten mirrors az's output for identities, credentials and role
// assignments: properties lifted to the top level, plus resourceGroup.
func flatten(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	out := map[string]any{}
	for k, v := range m {
		if k != "properties" {
			out[k] = v
		}
	}
	if props, ok := m["properties"].(map[string]any); ok {
		for k, v := range props {
			out[k] = v
		}
	}
	if id, ok := m["id"].(string); ok {
		out["resourceGroup"] = resourceGroupOf(id)
	}
	return out
}

func flattenAll(items []map[string]any) []any {
	out := make([]any, len(items))
	for i, it := range items {
		out[i] = flatten(it)
	}
	return out
}

func (e *env) groupCmd() *cobra.Command {
	c := &cobra.Command{Use: "group", Short: "Manage resource groups"}
	create := e.createCmd(groups, "Create a new resource group", "Name of the new resource group", "  wif group create -n myRG -l eastus",
		func(_ *client, location string, tags map[string]string) any {
			return armapi.ResourceGroup{TrackedResource: armapi.TrackedResource{Location: location, Tags: tags}}
		})
	show := e.itemCmd(groups, http.MethodGet, "show", "Get a resource group", "Name of the resource group")
	list := e.listCmd(groups, "List resource groups")
	del := e.itemCmd(groups, http.MethodDelete, "delete", "Delete a resource group and everything in it", "Name of the resource group")
	c.AddCommand(create, show, list, del)
	return c
}

func groupOut(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	if _, ok := m["managedBy"]; !ok {
		m["managedBy"] = nil
	}
	return m
}

var identities = resourceType{path: "Microsoft.ManagedIdentity/userAssignedIdentities", out: flatten}

func identityPath(sub, rg, name string) string { return identities.itemPath(sub, rg, name) }

func (e *env) identityCmd() *cobra.Command {
	c := &cobra.Command{Use: "identity", Short: "Manage user-assigned managed identities"}
	create := e.createCmd(identities, "Create an identity", "Identity resource name", `  wif identity create --name my-app-identity --resource-group myRG`,
		func(_ *client, location string, tags map[string]string) any {
			return armapi.Identity{TrackedResource: armapi.TrackedResource{Location: location, Tags: tags}}
		})
	show := e.itemCmd(identities, http.MethodGet, "show", "Show an identity", "Identity resource name")
	show.Example = `  CLIENT_ID=$(wif identity show --name my-app-identity --resource-group myRG --query clientId -o tsv)`
	list := e.listCmd(identities, "List identities")
	del := e.itemCmd(identities, http.MethodDelete, "delete", "Delete an identity", "Identity resource name")

	c.AddCommand(create, show, list, del, e.ficCmd())
	return c
}

func (e *env) ficCmd() *cobra.Command {
	c := &cobra.Command{Use: "federated-credential", Short: "Manage federated identity credentials of an identity"}
	var name, identity, rg, issuer, subject, expr, description string
	var exprVersion int
	var audiences []string
	ficPath := func(cl *client, sub func(*client) string, n string) string {
		p := identityPath(sub(cl), rg, identity) + "/federatedIdentityCredentials"
		if n != "" {
			p += "/" + seg(n)
		}
		return p
	}
	// command builds one subcommand: its flags, and run once the required
	// flags are there.
	command := func(use, short string, withName bool, run func(cmd *cobra.Command, cl *client, path string) error, extra ...string) *cobra.Command {
		cmd := &cobra.Command{Use: use, Short: short, Args: cobra.NoArgs}
		sub := subscriptionFlag(cmd)
		required := append([]string{"identity-name", "resource-group"}, extra...)
		if withName {
			cmd.Flags().StringVarP(&name, "name", "n", "", "Name of the federated identity credential")
			required = append([]string{"name"}, required...)
		}
		cmd.Flags().StringVar(&identity, "identity-name", "", "Name of the identity")
		cmd.Flags().StringVarP(&rg, "resource-group", "g", "", "Name of resource group")
		e.addOutputFlags(cmd)
		cmd.RunE = func(cmd *cobra.Command, _ []string) error {
			cl, err := e.clientFor(cmd, required...)
			if err != nil {
				return err
			}
			n := ""
			if withName {
				n = name
			}
			return run(cmd, cl, ficPath(cl, sub, n))
		}
		return cmd
	}
	printOne := func(method string) func(*cobra.Command, *client, string) error {
		return func(cmd *cobra.Command, cl *client, path string) error {
			out, err := cl.do(cmd.Context(), method, path, nil)
			if err != nil || method == http.MethodDelete {
				return err
			}
			return e.print(flatten(out))
		}
	}

	put := func(verb string) *cobra.Command {
		cmd := command(verb, verb+" a federated identity credential", true, func(cmd *cobra.Command, cl *client, path string) error {
			if subject == "" && expr == "" {
				return errors.New("one of --subject or --claims-matching-expression is required")
			}
			props := &armapi.FederatedIdentityCredentialProperties{Issuer: issuer, Description: description, Audiences: audiences}
			if subject != "" {
				props.Subject = &subject
			}
			if expr != "" {
				props.ClaimsMatchingExpression = &armapi.ClaimsMatchingExpression{Value: expr, LanguageVersion: exprVersion}
			}
			if len(props.Audiences) == 0 {
				props.Audiences = []string{federation.DefaultAudience}
			}
			out, err := cl.do(cmd.Context(), http.MethodPut, path, armapi.FederatedIdentityCredential{Properties: props})
			if err != nil {
				return err
			}
			return e.print(flatten(out))
		}, "issuer")
		cmd.Example = `  wif identity federated-credential create --name my-federated-id --identity-name my-app-identity \
    --resource-group myRG --issuer "$AKS_OIDC_ISSUER" --subject system:serviceaccount:default:my-app-sa
  wif identity federated-credential create --name team-apps --identity-name my-app-identity -g myRG \
    --issuer "$AKS_OIDC_ISSUER" --claims-matching-expression "claims['sub'] matches 'system:serviceaccount:team-*:app'"`
		f := cmd.Flags()
		f.StringVar(&issuer, "issuer", "", "OpenID Connect issuer URL of the external identity provider")
		f.StringVar(&subject, "subject", "", "Subject (sub claim) of the external tokens, e.g. system:serviceaccount:NS:SA")
		f.StringSliceVar(&audiences, "audiences", nil, "Audience of the external tokens (default api://AzureADTokenExchange)")
		f.StringVar(&expr, "claims-matching-expression", "", "Claims-matching expression (instead of --subject), e.g. claims['sub'] matches 'system:serviceaccount:team-*:app'")
		f.StringVar(&expr, "claims-matching-expression-value", "", "Same as --claims-matching-expression")
		f.IntVar(&exprVersion, "claims-matching-expression-version", 1, "Language version of the claims-matching expression")
		f.StringVar(&description, "description", "", "Description")
		return cmd
	}

	show := command("show", "Show a federated identity credential", true, printOne(http.MethodGet))
	list := command("list", "List the federated identity credentials of an identity", false, func(cmd *cobra.Command, cl *client, path string) error {
		items, err := cl.list(cmd.Context(), path)
		if err != nil {
			return err
		}
		return e.print(flattenAll(items))
	})
	var yes bool
	del := command("delete", "Delete a federated identity credential", true, printOne(http.MethodDelete))
	del.Flags().BoolVarP(&yes, "yes", "y", false, "Do not prompt for confirmation")

	c.AddCommand(put("create"), put("update"), show, list, del)
	return c
}
