package arm

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/wifproject/wif/internal/arm/armapi"
	"github.com/wifproject/wif/internal/federation"
	"github.com/wifproject/wif/internal/store"
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
	return ok(armapi.Page[armapi.Tenant]{Value: []armapi.Tenant{{
		ID: "/tenants/" + t.ID, TenantID: t.ID, TenantCategory: "Home", DisplayName: "wif tenant " + t.ID,
		DefaultDomain: t.ID + ".wif.localhost", Domains: []string{}, TenantType: "AAD",
	}}})
}

func subscriptionJSON(s store.Subscription) armapi.Subscription {
	return armapi.Subscription{
		ID:                   "/subscriptions/" + s.ID,
		SubscriptionID:       s.ID,
		TenantID:             s.TenantID,
		DisplayName:          s.DisplayName,
		State:                s.State,
		SubscriptionPolicies: &armapi.SubscriptionPolicies{LocationPlacementID: "Public_2014-09-01", QuotaID: "wif", SpendingLimit: "Off"},
		AuthorizationSource:  "RoleBased",
		ManagedByTenants:     []armapi.ManagedByTenant{},
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
	page := armapi.Page[armapi.Subscription]{Value: []armapi.Subscription{}}
	for _, s := range subs {
		prefix := strings.ToLower("/subscriptions/" + s.ID)
		for _, a := range as {
			sc := strings.ToLower(strings.TrimSuffix(a.Scope, "/"))
			if sc == "" || sc == prefix || strings.HasPrefix(sc, prefix+"/") {
				page.Value = append(page.Value, subscriptionJSON(s))
				break
			}
		}
	}
	return ok(page)
}

// --- resource groups ---

func (h *Handler) groupType() *resourceType[armapi.ResourceGroup, store.ResourceGroup] {
	db := h.db
	return &resourceType[armapi.ResourceGroup, store.ResourceGroup]{
		typ:   "Microsoft.Resources/subscriptions/resourceGroups",
		group: true,
		get: func(ctx context.Context, sub, rg, _ string) (store.ResourceGroup, error) {
			return db.GetResourceGroup(ctx, sub, rg)
		},
		list: func(ctx context.Context, sub, _ string) ([]store.ResourceGroup, error) {
			return db.ListResourceGroups(ctx, sub)
		},
		put:  db.PutResourceGroup,
		del:  func(ctx context.Context, sub, rg, _ string) error { return db.DeleteResourceGroup(ctx, sub, rg) },
		wire: groupJSON,
		write: func(q *request, at target, body armapi.ResourceGroup, cur *store.ResourceGroup) (store.ResourceGroup, error) {
			g := store.ResourceGroup{SubscriptionID: at.sub.ID, Name: at.name, Location: body.Location, Tags: body.Tags}
			if q.r.Method == http.MethodPatch {
				g.Location = cur.Location
				if g.Tags == nil {
					g.Tags = cur.Tags
				}
			}
			if g.Location == "" {
				return g, locationRequired()
			}
			return g, nil
		},
	}
}

func groupJSON(g store.ResourceGroup) armapi.ResourceGroup {
	return armapi.ResourceGroup{
		TrackedResource: armapi.TrackedResource{
			ID:       groupScope(g.SubscriptionID, g.Name),
			Name:     g.Name,
			Type:     armapi.TypeResourceGroup,
			Location: g.Location,
			Tags:     tagsOrEmpty(g.Tags),
		},
		Properties: &armapi.ResourceGroupProperties{ProvisioningState: "Succeeded"},
	}
}

// --- managed identities ---

func (h *Handler) identityType() *resourceType[armapi.Identity, store.Principal] {
	db := h.db
	return &resourceType[armapi.Identity, store.Principal]{
		typ:  armapi.TypeIdentity,
		get:  db.GetIdentity,
		list: db.ListIdentities,
		put:  db.PutIdentity,
		del:  db.DeleteIdentity,
		wire: identityJSON,
		write: func(q *request, at target, body armapi.Identity, cur *store.Principal) (store.Principal, error) {
			if q.r.Method == http.MethodPatch {
				p := *cur
				if body.Tags != nil {
					p.Tags = body.Tags
				}
				return p, nil
			}
			// A PUT of an existing identity keeps its ids: the store keeps
			// the stored object and client id.
			group := at.group
			if cur != nil {
				group = cur.ResourceGroup
			}
			p := store.Principal{
				ObjectID: newGUID(), ClientID: newGUID(), TenantID: at.sub.TenantID, Kind: store.KindManagedIdentity,
				DisplayName: at.name, SubscriptionID: at.sub.ID, ResourceGroup: group, Name: at.name,
				Location: body.Location, Tags: body.Tags,
			}
			if p.Location == "" {
				return p, locationRequired()
			}
			return p, nil
		},
		child: h.identityChild,
	}
}

// identityID is an identity's id as az 2.45's SDK spells it
// ("resourcegroups"), which az reads back.
func identityID(p store.Principal) string {
	return "/subscriptions/" + p.SubscriptionID + "/resourcegroups/" + p.ResourceGroup + "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/" + p.Name
}

func identityJSON(p store.Principal) armapi.Identity {
	return armapi.Identity{
		TrackedResource: armapi.TrackedResource{
			ID:       identityID(p),
			Name:     p.Name,
			Type:     armapi.TypeIdentity,
			Location: p.Location,
			Tags:     tagsOrEmpty(p.Tags),
		},
		Properties: &armapi.IdentityProperties{
			TenantID:       p.TenantID,
			PrincipalID:    p.ObjectID,
			ClientID:       p.ClientID,
			IsolationScope: "None",
		},
	}
}

func identityNotFound(rg, name string) error { return resourceNotFound(armapi.TypeIdentity, rg, name) }

// identityChild serves .../userAssignedIdentities/{name}/federatedIdentityCredentials[/{fic}].
func (h *Handler) identityChild(q *request, sub store.Subscription) (response, error) {
	if strings.EqualFold(q.id.ChildType, "explainToken") && q.id.ChildName == "" && q.r.Method == http.MethodPost {
		return h.explainToken(q, sub)
	}
	if !strings.EqualFold(q.id.ChildType, "federatedIdentityCredentials") {
		return response{}, notFoundPath(q)
	}
	if q.id.ChildName == "" {
		if q.r.Method != http.MethodGet {
			return response{}, notFoundPath(q)
		}
		return h.listFICs(q, sub)
	}
	return h.fic(q, sub)
}

// --- federated identity credentials ---

func ficJSON(p store.Principal, f store.FederatedCredential) armapi.FederatedIdentityCredential {
	props := &armapi.FederatedIdentityCredentialProperties{
		Issuer:      f.Issuer,
		Audiences:   []string{f.Audience},
		Description: f.Description,
	}
	if f.Expression != "" {
		props.ClaimsMatchingExpression = &armapi.ClaimsMatchingExpression{Value: f.Expression, LanguageVersion: 1}
	} else {
		props.Subject = &f.Subject
	}
	return armapi.FederatedIdentityCredential{
		ProxyResource: armapi.ProxyResource{
			ID:   identityID(p) + "/federatedIdentityCredentials/" + f.Name,
			Name: f.Name,
			Type: armapi.TypeFederatedCredential,
		},
		Properties: props,
	}
}

// parentIdentity loads the identity a FIC request addresses.
func (h *Handler) parentIdentity(q *request, sub store.Subscription) (store.Principal, error) {
	rg, name := q.id.ResourceGroup, q.id.Name
	p, err := h.db.GetIdentity(q.ctx(), sub.ID, rg, name)
	if errors.Is(err, store.ErrNotFound) {
		return p, parentNotFound(name)
	}
	return p, err
}

func parentNotFound(name string) error {
	return errf(http.StatusNotFound, "ParentResourceNotFound", "Can not perform requested operation on nested resource. Parent resource '%s' not found.", name)
}

func (h *Handler) listFICs(q *request, sub store.Subscription) (response, error) {
	if err := h.authorize(q, armapi.TypeFederatedCredential+"/read", q.id.scope()); err != nil {
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
	page := armapi.Page[armapi.FederatedIdentityCredential]{Value: make([]armapi.FederatedIdentityCredential, 0, len(fics))}
	for _, f := range fics {
		page.Value = append(page.Value, ficJSON(p, f))
	}
	return ok(page)
}

func (h *Handler) fic(q *request, sub store.Subscription) (response, error) {
	name, scope := q.id.ChildName, q.id.scope()
	action := armapi.TypeFederatedCredential + "/"
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
			return response{}, errf(http.StatusNotFound, "ResourceNotFound", "The Resource '%s/%s/federatedIdentityCredentials/%s' under resource group '%s' was not found.", armapi.TypeIdentity, p.Name, name, p.ResourceGroup)
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

	var body armapi.FederatedIdentityCredential
	if err := decode(q, &body); err != nil {
		return response{}, err
	}
	row, err := ficRow(p, name, body.Properties)
	if err != nil {
		return response{}, err
	}
	stored, isNew, err := h.db.PutFederatedCredential(q.ctx(), row, h.cfg.MaxFICsPerIdentity)
	switch {
	case errors.Is(err, store.ErrConflict):
		return response{}, errf(http.StatusBadRequest, "BadRequest", "Issuer and subject combination already exists for this Managed Identity.")
	case errors.Is(err, store.ErrLimit):
		return response{}, errf(http.StatusBadRequest, "BadRequest", "Too many Federated Identity Credentials are written to Managed Identity '%s'. The maximum is %d.", p.Name, h.cfg.MaxFICsPerIdentity)
	case errors.Is(err, store.ErrParentNotFound):
		return response{}, parentNotFound(p.Name)
	case err != nil:
		return response{}, err
	}
	if isNew {
		return created(ficJSON(p, stored))
	}
	return ok(ficJSON(p, stored))
}

// ficRow validates a credential's properties as Entra does, into the row
// to store.
func ficRow(p store.Principal, name string, bp *armapi.FederatedIdentityCredentialProperties) (store.FederatedCredential, error) {
	if bp == nil {
		return store.FederatedCredential{}, errf(http.StatusBadRequest, "BadRequest", "The federated identity credential properties are required.")
	}
	spec := federation.Spec{Name: name, Issuer: bp.Issuer, Description: bp.Description, Audiences: bp.Audiences}
	if bp.Audiences != nil && len(bp.Audiences) == 0 {
		return store.FederatedCredential{}, errf(http.StatusBadRequest, "BadRequest", "Federated identity credentials must have exactly one audience.")
	}
	if bp.Subject != nil {
		spec.Subject = *bp.Subject
	}
	if bp.ClaimsMatchingExpression != nil {
		spec.Expression = bp.ClaimsMatchingExpression.Value
		spec.LanguageVersion = bp.ClaimsMatchingExpression.LanguageVersion
		if spec.Expression == "" {
			return store.FederatedCredential{}, errf(http.StatusBadRequest, "BadRequest", "claimsMatchingExpression.value is required.")
		}
	}
	cred, err := federation.Validate(spec)
	if err != nil {
		return store.FederatedCredential{}, errf(http.StatusBadRequest, "BadRequest", "%v", err)
	}
	row := store.FederatedCredential{PrincipalID: p.ObjectID, Name: name, Issuer: cred.Issuer, Subject: cred.Subject, Audience: cred.Audience, Description: spec.Description, Expression: spec.Expression}
	if cred.Expr != nil {
		row.Expression = cred.Expr.String()
	}
	return row, nil
}
