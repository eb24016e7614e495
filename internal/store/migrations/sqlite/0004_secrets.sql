-- Key Vault secrets. A secret (one row in secrets) is addressed by its
-- vault's name key and its own case-insensitive name; it is live, or
-- soft-deleted when deleted_at is set. Its versions hold the value sealed by
-- the data plane (the store never sees plaintext). Deleting the vault (or
-- its resource group) deletes its secrets.
CREATE TABLE secrets (
    vault_key        TEXT NOT NULL REFERENCES vaults (name_key) ON DELETE CASCADE,
    name_key         TEXT NOT NULL,
    name             TEXT NOT NULL,
    deleted_at       INTEGER,
    scheduled_purge  INTEGER,
    PRIMARY KEY (vault_key, name_key)
);
CREATE INDEX secrets_purge ON secrets (scheduled_purge) WHERE deleted_at IS NOT NULL;

CREATE TABLE secret_versions (
    vault_key     TEXT NOT NULL,
    name_key      TEXT NOT NULL,
    version       TEXT NOT NULL,
    seq           INTEGER NOT NULL,
    value         BLOB NOT NULL,
    content_type  TEXT NOT NULL,
    tags          TEXT,
    enabled       INTEGER NOT NULL,
    nbf           INTEGER,
    exp           INTEGER,
    created_at    INTEGER,
    updated_at    INTEGER,
    PRIMARY KEY (vault_key, name_key, version),
    FOREIGN KEY (vault_key, name_key) REFERENCES secrets (vault_key, name_key) ON DELETE CASCADE
);
CREATE UNIQUE INDEX secret_versions_seq ON secret_versions (vault_key, name_key, seq);
