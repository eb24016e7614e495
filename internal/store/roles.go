package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// RoleAssignmentFilter selects role assignments; the zero value selects
// all. Fields combine with AND.
type RoleAssignmentFilter struct {
	// Scope, if set, selects assignments at exactly this scope
	// (case-insensitive, trailing "/" ignored). AtOrAbove adds those at
	// any ancestor of it ("/", "/subscriptions/{id}", ...) and Below those
	// at any scope under it ("/subscriptions/{id}/resourceGroups/{rg}",
	// ...), so both together select what ARM lists at a scope.
	Scope     string
	AtOrAbove bool
	Below     bool
	// PrincipalID, if set, selects assignments to this principal
	// (case-insensitive).
	PrincipalID string
}

// scopeKey is the lookup form of an ARM scope: lower case, no trailing
// "/", the root being "/".
func scopeKey(s string) string {
	s = strings.ToLower(strings.TrimRight(s, "/"))
	if s == "" {
		return "/"
	}
	return s
}

// scopeAncestors returns a scope key and the keys of all its ancestors:
// "/a/b/c" gives "/", "/a", "/a/b", "/a/b/c".
func scopeAncestors(k string) []string {
	out := []string{"/"}
	if k == "/" {
		return out
	}
	for i := 1; i < len(k); i++ {
		if k[i] == '/' {
			out = append(out, k[:i])
		}
	}
	return append(out, k)
}

const roleCols = `id, scope, role_definition_id, principal_id, principal_type, created_at`

func scanRole(s scanner) (RoleAssignment, error) {
	var (
		r       RoleAssignment
		created sql.NullInt64
	)
	if err := s.Scan(&r.ID, &r.Scope, &r.RoleDefinitionID, &r.PrincipalID, &r.PrincipalType, &created); err != nil {
		return RoleAssignment{}, err
	}
	r.CreatedAt = fromTime(created)
	return r, nil
}

// PutRoleAssignment creates a role assignment keyed by its ID
// (case-insensitive) and reports whether it was created. Putting an
// existing ID again with the same scope, role and principal returns the
// stored row unchanged. ErrConflict if the ID exists with a different
// scope, role or principal (ARM: RoleAssignmentUpdateNotPermitted), or if
// another ID already grants this role to this principal at this scope
// (ARM: RoleAssignmentExists). The principal need not exist.
func (db *DB) PutRoleAssignment(ctx context.Context, r RoleAssignment) (RoleAssignment, bool, error) {
	if r.ID == "" || r.Scope == "" || r.RoleDefinitionID == "" || r.PrincipalID == "" {
		return RoleAssignment{}, false, wrap("put role assignment", errors.New("empty id, scope, role definition or principal"))
	}
	idKey, sk, rk, pk := key(r.ID), scopeKey(r.Scope), key(r.RoleDefinitionID), key(r.PrincipalID)
	var (
		out     RoleAssignment
		created bool
	)
	err := db.write(ctx, true, func(tx *sql.Tx) error {
		var oldScope, oldRole, oldPrincipal string
		err := tx.QueryRowContext(ctx, `SELECT scope_key, role_key, principal_key FROM role_assignments
			WHERE id_key = $1`, idKey).Scan(&oldScope, &oldRole, &oldPrincipal)
		switch {
		case err == nil:
			if oldScope != sk || oldRole != rk || oldPrincipal != pk {
				return fmt.Errorf("%w: role assignment %s exists with other properties", ErrConflict, r.ID)
			}
		case errors.Is(err, sql.ErrNoRows):
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM role_assignments
				WHERE scope_key = $1 AND role_key = $2 AND principal_key = $3`, sk, rk, pk).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return fmt.Errorf("%w: role assignment exists", ErrConflict)
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO role_assignments
				(id_key, id, scope_key, scope, role_key, role_definition_id, principal_key, principal_id,
				 principal_type, created_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
				idKey, r.ID, sk, r.Scope, rk, r.RoleDefinitionID, pk, r.PrincipalID, r.PrincipalType,
				toTime(r.CreatedAt)); err != nil {
				return err
			}
			created = true
		default:
			return err
		}
		out, err = scanRole(tx.QueryRowContext(ctx, `SELECT `+roleCols+` FROM role_assignments WHERE id_key = $1`, idKey))
		return err
	})
	if err != nil {
		return RoleAssignment{}, false, wrap("put role assignment", err)
	}
	return out, created, nil
}

// GetRoleAssignment returns a role assignment by ID (case-insensitive).
func (db *DB) GetRoleAssignment(ctx context.Context, id string) (RoleAssignment, error) {
	r, err := scanRole(db.sql.QueryRowContext(ctx, `SELECT `+roleCols+` FROM role_assignments WHERE id_key = $1`, key(id)))
	if err != nil {
		return RoleAssignment{}, wrap("get role assignment", db.noRows(err))
	}
	return r, nil
}

// ListRoleAssignments returns the role assignments f selects, ordered by
// scope and ID.
func (db *DB) ListRoleAssignments(ctx context.Context, f RoleAssignmentFilter) ([]RoleAssignment, error) {
	q, args := roleAssignmentQuery(f)
	rs, err := collect(ctx, db.sql, scanRole, q, args...)
	return rs, wrap("list role assignments", err)
}

// roleAssignmentQuery is the query of ListRoleAssignments: every part of f
// is a condition the indexes on scope_key and (principal_key, scope_key)
// answer.
func roleAssignmentQuery(f RoleAssignmentFilter) (string, []any) {
	var (
		conds []string
		args  []any
	)
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if f.Scope != "" {
		sk := scopeKey(f.Scope)
		var alts []string
		if f.AtOrAbove {
			var ps []string
			for _, a := range scopeAncestors(sk) {
				ps = append(ps, arg(a))
			}
			alts = append(alts, "scope_key IN ("+strings.Join(ps, ", ")+")")
		} else {
			alts = append(alts, "scope_key = "+arg(sk))
		}
		switch {
		case f.Below && sk == "/":
			alts = nil // everything is under the root
		case f.Below:
			// The keys under sk are those that start with sk + "/": in byte
			// order, after sk + "/" and before sk + "0" ('/' + 1), a range
			// the scope index answers.
			alts = append(alts, "(scope_key > "+arg(sk+"/")+" AND scope_key < "+arg(sk+"0")+")")
		}
		if len(alts) > 0 {
			conds = append(conds, "("+strings.Join(alts, " OR ")+")")
		}
	}
	if f.PrincipalID != "" {
		conds = append(conds, "principal_key = "+arg(key(f.PrincipalID)))
	}
	q := `SELECT ` + roleCols + ` FROM role_assignments`
	if len(conds) > 0 {
		q += " WHERE " + strings.Join(conds, " AND ")
	}
	return q + " ORDER BY scope_key, id_key", args
}

// DeleteRoleAssignment deletes a role assignment by ID (case-insensitive);
// ErrNotFound if it is missing.
func (db *DB) DeleteRoleAssignment(ctx context.Context, id string) error {
	return wrap("delete role assignment", db.write(ctx, true, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM role_assignments WHERE id_key = $1`, key(id))
		return affectedOne(res, err)
	}))
}
