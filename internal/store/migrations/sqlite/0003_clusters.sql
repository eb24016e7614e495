-- Managed clusters and the signing keys of their OIDC issuers.
CREATE TABLE clusters (
    subscription_key TEXT NOT NULL,
    subscription_id  TEXT NOT NULL,
    rg_key           TEXT NOT NULL,
    resource_group   TEXT NOT NULL,
    name_key         TEXT NOT NULL,
    name             TEXT NOT NULL,
    location         TEXT NOT NULL,
    tags             TEXT,
    tenant_id        TEXT NOT NULL,
    properties       TEXT NOT NULL,
    issuer_id        TEXT,
    created_at       INTEGER,
    PRIMARY KEY (subscription_key, rg_key, name_key),
    FOREIGN KEY (subscription_key, rg_key)
        REFERENCES resource_groups (subscription_key, name_key) ON DELETE CASCADE
);
CREATE UNIQUE INDEX clusters_issuer ON clusters (issuer_id) WHERE issuer_id IS NOT NULL;

-- Keys are kept by issuer id, not by cluster row, so that they go with the
-- issuer; they are deleted with the cluster by the store.
CREATE TABLE cluster_keys (
    issuer_id   TEXT NOT NULL,
    kid         TEXT NOT NULL,
    alg         TEXT NOT NULL,
    private_key BLOB,
    public_key  BLOB NOT NULL,
    created_at  INTEGER,
    retire_at   INTEGER,
    PRIMARY KEY (issuer_id, kid)
);
