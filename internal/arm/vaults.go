package arm

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/google/uuid"
	"github.com/wifproject/wif/internal/arm/armapi"
	"github.com/wifproject/wif/internal/store"
)

func (h *Handler) vaultType() *resourceType[armapi.Vault, store.Vault] {
	db := h.db
	return &resourceType[armapi.Vault, store.Vault]{
		typ:   armapi.TypeVault,
		get:   db.GetVault,
		list:  db.ListVaults,
		put:   db.PutVault,
		del:   db.DeleteVault,
		wire:  h.vaultJSON,
		write: h.writeVault,
		async: true,
		conflict: func(at target) error {
			return errf(http.StatusConflict, "VaultAlreadyExists", "The vault name '%s' is already in use. Vault names are globally unique so it is possible that the name is already taken.", at.name)
		},
	}
}

func (h *Handler) vaultJSON(v store.Vault) armapi.Vault {
	sku := v.SKU
	if sku == "" {
		sku = "standard"
	}
	return armapi.Vault{
		TrackedResource: armapi.TrackedResource{
			ID:       groupScope(v.SubscriptionID, v.ResourceGroup) + "/providers/Microsoft.KeyVault/vaults/" + v.Name,
			Name:     v.Name,
			Type:     armapi.TypeVault,
			Location: v.Location,
			Tags:     tagsOrEmpty(v.Tags),
		},
		Properties: &armapi.VaultProperties{
			SKU:                          &armapi.VaultSKU{Family: "A", Name: sku},
			TenantID:                     v.TenantID,
			AccessPolicies:               []json.RawMessage{},
			EnabledForDeployment:         armapi.Bool(false),
			EnabledForDiskEncryption:     armapi.Bool(false),
			EnabledForTemplateDeployment: armapi.Bool(false),
			EnableSoftDelete:             armapi.Bool(true),
			SoftDeleteRetentionInDays:    armapi.Int(v.SoftDeleteRetentionDays),
			EnableRbacAuthorization:      armapi.Bool(v.EnableRBACAuthorization),
			VaultURI:                     h.cfg.VaultURL(v.Name),
			ProvisioningState:            "Succeeded",
			PublicNetworkAccess:          "Enabled",
		},
	}
}

// writeVault applies a vault body: a new vault gets wif's defaults (RBAC
// authorisation, 90 days of soft delete); an existing one keeps its
// settings except those the body gives.
func (h *Handler) writeVault(q *request, at target, body armapi.Vault, cur *store.Vault) (store.Vault, error) {
	v := store.Vault{SubscriptionID: at.sub.ID, ResourceGroup: at.rg, Name: at.name, Location: body.Location, Tags: body.Tags,
		TenantID: at.sub.TenantID, SKU: "standard", EnableRBACAuthorization: true, SoftDeleteRetentionDays: 90, CreatedAt: h.now()}
	if cur != nil {
		v.Location, v.SKU, v.EnableRBACAuthorization, v.SoftDeleteRetentionDays = cur.Location, cur.SKU, cur.EnableRBACAuthorization, cur.SoftDeleteRetentionDays
		if body.Tags == nil {
			v.Tags = cur.Tags
		}
	}
	props := body.Properties
	if props == nil {
		props = &armapi.VaultProperties{}
	}
	if props.TenantID != "" && !strings.EqualFold(props.TenantID, at.sub.TenantID) {
		return v, errf(http.StatusBadRequest, "BadRequest", "The tenant '%s' of the vault must be the subscription's tenant '%s'.", props.TenantID, at.sub.TenantID)
	}
	if props.SKU != nil {
		switch strings.ToLower(props.SKU.Name) {
		case "standard", "premium":
			v.SKU = strings.ToLower(props.SKU.Name)
		default:
			return v, errf(http.StatusBadRequest, "BadRequest", "The SKU '%s' is not valid: use standard or premium.", props.SKU.Name)
		}
	}
	if props.EnableRbacAuthorization != nil {
		v.EnableRBACAuthorization = *props.EnableRbacAuthorization
	}
	if days := props.SoftDeleteRetentionInDays; days != nil {
		if *days < 7 || *days > 90 {
			return v, errf(http.StatusBadRequest, "BadRequest", "softDeleteRetentionInDays must be between 7 and 90.")
		}
		v.SoftDeleteRetentionDays = *days
	}
	if v.Location == "" {
		return v, locationRequired()
	}
	return v, nil
}

// checkVaultName answers Microsoft.KeyVault/checkNameAvailability.
func (h *Handler) checkVaultName(q *request) (response, error) {
	var body armapi.CheckNameAvailability
	if err := decode(q, &body); err != nil {
		return response{}, err
	}
	if !validVaultName(body.Name) {
		return ok(armapi.NameAvailability{Reason: "AccountNameInvalid", Message: vaultNameError(body.Name).Message})
	}
	if _, err := h.db.GetVaultByName(q.ctx(), body.Name); err == nil {
		return ok(armapi.NameAvailability{Reason: "AlreadyExists", Message: "The vault name '" + body.Name + "' is already in use."})
	} else if !errors.Is(err, store.ErrNotFound) {
		return response{}, err
	}
	return ok(armapi.NameAvailability{NameAvailable: true})
}

// operationURL returns an Azure-AsyncOperation URL. Every wif operation
// completes before its response is sent, so the operation is Succeeded on
// the first poll.
func (h *Handler) operationURL(sub string) string {
	return h.cfg.PublicURL + "/subscriptions/" + sub + "/providers/Microsoft.Resources/operationStatuses/" + uuid.NewString() + "?api-version=2022-09-01"
}

// operationResultURL returns a Location URL to poll, answered 200 at once.
func (h *Handler) operationResultURL(sub string) string {
	return strings.Replace(h.operationURL(sub), "operationStatuses", "operationResults", 1)
}

func (h *Handler) operationStatus(q *request) (response, error) {
	id := q.seg[len(q.seg)-1]
	if !guidRule.MatchString(id) {
		return response{}, errf(http.StatusNotFound, "OperationNotFound", "The operation '%s' was not found.", id)
	}
	now := h.now().UTC().Format("2006-01-02T15:04:05.0000000Z")
	if strings.EqualFold(q.seg[len(q.seg)-2], "operationResults") {
		return response{status: http.StatusOK}, nil
	}
	return ok(armapi.OperationStatus{ID: q.r.URL.Path, Name: id, Status: "Succeeded", StartTime: now, EndTime: now})
}

// listResources answers the generic resource list (GET .../resources) that
// az uses to find a vault by name. It supports $filter on resourceType and
// name joined by "and", and lists only what the caller may read.
func (h *Handler) listResources(q *request, sub store.Subscription) (response, error) {
	rg := q.id.ResourceGroup
	var wantType, wantName string
	for _, part := range splitAnd(q.r.URL.Query().Get("$filter")) {
		k, v, found := strings.Cut(part, " eq ")
		v = strings.TrimSpace(v)
		if !found || len(v) < 2 || v[0] != '\'' || v[len(v)-1] != '\'' {
			if part == "" {
				continue
			}
			return response{}, errf(http.StatusBadRequest, "InvalidFilter", "The $filter '%s' is not supported: use resourceType eq '…' and/or name eq '…'.", part)
		}
		v = strings.ReplaceAll(v[1:len(v)-1], "''", "'")
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "resourcetype":
			wantType = v
		case "name":
			wantName = v
		default:
			return response{}, errf(http.StatusBadRequest, "InvalidFilter", "The $filter '%s' is not supported: use resourceType eq '…' and/or name eq '…'.", part)
		}
	}
	if rg != "" {
		if _, err := h.db.GetResourceGroup(q.ctx(), sub.ID, rg); errors.Is(err, store.ErrNotFound) {
			return response{}, groupNotFound(rg)
		} else if err != nil {
			return response{}, err
		}
	}
	// Each item is checked as its own resource: the caller sees only what
	// it may read.
	type item struct {
		armapi.GenericResource
		action string
	}
	var items []item
	if wantType == "" || strings.EqualFold(wantType, armapi.TypeVault) {
		vs, err := h.db.ListVaults(q.ctx(), sub.ID, rg)
		if err != nil {
			return response{}, err
		}
		for _, v := range vs {
			items = append(items, item{armapi.GenericResource{ID: groupScope(v.SubscriptionID, v.ResourceGroup) + "/providers/Microsoft.KeyVault/vaults/" + v.Name,
				Name: v.Name, Type: armapi.TypeVault, Location: v.Location, Tags: tagsOrEmpty(v.Tags)}, armapi.TypeVault + "/read"})
		}
	}
	if wantType == "" || strings.EqualFold(wantType, armapi.TypeIdentity) {
		ids, err := h.db.ListIdentities(q.ctx(), sub.ID, rg)
		if err != nil {
			return response{}, err
		}
		for _, p := range ids {
			items = append(items, item{armapi.GenericResource{ID: identityScope(p.SubscriptionID, p.ResourceGroup, p.Name),
				Name: p.Name, Type: armapi.TypeIdentity, Location: p.Location, Tags: tagsOrEmpty(p.Tags)}, armapi.TypeIdentity + "/read"})
		}
	}
	page := armapi.Page[armapi.GenericResource]{Value: []armapi.GenericResource{}}
	for _, it := range items {
		if wantName != "" && !strings.EqualFold(it.Name, wantName) {
			continue
		}
		if h.authorize(q, it.action, it.ID) != nil {
			continue
		}
		page.Value = append(page.Value, it.GenericResource)
	}
	return ok(page)
}
