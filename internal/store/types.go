package store

import (
	"errors"
	"time"
)

// Sentinel errors that callers branch on. The store translates driver
// errors (unique violations, no rows) into these itself.
var (
	// ErrNotFound: the addressed row does not exist.
	ErrNotFound = errors.New("store: not found")
	// ErrConflict: a uniqueness rule was violated (for example a duplicate
	// issuer+subject pair on one identity, or a duplicate client id).
	ErrConflict = errors.New("store: conflict")
	// ErrLimit: a per-parent count limit was reached (for example the
	// maximum number of federated credentials on one identity).
	ErrLimit = errors.New("store: limit reached")
	// ErrParentNotFound: the parent row of a write does not exist.
	ErrParentNotFound = errors.New("store: parent not found")
)

// PrincipalKind tells service principals and managed identities apart.
type PrincipalKind string

const (
	KindServicePrincipal PrincipalKind = "ServicePrincipal"
	KindManagedIdentity  PrincipalKind = "ManagedIdentity"
)

// Tenant is a directory: every principal, subscription and signing key
// belongs to exactly one.
type Tenant struct {
	ID        string
	CreatedAt time.Time
}

// Subscription is an ARM subscription inside a tenant.
type Subscription struct {
	ID          string
	TenantID    string
	DisplayName string
	State       string // "Enabled"
	CreatedAt   time.Time
}

// ResourceGroup is an ARM resource group. Names are case-insensitive and
// keep the casing they were created with.
type ResourceGroup struct {
	SubscriptionID string
	Name           string
	Location       string
	Tags           map[string]string
	CreatedAt      time.Time
}

// Principal is a service principal or a user-assigned managed identity.
// ObjectID is the principalId; ClientID is the application (client) id.
// For managed identities SubscriptionID, ResourceGroup, Name and Location
// place the ARM resource; they are empty for plain service principals.
type Principal struct {
	ObjectID    string
	ClientID    string
	TenantID    string
	Kind        PrincipalKind
	DisplayName string

	SubscriptionID string
	ResourceGroup  string
	Name           string
	Location       string
	Tags           map[string]string

	CreatedAt time.Time
}

// ClientSecret is a credential of a service principal. Only a hash of the
// secret is kept.
type ClientSecret struct {
	PrincipalID string
	KeyID       string
	Hash        []byte
	Hint        string // first characters of the secret, for display
	ExpiresAt   time.Time
	CreatedAt   time.Time
}

// FederatedCredential trusts tokens from an external issuer for a principal.
// Exactly one of Subject and Expression is set.
type FederatedCredential struct {
	PrincipalID string
	Name        string
	Issuer      string
	Subject     string
	Audience    string
	Description string
	// Expression is the source text of a claims-matching expression
	// (language version 1); empty when Subject is used.
	Expression string
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// SigningKey is a token-signing key of a tenant. A key is published from
// CreatedAt, signs from ActivateAt, and is withdrawn at RetireAt (zero: not
// scheduled).
type SigningKey struct {
	TenantID   string
	KID        string
	Alg        string // "RS256" or "ES256"
	PrivateKey []byte // PKCS#8 DER
	CreatedAt  time.Time
	ActivateAt time.Time
	RetireAt   time.Time
}

// RoleAssignment grants a role definition to a principal at a scope.
type RoleAssignment struct {
	ID               string // the assignment's GUID name
	Scope            string // e.g. /subscriptions/{id}/resourceGroups/{rg}
	RoleDefinitionID string // full ARM id of the role definition
	PrincipalID      string
	PrincipalType    string
	CreatedAt        time.Time
}

// Vault is a key vault (Microsoft.KeyVault/vaults). Vault names are
// globally unique, case-insensitively.
type Vault struct {
	SubscriptionID string
	ResourceGroup  string
	Name           string
	Location       string
	Tags           map[string]string
	TenantID       string
	SKU            string // "standard" or "premium"
	// EnableRBACAuthorization: data-plane access is decided by RBAC.
	EnableRBACAuthorization bool
	SoftDeleteRetentionDays int
	CreatedAt               time.Time
}

// Cluster is a managed cluster (Microsoft.ContainerService/managedClusters).
// Properties is the ARM properties object as last written, merged by the
// control plane; IssuerID names the cluster's OIDC issuer once enabled.
type Cluster struct {
	SubscriptionID string
	ResourceGroup  string
	Name           string
	Location       string
	Tags           map[string]string
	TenantID       string
	Properties     []byte // JSON object
	IssuerID       string // GUID; empty until the OIDC issuer is enabled
	CreatedAt      time.Time
}

// ClusterKey is a service-account signing key of a cluster's OIDC issuer.
// Managed keys carry their private half; keys a cluster brings itself do
// not. A key with a zero RetireAt is current; others stay published until
// RetireAt.
type ClusterKey struct {
	IssuerID   string
	KID        string
	Alg        string
	PrivateKey []byte // PKCS#8 DER; nil for bring-your-own keys
	PublicKey  []byte // PKIX DER
	CreatedAt  time.Time
	RetireAt   time.Time
}

// SecretVersion is one version of a Key Vault secret. Value is the sealed
// (encrypted) value as produced by the data plane; the store never sees
// plaintext. Names are case-insensitive and keep the casing the secret was
// first created with; Version is 32 lowercase hex characters.
type SecretVersion struct {
	VaultName   string
	Name        string
	Version     string
	Value       []byte
	ContentType string
	Tags        map[string]string
	Enabled     bool
	NotBefore   time.Time // zero: none
	Expires     time.Time // zero: none
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// DeletedSecret is a soft-deleted secret: its latest version and when it
// was deleted and is due to be purged.
type DeletedSecret struct {
	Latest         SecretVersion
	DeletedAt      time.Time
	ScheduledPurge time.Time
}

// SecretPage selects one page of a secret listing: the entries whose sort
// key is greater than After ("" for the first page), at most Limit of them
// (0 for all). Secrets sort by lower-cased name, versions by version.
type SecretPage struct {
	After string
	Limit int
}
