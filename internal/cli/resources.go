package cli

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/spf13/cobra"
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

func flattenAll(items []any) []any {
	out := make([]any, len(items))
	for i, it := range items {
		m, _ := it.(map[string]any)
		out[i] = flatten(m)
	}
	return out
}

func (e *env) groupCmd() *cobra.Command {
	c := &cobra.Command{Use: "group", Short: "Manage resource groups"}
	var name, location string
	var tags []string

	create := &cobra.Command{
		Use: "create", Short: "Create a new resource group", Args: cobra.NoArgs,
		Example: "  wif group create -n myRG -l eastus",
	}
	sub := subscriptionFlag(create)
	create.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := requireFlags(cmd, "name", "location"); err != nil {
			return err
		}
		cl, err := e.client()
		if err != nil {
			return err
		}
		body := map[string]any{"location": location}
		if t := parseTags(tags); t != nil {
			body["tags"] = t
		}
		out, err := cl.do(cmd.Context(), http.MethodPut, "/subscriptions/"+seg(sub(cl))+"/resourcegroups/"+seg(name), body)
		if err != nil {
			return err
		}
		return e.print(groupOut(out))
	}
	create.Flags().StringVarP(&name, "name", "n", "", "Name of the new resource group")
	create.Flags().StringVarP(&location, "location", "l", "", "Location, e.g. eastus")
	create.Flags().StringSliceVar(&tags, "tags", nil, "Space-separated tags: key[=value]")
	e.addOutputFlags(create)

	show := &cobra.Command{Use: "show", Short: "Get a resource group", Args: cobra.NoArgs}
	showSub := subscriptionFlag(show)
	show.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := requireFlags(cmd, "name"); err != nil {
			return err
		}
		cl, err := e.client()
		if err != nil {
			return err
		}
		out, err := cl.do(cmd.Context(), http.MethodGet, "/subscriptions/"+seg(showSub(cl))+"/resourcegroups/"+seg(name), nil)
		if err != nil {
			return err
		}
		return e.print(groupOut(out))
	}
	show.Flags().StringVarP(&name, "name", "n", "", "Name of the resource group")
	e.addOutputFlags(show)

	list := &cobra.Command{Use: "list", Short: "List resource groups", Args: cobra.NoArgs}
	listSub := subscriptionFlag(list)
	list.RunE = func(cmd *cobra.Command, _ []string) error {
		cl, err := e.client()
		if err != nil {
			return err
		}
		items, err := cl.list(cmd.Context(), "/subscriptions/"+seg(listSub(cl))+"/resourcegroups")
		if err != nil {
			return err
		}
		for i, it := range items {
			items[i] = groupOut(it.(map[string]any))
		}
		return e.print(items)
	}
	e.addOutputFlags(list)

	var yes bool
	del := &cobra.Command{Use: "delete", Short: "Delete a resource group and everything in it", Args: cobra.NoArgs}
	delSub := subscriptionFlag(del)
	del.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := requireFlags(cmd, "name"); err != nil {
			return err
		}
		cl, err := e.client()
		if err != nil {
			return err
		}
		_, err = cl.do(cmd.Context(), http.MethodDelete, "/subscriptions/"+seg(delSub(cl))+"/resourcegroups/"+seg(name), nil)
		return err
	}
	del.Flags().StringVarP(&name, "name", "n", "", "Name of the resource group")
	del.Flags().BoolVarP(&yes, "yes", "y", false, "Do not prompt for confirmation")
	e.addOutputFlags(del)

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
	var name, rg, location string
	var tags []string

	create := &cobra.Command{Use: "create", Short: "Create an identity", Args: cobra.NoArgs,
		Example: `  wif identity create --name my-app-identity --resource-group myRG`}
	sub := subscriptionFlag(create)
	create.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := requireFlags(cmd, "name", "resource-group"); err != nil {
			return err
		}
		cl, err := e.client()
		if err != nil {
			return err
		}
		if location == "" {
			g, err := cl.do(cmd.Context(), http.MethodGet, "/subscriptions/"+seg(sub(cl))+"/resourcegroups/"+seg(rg), nil)
			if err != nil {
				return err
			}
			location, _ = g["location"].(string)
		}
		body := map[string]any{"location": location}
		if t := parseTags(tags); t != nil {
			body["tags"] = t
		}
		out, err := cl.do(cmd.Context(), http.MethodPut, identityPath(sub(cl), rg, name), body)
		if err != nil {
			return err
		}
		return e.print(flatten(out))
	}
	create.Flags().StringVarP(&name, "name", "n", "", "Identity resource name")
	create.Flags().StringVarP(&rg, "resource-group", "g", "", "Name of resource group")
	create.Flags().StringVarP(&location, "location", "l", "", "Location (default: the resource group's)")
	create.Flags().StringSliceVar(&tags, "tags", nil, "Space-separated tags: key[=value]")
	e.addOutputFlags(create)

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
	common := func(cmd *cobra.Command, withName bool) {
		if withName {
			cmd.Flags().StringVarP(&name, "name", "n", "", "Name of the federated identity credential")
		}
		cmd.Flags().StringVar(&identity, "identity-name", "", "Name of the identity")
		cmd.Flags().StringVarP(&rg, "resource-group", "g", "", "Name of resource group")
		e.addOutputFlags(cmd)
	}

	put := func(verb string) *cobra.Command {
		cmd := &cobra.Command{Use: verb, Short: verb + " a federated identity credential", Args: cobra.NoArgs,
			Example: `  wif identity federated-credential create --name my-federated-id --identity-name my-app-identity \
    --resource-group myRG --issuer "$AKS_OIDC_ISSUER" --subject system:serviceaccount:default:my-app-sa
  wif identity federated-credential create --name team-apps --identity-name my-app-identity -g myRG \
    --issuer "$AKS_OIDC_ISSUER" --claims-matching-expression "claims['sub'] matches 'system:serviceaccount:team-*:app'"`}
		sub := subscriptionFlag(cmd)
		cmd.RunE = func(cmd *cobra.Command, _ []string) error {
			if err := requireFlags(cmd, "name", "identity-name", "resource-group", "issuer"); err != nil {
				return err
			}
			if subject == "" && expr == "" {
				return errors.New("one of --subject or --claims-matching-expression is required")
			}
			cl, err := e.client()
			if err != nil {
				return err
			}
			props := map[string]any{"issuer": issuer}
			if subject != "" {
				props["subject"] = subject
			}
			if expr != "" {
				props["claimsMatchingExpression"] = map[string]any{"value": expr, "languageVersion": exprVersion}
			}
			if description != "" {
				props["description"] = description
			}
			auds := audiences
			if len(auds) == 0 {
				auds = []string{"api://AzureADTokenExchange"}
			}
			props["audiences"] = auds
			out, err := cl.do(cmd.Context(), http.MethodPut, ficPath(cl, sub, name), map[string]any{"properties": props})
			if err != nil {
				return err
			}
			return e.print(flatten(out))
		}
		common(cmd, true)
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

	show := &cobra.Command{Use: "show", Short: "Show a federated identity credential", Args: cobra.NoArgs}
	showSub := subscriptionFlag(show)
	show.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := requireFlags(cmd, "name", "identity-name", "resource-group"); err != nil {
			return err
		}
		cl, err := e.client()
		if err != nil {
			return err
		}
		out, err := cl.do(cmd.Context(), http.MethodGet, ficPath(cl, showSub, name), nil)
		if err != nil {
			return err
		}
		return e.print(flatten(out))
	}
	common(show, true)

	list := &cobra.Command{Use: "list", Short: "List the federated identity credentials of an identity", Args: cobra.NoArgs}
	listSub := subscriptionFlag(list)
	list.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := requireFlags(cmd, "identity-name", "resource-group"); err != nil {
			return err
		}
		cl, err := e.client()
		if err != nil {
			return err
		}
		items, err := cl.list(cmd.Context(), ficPath(cl, listSub, ""))
		if err != nil {
			return err
		}
		return e.print(flattenAll(items))
	}
	common(list, false)

	var yes bool
	del := &cobra.Command{Use: "delete", Short: "Delete a federated identity credential", Args: cobra.NoArgs}
	delSub := subscriptionFlag(del)
	del.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := requireFlags(cmd, "name", "identity-name", "resource-group"); err != nil {
			return err
		}
		cl, err := e.client()
		if err != nil {
			return err
		}
		_, err = cl.do(cmd.Context(), http.MethodDelete, ficPath(cl, delSub, name), nil)
		return err
	}
	common(del, true)
	del.Flags().BoolVarP(&yes, "yes", "y", false, "Do not prompt for confirmation")

	c.AddCommand(put("create"), put("update"), show, list, del)
	return c
}
