// Package rbac is the Azure RBAC policy of wif's ARM-compatible control plane
// and Key Vault data plane: Azure's built-in role definitions and one pure
// evaluator that decides whether a principal may perform an action at a
// scope. It uses the standard library only: no network, storage or logging.
package rbac

import (
	"sort"
	"strings"
)

// RoleTypeBuiltIn is the roleType Azure reports for its built-in roles.
const RoleTypeBuiltIn = "BuiltInRole"

// Permission is one permission block of a role definition. NotActions and
// NotDataActions subtract only from the Actions and DataActions of the same
// block.
type Permission struct {
	Actions, NotActions, DataActions, NotDataActions []string
}

// RoleDefinition is an Azure role definition.
type RoleDefinition struct {
	Name             string // the GUID
	RoleName         string // e.g. "Owner"
	Description      string
	RoleType         string // "BuiltInRole" or "CustomRole"
	Permissions      []Permission
	AssignableScopes []string
}

// Built-in role definition GUIDs, identical in every Azure tenant.
const (
	OwnerID                      = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"
	ContributorID                = "b24988ac-6180-42a0-ab88-20f7382dd24c"
	ReaderID                     = "acdd72a7-3385-48ef-bd42-f606fba81ae7"
	UserAccessAdministratorID    = "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9"
	ManagedIdentityContributorID = "e40ec5ca-96e0-45a2-b4ff-59039f2c2b59"
	ManagedIdentityOperatorID    = "f1a07417-d97a-45cb-824c-7a7467783830"
	KeyVaultAdministratorID      = "00482a5a-887f-4fb3-b363-3b7fe8e74483"
	KeyVaultSecretsOfficerID     = "b86a8fe4-44ce-4948-aee5-eccb2c155cd7"
	KeyVaultSecretsUserID        = "4633458b-17de-408a-b874-0445c86b69e6"
	KeyVaultReaderID             = "21090545-7ca7-4776-b22c-e363652d74d2"
	StorageBlobDataOwnerID       = "b7e6dc6d-f1e8-4753-8033-0f276bb0955b"
	StorageBlobDataContributorID = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
	StorageBlobDataReaderID      = "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1"
)

// kvRBACNote ends the description of every Key Vault data-plane role.
const kvRBACNote = "Only works for key vaults that use the 'Azure role-based access control' permission model."

// keyVaultDataRoleActions are the control-plane actions shared by the Key
// Vault Administrator, Secrets Officer and Reader roles.
func keyVaultDataRoleActions() []string {
	return []string{
		"Microsoft.Authorization/*/read",
		"Microsoft.Insights/alertRules/*",
		"Microsoft.Resources/deployments/*",
		"Microsoft.Resources/subscriptions/resourceGroups/read",
		"Microsoft.Support/*",
		"Microsoft.KeyVault/checkNameAvailability/read",
		"Microsoft.KeyVault/deletedVaults/read",
		"Microsoft.KeyVault/locations/*/read",
		"Microsoft.KeyVault/vaults/*/read",
		"Microsoft.KeyVault/operations/read",
	}
}

// builtins returns freshly allocated definitions, as documented on
// learn.microsoft.com "Azure built-in roles" (azure-docs
// articles/role-based-access-control/built-in-roles/*.md). Empty lists are
// non-nil so that they encode as [] like ARM's.
func builtins() []RoleDefinition {
	none := func() []string { return []string{} }
	role := func(guid, name, desc string, p Permission) RoleDefinition {
		for _, l := range []*[]string{&p.Actions, &p.NotActions, &p.DataActions, &p.NotDataActions} {
			if *l == nil {
				*l = none()
			}
		}
		return RoleDefinition{
			Name:             guid,
			RoleName:         name,
			Description:      desc,
			RoleType:         RoleTypeBuiltIn,
			Permissions:      []Permission{p},
			AssignableScopes: []string{"/"},
		}
	}
	return []RoleDefinition{
		role(OwnerID, "Owner",
			"Grants full access to manage all resources, including the ability to assign roles in Azure RBAC.",
			Permission{Actions: []string{"*"}}),
		role(ContributorID, "Contributor",
			"Grants full access to manage all resources, but does not allow you to assign roles in Azure RBAC, manage assignments in Azure Blueprints, or share image galleries.",
			Permission{
				Actions: []string{"*"},
				NotActions: []string{
					"Microsoft.Authorization/*/Delete",
					"Microsoft.Authorization/*/Write",
					"Microsoft.Authorization/elevateAccess/Action",
					"Microsoft.Blueprint/blueprintAssignments/write",
					"Microsoft.Blueprint/blueprintAssignments/delete",
					"Microsoft.Compute/galleries/share/action",
					"Microsoft.Purview/consents/write",
					"Microsoft.Purview/consents/delete",
					"Microsoft.Resources/deploymentStacks/manageDenySetting/action",
					"Microsoft.Subscription/cancel/action",
					"Microsoft.Subscription/enable/action",
				},
			}),
		role(ReaderID, "Reader",
			"View all resources, but does not allow you to make any changes.",
			Permission{Actions: []string{"*/read"}}),
		role(UserAccessAdministratorID, "User Access Administrator",
			"Lets you manage user access to Azure resources.",
			Permission{Actions: []string{"*/read", "Microsoft.Authorization/*", "Microsoft.Support/*"}}),
		role(ManagedIdentityContributorID, "Managed Identity Contributor",
			"Create, Read, Update, and Delete User Assigned Identity",
			Permission{Actions: []string{
				"Microsoft.ManagedIdentity/userAssignedIdentities/read",
				"Microsoft.ManagedIdentity/userAssignedIdentities/write",
				"Microsoft.ManagedIdentity/userAssignedIdentities/delete",
				"Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials/read",
				"Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials/write",
				"Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials/delete",
				"Microsoft.ManagedIdentity/userAssignedIdentities/revokeTokens/action",
				"Microsoft.Authorization/*/read",
				"Microsoft.Insights/alertRules/*",
				"Microsoft.Resources/subscriptions/resourceGroups/read",
				"Microsoft.Resources/deployments/*",
				"Microsoft.Support/*",
			}}),
		role(ManagedIdentityOperatorID, "Managed Identity Operator",
			"Read and Assign User Assigned Identity",
			Permission{Actions: []string{
				"Microsoft.ManagedIdentity/userAssignedIdentities/*/read",
				"Microsoft.ManagedIdentity/userAssignedIdentities/*/assign/action",
				"Microsoft.Authorization/*/read",
				"Microsoft.Insights/alertRules/*",
				"Microsoft.Resources/subscriptions/resourceGroups/read",
				"Microsoft.Resources/deployments/*",
				"Microsoft.Support/*",
			}}),
		role(KeyVaultAdministratorID, "Key Vault Administrator",
			"Perform all data plane operations on a key vault and all objects in it, including certificates, keys, and secrets. Cannot manage key vault resources or manage role assignments. "+kvRBACNote,
			Permission{
				Actions:     keyVaultDataRoleActions(),
				DataActions: []string{"Microsoft.KeyVault/vaults/*"},
			}),
		role(KeyVaultSecretsOfficerID, "Key Vault Secrets Officer",
			"Perform any action on the secrets of a key vault, except manage permissions. "+kvRBACNote,
			Permission{
				Actions:     keyVaultDataRoleActions(),
				DataActions: []string{"Microsoft.KeyVault/vaults/secrets/*"},
			}),
		role(KeyVaultSecretsUserID, "Key Vault Secrets User",
			"Read secret contents. "+kvRBACNote,
			Permission{DataActions: []string{
				"Microsoft.KeyVault/vaults/secrets/getSecret/action",
				"Microsoft.KeyVault/vaults/secrets/readMetadata/action",
			}}),
		role(KeyVaultReaderID, "Key Vault Reader",
			"Read metadata of key vaults and its certificates, keys, and secrets. Cannot read sensitive values such as secret contents or key material. "+kvRBACNote,
			Permission{
				Actions: keyVaultDataRoleActions(),
				DataActions: []string{
					"Microsoft.KeyVault/vaults/*/read",
					"Microsoft.KeyVault/vaults/secrets/readMetadata/action",
				},
			}),
		role(StorageBlobDataOwnerID, "Storage Blob Data Owner",
			"Allows for full access to Azure Storage blob containers and data, including assigning POSIX access control.",
			Permission{
				Actions: []string{
					"Microsoft.Storage/storageAccounts/blobServices/containers/*",
					"Microsoft.Storage/storageAccounts/blobServices/generateUserDelegationKey/action",
				},
				DataActions: []string{"Microsoft.Storage/storageAccounts/blobServices/containers/blobs/*"},
			}),
		role(StorageBlobDataContributorID, "Storage Blob Data Contributor",
			"Allows for read, write and delete access to Azure Storage blob containers and data",
			Permission{
				Actions: []string{
					"Microsoft.Storage/storageAccounts/blobServices/containers/delete",
					"Microsoft.Storage/storageAccounts/blobServices/containers/read",
					"Microsoft.Storage/storageAccounts/blobServices/containers/write",
					"Microsoft.Storage/storageAccounts/blobServices/generateUserDelegationKey/action",
				},
				DataActions: []string{
					"Microsoft.Storage/storageAccounts/blobServices/containers/blobs/delete",
					"Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read",
					"Microsoft.Storage/storageAccounts/blobServices/containers/blobs/write",
					"Microsoft.Storage/storageAccounts/blobServices/containers/blobs/move/action",
					"Microsoft.Storage/storageAccounts/blobServices/containers/blobs/add/action",
				},
			}),
		role(StorageBlobDataReaderID, "Storage Blob Data Reader",
			"Allows for read access to Azure Storage blob containers and data",
			Permission{
				Actions: []string{
					"Microsoft.Storage/storageAccounts/blobServices/containers/read",
					"Microsoft.Storage/storageAccounts/blobServices/generateUserDelegationKey/action",
				},
				DataActions: []string{"Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read"},
			}),
	}
}

// BuiltIns returns Azure's built-in role definitions known to wif, sorted by
// RoleName. The result is a fresh copy the caller may modify.
func BuiltIns() []RoleDefinition {
	defs := builtins()
	sort.Slice(defs, func(i, j int) bool { return defs[i].RoleName < defs[j].RoleName })
	return defs
}

// BuiltIn looks a built-in role up by its GUID or its roleName, both
// case-insensitively. A full role definition id
// (".../providers/Microsoft.Authorization/roleDefinitions/{guid}") is
// accepted as well, so BuiltIn can be passed directly as Authorize's role
// lookup. The result is a fresh copy.
func BuiltIn(nameOrGUID string) (RoleDefinition, bool) {
	key := nameOrGUID
	if g, ok := RoleDefinitionGUID(nameOrGUID); ok {
		key = g
	}
	for _, d := range builtins() {
		if strings.EqualFold(d.Name, key) || strings.EqualFold(d.RoleName, nameOrGUID) {
			return d, true
		}
	}
	return RoleDefinition{}, false
}

const roleDefinitionsSegment = "/providers/microsoft.authorization/roledefinitions/"

// RoleDefinitionGUID extracts the lower-case GUID from a role definition id:
// a bare GUID, "/providers/Microsoft.Authorization/roleDefinitions/{guid}",
// or the same under any scope such as "/subscriptions/{s}/providers/...".
// The provider and type names are matched case-insensitively.
func RoleDefinitionGUID(id string) (string, bool) {
	cand := id
	if i := strings.LastIndex(asciiLower(id), roleDefinitionsSegment); i >= 0 {
		prefix := id[:i]
		if prefix != "" && (!strings.HasPrefix(prefix, "/") || strings.HasSuffix(prefix, "/")) {
			return "", false
		}
		cand = id[i+len(roleDefinitionsSegment):]
	} else if strings.Contains(id, "/") {
		return "", false
	}
	if !isGUID(cand) {
		return "", false
	}
	return strings.ToLower(cand), true
}

// isGUID reports whether s has the 8-4-4-4-12 hexadecimal form.
func isGUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}

// asciiLower lower-cases ASCII letters only, so byte offsets are preserved.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + ('a' - 'A')
		}
	}
	return string(b)
}
