-- Relay credentials are platform credentials (issue "Isolation first"): issued, listed and
-- revoked by a superadmin, optionally limited to named tenants, never a tenant role.
CREATE TABLE relay_keys (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  key_hash TEXT NOT NULL UNIQUE, -- SHA-256 of the key; the key itself is never stored
  display_prefix TEXT NOT NULL,
  tenants TEXT, -- JSON array of tenant ids the key serves; NULL: every tenant
  created_by TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER,
  revoked_at INTEGER
);

-- Usage batches belong to the relay key that pushed them, not to a tenant. Batch ids are
-- 128-bit random, so they are unique across relays.
CREATE TABLE relay_usage_batches (
  batch_id TEXT PRIMARY KEY,
  relay_key_id TEXT NOT NULL REFERENCES relay_keys(id),
  received_at INTEGER NOT NULL
);

-- Keys minted under the old tenant role `mail-relay` stop working now.
UPDATE api_keys SET revoked_at = CAST(strftime('%s', 'now') AS INTEGER)
  WHERE role = 'mail-relay' AND revoked_at IS NULL;

-- Platform actions that belong to no tenant (relay keys, reseal), audited like tenant ones.
CREATE TABLE platform_audit (
  id TEXT PRIMARY KEY,
  actor TEXT NOT NULL,
  action TEXT NOT NULL,
  resource_id TEXT,
  after_json TEXT,
  request_id TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE INDEX platform_audit_created ON platform_audit (created_at);
