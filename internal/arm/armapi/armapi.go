// Package armapi is the wire contract of wif's Azure Resource Manager API:
// the request and response body of each resource type, the error envelope
// and list pages, with the field names, casing, nesting and omissions that
// az 2.45, armmsi and the Azure SDKs send and read. The server
// (internal/arm) and the CLI (internal/cli) both use these types.
//
// One type serves as a resource's request and its response, as in Azure's
// REST specifications: read-only fields are ignored on input. Request
// bodies are decoded strictly (an unknown field is InvalidRequestContent),
// except in the parts marked "open", where Azure has many settings that wif
// does not model: there unknown fields are accepted and ignored.
package armapi

import (
	"encoding/json"
)

// Resource types, as ARM spells them in the "type" field.
const (
	TypeResourceGroup       = "Microsoft.Resources/resourceGroups"
	TypeIdentity            = "Microsoft.ManagedIdentity/userAssignedIdentities"
	TypeFederatedCredential = "Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials"
	TypeVault               = "Microsoft.KeyVault/vaults"
	TypeCluster             = "Microsoft.ContainerService/ManagedClusters"
	TypeRoleAssignment      = "Microsoft.Authorization/roleAssignments"
	TypeRoleDefinition      = "Microsoft.Authorization/roleDefinitions"
)

// ErrorResponse is ARM's error envelope: {"error":{"code","message"}}.
type ErrorResponse struct {
	Error ErrorBody `json:"error"`
}

// ErrorBody is the inside of an ErrorResponse.
type ErrorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Page is one page of a list. The server always sends value, as [] when
// empty; a client follows NextLink until it is empty.
type Page[T any] struct {
	Value    []T    `json:"value"`
	NextLink string `json:"nextLink,omitempty"`
}

// Tenant is an item of GET /tenants.
type Tenant struct {
	ID             string   `json:"id"`
	TenantID       string   `json:"tenantId"`
	TenantCategory string   `json:"tenantCategory"`
	DisplayName    string   `json:"displayName"`
	DefaultDomain  string   `json:"defaultDomain"`
	Domains        []string `json:"domains"`
	TenantType     string   `json:"tenantType"`
}

// Subscription is GET /subscriptions/{id} and an item of GET /subscriptions.
type Subscription struct {
	ID                   string                `json:"id"`
	SubscriptionID       string                `json:"subscriptionId"`
	TenantID             string                `json:"tenantId"`
	DisplayName          string                `json:"displayName"`
	State                string                `json:"state"`
	SubscriptionPolicies *SubscriptionPolicies `json:"subscriptionPolicies,omitempty"`
	AuthorizationSource  string                `json:"authorizationSource,omitempty"`
	ManagedByTenants     []ManagedByTenant     `json:"managedByTenants"`
}

// SubscriptionPolicies are a subscription's policies.
type SubscriptionPolicies struct {
	LocationPlacementID string `json:"locationPlacementId"`
	QuotaID             string `json:"quotaId"`
	SpendingLimit       string `json:"spendingLimit"`
}

// ManagedByTenant is a tenant that manages a subscription.
type ManagedByTenant struct {
	TenantID string `json:"tenantId"`
}

// Provider is a resource provider of GET /providers.
type Provider struct {
	ID                string         `json:"id"`
	Namespace         string         `json:"namespace"`
	RegistrationState string         `json:"registrationState"`
	ResourceTypes     []ProviderType `json:"resourceTypes"`
}

// ProviderType is a resource type of a Provider.
type ProviderType struct {
	ResourceType string   `json:"resourceType"`
	Locations    []string `json:"locations"`
	APIVersions  []string `json:"apiVersions"`
}

// CloudMetadata is GET /metadata/endpoints, which "az cloud register" reads.
type CloudMetadata struct {
	GalleryEndpoint string                 `json:"galleryEndpoint"`
	GraphEndpoint   string                 `json:"graphEndpoint"`
	PortalEndpoint  string                 `json:"portalEndpoint"`
	Authentication  CloudMetadataAuthority `json:"authentication"`
}

// CloudMetadataAuthority is the login part of CloudMetadata.
type CloudMetadataAuthority struct {
	LoginEndpoint string   `json:"loginEndpoint"`
	Audiences     []string `json:"audiences"`
}

// OperationStatus answers a poll of an Azure-AsyncOperation URL.
type OperationStatus struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Status    string `json:"status"`
	StartTime string `json:"startTime"`
	EndTime   string `json:"endTime"`
}

// GenericResource is an item of GET .../resources.
type GenericResource struct {
	ID       string            `json:"id"`
	Name     string            `json:"name"`
	Type     string            `json:"type"`
	Location string            `json:"location"`
	Tags     map[string]string `json:"tags"`
}

// TrackedResource is the envelope of a resource with a location (ARM's
// common TrackedResource). The server always sends tags, as {} when there
// are none; a request's null or absent tags mean "none" on PUT and
// "unchanged" on PATCH.
type TrackedResource struct {
	ID         string            `json:"id,omitempty"`
	Name       string            `json:"name,omitempty"`
	Type       string            `json:"type,omitempty"`
	Location   string            `json:"location"`
	Tags       map[string]string `json:"tags"`
	SystemData json.RawMessage   `json:"systemData,omitempty"`
}

// ProxyResource is the envelope of a resource without a location, such
// as a child or an extension resource.
type ProxyResource struct {
	ID         string          `json:"id,omitempty"`
	Name       string          `json:"name,omitempty"`
	Type       string          `json:"type,omitempty"`
	SystemData json.RawMessage `json:"systemData,omitempty"`
}

// ResourceGroup is Microsoft.Resources/resourceGroups (2021-04-01).
type ResourceGroup struct {
	TrackedResource
	ManagedBy  *string                  `json:"managedBy,omitempty"`
	Properties *ResourceGroupProperties `json:"properties,omitempty"`
}

// ResourceGroupProperties are read-only; open.
type ResourceGroupProperties struct {
	ProvisioningState string `json:"provisioningState,omitempty"`
}

// UnmarshalJSON accepts and ignores unknown fields.
func (p *ResourceGroupProperties) UnmarshalJSON(b []byte) error {
	type plain ResourceGroupProperties
	return json.Unmarshal(b, (*plain)(p))
}

// Identity is Microsoft.ManagedIdentity/userAssignedIdentities
// (2023-01-31, 2024-11-30; az 2.45 sends 2022-01-31-preview). az flattens
// properties in its output.
type Identity struct {
	TrackedResource
	Properties *IdentityProperties `json:"properties,omitempty"`
}

// IdentityProperties are read-only.
type IdentityProperties struct {
	TenantID       string `json:"tenantId,omitempty"`
	PrincipalID    string `json:"principalId,omitempty"`
	ClientID       string `json:"clientId,omitempty"`
	IsolationScope string `json:"isolationScope,omitempty"`
}

// FederatedIdentityCredential is a child of an Identity. A request gives
// either subject or claimsMatchingExpression; audiences, when present,
// must hold exactly one audience.
type FederatedIdentityCredential struct {
	ProxyResource
	Properties *FederatedIdentityCredentialProperties `json:"properties,omitempty"`
}

// FederatedIdentityCredentialProperties are a credential's trust rule.
// Subject is a pointer because a request's absent subject and empty
// subject differ.
type FederatedIdentityCredentialProperties struct {
	Issuer                   string                    `json:"issuer"`
	Subject                  *string                   `json:"subject,omitempty"`
	Audiences                []string                  `json:"audiences"`
	Description              string                    `json:"description,omitempty"`
	ClaimsMatchingExpression *ClaimsMatchingExpression `json:"claimsMatchingExpression,omitempty"`
}

// ClaimsMatchingExpression is a flexible federated credential's rule.
type ClaimsMatchingExpression struct {
	Value           string `json:"value"`
	LanguageVersion int    `json:"languageVersion"`
}

// RoleDefinition is Microsoft.Authorization/roleDefinitions (2022-04-01).
type RoleDefinition struct {
	ID         string                   `json:"id"`
	Name       string                   `json:"name"`
	Type       string                   `json:"type"`
	Properties RoleDefinitionProperties `json:"properties"`
}

// RoleDefinitionProperties describe a role. Type is "BuiltInRole" or
// "CustomRole" (az prints it as roleType).
type RoleDefinitionProperties struct {
	RoleName         string       `json:"roleName"`
	Type             string       `json:"type"`
	Description      string       `json:"description"`
	AssignableScopes []string     `json:"assignableScopes"`
	Permissions      []Permission `json:"permissions"`
	CreatedOn        string       `json:"createdOn"`
	UpdatedOn        string       `json:"updatedOn"`
	CreatedBy        *string      `json:"createdBy"`
	UpdatedBy        *string      `json:"updatedBy"`
}

// Permission is one permission set of a role.
type Permission struct {
	Actions        []string `json:"actions"`
	NotActions     []string `json:"notActions"`
	DataActions    []string `json:"dataActions"`
	NotDataActions []string `json:"notDataActions"`
}

// RoleAssignment is Microsoft.Authorization/roleAssignments (2022-04-01;
// az 2.45 sends 2020-04-01-preview). The server sends the nullable fields
// as null, as ARM does.
type RoleAssignment struct {
	ProxyResource
	Properties *RoleAssignmentProperties `json:"properties,omitempty"`
}

// RoleAssignmentProperties say who holds which role where.
type RoleAssignmentProperties struct {
	RoleDefinitionID                   string  `json:"roleDefinitionId"`
	PrincipalID                        string  `json:"principalId"`
	PrincipalType                      string  `json:"principalType,omitempty"`
	Scope                              string  `json:"scope,omitempty"`
	Condition                          *string `json:"condition"`
	ConditionVersion                   *string `json:"conditionVersion"`
	CanDelegate                        *bool   `json:"canDelegate,omitempty"`
	CreatedOn                          string  `json:"createdOn,omitempty"`
	UpdatedOn                          string  `json:"updatedOn,omitempty"`
	CreatedBy                          *string `json:"createdBy"`
	UpdatedBy                          *string `json:"updatedBy"`
	DelegatedManagedIdentityResourceID *string `json:"delegatedManagedIdentityResourceId"`
	Description                        *string `json:"description"`
}

// Vault is Microsoft.KeyVault/vaults (2023-07-01).
type Vault struct {
	TrackedResource
	Properties *VaultProperties `json:"properties,omitempty"`
}

// VaultProperties are a vault's settings; open (network rules, private
// endpoints and others are accepted and ignored). The pointers tell a
// request's absent setting from its zero value; wif keeps no access
// policies (it authorises data actions with RBAC).
type VaultProperties struct {
	SKU                          *VaultSKU         `json:"sku,omitempty"`
	TenantID                     string            `json:"tenantId,omitempty"`
	AccessPolicies               []json.RawMessage `json:"accessPolicies"`
	EnabledForDeployment         *bool             `json:"enabledForDeployment,omitempty"`
	EnabledForDiskEncryption     *bool             `json:"enabledForDiskEncryption,omitempty"`
	EnabledForTemplateDeployment *bool             `json:"enabledForTemplateDeployment,omitempty"`
	EnableSoftDelete             *bool             `json:"enableSoftDelete,omitempty"`
	SoftDeleteRetentionInDays    *int              `json:"softDeleteRetentionInDays,omitempty"`
	EnableRbacAuthorization      *bool             `json:"enableRbacAuthorization,omitempty"`
	VaultURI                     string            `json:"vaultUri,omitempty"`
	ProvisioningState            string            `json:"provisioningState,omitempty"`
	PublicNetworkAccess          string            `json:"publicNetworkAccess,omitempty"`
}

// UnmarshalJSON accepts and ignores unknown fields.
func (p *VaultProperties) UnmarshalJSON(b []byte) error {
	type plain VaultProperties
	return json.Unmarshal(b, (*plain)(p))
}

// VaultSKU is a vault's pricing tier: family "A", name standard or premium.
type VaultSKU struct {
	Family string `json:"family"`
	Name   string `json:"name"`
}

// CheckNameAvailability is the body of Microsoft.KeyVault/checkNameAvailability.
type CheckNameAvailability struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

// NameAvailability answers CheckNameAvailability.
type NameAvailability struct {
	NameAvailable bool   `json:"nameAvailable"`
	Reason        string `json:"reason,omitempty"`
	Message       string `json:"message,omitempty"`
}

// Bool returns a pointer to b, for the optional fields above.
func Bool(b bool) *bool { return &b }

// Int returns a pointer to n.
func Int(n int) *int { return &n }

// String returns a pointer to s.
func String(s string) *string { return &s }
