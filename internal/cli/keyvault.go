package cli

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/spf13/cobra"
)

var vaults = resourceType{path: "Microsoft.KeyVault/vaults", out: vaultOut}

func vaultPath(sub, rg, name string) string { return vaults.itemPath(sub, rg, name) }

// vaultOut mirrors az: the ARM object plus resourceGroup and systemData.
func vaultOut(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	if id, ok := m["id"].(string); ok {
		m["resourceGroup"] = resourceGroupOf(id)
	}
	if _, ok := m["systemData"]; !ok {
		m["systemData"] = nil
	}
	// az prints every attribute of its SDK model, null when unset.
	if props, ok := m["properties"].(map[string]any); ok {
		for _, k := range []string{"createMode", "enablePurgeProtection", "hsmPoolResourceId", "networkAcls", "privateEndpointConnections"} {
			if _, ok := props[k]; !ok {
				props[k] = nil
			}
		}
	}
	return m
}

// findVaultGroup finds a vault's resource group by name, as az does when
// -g is not given.
func findVaultGroup(ctx context.Context, cl *client, sub, name string) (string, error) {
	items, err := cl.list(ctx, "/subscriptions/"+seg(sub)+"/resources?$filter="+url.QueryEscape("resourceType eq 'Microsoft.KeyVault/vaults'"))
	if err != nil {
		return "", err
	}
	for _, it := range items {
		m := it.(map[string]any)
		if n, _ := m["name"].(string); strings.EqualFold(n, name) {
			return resourceGroupOf(m["id"].(string)), nil
		}
	}
	return "", &armError{Status: 404, Code: "ResourceNotFound", Message: fmt.Sprintf("The Vault '%s' not found within subscription.", name)}
}

func (e *env) keyvaultCmd() *cobra.Command {
	c := &cobra.Command{Use: "keyvault", Short: "Manage key vaults"}
	var name, rg, location, sku string
	var rbacAuth bool
	var retention int
	var tags []string

	create := &cobra.Command{Use: "create", Short: "Create a key vault", Args: cobra.NoArgs,
		Example: "  wif keyvault create -n myvault -g myRG"}
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
		body := map[string]any{"location": location, "properties": map[string]any{
			"tenantId": cl.profile.TenantID, "sku": map[string]any{"family": "A", "name": sku},
			"enableRbacAuthorization": rbacAuth, "softDeleteRetentionInDays": retention,
		}}
		if t := parseTags(tags); t != nil {
			body["tags"] = t
		}
		out, err := cl.do(cmd.Context(), http.MethodPut, vaultPath(sub(cl), rg, name), body)
		if err != nil {
			return err
		}
		return e.print(vaultOut(out))
	}
	create.Flags().StringVarP(&name, "name", "n", "", "Name of the key vault")
	create.Flags().StringVarP(&rg, "resource-group", "g", "", "Name of resource group")
	create.Flags().StringVarP(&location, "location", "l", "", "Location (default: the resource group's)")
	create.Flags().StringVar(&sku, "sku", "standard", "SKU: standard or premium")
	create.Flags().BoolVar(&rbacAuth, "enable-rbac-authorization", true, "Authorize data actions with RBAC")
	create.Flags().IntVar(&retention, "retention-days", 90, "Soft-delete retention in days (7-90)")
	create.Flags().StringSliceVar(&tags, "tags", nil, "Space-separated tags: key[=value]")
	e.addOutputFlags(create)

	show := &cobra.Command{Use: "show", Short: "Show a key vault", Args: cobra.NoArgs}
	showSub := subscriptionFlag(show)
	show.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := requireFlags(cmd, "name"); err != nil {
			return err
		}
		cl, err := e.client()
		if err != nil {
			return err
		}
		group := rg
		if group == "" {
			if group, err = findVaultGroup(cmd.Context(), cl, showSub(cl), name); err != nil {
				return err
			}
		}
		out, err := cl.do(cmd.Context(), http.MethodGet, vaultPath(showSub(cl), group, name), nil)
		if err != nil {
			return err
		}
		return e.print(vaultOut(out))
	}
	show.Flags().StringVarP(&name, "name", "n", "", "Name of the key vault")
	show.Flags().StringVarP(&rg, "resource-group", "g", "", "Name of resource group (default: found by name)")
	e.addOutputFlags(show)

	list := e.listCmd(vaults, "List key vaults")

	del := &cobra.Command{Use: "delete", Short: "Delete a key vault", Args: cobra.NoArgs}
	delSub := subscriptionFlag(del)
	del.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := requireFlags(cmd, "name"); err != nil {
			return err
		}
		cl, err := e.client()
		if err != nil {
			return err
		}
		group := rg
		if group == "" {
			if group, err = findVaultGroup(cmd.Context(), cl, delSub(cl), name); err != nil {
				return err
			}
		}
		_, err = cl.do(cmd.Context(), http.MethodDelete, vaultPath(delSub(cl), group, name), nil)
		return err
	}
	del.Flags().StringVarP(&name, "name", "n", "", "Name of the key vault")
	del.Flags().StringVarP(&rg, "resource-group", "g", "", "Name of resource group (default: found by name)")
	e.addOutputFlags(del)

	c.AddCommand(create, show, list, del)
	return c
}
