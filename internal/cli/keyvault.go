package cli

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/spf13/cobra"
	"github.com/wifproject/wif/internal/arm/armapi"
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
	items, err := listOf[armapi.GenericResource](ctx, cl, "/subscriptions/"+seg(sub)+"/resources?$filter="+url.QueryEscape("resourceType eq '"+armapi.TypeVault+"'"))
	if err != nil {
		return "", err
	}
	for _, it := range items {
		if strings.EqualFold(it.Name, name) {
			return resourceGroupOf(it.ID), nil
		}
	}
	return "", &armError{Status: 404, Code: "ResourceNotFound", Message: fmt.Sprintf("The Vault '%s' not found within subscription.", name)}
}

func (e *env) keyvaultCmd() *cobra.Command {
	c := &cobra.Command{Use: "keyvault", Short: "Manage key vaults"}
	var sku string
	var rbacAuth bool
	var retention int
	create := e.createCmd(vaults, "Create a key vault", "Name of the key vault", "  wif keyvault create -n myvault -g myRG",
		func(cl *client, location string, tags map[string]string) any {
			return armapi.Vault{TrackedResource: armapi.TrackedResource{Location: location, Tags: tags}, Properties: &armapi.VaultProperties{
				TenantID: cl.profile.TenantID, SKU: &armapi.VaultSKU{Family: "A", Name: sku},
				EnableRbacAuthorization: &rbacAuth, SoftDeleteRetentionInDays: &retention,
			}}
		})
	create.Flags().StringVar(&sku, "sku", "standard", "SKU: standard or premium")
	create.Flags().BoolVar(&rbacAuth, "enable-rbac-authorization", true, "Authorize data actions with RBAC")
	create.Flags().IntVar(&retention, "retention-days", 90, "Soft-delete retention in days (7-90)")

	// show and delete find the vault's group by name when -g is not given.
	item := func(method, use, short string) *cobra.Command {
		var name, rg string
		cmd := &cobra.Command{Use: use, Short: short, Args: cobra.NoArgs}
		sub := subscriptionFlag(cmd)
		cmd.RunE = func(cmd *cobra.Command, _ []string) error {
			cl, err := e.clientFor(cmd, "name")
			if err != nil {
				return err
			}
			group := rg
			if group == "" {
				if group, err = findVaultGroup(cmd.Context(), cl, sub(cl), name); err != nil {
					return err
				}
			}
			out, err := cl.do(cmd.Context(), method, vaultPath(sub(cl), group, name), nil)
			if err != nil || method == http.MethodDelete {
				return err
			}
			return e.print(vaultOut(out))
		}
		cmd.Flags().StringVarP(&name, "name", "n", "", "Name of the key vault")
		cmd.Flags().StringVarP(&rg, "resource-group", "g", "", "Name of resource group (default: found by name)")
		e.addOutputFlags(cmd)
		return cmd
	}
	c.AddCommand(create, item(http.MethodGet, "show", "Show a key vault"), e.listCmd(vaults, "List key vaults"), item(http.MethodDelete, "delete", "Delete a key vault"))
	return c
}
