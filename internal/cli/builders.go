package cli

import (
	"net/http"

	"github.com/spf13/cobra"
)

// resourceType is an ARM resource type under a provider, e.g.
// "Microsoft.KeyVault/vaults", or the resource groups, with how az prints
// one item.
type resourceType struct {
	path  string // provider/type, e.g. "Microsoft.ManagedIdentity/userAssignedIdentities"; "" for resource groups
	out   func(map[string]any) map[string]any
	group bool // the resource groups themselves
}

var groups = resourceType{out: groupOut, group: true}

// itemPath is the path of one resource (rg is unused for a group).
func (t resourceType) itemPath(sub, rg, name string) string {
	if t.group {
		return "/subscriptions/" + seg(sub) + "/resourcegroups/" + seg(name)
	}
	return "/subscriptions/" + seg(sub) + "/resourceGroups/" + seg(rg) + "/providers/" + t.path + "/" + seg(name)
}

// listPath is the path of the resources of a subscription, or of one
// resource group when rg is not empty.
func (t resourceType) listPath(sub, rg string) string {
	switch {
	case t.group:
		return "/subscriptions/" + seg(sub) + "/resourcegroups"
	case rg != "":
		return "/subscriptions/" + seg(sub) + "/resourceGroups/" + seg(rg) + "/providers/" + t.path
	}
	return "/subscriptions/" + seg(sub) + "/providers/" + t.path
}

// nameFlags adds --name and, for resources in a group, --resource-group.
func (t resourceType) nameFlags(c *cobra.Command, name, rg *string, nameHelp string) []string {
	c.Flags().StringVarP(name, "name", "n", "", nameHelp)
	if t.group {
		return []string{"name"}
	}
	c.Flags().StringVarP(rg, "resource-group", "g", "", "Name of resource group")
	return []string{"name", "resource-group"}
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
		items, err := cl.list(cmd.Context(), t.listPath(sub(cl), rg))
		if err != nil {
			return err
		}
		out := make([]any, len(items))
		for i, it := range items {
			out[i] = t.out(it)
		}
		return e.print(out)
	}
	if !t.group {
		c.Flags().StringVarP(&rg, "resource-group", "g", "", "Name of resource group (default: all)")
	}
	e.addOutputFlags(c)
	return c
}

// itemCmd builds "show" (GET) or "delete" (DELETE) of one resource given
// by --name (and --resource-group).
func (e *env) itemCmd(t resourceType, method, use, short, nameHelp string) *cobra.Command {
	var name, rg string
	var yes bool
	c := &cobra.Command{Use: use, Short: short, Args: cobra.NoArgs}
	sub := subscriptionFlag(c)
	required := t.nameFlags(c, &name, &rg, nameHelp)
	c.RunE = func(cmd *cobra.Command, _ []string) error {
		cl, err := e.clientFor(cmd, required...)
		if err != nil {
			return err
		}
		out, err := cl.do(cmd.Context(), method, t.itemPath(sub(cl), rg, name), nil)
		if err != nil || method == http.MethodDelete {
			return err
		}
		return e.print(t.out(out))
	}
	if method == http.MethodDelete {
		c.Flags().BoolVarP(&yes, "yes", "y", false, "Do not prompt for confirmation")
	}
	e.addOutputFlags(c)
	return c
}

// createCmd builds az's "create" of a resource: --name, --resource-group,
// --location (required for a group; else defaulting to the group's, as
// az does) and --tags; body builds the PUT body from the location and
// tags (nil when --tags is not given), and any flags of its own that the
// caller adds to the returned command.
func (e *env) createCmd(t resourceType, short, nameHelp, example string, body func(cl *client, location string, tags map[string]string) any) *cobra.Command {
	var name, rg, location string
	var tags []string
	c := &cobra.Command{Use: "create", Short: short, Args: cobra.NoArgs, Example: example}
	sub := subscriptionFlag(c)
	required := t.nameFlags(c, &name, &rg, nameHelp)
	locationHelp := "Location (default: the resource group's)"
	if t.group {
		required = append(required, "location")
		locationHelp = "Location, e.g. eastus"
	}
	c.Flags().StringVarP(&location, "location", "l", "", locationHelp)
	c.Flags().StringSliceVar(&tags, "tags", nil, "Space-separated tags: key[=value]")
	c.RunE = func(cmd *cobra.Command, _ []string) error {
		cl, err := e.clientFor(cmd, required...)
		if err != nil {
			return err
		}
		loc := location
		if !t.group {
			if loc, err = cl.groupLocation(cmd.Context(), sub(cl), rg, location); err != nil {
				return err
			}
		}
		out, err := cl.do(cmd.Context(), http.MethodPut, t.itemPath(sub(cl), rg, name), body(cl, loc, parseTags(tags)))
		if err != nil {
			return err
		}
		return e.print(t.out(out))
	}
	e.addOutputFlags(c)
	return c
}
