package arm

import (
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/wifproject/wif/internal/arm/armapi"
	"github.com/wifproject/wif/internal/cluster"
	"github.com/wifproject/wif/internal/store"
)

func clusterScope(sub, rg, name string) string {
	return groupScope(sub, rg) + "/providers/Microsoft.ContainerService/managedClusters/" + name
}

func (h *Handler) clusterType() *resourceType[armapi.ManagedCluster, store.Cluster] {
	db := h.db
	return &resourceType[armapi.ManagedCluster, store.Cluster]{
		typ:   "Microsoft.ContainerService/managedClusters",
		get:   db.GetCluster,
		list:  db.ListClusters,
		put:   db.PutCluster,
		del:   db.DeleteCluster,
		wire:  h.clusterJSON,
		write: h.writeCluster,
		async: true,
		child: h.clusterAction,
	}
}

// clusterSeed is what a new cluster looks like: enough for az's aks
// commands (which, for an MSI cluster, need identityProfile.kubeletidentity).
func clusterSeed(sub, rg, name, location string) armapi.ManagedClusterProperties {
	nodeRG := "MC_" + rg + "_" + name + "_" + location
	running := armapi.PowerState{Code: "Running"}
	return armapi.ClusterSeed{
		ProvisioningState:        "Succeeded",
		PowerState:               running,
		KubernetesVersion:        "1.34.0",
		CurrentKubernetesVersion: "1.34.0",
		DNSPrefix:                name + "-dns",
		FQDN:                     strings.ToLower(name) + "-dns.wif.localhost",
		AgentPoolProfiles: []armapi.AgentPoolProfile{{
			Name: "nodepool1", Count: 1, VMSize: "Standard_DS2_v2", OSType: "Linux", OSSKU: "Ubuntu",
			Mode: "System", Type: "VirtualMachineScaleSets", ProvisioningState: "Succeeded", OrchestratorVersion: "1.34.0",
			PowerState: running,
		}},
		ServicePrincipalProfile: armapi.ServicePrincipalProfile{ClientID: "msi"},
		NodeResourceGroup:       nodeRG,
		EnableRBAC:              true,
		NetworkProfile: armapi.NetworkProfile{
			NetworkPlugin: "kubenet", LoadBalancerSKU: "standard", OutboundType: "loadBalancer",
			PodCIDR: "10.244.0.0/16", ServiceCIDR: "10.0.0.0/16", DNSServiceIP: "10.0.0.10",
		},
		IdentityProfile: map[string]armapi.UserAssignedIdentity{"kubeletidentity": {
			ResourceID: "/subscriptions/" + sub + "/resourcegroups/" + nodeRG + "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/" + name + "-agentpool",
			ClientID:   uuid.NewString(),
			ObjectID:   uuid.NewString(),
		}},
	}.Properties()
}

func storedProperties(c store.Cluster) armapi.ManagedClusterProperties {
	var props armapi.ManagedClusterProperties
	if err := json.Unmarshal(c.Properties, &props); err != nil || props == nil {
		props = armapi.ManagedClusterProperties{}
	}
	return props
}

func (h *Handler) clusterJSON(c store.Cluster) armapi.ManagedCluster {
	props := storedProperties(c)
	oidc := props.OIDCIssuer()
	if c.IssuerID != "" {
		oidc.IssuerURL = cluster.IssuerURL(h.cfg.PublicURL, c.TenantID, c.IssuerID)
	}
	if _, set := props["oidcIssuerProfile"]; !set || c.IssuerID != "" {
		props.SetOIDCIssuer(oidc)
	}
	return armapi.ManagedCluster{
		TrackedResource: armapi.TrackedResource{
			ID:       clusterScope(c.SubscriptionID, c.ResourceGroup, c.Name),
			Name:     c.Name,
			Type:     armapi.TypeCluster,
			Location: c.Location,
			Tags:     tagsOrEmpty(c.Tags),
		},
		SKU: &armapi.ManagedClusterSKU{Name: "Base", Tier: "Free"},
		Identity: &armapi.ManagedClusterIdentity{Type: "SystemAssigned", TenantID: c.TenantID,
			PrincipalID: uuid.NewSHA1(uuid.NameSpaceURL, []byte(strings.ToLower(clusterScope(c.SubscriptionID, c.ResourceGroup, c.Name)))).String()},
		Properties: props,
	}
}

// writeCluster merges a cluster body into the stored cluster as AKS
// does: the top level is checked, absent profiles are unchanged, and the
// server-owned fields keep their stored values.
func (h *Handler) writeCluster(q *request, at target, body armapi.ManagedCluster, cur *store.Cluster) (store.Cluster, error) {
	var c store.Cluster
	var stored armapi.ManagedClusterProperties
	if cur == nil {
		if body.Location == "" {
			return c, locationRequired()
		}
		c = store.Cluster{SubscriptionID: at.sub.ID, ResourceGroup: at.group, Name: at.name, Location: body.Location, TenantID: at.sub.TenantID, CreatedAt: h.now()}
		stored = clusterSeed(at.sub.ID, at.group, at.name, body.Location)
	} else {
		c, stored = *cur, storedProperties(*cur)
	}
	if body.Tags != nil {
		c.Tags = body.Tags
	}
	merged := armapi.ManagedClusterProperties(cluster.Merge(stored, body.Properties))
	for _, k := range []string{"provisioningState", "fqdn", "identityProfile", "nodeResourceGroup", "powerState", "currentKubernetesVersion"} {
		if v, ok := stored[k]; ok {
			merged[k] = v
		}
	}
	wasOIDC, nowOIDC := stored.OIDCIssuer().Enabled, merged.OIDCIssuer().Enabled
	if wasOIDC && !nowOIDC {
		return c, errf(http.StatusBadRequest, "BadRequest", "OIDC issuer feature cannot be disabled once it is enabled.")
	}
	if merged.WorkloadIdentity() && !nowOIDC {
		return c, errf(http.StatusBadRequest, "BadRequest", "Enabling workload identity requires enabling OIDC issuer profile (oidcIssuerProfile.enabled).")
	}
	if oidc, _ := merged["oidcIssuerProfile"].(map[string]any); oidc != nil {
		delete(oidc, "issuerURL") // read-only; filled from the issuer id
	}
	props, err := json.Marshal(merged)
	if err != nil {
		return c, err
	}
	c.Properties = props
	if nowOIDC && c.IssuerID == "" {
		// Keys first: a cluster row naming an issuer always has keys.
		c.IssuerID = uuid.NewString()
		k, err := cluster.NewManagedKey(c.IssuerID, h.now())
		if err != nil {
			return c, err
		}
		if err := h.db.ReplaceClusterKeys(q.ctx(), c.IssuerID, []store.ClusterKey{k}); err != nil {
			return c, err
		}
	}
	return c, nil
}

// clusterAction serves the POST actions on a cluster's OIDC issuer:
// rotateServiceAccountSigningKeys (as AKS), and wif's
// listServiceAccountSigningKeys (export) and setServiceAccountPublicKeys
// (bring your own keys).
func (h *Handler) clusterAction(q *request, sub store.Subscription) (response, error) {
	rg, name, action := q.id.ResourceGroup, q.id.Name, strings.ToLower(q.id.ChildType)
	if len(q.seg) != 9 {
		return response{}, notFoundPath(q)
	}
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
		return response{}, h.clusters.notFound(q.ctx(), target{sub: sub, rg: rg, name: name})
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
		var body armapi.ServiceAccountPublicKeys
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
func (h *Handler) keysJSON(c store.Cluster, keys []store.ClusterKey, now time.Time, private bool) armapi.ServiceAccountKeys {
	out := armapi.ServiceAccountKeys{IssuerURL: cluster.IssuerURL(h.cfg.PublicURL, c.TenantID, c.IssuerID), PublicKeys: []armapi.ServiceAccountKey{}, Mode: "bringYourOwn"}
	for _, k := range cluster.Published(keys, now) {
		entry := armapi.ServiceAccountKey{KID: k.KID, Alg: k.Alg, PublicKey: string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: k.PublicKey}))}
		if !k.RetireAt.IsZero() {
			entry.RetireAt = k.RetireAt.UTC().Format("2006-01-02T15:04:05Z")
		}
		out.PublicKeys = append(out.PublicKeys, entry)
	}
	if cur, ok := cluster.Current(keys); ok {
		out.Mode, out.CurrentKeyID = "managed", cur.KID
		if private {
			out.SigningKey = string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: cur.PrivateKey}))
		}
	}
	return out
}
