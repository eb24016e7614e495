package arm

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/google/uuid"
	"github.com/wifproject/wif/internal/store"
)

const typeVault = "Microsoft.KeyVault/vaults"

func (h *Handler) vaultJSON(v store.Vault) map[string]any {
	sku := v.SKU
	if sku == "" {
		sku = "standard"
	}
	return map[string]any{
		"id":       groupScope(v.SubscriptionID, v.ResourceGroup) + "/providers/Microsoft.KeyVault/vaults/" + v.Name,
		"name":     v.Name,
		"type":     typeVault,
		"location": v.Location,
		"tags":     tagsOrEmpty(v.Tags),
		"properties": map[string]any{
			"sku":                          map[string]any{"family": "A", "name": sku},
			"tenantId":                     v.TenantID,
			"accessPolicies":               []any{},
			"enabledForDeployment":         false,
			"enabledForDiskEncryption":     false,
			"enabledForTemplateDeployment": false,
			"enableSoftDelete":             true,
			"softDeleteRetentionInDays":    v.SoftDeleteRetentionDays,
			"enableRbacAuthorization":      v.EnableRBACAuthorization,
			"vaultUri":                     h.cfg.VaultURL(v.Name),
			"provisioningState":            "Succeeded",
			"publicNetworkAccess":          "Enabled",
		},
	}
}

func (h *Handler) listVaults(q *request, sub store.Subscription) (response, error) {
	if err := h.authorizeList(q, sub, "Microsoft.KeyVault/vaults/read"); err != nil {
		return response{}, err
	}
	vs, err := h.db.ListVaults(q.ctx(), sub.ID, q.id.ResourceGroup)
	if err != nil {
		return response{}, err
	}
	value := make([]any, 0, len(vs))
	for _, v := range vs {
		value = append(value, h.vaultJSON(v))
	}
	return ok(map[string]any{"value": value})
}

func (h *Handler) vault(q *request, sub store.Subscription) (response, error) {
	rg, name, scope := q.id.ResourceGroup, q.id.Name, q.id.scope()
	notFound := func() error {
		if _, err := h.db.GetResourceGroup(q.ctx(), sub.ID, rg); errors.Is(err, store.ErrNotFound) {
			return groupNotFound(rg)
		}
		return errf(http.StatusNotFound, "ResourceNotFound", "The Resource 'Microsoft.KeyVault/vaults/%s' under resource group '%s' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix", name, rg)
	}
	switch q.r.Method {
	case http.MethodGet:
		if err := h.authorize(q, "Microsoft.KeyVault/vaults/read", scope); err != nil {
			return response{}, err
		}
		v, err := h.db.GetVault(q.ctx(), sub.ID, rg, name)
		if errors.Is(err, store.ErrNotFound) {
			return response{}, notFound()
		} else if err != nil {
			return response{}, err
		}
		return ok(h.vaultJSON(v))
	case http.MethodDelete:
		if err := h.authorize(q, "Microsoft.KeyVault/vaults/delete", scope); err != nil {
			return response{}, err
		}
		err := h.db.DeleteVault(q.ctx(), sub.ID, rg, name)
		if errors.Is(err, store.ErrNotFound) {
			return response{status: http.StatusNoContent}, nil
		} else if err != nil {
			return response{}, err
		}
		return response{status: http.StatusOK}, nil
	case http.MethodPut, http.MethodPatch:
	default:
		return response{}, methodNotAllowed(q)
	}
	if err := h.authorize(q, "Microsoft.KeyVault/vaults/write", scope); err != nil {
		return response{}, err
	}
	var body struct {
		ID         string            `json:"id"`
		Name       string            `json:"name"`
		Type       string            `json:"type"`
		Location   string            `json:"location"`
		Tags       map[string]string `json:"tags"`
		SystemData map[string]any    `json:"systemData"`
		// Vault properties have many settings wif does not model (network
		// rules, access policies, ...); they are accepted and ignored.
		Properties map[string]json.RawMessage `json:"properties"`
	}
	if err := decode(q, &body); err != nil {
		return response{}, err
	}
	var props struct {
		TenantID string `json:"tenantId"`
		SKU      *struct {
			Family string `json:"family"`
			Name   string `json:"name"`
		} `json:"sku"`
		EnableRBACAuthorization *bool `json:"enableRbacAuthorization"`
		SoftDeleteRetention     *int  `json:"softDeleteRetentionInDays"`
	}
	if body.Properties != nil {
		raw, _ := json.Marshal(body.Properties)
		if err := json.Unmarshal(raw, &props); err != nil {
			return response{}, errf(http.StatusBadRequest, "InvalidRequestContent", "The request content was invalid and could not be deserialized: %v", err)
		}
	}
	v := store.Vault{SubscriptionID: sub.ID, ResourceGroup: rg, Name: name, Location: body.Location, Tags: body.Tags,
		TenantID: sub.TenantID, SKU: "standard", EnableRBACAuthorization: true, SoftDeleteRetentionDays: 90, CreatedAt: h.now()}
	cur, curErr := h.db.GetVault(q.ctx(), sub.ID, rg, name)
	if curErr == nil {
		v.Location, v.SKU, v.EnableRBACAuthorization, v.SoftDeleteRetentionDays = cur.Location, cur.SKU, cur.EnableRBACAuthorization, cur.SoftDeleteRetentionDays
		if body.Tags == nil {
			v.Tags = cur.Tags
		}
	} else if q.r.Method == http.MethodPatch {
		return response{}, notFound()
	}
	if props.TenantID != "" && !strings.EqualFold(props.TenantID, sub.TenantID) {
		return response{}, errf(http.StatusBadRequest, "BadRequest", "The tenant '%s' of the vault must be the subscription's tenant '%s'.", props.TenantID, sub.TenantID)
	}
	if props.SKU != nil {
		switch strings.ToLower(props.SKU.Name) {
		case "standard", "premium":
			v.SKU = strings.ToLower(props.SKU.Name)
		default:
			return response{}, errf(http.StatusBadRequest, "BadRequest", "The SKU '%s' is not valid: use standard or premium.", props.SKU.Name)
		}
	}
	if props.EnableRBACAuthorization != nil {
		v.EnableRBACAuthorization = *props.EnableRBACAuthorization
	}
	if props.SoftDeleteRetention != nil {
		if *props.SoftDeleteRetention < 7 || *props.SoftDeleteRetention > 90 {
			return response{}, errf(http.StatusBadRequest, "BadRequest", "softDeleteRetentionInDays must be between 7 and 90.")
		}
		v.SoftDeleteRetentionDays = *props.SoftDeleteRetention
	}
	if v.Location == "" {
		return response{}, errf(http.StatusBadRequest, "LocationRequired", "The location property is required for this definition.")
	}
	stored, isNew, err := h.db.PutVault(q.ctx(), v)
	switch {
	case errors.Is(err, store.ErrParentNotFound):
		return response{}, groupNotFound(rg)
	case errors.Is(err, store.ErrConflict):
		return response{}, errf(http.StatusConflict, "VaultAlreadyExists", "The vault name '%s' is already in use. Vault names are globally unique so it is possible that the name is already taken.", name)
	case err != nil:
		return response{}, err
	}
	resp := response{status: http.StatusOK, body: h.vaultJSON(stored)}
	if isNew {
		resp.status = http.StatusCreated
	}
	resp.asyncOperation = h.operationURL(sub.ID)
	return resp, nil
}

// checkVaultName answers Microsoft.KeyVault/checkNameAvailability.
func (h *Handler) checkVaultName(q *request) (response, error) {
	var body struct {
		Name string `json:"name"`
		Type string `json:"type"`
	}
	if err := decode(q, &body); err != nil {
		return response{}, err
	}
	if !validVaultName(body.Name) {
		return ok(map[string]any{"nameAvailable": false, "reason": "AccountNameInvalid", "message": vaultNameError(body.Name).Message})
	}
	if _, err := h.db.GetVaultByName(q.ctx(), body.Name); err == nil {
		return ok(map[string]any{"nameAvailable": false, "reason": "AlreadyExists", "message": "The vault name '" + body.Name + "' is already in use."})
	} else if !errors.Is(err, store.ErrNotFound) {
		return response{}, err
	}
	return ok(map[string]any{"nameAvailable": true})
}

// operationURL returns an Azure-AsyncOperation URL. Every wif operation
// completes before its response is sent, so the operation is Succeeded on
// the first poll.
func (h *Handler) operationURL(sub string) string {
	return h.cfg.PublicURL + "/subscriptions/" + sub + "/providers/Microsoft.Resources/operationStatuses/" + uuid.NewString() + "?api-version=2022-09-01"
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
	return ok(map[string]any{"id": q.r.URL.Path, "name": id, "status": "Succeeded", "startTime": now, "endTime": now})
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
	type item struct {
		id, name, typ, location string
		tags                    map[string]string
		action                  string
	}
	var items []item
	if wantType == "" || strings.EqualFold(wantType, typeVault) {
		vs, err := h.db.ListVaults(q.ctx(), sub.ID, rg)
		if err != nil {
			return response{}, err
		}
		for _, v := range vs {
			items = append(items, item{groupScope(v.SubscriptionID, v.ResourceGroup) + "/providers/Microsoft.KeyVault/vaults/" + v.Name, v.Name, typeVault, v.Location, v.Tags, "Microsoft.KeyVault/vaults/read"})
		}
	}
	if wantType == "" || strings.EqualFold(wantType, typeIdentity) {
		ids, err := h.db.ListIdentities(q.ctx(), sub.ID, rg)
		if err != nil {
			return response{}, err
		}
		for _, p := range ids {
			items = append(items, item{identityScope(p.SubscriptionID, p.ResourceGroup, p.Name), p.Name, typeIdentity, p.Location, p.Tags, "Microsoft.ManagedIdentity/userAssignedIdentities/read"})
		}
	}
	value := []any{}
	for _, it := range items {
		if wantName != "" && !strings.EqualFold(it.name, wantName) {
			continue
		}
		if h.authorize(q, it.action, it.id) != nil {
			continue
		}
		value = append(value, map[string]any{"id": it.id, "name": it.name, "type": it.typ, "location": it.location, "tags": tagsOrEmpty(it.tags)})
	}
	return ok(map[string]any{"value": value})
}
