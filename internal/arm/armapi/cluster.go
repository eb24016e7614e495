package armapi

import (
	"encoding/json"
)

// ManagedCluster is Microsoft.ContainerService/managedClusters
// (az 2.45 sends 2022-11-01). az aks update GETs the cluster and PUTs the
// whole object back as its SDK model re-serialises it.
type ManagedCluster struct {
	TrackedResource
	SKU              *ManagedClusterSKU       `json:"sku,omitempty"`
	Identity         *ManagedClusterIdentity  `json:"identity,omitempty"`
	ExtendedLocation json.RawMessage          `json:"extendedLocation,omitempty"`
	Kind             json.RawMessage          `json:"kind,omitempty"`
	Properties       ManagedClusterProperties `json:"properties,omitempty"`
}

// ManagedClusterSKU is a cluster's tier; open.
type ManagedClusterSKU struct {
	Name string `json:"name,omitempty"`
	Tier string `json:"tier,omitempty"`
}

// UnmarshalJSON accepts and ignores unknown fields.
func (s *ManagedClusterSKU) UnmarshalJSON(b []byte) error {
	type plain ManagedClusterSKU
	return json.Unmarshal(b, (*plain)(s))
}

// ManagedClusterIdentity is a cluster's own identity; open.
type ManagedClusterIdentity struct {
	Type        string `json:"type,omitempty"`
	TenantID    string `json:"tenantId,omitempty"`
	PrincipalID string `json:"principalId,omitempty"`
}

// UnmarshalJSON accepts and ignores unknown fields.
func (i *ManagedClusterIdentity) UnmarshalJSON(b []byte) error {
	type plain ManagedClusterIdentity
	return json.Unmarshal(b, (*plain)(i))
}

// ManagedClusterProperties are AKS's cluster settings. AKS has hundreds;
// wif keeps them as sent (merged as AKS merges them: an absent profile is
// unchanged) and acts only on the OIDC issuer and workload identity, which
// it reads and writes through the typed profiles below. This is the one
// wire type that is a map: its keys are Azure's extension fields.
type ManagedClusterProperties map[string]any

// OIDCIssuerProfile is properties.oidcIssuerProfile. IssuerURL is
// read-only (az prints it as issuerUrl).
type OIDCIssuerProfile struct {
	Enabled   bool   `json:"enabled"`
	IssuerURL string `json:"issuerURL,omitempty"`
}

// SecurityProfile is the part of properties.securityProfile wif acts on.
type SecurityProfile struct {
	WorkloadIdentity *Enablement `json:"workloadIdentity,omitempty"`
}

// Enablement is AKS's {"enabled": bool} switch.
type Enablement struct {
	Enabled bool `json:"enabled"`
}

// OIDCIssuer reads properties.oidcIssuerProfile.
func (p ManagedClusterProperties) OIDCIssuer() OIDCIssuerProfile {
	var o OIDCIssuerProfile
	p.read("oidcIssuerProfile", &o)
	return o
}

// WorkloadIdentity reports properties.securityProfile.workloadIdentity.enabled.
func (p ManagedClusterProperties) WorkloadIdentity() bool {
	var s SecurityProfile
	p.read("securityProfile", &s)
	return s.WorkloadIdentity != nil && s.WorkloadIdentity.Enabled
}

// SetOIDCIssuer replaces properties.oidcIssuerProfile.
func (p ManagedClusterProperties) SetOIDCIssuer(o OIDCIssuerProfile) { p.Set("oidcIssuerProfile", o) }

// SetWorkloadIdentity sets properties.securityProfile.workloadIdentity,
// keeping the profile's other settings.
func (p ManagedClusterProperties) SetWorkloadIdentity(enabled bool) {
	sec, _ := p["securityProfile"].(map[string]any)
	if sec == nil {
		sec = map[string]any{}
	}
	sec["workloadIdentity"] = generic(Enablement{Enabled: enabled})
	p["securityProfile"] = sec
}

// Set stores v (a wire struct) under key, as the JSON it encodes to.
func (p ManagedClusterProperties) Set(key string, v any) { p[key] = generic(v) }

func (p ManagedClusterProperties) read(key string, v any) {
	if raw, ok := p[key]; ok {
		b, _ := json.Marshal(raw)
		_ = json.Unmarshal(b, v)
	}
}

// generic turns a wire struct into the map form of JSON.
func generic(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	var out any
	_ = json.Unmarshal(b, &out)
	return out
}

// ClusterSeed is the properties of a new cluster: what az's aks commands
// need (for an MSI cluster, identityProfile.kubeletidentity).
type ClusterSeed struct {
	ProvisioningState        string                          `json:"provisioningState"`
	PowerState               PowerState                      `json:"powerState"`
	KubernetesVersion        string                          `json:"kubernetesVersion"`
	CurrentKubernetesVersion string                          `json:"currentKubernetesVersion"`
	DNSPrefix                string                          `json:"dnsPrefix"`
	FQDN                     string                          `json:"fqdn"`
	AgentPoolProfiles        []AgentPoolProfile              `json:"agentPoolProfiles"`
	ServicePrincipalProfile  ServicePrincipalProfile         `json:"servicePrincipalProfile"`
	NodeResourceGroup        string                          `json:"nodeResourceGroup"`
	EnableRBAC               bool                            `json:"enableRBAC"`
	NetworkProfile           NetworkProfile                  `json:"networkProfile"`
	OIDCIssuerProfile        OIDCIssuerProfile               `json:"oidcIssuerProfile"`
	SecurityProfile          SecurityProfile                 `json:"securityProfile"`
	IdentityProfile          map[string]UserAssignedIdentity `json:"identityProfile"`
}

// Properties returns the seed in the map form the store keeps.
func (s ClusterSeed) Properties() ManagedClusterProperties {
	m, _ := generic(s).(map[string]any)
	return m
}

// PowerState is {"code": "Running"}.
type PowerState struct {
	Code string `json:"code"`
}

// AgentPoolProfile is a node pool.
type AgentPoolProfile struct {
	Name                string     `json:"name"`
	Count               int        `json:"count"`
	VMSize              string     `json:"vmSize"`
	OSType              string     `json:"osType"`
	OSSKU               string     `json:"osSKU"`
	Mode                string     `json:"mode"`
	Type                string     `json:"type"`
	ProvisioningState   string     `json:"provisioningState"`
	OrchestratorVersion string     `json:"orchestratorVersion"`
	PowerState          PowerState `json:"powerState"`
}

// ServicePrincipalProfile is "msi" for a cluster with a managed identity.
type ServicePrincipalProfile struct {
	ClientID string `json:"clientId"`
}

// NetworkProfile is a cluster's network settings.
type NetworkProfile struct {
	NetworkPlugin   string `json:"networkPlugin"`
	LoadBalancerSKU string `json:"loadBalancerSku"`
	OutboundType    string `json:"outboundType"`
	PodCIDR         string `json:"podCidr"`
	ServiceCIDR     string `json:"serviceCidr"`
	DNSServiceIP    string `json:"dnsServiceIP"`
}

// UserAssignedIdentity is an identity of identityProfile (kubeletidentity).
type UserAssignedIdentity struct {
	ResourceID string `json:"resourceId"`
	ClientID   string `json:"clientId"`
	ObjectID   string `json:"objectId"`
}

// ServiceAccountKeys answers wif's listServiceAccountSigningKeys and
// setServiceAccountPublicKeys cluster actions. SigningKey, the current
// managed key's private half, is sent only by listServiceAccountSigningKeys.
type ServiceAccountKeys struct {
	IssuerURL    string              `json:"issuerURL"`
	PublicKeys   []ServiceAccountKey `json:"publicKeys"`
	Mode         string              `json:"mode"` // "managed" or "bringYourOwn"
	CurrentKeyID string              `json:"currentKeyId,omitempty"`
	SigningKey   string              `json:"signingKey,omitempty"`
}

// ServiceAccountKey is a published public key (PEM).
type ServiceAccountKey struct {
	KID       string `json:"kid"`
	Alg       string `json:"alg"`
	PublicKey string `json:"publicKey"`
	RetireAt  string `json:"retireAt,omitempty"`
}

// ServiceAccountPublicKeys is the body of setServiceAccountPublicKeys:
// PEM public keys, or a JWKS.
type ServiceAccountPublicKeys struct {
	PEM  string          `json:"pem,omitempty"`
	JWKS json.RawMessage `json:"jwks,omitempty"`
}
