package arm

import (
	"errors"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/wifproject/wif/internal/arm/armapi"
	"github.com/wifproject/wif/internal/keyvault"
	"github.com/wifproject/wif/internal/rbac"
	"github.com/wifproject/wif/internal/store"
)

var guidRule = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

var principalTypes = map[string]string{
	"user": "User", "group": "Group", "serviceprincipal": "ServicePrincipal", "foreigngroup": "ForeignGroup", "device": "Device",
}

// authzIndex finds "providers/Microsoft.Authorization" in the path: the
// role extension resources that live at any scope.
func authzIndex(seg []string) int {
	for i := 0; i+2 < len(seg); i++ {
		if strings.EqualFold(seg[i], "providers") && strings.EqualFold(seg[i+1], "Microsoft.Authorization") {
			return i
		}
	}
	return -1
}

// checkScope verifies that the scope of an extension path is one wif
// knows, that it exists and that it belongs to the caller's tenant: the
// root, a subscription, a resource group, a resource in it, or a secret of
// a vault. The scope is q.id's, which is what authorisation checks.
func (h *Handler) checkScope(q *request) error {
	p := q.id
	if p.authz == 0 {
		return nil
	}
	invalid := errf(http.StatusBadRequest, "InvalidScope", "The scope '%s' is not valid for this operation.", "/"+strings.Join(q.seg[:p.authz], "/"))
	if p.authz != p.scopeSegments() || p.Subscription == "" {
		return invalid
	}
	s, err := h.subscription(q)
	if err != nil || p.ResourceGroup == "" {
		return err
	}
	if _, err := h.db.GetResourceGroup(q.ctx(), s.ID, p.ResourceGroup); errors.Is(err, store.ErrNotFound) {
		return groupNotFound(p.ResourceGroup)
	} else if err != nil {
		return err
	}
	if p.Name == "" {
		return nil
	}
	resourceType := p.Namespace + "/" + p.Type
	if p.ChildName != "" {
		// A single secret of a vault is a scope too (Key Vault data actions).
		if resourceType != armapi.TypeVault || p.ChildType != "secrets" || !keyvault.ValidSecretName(p.ChildName) {
			return invalid
		}
	}
	t, known := h.types[strings.ToLower(resourceType)]
	if !known {
		return invalid
	}
	err = t.exists(q.ctx(), s.ID, p.ResourceGroup, p.Name)
	if errors.Is(err, store.ErrNotFound) {
		return errf(http.StatusNotFound, "ResourceNotFound", "The Resource '%s/%s' under resource group '%s' was not found.", resourceType, p.Name, p.ResourceGroup)
	}
	return err
}

// authorization serves roleDefinitions and roleAssignments at any scope.
func (h *Handler) authorization(q *request) (response, error) {
	scope := q.id.scope()
	if err := h.checkScope(q); err != nil {
		return response{}, err
	}
	rest := q.seg[q.id.authz+2:]
	switch {
	case q.id.Extension == "roleDefinitions" && q.r.Method == http.MethodGet:
		if q.id.authz > 0 {
			if err := h.authorize(q, "Microsoft.Authorization/roleDefinitions/read", scope); err != nil {
				return response{}, err
			}
		}
		switch len(rest) {
		case 1:
			return h.listRoleDefinitions(q, scope)
		case 2:
			def, found := rbac.BuiltIn(rest[1])
			if !found || !guidRule.MatchString(rest[1]) {
				return response{}, errf(http.StatusNotFound, "RoleDefinitionDoesNotExist", "The specified role definition with ID '%s' does not exist.", rest[1])
			}
			return ok(roleDefinitionJSON(scope, def))
		}
	case q.id.Extension == "roleAssignments":
		switch {
		case len(rest) == 1 && q.r.Method == http.MethodGet:
			if err := h.authorize(q, "Microsoft.Authorization/roleAssignments/read", scope); err != nil {
				return response{}, err
			}
			return h.listRoleAssignments(q, scope)
		case len(rest) == 2:
			return h.roleAssignment(q, scope, rest[1])
		}
	}
	return response{}, notFoundPath(q)
}

func roleDefinitionID(scope, guid string) string {
	if scope == "/" {
		return "/providers/Microsoft.Authorization/roleDefinitions/" + guid
	}
	return scope + "/providers/Microsoft.Authorization/roleDefinitions/" + guid
}

func roleDefinitionJSON(scope string, d rbac.RoleDefinition) armapi.RoleDefinition {
	perms := make([]armapi.Permission, len(d.Permissions))
	for i, p := range d.Permissions {
		perms[i] = armapi.Permission{Actions: p.Actions, NotActions: p.NotActions, DataActions: p.DataActions, NotDataActions: p.NotDataActions}
	}
	return armapi.RoleDefinition{
		ID:   roleDefinitionID(scope, d.Name),
		Name: d.Name,
		Type: armapi.TypeRoleDefinition,
		Properties: armapi.RoleDefinitionProperties{
			RoleName:         d.RoleName,
			Type:             d.RoleType,
			Description:      d.Description,
			AssignableScopes: d.AssignableScopes,
			Permissions:      perms,
			CreatedOn:        "2015-02-02T21:55:09.8806423Z",
			UpdatedOn:        "2024-01-01T00:00:00.0000000Z",
		},
	}
}

// roleNameFilter parses "roleName eq 'X'" from $filter.
func roleNameFilter(filter string) (string, bool) {
	f := strings.TrimSpace(filter)
	const prefix = "rolename eq '"
	if len(f) > len(prefix) && strings.EqualFold(f[:len(prefix)], prefix) && strings.HasSuffix(f, "'") {
		return strings.ReplaceAll(f[len(prefix):len(f)-1], "''", "'"), true
	}
	return "", false
}

func (h *Handler) listRoleDefinitions(q *request, scope string) (response, error) {
	filter := q.r.URL.Query().Get("$filter")
	var want string
	if filter != "" {
		name, ok := roleNameFilter(filter)
		if !ok && !strings.EqualFold(strings.TrimSpace(filter), "type eq 'BuiltInRole'") {
			return response{}, errf(http.StatusBadRequest, "InvalidFilter", "The filter '%s' is not supported. Supported: roleName eq '{name}', type eq 'BuiltInRole'.", filter)
		}
		want = name
	}
	page := armapi.Page[armapi.RoleDefinition]{Value: []armapi.RoleDefinition{}}
	for _, d := range rbac.BuiltIns() {
		if want == "" || strings.EqualFold(d.RoleName, want) {
			page.Value = append(page.Value, roleDefinitionJSON(scope, d))
		}
	}
	return ok(page)
}

func roleAssignmentJSON(a store.RoleAssignment) armapi.RoleAssignment {
	created := a.CreatedAt.UTC().Format(time.RFC3339Nano)
	return armapi.RoleAssignment{
		ProxyResource: armapi.ProxyResource{
			ID:   strings.TrimSuffix(a.Scope, "/") + "/providers/Microsoft.Authorization/roleAssignments/" + a.ID,
			Name: a.ID,
			Type: armapi.TypeRoleAssignment,
		},
		Properties: &armapi.RoleAssignmentProperties{
			RoleDefinitionID: a.RoleDefinitionID,
			PrincipalID:      a.PrincipalID,
			PrincipalType:    a.PrincipalType,
			Scope:            a.Scope,
			CreatedOn:        created,
			UpdatedOn:        created,
		},
	}
}

// listRoleAssignments lists the assignments at, above and below scope (as
// ARM does), or only at and above with $filter=atScope(), optionally
// restricted to one principal.
func (h *Handler) listRoleAssignments(q *request, scope string) (response, error) {
	filter := strings.TrimSpace(q.r.URL.Query().Get("$filter"))
	atScope, principal := false, ""
	for _, part := range splitAnd(filter) {
		lp := strings.ToLower(part)
		switch {
		case lp == "":
		case lp == "atscope()":
			atScope = true
		case strings.HasPrefix(lp, "principalid eq '") && strings.HasSuffix(lp, "'"):
			principal = part[len("principalId eq '") : len(part)-1]
		case strings.HasPrefix(lp, "assignedto('") && strings.HasSuffix(lp, "')"):
			principal = part[len("assignedTo('") : len(part)-2]
		default:
			return response{}, errf(http.StatusBadRequest, "InvalidFilter", "The filter '%s' is not supported. Supported: atScope(), principalId eq '{id}', assignedTo('{id}').", filter)
		}
	}
	as, err := h.db.ListRoleAssignments(q.ctx(), store.RoleAssignmentFilter{Scope: scope, AtOrAbove: true, Below: !atScope, PrincipalID: principal})
	if err != nil {
		return response{}, err
	}
	page := armapi.Page[armapi.RoleAssignment]{Value: make([]armapi.RoleAssignment, 0, len(as))}
	for _, a := range as {
		page.Value = append(page.Value, roleAssignmentJSON(a))
	}
	return ok(page)
}

func splitAnd(filter string) []string {
	var out []string
	for _, p := range regexp.MustCompile(`(?i)\s+and\s+`).Split(filter, -1) {
		out = append(out, strings.TrimSpace(p))
	}
	return out
}

func (h *Handler) roleAssignment(q *request, scope, name string) (response, error) {
	if !guidRule.MatchString(name) {
		return response{}, errf(http.StatusBadRequest, "InvalidRoleAssignmentId", "The role assignment ID '%s' is not valid. The role assignment ID must be a GUID.", name)
	}
	notFound := errf(http.StatusNotFound, "RoleAssignmentNotFound", "The role assignment '%s' is not found.", name)
	switch q.r.Method {
	case http.MethodGet:
		if err := h.authorize(q, "Microsoft.Authorization/roleAssignments/read", scope); err != nil {
			return response{}, err
		}
		a, err := h.db.GetRoleAssignment(q.ctx(), name)
		if errors.Is(err, store.ErrNotFound) || (err == nil && !strings.EqualFold(strings.TrimSuffix(a.Scope, "/"), strings.TrimSuffix(scope, "/"))) {
			return response{}, notFound
		} else if err != nil {
			return response{}, err
		}
		return ok(roleAssignmentJSON(a))
	case http.MethodDelete:
		if err := h.authorize(q, "Microsoft.Authorization/roleAssignments/delete", scope); err != nil {
			return response{}, err
		}
		a, err := h.db.GetRoleAssignment(q.ctx(), name)
		if errors.Is(err, store.ErrNotFound) || (err == nil && !strings.EqualFold(strings.TrimSuffix(a.Scope, "/"), strings.TrimSuffix(scope, "/"))) {
			return response{status: http.StatusNoContent}, nil
		} else if err != nil {
			return response{}, err
		}
		if err := h.db.DeleteRoleAssignment(q.ctx(), name); err != nil && !errors.Is(err, store.ErrNotFound) {
			return response{}, err
		}
		return ok(roleAssignmentJSON(a))
	case http.MethodPut:
	default:
		return response{}, methodNotAllowed(q)
	}
	if err := h.authorize(q, "Microsoft.Authorization/roleAssignments/write", scope); err != nil {
		return response{}, err
	}
	var body armapi.RoleAssignment
	if err := decode(q, &body); err != nil {
		return response{}, err
	}
	p := body.Properties
	switch {
	case p == nil || p.RoleDefinitionID == "":
		return response{}, errf(http.StatusBadRequest, "InvalidRequestContent", "The request content is missing properties.roleDefinitionId.")
	case p.PrincipalID == "":
		return response{}, errf(http.StatusBadRequest, "InvalidRequestContent", "The request content is missing properties.principalId.")
	case p.Condition != nil && *p.Condition != "":
		return response{}, errf(http.StatusBadRequest, "InvalidRoleAssignmentCondition", "Role assignment conditions are not supported by wif.")
	}
	guid, okID := rbac.RoleDefinitionGUID(p.RoleDefinitionID)
	def, okDef := rbac.BuiltIn(guid)
	if !okID || !okDef {
		return response{}, errf(http.StatusBadRequest, "RoleDefinitionDoesNotExist", "The specified role definition with ID '%s' does not exist.", p.RoleDefinitionID)
	}
	if !guidRule.MatchString(p.PrincipalID) {
		return response{}, errf(http.StatusBadRequest, "InvalidPrincipalId", "A valid principal ID must be provided for role assignment.")
	}
	principal, err := h.db.GetPrincipal(q.ctx(), p.PrincipalID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !strings.EqualFold(principal.TenantID, q.caller.TenantID)) {
		return response{}, errf(http.StatusBadRequest, "PrincipalNotFound", "Principal %s does not exist in the directory %s. Check that you have the correct principal ID. If you are creating this principal and then immediately assigning a role, this error might be related to a replication delay.", strings.ReplaceAll(p.PrincipalID, "-", ""), q.caller.TenantID)
	} else if err != nil {
		return response{}, err
	}
	ptype := "ServicePrincipal"
	if p.PrincipalType != "" {
		t, known := principalTypes[strings.ToLower(p.PrincipalType)]
		if !known {
			return response{}, errf(http.StatusBadRequest, "InvalidPrincipalType", "The principal type '%s' is not valid. Valid values: User, Group, ServicePrincipal, ForeignGroup, Device.", p.PrincipalType)
		}
		if t != "ServicePrincipal" {
			return response{}, errf(http.StatusBadRequest, "PrincipalTypeNotSupported", "Principal %s is a service principal, not a %s.", p.PrincipalID, t)
		}
		ptype = t
	}
	if existing, err := h.db.GetRoleAssignment(q.ctx(), name); err == nil {
		if !strings.EqualFold(strings.TrimSuffix(existing.Scope, "/"), strings.TrimSuffix(scope, "/")) ||
			!strings.EqualFold(existing.PrincipalID, principal.ObjectID) || !sameRole(existing.RoleDefinitionID, guid) {
			return response{}, errf(http.StatusConflict, "RoleAssignmentUpdateNotPermitted", "Tenant ID, application ID, principal ID, and scope are not allowed to be updated.")
		}
		return ok(roleAssignmentJSON(existing))
	}
	a, isNew, err := h.db.PutRoleAssignment(q.ctx(), store.RoleAssignment{
		ID: strings.ToLower(name), Scope: scope, RoleDefinitionID: roleDefinitionID(subscriptionScope(scope), def.Name),
		PrincipalID: principal.ObjectID, PrincipalType: ptype, CreatedAt: h.now(),
	})
	if errors.Is(err, store.ErrConflict) {
		return response{}, errf(http.StatusConflict, "RoleAssignmentExists", "The role assignment already exists.")
	} else if err != nil {
		return response{}, err
	}
	if isNew {
		return created(roleAssignmentJSON(a))
	}
	return ok(roleAssignmentJSON(a))
}

func sameRole(id, guid string) bool {
	g, ok := rbac.RoleDefinitionGUID(id)
	return ok && g == guid
}

// subscriptionScope returns "/subscriptions/{id}" of a scope, or "/".
func subscriptionScope(scope string) string {
	seg := strings.Split(strings.TrimPrefix(scope, "/"), "/")
	if len(seg) >= 2 && strings.EqualFold(seg[0], "subscriptions") {
		return "/subscriptions/" + seg[1]
	}
	return "/"
}
