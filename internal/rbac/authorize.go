package rbac

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ErrorCodeAuthorizationFailed is the ARM error code that accompanies
// AuthorizationFailedMessage.
const ErrorCodeAuthorizationFailed = "AuthorizationFailed"

// Assignment is a role assignment: PrincipalID holds RoleDefinitionID (a
// full role definition id or a bare GUID) at Scope and every scope below it.
type Assignment struct {
	Scope, RoleDefinitionID, PrincipalID string
}

// Request is one operation to authorize.
type Request struct {
	PrincipalID string
	// Action is an operation name such as
	// "Microsoft.ManagedIdentity/userAssignedIdentities/write" or, when
	// DataAction is set, "Microsoft.KeyVault/vaults/secrets/getSecret/action".
	Action string
	// DataAction selects DataActions/NotDataActions instead of
	// Actions/NotActions.
	DataAction bool
	// Scope is the full resource id the request touches, e.g.
	// "/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/v".
	Scope string
}

// Decision is the outcome of Authorize.
type Decision struct {
	Allowed bool
	// Assignment is the assignment that granted the request; nil when denied.
	Assignment *Assignment
	// Reason explains the decision for logs; it is not a protocol message.
	Reason string
}

// Authorize decides whether req is allowed by any of assignments. It is pure
// and denies by default. An assignment applies when its principal equals
// req.PrincipalID (case-insensitively), its Scope equals req.Scope or is an
// ancestor of it (see ScopeContains), and roles knows its role definition
// GUID. The role grants when one of its permission blocks has an Actions
// (DataActions) pattern matching req.Action and no NotActions
// (NotDataActions) pattern of that same block matches it. The first granting
// assignment, in slice order, is returned.
func Authorize(req Request, assignments []Assignment, roles func(guid string) (RoleDefinition, bool)) Decision {
	kind := "action"
	if req.DataAction {
		kind = "data action"
	}
	switch {
	case req.PrincipalID == "":
		return Decision{Reason: "denied: request has no principal"}
	case req.Action == "":
		return Decision{Reason: "denied: request has no " + kind}
	case !strings.HasPrefix(req.Scope, "/"):
		return Decision{Reason: fmt.Sprintf("denied: scope %q is not an absolute resource id", req.Scope)}
	case roles == nil:
		return Decision{Reason: "denied: no role definitions"}
	}
	for _, a := range assignments {
		if !strings.EqualFold(a.PrincipalID, req.PrincipalID) ||
			!strings.HasPrefix(a.Scope, "/") || !ScopeContains(a.Scope, req.Scope) {
			continue
		}
		guid, ok := RoleDefinitionGUID(a.RoleDefinitionID)
		if !ok {
			continue
		}
		role, ok := roles(guid)
		if !ok || !role.Grants(req.Action, req.DataAction) {
			continue
		}
		granted := a
		return Decision{
			Allowed:    true,
			Assignment: &granted,
			Reason: fmt.Sprintf("allowed: role %q (%s) assigned at scope %q grants %s %q",
				role.RoleName, guid, a.Scope, kind, req.Action),
		}
	}
	return Decision{Reason: fmt.Sprintf("denied: no role assignment of principal %q at or above scope %q grants %s %q",
		req.PrincipalID, req.Scope, kind, req.Action)}
}

// Grants reports whether the role allows action: some permission block has a
// matching Actions (DataActions when data is set) pattern and no matching
// NotActions (NotDataActions) pattern in that same block.
func (r RoleDefinition) Grants(action string, data bool) bool {
	for _, p := range r.Permissions {
		allow, deny := p.Actions, p.NotActions
		if data {
			allow, deny = p.DataActions, p.NotDataActions
		}
		if anyMatches(allow, action) && !anyMatches(deny, action) {
			return true
		}
	}
	return false
}

func anyMatches(patterns []string, action string) bool {
	for _, p := range patterns {
		if ActionMatches(p, action) {
			return true
		}
	}
	return false
}

// ActionMatches reports whether an Azure RBAC action pattern matches an
// operation name. Matching is case-insensitive (Unicode simple folding). A
// '*' matches any run of characters, '/' included, and may be empty. As in
// Azure, a '*' that fills a whole path segment ("a/*/b") also matches
// nothing at all together with one of its slashes, so
// "Microsoft.ManagedIdentity/userAssignedIdentities/*/assign/action" grants
// "Microsoft.ManagedIdentity/userAssignedIdentities/assign/action".
// Invalid UTF-8 never matches.
func ActionMatches(pattern, action string) bool {
	if !utf8.ValidString(pattern) || !utf8.ValidString(action) {
		return false
	}
	if !strings.Contains(pattern, "*") {
		return strings.EqualFold(pattern, action)
	}
	p, s := []rune(pattern), []rune(action)
	n, m := len(p), len(s)
	// Row i holds, for each j, whether p[i:] matches s[j:]. Rows are computed
	// from i = n down to 0 and only rows i+1 and i+2 are kept.
	next := make([]bool, m+1)  // row i+1
	next2 := make([]bool, m+1) // row i+2
	cur := make([]bool, m+1)   // row i
	next[m] = true             // row n: the empty pattern matches only the empty rest
	for i := n - 1; i >= 0; i-- {
		if p[i] == '*' {
			seen := false
			for j := m; j >= 0; j-- {
				seen = seen || next[j]
				cur[j] = seen
			}
			if i > 0 && p[i-1] == '/' && i+1 < n && p[i+1] == '/' {
				for j := range cur {
					cur[j] = cur[j] || next2[j]
				}
			}
		} else {
			cur[m] = false
			for j := 0; j < m; j++ {
				cur[j] = next[j+1] && equalFoldRune(p[i], s[j])
			}
		}
		next2, next, cur = next, cur, next2
	}
	return next[0]
}

func equalFoldRune(a, b rune) bool {
	if a == b {
		return true
	}
	if a < utf8.RuneSelf && b < utf8.RuneSelf {
		return 'A' <= a && a <= 'Z' && a+'a'-'A' == b || 'A' <= b && b <= 'Z' && b+'a'-'A' == a
	}
	for r := unicode.SimpleFold(a); r != a; r = unicode.SimpleFold(r) {
		if r == b {
			return true
		}
	}
	return false
}

// ScopeContains reports whether scope equals resource or is its ancestor in
// the ARM scope tree, comparing whole path segments case-insensitively: "/"
// contains everything, "/subscriptions/a" contains
// "/subscriptions/a/resourceGroups/rg" but not "/subscriptions/ab". Empty
// segments (doubled or trailing slashes) are ignored. A scope or resource
// that does not start with '/' is not a path; it contains only itself.
func ScopeContains(scope, resource string) bool {
	if !strings.HasPrefix(scope, "/") || !strings.HasPrefix(resource, "/") {
		return strings.EqualFold(scope, resource)
	}
	ss, rs := segments(scope), segments(resource)
	if len(ss) > len(rs) {
		return false
	}
	for i := range ss {
		if !strings.EqualFold(ss[i], rs[i]) {
			return false
		}
	}
	return true
}

func segments(path string) []string {
	return strings.FieldsFunc(path, func(r rune) bool { return r == '/' })
}

// AuthorizationFailedMessage renders the message ARM returns with
// ErrorCodeAuthorizationFailed.
func AuthorizationFailedMessage(principalID, action, scope string) string {
	return fmt.Sprintf("The client '%s' with object id '%s' does not have authorization to perform action '%s' over scope '%s' or the scope is invalid. If access was recently granted, please refresh your credentials.",
		principalID, principalID, action, scope)
}
