-- Initial schema. Every *_key column holds strings.ToLower of the column it
-- shadows: names and GUIDs are case-insensitive in ARM and Entra, but the
-- casing they were created with is kept and returned. Times are unix
-- nanoseconds (UTC); NULL means the zero time.

CREATE TABLE meta (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    generation INTEGER NOT NULL
);
INSERT INTO meta (id, generation) VALUES (1, 0);

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE tenants (
    id_key     TEXT PRIMARY KEY,
    id         TEXT NOT NULL,
    created_at INTEGER
);

CREATE TABLE subscriptions (
    id_key       TEXT PRIMARY KEY,
    id           TEXT NOT NULL,
    tenant_key   TEXT NOT NULL REFERENCES tenants (id_key),
    tenant_id    TEXT NOT NULL,
    display_name TEXT NOT NULL,
    state        TEXT NOT NULL,
    created_at   INTEGER
);
CREATE INDEX subscriptions_tenant ON subscriptions (tenant_key);

CREATE TABLE resource_groups (
    subscription_key TEXT NOT NULL REFERENCES subscriptions (id_key) ON DELETE CASCADE,
    subscription_id  TEXT NOT NULL,
    name_key         TEXT NOT NULL,
    name             TEXT NOT NULL,
    location         TEXT NOT NULL,
    tags             TEXT,
    created_at       INTEGER,
    PRIMARY KEY (subscription_key, name_key)
);

-- Service principals and managed identities. The placement columns are NULL
-- for service principals; NULLs are distinct in the UNIQUE constraint and
-- switch the composite foreign key off.
CREATE TABLE principals (
    object_key       TEXT PRIMARY KEY,
    object_id        TEXT NOT NULL,
    client_key       TEXT NOT NULL UNIQUE,
    client_id        TEXT NOT NULL,
    tenant_key       TEXT NOT NULL REFERENCES tenants (id_key),
    tenant_id        TEXT NOT NULL,
    kind             TEXT NOT NULL,
    display_name     TEXT NOT NULL,
    subscription_key TEXT,
    subscription_id  TEXT,
    rg_key           TEXT,
    resource_group   TEXT,
    name_key         TEXT,
    name             TEXT,
    location         TEXT,
    tags             TEXT,
    created_at       INTEGER,
    UNIQUE (subscription_key, rg_key, name_key),
    FOREIGN KEY (subscription_key, rg_key)
        REFERENCES resource_groups (subscription_key, name_key) ON DELETE CASCADE
);
CREATE INDEX principals_tenant ON principals (tenant_key);

CREATE TABLE client_secrets (
    principal_key TEXT NOT NULL REFERENCES principals (object_key) ON DELETE CASCADE,
    principal_id  TEXT NOT NULL,
    key_id        TEXT NOT NULL,
    hash          BLOB NOT NULL,
    hint          TEXT NOT NULL,
    expires_at    INTEGER,
    created_at    INTEGER,
    PRIMARY KEY (principal_key, key_id)
);

-- The primary key doubles as the (principal) index and yields name order.
CREATE TABLE federated_credentials (
    principal_key TEXT NOT NULL REFERENCES principals (object_key) ON DELETE CASCADE,
    principal_id  TEXT NOT NULL,
    name_key      TEXT NOT NULL,
    name          TEXT NOT NULL,
    issuer        TEXT NOT NULL,
    subject       TEXT NOT NULL,
    audience      TEXT NOT NULL,
    description   TEXT NOT NULL,
    expression    TEXT NOT NULL,
    created_at    INTEGER,
    updated_at    INTEGER,
    PRIMARY KEY (principal_key, name_key)
);
CREATE INDEX federated_credentials_issuer ON federated_credentials (issuer);
CREATE UNIQUE INDEX federated_credentials_issuer_subject
    ON federated_credentials (principal_key, issuer, subject) WHERE subject <> '';

CREATE TABLE signing_keys (
    kid         TEXT PRIMARY KEY,
    tenant_key  TEXT NOT NULL REFERENCES tenants (id_key),
    tenant_id   TEXT NOT NULL,
    alg         TEXT NOT NULL,
    private_key BLOB NOT NULL,
    created_at  INTEGER,
    activate_at INTEGER,
    retire_at   INTEGER
);
CREATE INDEX signing_keys_tenant ON signing_keys (tenant_key, activate_at);

-- No foreign key to principals: ARM accepts assignments for principals it
-- does not (yet) know.
CREATE TABLE role_assignments (
    id_key             TEXT PRIMARY KEY,
    id                 TEXT NOT NULL,
    scope_key          TEXT NOT NULL,
    scope              TEXT NOT NULL,
    role_key           TEXT NOT NULL,
    role_definition_id TEXT NOT NULL,
    principal_key      TEXT NOT NULL,
    principal_id       TEXT NOT NULL,
    principal_type     TEXT NOT NULL,
    created_at         INTEGER,
    UNIQUE (scope_key, role_key, principal_key)
);
CREATE INDEX role_assignments_principal ON role_assignments (principal_key);
