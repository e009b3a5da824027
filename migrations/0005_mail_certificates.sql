-- Mail is read: a TLS certificate per hosted domain, uploaded by its tenant and served by
-- SNI on the relay and Dovecot. One row per domain (a new upload replaces it; DELETE
-- leaves a tombstone so relays drop it and fall back to their default certificate).
CREATE TABLE mail_certificates (
  domain TEXT PRIMARY KEY,
  tenant_id TEXT NOT NULL REFERENCES tenants(id),
  id TEXT NOT NULL, -- the upload; the sealed key is bound to it
  subject TEXT NOT NULL,
  san TEXT NOT NULL, -- JSON array of the SAN DNS names
  names TEXT NOT NULL, -- JSON array of the domain's names it serves by SNI
  issuer TEXT NOT NULL,
  serial TEXT NOT NULL,
  not_before INTEGER NOT NULL,
  not_after INTEGER NOT NULL,
  chain_pem TEXT NOT NULL, -- the domain's certificate then its chain; '' once deleted
  private_key TEXT NOT NULL, -- sealed PKCS#8; '' once deleted
  uploaded_at INTEGER NOT NULL,
  version INTEGER NOT NULL,
  deleted INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX mail_certificates_tenant ON mail_certificates (tenant_id);
CREATE INDEX mail_certificates_version ON mail_certificates (version);
