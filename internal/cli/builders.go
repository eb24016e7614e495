package cli

import (
	"net/http"

	"github.com/spf13/cobra"
)

// resourceType is an ARM resource type under a provider, e.g.
// "Microsoft.KeyVault/vaults", with how az prints one item.
type resourceType struct {
	path string // provider/type, e.g. "Microsoft.ManagedIdentity/userAssignedIdentities"
	out  func(map[string]any) map[string]any
}

// itemPath is the path of one resource.
func (t resourceType) itemPath(sub, rg, name string) string {
	return "/subscriptions/" + seg(sub) + "/resourceGroups/" + seg(rg) + "/providers/" + t.path + "/" + seg(name)
}

// listCmd builds "list [-g RG]": the resources of the subscription, or of
// one resource group.
func (e *env) listCmd(t resourceType, short string) *cobra.Command {
	var rg string
	c := &cobra.Command{Use: "list", Short: short, Args: cobra.NoArgs}
	sub := subscriptionFlag(c)
	c.RunE = func(cmd *cobra.Command, _ []string) error {
		cl, err := e.client()
		if err != nil {
			return err
		}
		path := "/subscriptions/" + seg(sub(cl)) + "/providers/" + t.path
		if rg != "" {
			path = "/subscriptions/" + seg(sub(cl)) + "/resourceGroups/" + seg(rg) + "/providers/" + t.path
		}
		items, err := cl.list(cmd.Context(), path)
		if err != nil {
			return err
		}
		for i, it := range items {
			items[i] = t.out(it.(map[string]any))
		}
		return e.print(items)
	}
	c.Flags().StringVarP(&rg, "resource-group", "g", "", "Name of resource group (default: all)")
	e.addOutputFlags(c)
	return c
}

// itemCmd builds "show" (GET) or "delete" (DELETE) of one resource given
// by --name and --resource-group.
func (e *env) itemCmd(t resourceType, method, use, short, nameHelp string) *cobra.Command {
	var name, rg string
	var yes bool
	c := &cobra.Command{Use: use, Short: short, Args: cobra.NoArgs}
	sub := subscriptionFlag(c)
	c.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := requireFlags(cmd, "name", "resource-group"); err != nil {
			return err
		}
		cl, err := e.client()
		if err != nil {
			return err
		}
		out, err := cl.do(cmd.Context(), method, t.itemPath(sub(cl), rg, name), nil)
		if err != nil || method == http.MethodDelete {
			return err
		}
		return e.print(t.out(out))
	}
	c.Flags().StringVarP(&name, "name", "n", "", nameHelp)
	c.Flags().StringVarP(&rg, "resource-group", "g", "", "Name of resource group")
	if method == http.MethodDelete {
		c.Flags().BoolVarP(&yes, "yes", "y", false, "Do not prompt for confirmation")
	}
	e.addOutputFlags(c)
	return c
}
