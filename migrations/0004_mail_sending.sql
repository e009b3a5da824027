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
