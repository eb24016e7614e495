-- Key vaults. Names are globally unique (they are DNS labels).
CREATE TABLE vaults (
    name_key          TEXT PRIMARY KEY,
    name              TEXT NOT NULL,
    subscription_key  TEXT NOT NULL,
    subscription_id   TEXT NOT NULL,
    rg_key            TEXT NOT NULL,
    resource_group    TEXT NOT NULL,
    location          TEXT NOT NULL,
    tags              TEXT,
    tenant_id         TEXT NOT NULL,
    sku               TEXT NOT NULL,
    enable_rbac       INTEGER NOT NULL,
    retention_days    INTEGER NOT NULL,
    created_at        INTEGER,
    FOREIGN KEY (subscription_key, rg_key)
        REFERENCES resource_groups (subscription_key, name_key) ON DELETE CASCADE
);
CREATE INDEX vaults_group ON vaults (subscription_key, rg_key);
