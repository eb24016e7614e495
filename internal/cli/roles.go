package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/google/uuid"
	"github.com/spf13/cobra"
	"github.com/wifproject/wif/internal/arm/armapi"
)

func (e *env) roleCmd() *cobra.Command {
	c := &cobra.Command{Use: "role", Short: "Manage role definitions and assignments (RBAC)"}
	c.AddCommand(e.roleAssignmentCmd(), e.roleDefinitionCmd())
	return c
}

// scopeFrom resolves az's --scope / -g to a scope path.
func scopeFrom(cl *client, sub, scope, rg string) string {
	switch {
	case scope != "":
		return "/" + strings.Trim(scope, "/")
	case rg != "":
		return "/subscriptions/" + sub + "/resourceGroups/" + rg
	}
	return "/subscriptions/" + sub
}

func escapeScope(scope string) string {
	parts := strings.Split(strings.Trim(scope, "/"), "/")
	for i, p := range parts {
		parts[i] = seg(p)
	}
	return "/" + strings.Join(parts, "/")
}

// roleDefinitions fetches the role definitions visible at scope, filtered
// by name when name is not empty.
func roleDefinitions(ctx context.Context, cl *client, scope, name string) ([]armapi.RoleDefinition, error) {
	path := escapeScope(scope) + "/providers/Microsoft.Authorization/roleDefinitions"
	if name != "" {
		path += "?$filter=" + url.QueryEscape("roleName eq '"+strings.ReplaceAll(name, "'", "''")+"'")
	}
	return listOf[armapi.RoleDefinition](ctx, cl, path)
}

// resolveRole turns a role name or GUID into a role definition id.
func resolveRole(ctx context.Context, cl *client, scope, role string) (string, error) {
	if _, err := uuid.Parse(role); err == nil {
		return "/subscriptions/" + cl.profile.SubscriptionID + "/providers/Microsoft.Authorization/roleDefinitions/" + role, nil
	}
	if strings.Contains(role, "/providers/Microsoft.Authorization/roleDefinitions/") {
		return role, nil
	}
	defs, err := roleDefinitions(ctx, cl, scope, role)
	if err != nil {
		return "", err
	}
	if len(defs) != 1 {
		return "", fmt.Errorf("Role '%s' doesn't exist.", role)
	}
	return defs[0].ID, nil
}

// roleNames maps role definition GUIDs to names, for list output.
func roleNames(ctx context.Context, cl *client) map[string]string {
	defs, err := roleDefinitions(ctx, cl, "/subscriptions/"+cl.profile.SubscriptionID, "")
	names := map[string]string{}
	if err != nil {
		return names
	}
	for _, d := range defs {
		names[strings.ToLower(d.Name)] = d.Properties.RoleName
	}
	return names
}

func assignmentOut(m map[string]any, names map[string]string) map[string]any {
	out := flatten(m)
	if names != nil {
		id, _ := out["roleDefinitionId"].(string)
		parts := strings.Split(id, "/")
		out["roleDefinitionName"] = names[strings.ToLower(parts[len(parts)-1])]
		out["principalName"] = ""
	}
	return out
}

func (e *env) roleAssignmentCmd() *cobra.Command {
	c := &cobra.Command{Use: "assignment", Short: "Manage role assignments"}
	var assignee, ptype, role, scope, rg string
	var ids []string

	create := &cobra.Command{Use: "create", Short: "Assign a role to a principal at a scope", Args: cobra.NoArgs,
		Example: `  wif role assignment create --assignee-object-id $PRINCIPAL_ID --assignee-principal-type ServicePrincipal \
    --role "Key Vault Secrets User" --scope /subscriptions/$SUB/resourceGroups/myRG`}
	create.RunE = func(cmd *cobra.Command, _ []string) error {
		cl, err := e.clientFor(cmd, "assignee-object-id", "role")
		if err != nil {
			return err
		}
		sc := scopeFrom(cl, cl.profile.SubscriptionID, scope, rg)
		roleID, err := resolveRole(cmd.Context(), cl, sc, role)
		if err != nil {
			return err
		}
		out, err := assign(cmd.Context(), cl, sc, roleID, assignee, ptype)
		if err != nil {
			return err
		}
		return e.print(assignmentOut(out, nil))
	}
	create.Flags().StringVar(&assignee, "assignee-object-id", "", "Object id (principalId) of the assignee")
	create.Flags().StringVar(&ptype, "assignee-principal-type", "", "Principal type: ServicePrincipal (managed identities are service principals)")
	create.Flags().StringVar(&role, "role", "", "Role name or id, e.g. Reader")
	create.Flags().StringVar(&scope, "scope", "", "Scope, e.g. /subscriptions/0b1f6471-1bf0-4dda-aec3-111122223333/resourceGroups/myGroup (default: the subscription)")
	create.Flags().StringVarP(&rg, "resource-group", "g", "", "Use the resource group as the scope")
	e.addOutputFlags(create)

	list := &cobra.Command{Use: "list", Short: "List role assignments", Args: cobra.NoArgs}
	var all bool
	list.RunE = func(cmd *cobra.Command, _ []string) error {
		cl, err := e.client()
		if err != nil {
			return err
		}
		sc := scopeFrom(cl, cl.profile.SubscriptionID, scope, rg)
		path := escapeScope(sc) + "/providers/Microsoft.Authorization/roleAssignments"
		if assignee != "" {
			path += "?$filter=" + url.QueryEscape("principalId eq '"+assignee+"'")
		}
		items, err := cl.list(cmd.Context(), path)
		if err != nil {
			return err
		}
		names := roleNames(cmd.Context(), cl)
		out := []any{}
		for _, it := range items {
			m := assignmentOut(it, names)
			// Like az: without --all, only assignments at or above the scope.
			if !all && !scopeContains(m["scope"].(string), sc) {
				continue
			}
			if role != "" && !strings.EqualFold(role, m["roleDefinitionName"].(string)) && !strings.HasSuffix(strings.ToLower(m["roleDefinitionId"].(string)), strings.ToLower(role)) {
				continue
			}
			out = append(out, m)
		}
		return e.print(out)
	}
	list.Flags().StringVar(&assignee, "assignee", "", "Object id of a principal")
	list.Flags().StringVar(&role, "role", "", "Role name or id")
	list.Flags().StringVar(&scope, "scope", "", "Scope (default: the subscription)")
	list.Flags().StringVarP(&rg, "resource-group", "g", "", "Use the resource group as the scope")
	list.Flags().BoolVar(&all, "all", false, "Also show assignments below the scope")
	e.addOutputFlags(list)

	del := &cobra.Command{Use: "delete", Short: "Delete role assignments by --ids, or by --assignee, --role and --scope", Args: cobra.NoArgs}
	del.RunE = func(cmd *cobra.Command, _ []string) error {
		cl, err := e.client()
		if err != nil {
			return err
		}
		targets := ids
		if len(targets) == 0 {
			if assignee == "" && role == "" {
				return errors.New("please provide --ids, or at least one of --assignee and --role")
			}
			sc := scopeFrom(cl, cl.profile.SubscriptionID, scope, rg)
			path := escapeScope(sc) + "/providers/Microsoft.Authorization/roleAssignments?$filter=atScope()"
			items, err := cl.list(cmd.Context(), path)
			if err != nil {
				return err
			}
			names := roleNames(cmd.Context(), cl)
			for _, it := range items {
				m := assignmentOut(it, names)
				if !strings.EqualFold(strings.TrimSuffix(m["scope"].(string), "/"), strings.TrimSuffix(sc, "/")) {
					continue
				}
				if assignee != "" && !strings.EqualFold(assignee, m["principalId"].(string)) {
					continue
				}
				if role != "" && !strings.EqualFold(role, m["roleDefinitionName"].(string)) && !strings.HasSuffix(strings.ToLower(m["roleDefinitionId"].(string)), strings.ToLower(role)) {
					continue
				}
				targets = append(targets, m["id"].(string))
			}
		}
		for _, id := range targets {
			if _, err := cl.do(cmd.Context(), http.MethodDelete, escapeScope(id), nil); err != nil {
				return err
			}
		}
		return nil
	}
	del.Flags().StringSliceVar(&ids, "ids", nil, "Role assignment ids")
	del.Flags().StringVar(&assignee, "assignee", "", "Object id of a principal")
	del.Flags().StringVar(&role, "role", "", "Role name or id")
	del.Flags().StringVar(&scope, "scope", "", "Scope (default: the subscription)")
	del.Flags().StringVarP(&rg, "resource-group", "g", "", "Use the resource group as the scope")
	e.addOutputFlags(del)

	c.AddCommand(create, list, del)
	return c
}

// scopeContains reports whether scope is resource or one of its ancestors.
func scopeContains(scope, resource string) bool {
	s := strings.ToLower(strings.TrimSuffix(scope, "/"))
	r := strings.ToLower(strings.TrimSuffix(resource, "/"))
	return s == "" || s == r || strings.HasPrefix(r, s+"/")
}

func (e *env) roleDefinitionCmd() *cobra.Command {
	c := &cobra.Command{Use: "definition", Short: "Show role definitions"}
	var name, scope string
	list := &cobra.Command{Use: "list", Short: "List role definitions", Args: cobra.NoArgs,
		Example: `  wif role definition list --name "Key Vault Secrets User" --query "[].name" -o tsv`}
	list.RunE = func(cmd *cobra.Command, _ []string) error {
		cl, err := e.client()
		if err != nil {
			return err
		}
		sc := scope
		if sc == "" {
			sc = "/subscriptions/" + cl.profile.SubscriptionID
		}
		defs, err := roleDefinitions(cmd.Context(), cl, sc, name)
		if err != nil {
			return err
		}
		// az prints a definition with its properties lifted, and the
		// property "type" as roleType.
		out := make([]any, len(defs))
		for i, d := range defs {
			f := asJSON(d.Properties)
			f["roleType"] = f["type"]
			f["id"], f["name"], f["type"] = d.ID, d.Name, d.Type
			out[i] = f
		}
		return e.print(out)
	}
	list.Flags().StringVarP(&name, "name", "n", "", "Role name or id")
	list.Flags().StringVar(&scope, "scope", "", "Scope (default: the subscription)")
	e.addOutputFlags(list)
	c.AddCommand(list)
	return c
}

// assign creates a role assignment with a new id.
func assign(ctx context.Context, cl *client, scope, roleID, principalID, principalType string) (map[string]any, error) {
	body := armapi.RoleAssignment{Properties: &armapi.RoleAssignmentProperties{RoleDefinitionID: roleID, PrincipalID: principalID, PrincipalType: principalType}}
	return cl.do(ctx, http.MethodPut, escapeScope(scope)+"/providers/Microsoft.Authorization/roleAssignments/"+uuid.NewString(), body)
}

// asJSON is v in JSON's map form.
func asJSON(v any) map[string]any {
	b, _ := json.Marshal(v)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return m
}
