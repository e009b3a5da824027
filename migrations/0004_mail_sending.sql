-- Mail goes out: app passwords of mailboxes (what mail clients sign in with), versioned
-- with the mail directory so the relay receives their hashes (and their tombstones).
CREATE TABLE mail_app_passwords (
  id TEXT PRIMARY KEY,
  tenant_id TEXT NOT NULL REFERENCES tenants(id),
  mailbox TEXT NOT NULL,
  label TEXT NOT NULL,
  hash TEXT NOT NULL, -- PHC string; '' once revoked
  created_at INTEGER NOT NULL,
  last_used_at INTEGER,
  version INTEGER NOT NULL,
  deleted INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX mail_app_passwords_mailbox ON mail_app_passwords (tenant_id, mailbox);
CREATE INDEX mail_app_passwords_version ON mail_app_passwords (version);

-- Domain rows now carry their tenant's sending limits to the relay: stamp them all with
-- a new version so every replica receives them.
INSERT INTO directory_versions (created_at) VALUES (CAST(strftime('%s', 'now') AS INTEGER));
UPDATE mail_domains SET version = (SELECT MAX(version) FROM directory_versions);

-- DKIM keys of mail domains: the private key sealed with the tenant's key (the relay
-- receives it re-sealed for relays), the public key for the TXT record. Two selectors
-- stay live: the active one signs, the previous one stays published.
CREATE TABLE mail_dkim_keys (
  id TEXT PRIMARY KEY,
  tenant_id TEXT NOT NULL REFERENCES tenants(id),
  domain TEXT NOT NULL,
  selector TEXT NOT NULL,
  algorithm TEXT NOT NULL CHECK (algorithm IN ('ed25519', 'rsa')),
  state TEXT NOT NULL CHECK (state IN ('active', 'previous', 'retired')),
  public_key TEXT NOT NULL, -- base64, as in the TXT record's p=
  private_key TEXT NOT NULL, -- sealed PKCS#8; '' once retired
  created_at INTEGER NOT NULL,
  version INTEGER NOT NULL,
  deleted INTEGER NOT NULL DEFAULT 0,
  UNIQUE (domain, selector)
);
CREATE INDEX mail_dkim_keys_domain ON mail_dkim_keys (tenant_id, domain);
CREATE INDEX mail_dkim_keys_version ON mail_dkim_keys (version);
