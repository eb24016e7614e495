package arm

import (
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/wifproject/wif/internal/cluster"
	"github.com/wifproject/wif/internal/store"
)

const typeCluster = "Microsoft.ContainerService/ManagedClusters"

func clusterScope(sub, rg, name string) string {
	return groupScope(sub, rg) + "/providers/Microsoft.ContainerService/managedClusters/" + name
}

// clusterSeed is what a new cluster looks like: enough for az's aks
// commands (which, for an MSI cluster, need identityProfile.kubeletidentity).
func clusterSeed(sub, rg, name, location string) map[string]any {
	nodeRG := "MC_" + rg + "_" + name + "_" + location
	return map[string]any{
		"provisioningState":        "Succeeded",
		"powerState":               map[string]any{"code": "Running"},
		"kubernetesVersion":        "1.34.0",
		"currentKubernetesVersion": "1.34.0",
		"dnsPrefix":                name + "-dns",
		"fqdn":                     strings.ToLower(name) + "-dns.wif.localhost",
		"agentPoolProfiles": []any{map[string]any{
			"name": "nodepool1", "count": 1, "vmSize": "Standard_DS2_v2", "osType": "Linux", "osSKU": "Ubuntu",
			"mode": "System", "type": "VirtualMachineScaleSets", "provisioningState": "Succeeded", "orchestratorVersion": "1.34.0",
			"powerState": map[string]any{"code": "Running"},
		}},
		"servicePrincipalProfile": map[string]any{"clientId": "msi"},
		"nodeResourceGroup":       nodeRG,
		"enableRBAC":              true,
		"networkProfile": map[string]any{
			"networkPlugin": "kubenet", "loadBalancerSku": "standard", "outboundType": "loadBalancer",
			"podCidr": "10.244.0.0/16", "serviceCidr": "10.0.0.0/16", "dnsServiceIP": "10.0.0.10",
		},
		"oidcIssuerProfile": map[string]any{"enabled": false},
		"securityProfile":   map[string]any{},
		"identityProfile": map[string]any{"kubeletidentity": map[string]any{
			"resourceId": "/subscriptions/" + sub + "/resourcegroups/" + nodeRG + "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/" + name + "-agentpool",
			"clientId":   uuid.NewString(),
			"objectId":   uuid.NewString(),
		}},
	}
}

func (h *Handler) clusterJSON(c store.Cluster) map[string]any {
	var props map[string]any
	if err := json.Unmarshal(c.Properties, &props); err != nil || props == nil {
		props = map[string]any{}
	}
	oidc, _ := props["oidcIssuerProfile"].(map[string]any)
	if oidc == nil {
		oidc = map[string]any{"enabled": false}
		props["oidcIssuerProfile"] = oidc
	}
	if c.IssuerID != "" {
		oidc["issuerURL"] = cluster.IssuerURL(h.cfg.PublicURL, c.TenantID, c.IssuerID)
	}
	return map[string]any{
		"id":       clusterScope(c.SubscriptionID, c.ResourceGroup, c.Name),
		"name":     c.Name,
		"type":     typeCluster,
		"location": c.Location,
		"tags":     tagsOrEmpty(c.Tags),
		"sku":      map[string]any{"name": "Base", "tier": "Free"},
		"identity": map[string]any{"type": "SystemAssigned", "tenantId": c.TenantID,
			"principalId": uuid.NewSHA1(uuid.NameSpaceURL, []byte(strings.ToLower(clusterScope(c.SubscriptionID, c.ResourceGroup, c.Name)))).String()},
		"properties": props,
	}
}

func (h *Handler) listClusters(q *request, sub store.Subscription) (response, error) {
	if err := h.authorizeList(q, sub, "Microsoft.ContainerService/managedClusters/read"); err != nil {
		return response{}, err
	}
	cs, err := h.db.ListClusters(q.ctx(), sub.ID, q.id.ResourceGroup)
	if err != nil {
		return response{}, err
	}
	value := make([]any, 0, len(cs))
	for _, c := range cs {
		value = append(value, h.clusterJSON(c))
	}
	return ok(map[string]any{"value": value})
}

func (h *Handler) clusterNotFound(q *request, sub, rg, name string) error {
	if _, err := h.db.GetResourceGroup(q.ctx(), sub, rg); errors.Is(err, store.ErrNotFound) {
		return groupNotFound(rg)
	}
	return errf(http.StatusNotFound, "ResourceNotFound", "The Resource 'Microsoft.ContainerService/managedClusters/%s' under resource group '%s' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix", name, rg)
}

// managedCluster serves .../managedClusters/{name}[/{action}].
func (h *Handler) managedCluster(q *request, sub store.Subscription) (response, error) {
	rg, name, scope := q.id.ResourceGroup, q.id.Name, q.id.scope()
	if len(q.seg) == 9 {
		return h.clusterAction(q, sub, rg, name, strings.ToLower(q.id.ChildType))
	}
	switch q.r.Method {
	case http.MethodGet:
		if err := h.authorize(q, "Microsoft.ContainerService/managedClusters/read", scope); err != nil {
			return response{}, err
		}
		c, err := h.db.GetCluster(q.ctx(), sub.ID, rg, name)
		if errors.Is(err, store.ErrNotFound) {
			return response{}, h.clusterNotFound(q, sub.ID, rg, name)
		} else if err != nil {
			return response{}, err
		}
		return ok(h.clusterJSON(c))
	case http.MethodDelete:
		if err := h.authorize(q, "Microsoft.ContainerService/managedClusters/delete", scope); err != nil {
			return response{}, err
		}
		err := h.db.DeleteCluster(q.ctx(), sub.ID, rg, name)
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
	if err := h.authorize(q, "Microsoft.ContainerService/managedClusters/write", scope); err != nil {
		return response{}, err
	}
	// A managed cluster body carries many settings wif does not model; the
	// top level is checked, the properties are merged as AKS merges them.
	var body struct {
		ID               string            `json:"id"`
		Name             string            `json:"name"`
		Type             string            `json:"type"`
		Location         string            `json:"location"`
		Tags             map[string]string `json:"tags"`
		SKU              any               `json:"sku"`
		Identity         any               `json:"identity"`
		ExtendedLocation any               `json:"extendedLocation"`
		Kind             any               `json:"kind"`
		SystemData       any               `json:"systemData"`
		Properties       map[string]any    `json:"properties"`
	}
	if err := decode(q, &body); err != nil {
		return response{}, err
	}
	cur, err := h.db.GetCluster(q.ctx(), sub.ID, rg, name)
	isNew := errors.Is(err, store.ErrNotFound)
	switch {
	case isNew && q.r.Method == http.MethodPatch:
		return response{}, h.clusterNotFound(q, sub.ID, rg, name)
	case err != nil && !isNew:
		return response{}, err
	}
	var stored map[string]any
	c := cur
	if isNew {
		if body.Location == "" {
			return response{}, errf(http.StatusBadRequest, "LocationRequired", "The location property is required for this definition.")
		}
		g, err := h.db.GetResourceGroup(q.ctx(), sub.ID, rg)
		if errors.Is(err, store.ErrNotFound) {
			return response{}, groupNotFound(rg)
		} else if err != nil {
			return response{}, err
		}
		c = store.Cluster{SubscriptionID: sub.ID, ResourceGroup: g.Name, Name: name, Location: body.Location, TenantID: sub.TenantID, CreatedAt: h.now()}
		stored = clusterSeed(sub.ID, g.Name, name, body.Location)
	} else if err := json.Unmarshal(cur.Properties, &stored); err != nil || stored == nil {
		stored = map[string]any{}
	}
	if body.Tags != nil {
		c.Tags = body.Tags
	}
	merged := cluster.Merge(stored, body.Properties)
	// Server-owned fields keep their stored values.
	for _, k := range []string{"provisioningState", "fqdn", "identityProfile", "nodeResourceGroup", "powerState", "currentKubernetesVersion"} {
		if v, ok := stored[k]; ok {
			merged[k] = v
		}
	}
	wasOIDC := enabled(stored, "oidcIssuerProfile")
	nowOIDC := enabled(merged, "oidcIssuerProfile")
	if wasOIDC && !nowOIDC {
		return response{}, errf(http.StatusBadRequest, "BadRequest", "OIDC issuer feature cannot be disabled once it is enabled.")
	}
	if sec, _ := merged["securityProfile"].(map[string]any); sec != nil && enabled(sec, "workloadIdentity") && !nowOIDC {
		return response{}, errf(http.StatusBadRequest, "BadRequest", "Enabling workload identity requires enabling OIDC issuer profile (oidcIssuerProfile.enabled).")
	}
	if oidc, _ := merged["oidcIssuerProfile"].(map[string]any); oidc != nil {
		delete(oidc, "issuerURL") // read-only; filled from the issuer id
	}
	props, err := json.Marshal(merged)
	if err != nil {
		return response{}, err
	}
	c.Properties = props
	newIssuer := nowOIDC && c.IssuerID == ""
	if newIssuer {
		c.IssuerID = uuid.NewString()
	}
	if newIssuer {
		k, err := cluster.NewManagedKey(c.IssuerID, h.now())
		if err != nil {
			return response{}, err
		}
		// Keys first: a cluster row naming an issuer always has keys.
		if err := h.db.ReplaceClusterKeys(q.ctx(), c.IssuerID, []store.ClusterKey{k}); err != nil {
			return response{}, err
		}
	}
	saved, created, err := h.db.PutCluster(q.ctx(), c)
	if errors.Is(err, store.ErrParentNotFound) {
		return response{}, groupNotFound(rg)
	} else if err != nil {
		return response{}, err
	}
	resp := response{status: http.StatusOK, body: h.clusterJSON(saved), asyncOperation: h.operationURL(sub.ID)}
	if created {
		resp.status = http.StatusCreated
	}
	return resp, nil
}

func enabled(m map[string]any, key string) bool {
	p, _ := m[key].(map[string]any)
	b, _ := p["enabled"].(bool)
	return b
}

// clusterAction serves the POST actions on a cluster's OIDC issuer:
// rotateServiceAccountSigningKeys (as AKS), and wif's
// listServiceAccountSigningKeys (export) and setServiceAccountPublicKeys
// (bring your own keys).
func (h *Handler) clusterAction(q *request, sub store.Subscription, rg, name, action string) (response, error) {
	if q.r.Method != http.MethodPost {
		return response{}, methodNotAllowed(q)
	}
	scope := q.id.scope()
	authz := map[string]string{
		"rotateserviceaccountsigningkeys": "Microsoft.ContainerService/managedClusters/write",
		"listserviceaccountsigningkeys":   "Microsoft.ContainerService/managedClusters/listClusterAdminCredential/action",
		"setserviceaccountpublickeys":     "Microsoft.ContainerService/managedClusters/write",
	}[action]
	if authz == "" {
		return response{}, notFoundPath(q)
	}
	if err := h.authorize(q, authz, scope); err != nil {
		return response{}, err
	}
	c, err := h.db.GetCluster(q.ctx(), sub.ID, rg, name)
	if errors.Is(err, store.ErrNotFound) {
		return response{}, h.clusterNotFound(q, sub.ID, rg, name)
	} else if err != nil {
		return response{}, err
	}
	if c.IssuerID == "" {
		return response{}, errf(http.StatusBadRequest, "BadRequest", "The OIDC issuer of cluster '%s' is not enabled. Run 'az aks update --enable-oidc-issuer' first.", name)
	}
	keys, err := h.db.ListClusterKeys(q.ctx(), c.IssuerID)
	if err != nil {
		return response{}, err
	}
	now := h.now()
	switch action {
	case "rotateserviceaccountsigningkeys":
		if _, managed := cluster.Current(keys); !managed {
			return response{}, errf(http.StatusBadRequest, "BadRequest", "Cluster '%s' publishes its own service-account keys; rotate them in the cluster and publish the new public keys.", name)
		}
		next, err := cluster.NewManagedKey(c.IssuerID, now)
		if err != nil {
			return response{}, err
		}
		if err := h.db.ReplaceClusterKeys(q.ctx(), c.IssuerID, cluster.Rotate(keys, next, now)); err != nil {
			return response{}, err
		}
		op := h.operationURL(sub.ID)
		return response{status: http.StatusAccepted, asyncOperation: op,
			location: strings.Replace(op, "operationStatuses", "operationResults", 1)}, nil
	case "setserviceaccountpublickeys":
		var body struct {
			PEM  string          `json:"pem"`
			JWKS json.RawMessage `json:"jwks"`
		}
		if err := decode(q, &body); err != nil {
			return response{}, err
		}
		data := []byte(body.PEM)
		if len(body.JWKS) > 0 {
			data = body.JWKS
		}
		pub, err := cluster.ParsePublicKeys(c.IssuerID, data, now)
		if err != nil {
			return response{}, errf(http.StatusBadRequest, "BadRequest", "No usable public key was given: send PEM public keys (RSA at least 2048 bits, or EC P-256/P-384) in \"pem\", or a JWKS in \"jwks\".")
		}
		if err := h.db.ReplaceClusterKeys(q.ctx(), c.IssuerID, pub); err != nil {
			return response{}, err
		}
		return ok(h.keysJSON(c, pub, now, false))
	default: // listserviceaccountsigningkeys
		return ok(h.keysJSON(c, keys, now, true))
	}
}

// keysJSON describes an issuer's keys; with private, the current signing
// key's private half too (for kube-apiserver's --service-account-signing-key-file).
func (h *Handler) keysJSON(c store.Cluster, keys []store.ClusterKey, now time.Time, private bool) map[string]any {
	out := map[string]any{"issuerURL": cluster.IssuerURL(h.cfg.PublicURL, c.TenantID, c.IssuerID)}
	pubs := []any{}
	for _, k := range cluster.Published(keys, now) {
		entry := map[string]any{"kid": k.KID, "alg": k.Alg,
			"publicKey": string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: k.PublicKey}))}
		if !k.RetireAt.IsZero() {
			entry["retireAt"] = k.RetireAt.UTC().Format("2006-01-02T15:04:05Z")
		}
		pubs = append(pubs, entry)
	}
	out["publicKeys"] = pubs
	if cur, ok := cluster.Current(keys); ok {
		out["mode"] = "managed"
		out["currentKeyId"] = cur.KID
		if private {
			out["signingKey"] = string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: cur.PrivateKey}))
		}
	} else {
		out["mode"] = "bringYourOwn"
	}
	return out
}
