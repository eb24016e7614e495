package arm

import (
	"errors"
	"net/http"
	"strings"

	"github.com/wifproject/wif/internal/federation"
	"github.com/wifproject/wif/internal/store"
)

const (
	typeGroup    = "Microsoft.Resources/resourceGroups"
	typeIdentity = "Microsoft.ManagedIdentity/userAssignedIdentities"
	typeFIC      = "Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials"
)

func groupScope(sub, rg string) string { return "/subscriptions/" + sub + "/resourceGroups/" + rg }

func identityScope(sub, rg, name string) string {
	return groupScope(sub, rg) + "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/" + name
}

func (h *Handler) listTenants(q *request) (response, error) {
	t, err := h.db.GetTenant(q.ctx(), q.caller.TenantID)
	if err != nil {
		return response{}, err
	}
	return ok(map[string]any{"value": []any{map[string]any{
		"id": "/tenants/" + t.ID, "tenantId": t.ID, "tenantCategory": "Home", "displayName": "wif tenant " + t.ID,
		"defaultDomain": t.ID + ".wif.localhost", "domains": []string{}, "tenantType": "AAD",
	}}})
}

func subscriptionJSON(s store.Subscription) map[string]any {
	return map[string]any{
		"id":                   "/subscriptions/" + s.ID,
		"subscriptionId":       s.ID,
		"tenantId":             s.TenantID,
		"displayName":          s.DisplayName,
		"state":                s.State,
		"subscriptionPolicies": map[string]any{"locationPlacementId": "Public_2014-09-01", "quotaId": "wif", "spendingLimit": "Off"},
		"authorizationSource":  "RoleBased",
		"managedByTenants":     []any{},
	}
}

// listSubscriptions lists the caller's tenant's subscriptions in which the
// caller holds any role, as ARM does.
func (h *Handler) listSubscriptions(q *request) (response, error) {
	subs, err := h.db.ListSubscriptions(q.ctx(), q.caller.TenantID)
	if err != nil {
		return response{}, err
	}
	as, err := h.db.ListRoleAssignments(q.ctx(), store.RoleAssignmentFilter{PrincipalID: q.caller.PrincipalID})
	if err != nil {
		return response{}, err
	}
	value := []any{}
	for _, s := range subs {
		prefix := strings.ToLower("/subscriptions/" + s.ID)
		for _, a := range as {
			sc := strings.ToLower(strings.TrimSuffix(a.Scope, "/"))
			if sc == "" || sc == prefix || strings.HasPrefix(sc, prefix+"/") {
				value = append(value, subscriptionJSON(s))
				break
			}
		}
	}
	return ok(map[string]any{"value": value})
}

// --- resource groups ---

func groupJSON(g store.ResourceGroup) map[string]any {
	return map[string]any{
		"id":         groupScope(g.SubscriptionID, g.Name),
		"name":       g.Name,
		"type":       typeGroup,
		"location":   g.Location,
		"tags":       tagsOrEmpty(g.Tags),
		"properties": map[string]any{"provisioningState": "Succeeded"},
	}
}

func tagsOrEmpty(t map[string]string) map[string]string {
	if t == nil {
		return map[string]string{}
	}
	return t
}

func (h *Handler) listGroups(q *request, sub store.Subscription) (response, error) {
	if err := h.authorize(q, "Microsoft.Resources/subscriptions/resourceGroups/read", q.id.scope()); err != nil {
		return response{}, err
	}
	gs, err := h.db.ListResourceGroups(q.ctx(), sub.ID)
	if err != nil {
		return response{}, err
	}
	value := make([]any, 0, len(gs))
	for _, g := range gs {
		value = append(value, groupJSON(g))
	}
	return ok(map[string]any{"value": value})
}

// authorizeList checks that the resource group of the path exists (when
// it names one) and that the caller may perform action over it or over
// the subscription.
func (h *Handler) authorizeList(q *request, sub store.Subscription, action string) error {
	if rg := q.id.ResourceGroup; rg != "" {
		if _, err := h.db.GetResourceGroup(q.ctx(), sub.ID, rg); errors.Is(err, store.ErrNotFound) {
			return groupNotFound(rg)
		} else if err != nil {
			return err
		}
	}
	return h.authorize(q, action, q.id.scope())
}

func groupNotFound(name string) error {
	return errf(http.StatusNotFound, "ResourceGroupNotFound", "Resource group '%s' could not be found.", name)
}

func (h *Handler) group(q *request, sub store.Subscription) (response, error) {
	name, scope := q.id.ResourceGroup, q.id.scope()
	switch q.r.Method {
	case http.MethodGet, http.MethodHead:
		if err := h.authorize(q, "Microsoft.Resources/subscriptions/resourceGroups/read", scope); err != nil {
			return response{}, err
		}
		g, err := h.db.GetResourceGroup(q.ctx(), sub.ID, name)
		if errors.Is(err, store.ErrNotFound) {
			return response{}, groupNotFound(name)
		} else if err != nil {
			return response{}, err
		}
		if q.r.Method == http.MethodHead {
			return response{status: http.StatusNoContent}, nil
		}
		return ok(groupJSON(g))
	case http.MethodPut, http.MethodPatch:
		if err := h.authorize(q, "Microsoft.Resources/subscriptions/resourceGroups/write", scope); err != nil {
			return response{}, err
		}
		var body struct {
			ID         string            `json:"id"`
			Name       string            `json:"name"`
			Type       string            `json:"type"`
			Location   string            `json:"location"`
			ManagedBy  *string           `json:"managedBy"`
			Tags       map[string]string `json:"tags"`
			Properties map[string]any    `json:"properties"`
		}
		if err := decode(q, &body); err != nil {
			return response{}, err
		}
		g := store.ResourceGroup{SubscriptionID: sub.ID, Name: name, Location: body.Location, Tags: body.Tags}
		if q.r.Method == http.MethodPatch {
			cur, err := h.db.GetResourceGroup(q.ctx(), sub.ID, name)
			if errors.Is(err, store.ErrNotFound) {
				return response{}, groupNotFound(name)
			} else if err != nil {
				return response{}, err
			}
			g.Location = cur.Location
			if g.Tags == nil {
				g.Tags = cur.Tags
			}
		}
		if g.Location == "" {
			return response{}, errf(http.StatusBadRequest, "LocationRequired", "The location property is required for this definition.")
		}
		stored, isNew, err := h.db.PutResourceGroup(q.ctx(), g)
		if err != nil {
			return response{}, err
		}
		if isNew {
			return created(groupJSON(stored))
		}
		return ok(groupJSON(stored))
	case http.MethodDelete:
		if err := h.authorize(q, "Microsoft.Resources/subscriptions/resourceGroups/delete", scope); err != nil {
			return response{}, err
		}
		err := h.db.DeleteResourceGroup(q.ctx(), sub.ID, name)
		if errors.Is(err, store.ErrNotFound) {
			return response{}, groupNotFound(name)
		} else if err != nil {
			return response{}, err
		}
		// Azure deletes groups asynchronously: 202 with a Location to poll.
		// wif has finished already, so the first poll answers 200.
		loc := strings.Replace(h.operationURL(sub.ID), "operationStatuses", "operationResults", 1)
		return response{status: http.StatusAccepted, location: loc}, nil
	}
	return response{}, methodNotAllowed(q)
}

func methodNotAllowed(q *request) error {
	return errf(http.StatusMethodNotAllowed, "MethodNotAllowed", "The method '%s' is not allowed on '%s'.", q.r.Method, q.r.URL.Path)
}

// --- managed identities ---

func identityJSON(p store.Principal) map[string]any {
	return map[string]any{
		"id":       "/subscriptions/" + p.SubscriptionID + "/resourcegroups/" + p.ResourceGroup + "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/" + p.Name,
		"name":     p.Name,
		"type":     typeIdentity,
		"location": p.Location,
		"tags":     tagsOrEmpty(p.Tags),
		"properties": map[string]any{
			"tenantId":       p.TenantID,
			"principalId":    p.ObjectID,
			"clientId":       p.ClientID,
			"isolationScope": "None",
		},
	}
}

func (h *Handler) listIdentities(q *request, sub store.Subscription) (response, error) {
	if err := h.authorizeList(q, sub, "Microsoft.ManagedIdentity/userAssignedIdentities/read"); err != nil {
		return response{}, err
	}
	ids, err := h.db.ListIdentities(q.ctx(), sub.ID, q.id.ResourceGroup)
	if err != nil {
		return response{}, err
	}
	value := make([]any, 0, len(ids))
	for _, p := range ids {
		value = append(value, identityJSON(p))
	}
	return ok(map[string]any{"value": value})
}

func identityNotFound(rg, name string) error {
	return errf(http.StatusNotFound, "ResourceNotFound", "The Resource 'Microsoft.ManagedIdentity/userAssignedIdentities/%s' under resource group '%s' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix", name, rg)
}

func (h *Handler) identity(q *request, sub store.Subscription) (response, error) {
	rg, name, scope := q.id.ResourceGroup, q.id.Name, q.id.scope()
	switch q.r.Method {
	case http.MethodGet:
		if err := h.authorize(q, "Microsoft.ManagedIdentity/userAssignedIdentities/read", scope); err != nil {
			return response{}, err
		}
		p, err := h.db.GetIdentity(q.ctx(), sub.ID, rg, name)
		if errors.Is(err, store.ErrNotFound) {
			if _, gerr := h.db.GetResourceGroup(q.ctx(), sub.ID, rg); errors.Is(gerr, store.ErrNotFound) {
				return response{}, groupNotFound(rg)
			}
			return response{}, identityNotFound(rg, name)
		} else if err != nil {
			return response{}, err
		}
		return ok(identityJSON(p))
	case http.MethodPut, http.MethodPatch:
		if err := h.authorize(q, "Microsoft.ManagedIdentity/userAssignedIdentities/write", scope); err != nil {
			return response{}, err
		}
		var body struct {
			ID         string            `json:"id"`
			Name       string            `json:"name"`
			Type       string            `json:"type"`
			Location   string            `json:"location"`
			Tags       map[string]string `json:"tags"`
			SystemData map[string]any    `json:"systemData"`
			Properties *struct {
				TenantID       string `json:"tenantId"`
				PrincipalID    string `json:"principalId"`
				ClientID       string `json:"clientId"`
				IsolationScope string `json:"isolationScope"`
			} `json:"properties"`
		}
		if err := decode(q, &body); err != nil {
			return response{}, err
		}
		rgRow, err := h.db.GetResourceGroup(q.ctx(), sub.ID, rg)
		if errors.Is(err, store.ErrNotFound) {
			return response{}, groupNotFound(rg)
		} else if err != nil {
			return response{}, err
		}
		p := store.Principal{
			ObjectID: newGUID(), ClientID: newGUID(), TenantID: sub.TenantID, Kind: store.KindManagedIdentity,
			DisplayName: name, SubscriptionID: sub.ID, ResourceGroup: rgRow.Name, Name: name,
			Location: body.Location, Tags: body.Tags,
		}
		if q.r.Method == http.MethodPatch {
			cur, err := h.db.GetIdentity(q.ctx(), sub.ID, rg, name)
			if errors.Is(err, store.ErrNotFound) {
				return response{}, identityNotFound(rg, name)
			} else if err != nil {
				return response{}, err
			}
			p = cur
			if body.Tags != nil {
				p.Tags = body.Tags
			}
		}
		if p.Location == "" {
			return response{}, errf(http.StatusBadRequest, "LocationRequired", "The location property is required for this definition.")
		}
		stored, isNew, err := h.db.PutIdentity(q.ctx(), p)
		if errors.Is(err, store.ErrParentNotFound) {
			return response{}, groupNotFound(rg)
		} else if err != nil {
			return response{}, err
		}
		if isNew {
			return created(identityJSON(stored))
		}
		return ok(identityJSON(stored))
	case http.MethodDelete:
		if err := h.authorize(q, "Microsoft.ManagedIdentity/userAssignedIdentities/delete", scope); err != nil {
			return response{}, err
		}
		err := h.db.DeleteIdentity(q.ctx(), sub.ID, rg, name)
		if errors.Is(err, store.ErrNotFound) {
			return response{status: http.StatusNoContent}, nil
		} else if err != nil {
			return response{}, err
		}
		return response{status: http.StatusOK}, nil
	}
	return response{}, methodNotAllowed(q)
}

// --- federated identity credentials ---

func ficJSON(p store.Principal, f store.FederatedCredential) map[string]any {
	props := map[string]any{
		"issuer":    f.Issuer,
		"audiences": []string{f.Audience},
	}
	if f.Expression != "" {
		props["claimsMatchingExpression"] = map[string]any{"value": f.Expression, "languageVersion": 1}
	} else {
		props["subject"] = f.Subject
	}
	if f.Description != "" {
		props["description"] = f.Description
	}
	return map[string]any{
		"id":         "/subscriptions/" + p.SubscriptionID + "/resourcegroups/" + p.ResourceGroup + "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/" + p.Name + "/federatedIdentityCredentials/" + f.Name,
		"name":       f.Name,
		"type":       typeFIC,
		"properties": props,
	}
}

// parentIdentity loads the identity a FIC request addresses.
func (h *Handler) parentIdentity(q *request, sub store.Subscription) (store.Principal, error) {
	rg, name := q.id.ResourceGroup, q.id.Name
	p, err := h.db.GetIdentity(q.ctx(), sub.ID, rg, name)
	if errors.Is(err, store.ErrNotFound) {
		return p, errf(http.StatusNotFound, "ParentResourceNotFound", "Can not perform requested operation on nested resource. Parent resource '%s' not found.", name)
	}
	return p, err
}

func (h *Handler) listFICs(q *request, sub store.Subscription) (response, error) {
	if err := h.authorize(q, "Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials/read", q.id.scope()); err != nil {
		return response{}, err
	}
	p, err := h.parentIdentity(q, sub)
	if err != nil {
		return response{}, err
	}
	fics, err := h.db.ListFederatedCredentials(q.ctx(), p.ObjectID)
	if err != nil {
		return response{}, err
	}
	value := make([]any, 0, len(fics))
	for _, f := range fics {
		value = append(value, ficJSON(p, f))
	}
	return ok(map[string]any{"value": value})
}

func (h *Handler) fic(q *request, sub store.Subscription) (response, error) {
	name, scope := q.id.ChildName, q.id.scope()
	action := "Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials/"
	switch q.r.Method {
	case http.MethodGet:
		action += "read"
	case http.MethodPut:
		action += "write"
	case http.MethodDelete:
		action += "delete"
	default:
		return response{}, methodNotAllowed(q)
	}
	if err := h.authorize(q, action, scope); err != nil {
		return response{}, err
	}
	p, err := h.parentIdentity(q, sub)
	if err != nil {
		return response{}, err
	}
	switch q.r.Method {
	case http.MethodGet:
		f, err := h.db.GetFederatedCredential(q.ctx(), p.ObjectID, name)
		if errors.Is(err, store.ErrNotFound) {
			return response{}, errf(http.StatusNotFound, "ResourceNotFound", "The Resource '%s/%s/federatedIdentityCredentials/%s' under resource group '%s' was not found.", typeIdentity, p.Name, name, p.ResourceGroup)
		} else if err != nil {
			return response{}, err
		}
		return ok(ficJSON(p, f))
	case http.MethodDelete:
		err := h.db.DeleteFederatedCredential(q.ctx(), p.ObjectID, name)
		if errors.Is(err, store.ErrNotFound) {
			return response{status: http.StatusNoContent}, nil
		} else if err != nil {
			return response{}, err
		}
		return response{status: http.StatusOK}, nil
	}

	var body struct {
		ID         string         `json:"id"`
		Name       string         `json:"name"`
		Type       string         `json:"type"`
		SystemData map[string]any `json:"systemData"`
		Properties *struct {
			Issuer                   string   `json:"issuer"`
			Subject                  *string  `json:"subject"`
			Audiences                []string `json:"audiences"`
			Description              string   `json:"description"`
			ClaimsMatchingExpression *struct {
				Value           string `json:"value"`
				LanguageVersion int    `json:"languageVersion"`
			} `json:"claimsMatchingExpression"`
		} `json:"properties"`
	}
	if err := decode(q, &body); err != nil {
		return response{}, err
	}
	if body.Properties == nil {
		return response{}, errf(http.StatusBadRequest, "BadRequest", "The federated identity credential properties are required.")
	}
	bp := body.Properties
	spec := federation.Spec{Name: name, Issuer: bp.Issuer, Description: bp.Description, Audiences: bp.Audiences}
	if bp.Audiences != nil && len(bp.Audiences) == 0 {
		return response{}, errf(http.StatusBadRequest, "BadRequest", "Federated identity credentials must have exactly one audience.")
	}
	if bp.Subject != nil {
		spec.Subject = *bp.Subject
	}
	if bp.ClaimsMatchingExpression != nil {
		spec.Expression = bp.ClaimsMatchingExpression.Value
		spec.LanguageVersion = bp.ClaimsMatchingExpression.LanguageVersion
		if spec.Expression == "" {
			return response{}, errf(http.StatusBadRequest, "BadRequest", "claimsMatchingExpression.value is required.")
		}
	}
	cred, err := federation.Validate(spec)
	if err != nil {
		return response{}, errf(http.StatusBadRequest, "BadRequest", "%v", err)
	}
	row := store.FederatedCredential{PrincipalID: p.ObjectID, Name: name, Issuer: cred.Issuer, Subject: cred.Subject, Audience: cred.Audience, Description: spec.Description, Expression: spec.Expression}
	if cred.Expr != nil {
		row.Expression = cred.Expr.String()
	}
	stored, isNew, err := h.db.PutFederatedCredential(q.ctx(), row, h.cfg.MaxFICsPerIdentity)
	switch {
	case errors.Is(err, store.ErrConflict):
		return response{}, errf(http.StatusBadRequest, "BadRequest", "Issuer and subject combination already exists for this Managed Identity.")
	case errors.Is(err, store.ErrLimit):
		return response{}, errf(http.StatusBadRequest, "BadRequest", "Too many Federated Identity Credentials are written to Managed Identity '%s'. The maximum is %d.", p.Name, h.cfg.MaxFICsPerIdentity)
	case errors.Is(err, store.ErrParentNotFound):
		return response{}, errf(http.StatusNotFound, "ParentResourceNotFound", "Can not perform requested operation on nested resource. Parent resource '%s' not found.", p.Name)
	case err != nil:
		return response{}, err
	}
	if isNew {
		return created(ficJSON(p, stored))
	}
	return ok(ficJSON(p, stored))
}
