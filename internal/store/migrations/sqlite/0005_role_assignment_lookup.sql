-- Every ARM request asks for one principal's assignments at a scope and its
-- ancestors, and role assignment lists ask for a principal's assignments
-- around a scope: index the principal with the scope. It covers the lookup
-- by principal alone, so the single-column index goes.
CREATE INDEX role_assignments_principal_scope ON role_assignments (principal_key, scope_key);
DROP INDEX role_assignments_principal;
