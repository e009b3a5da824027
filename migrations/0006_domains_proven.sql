-- Mail domains are proven before they are hosted (tenantry-core mail::proof).
--
-- A tenant's domain is a claim: `pending` with a challenge token until its TXT record
-- `_tenantry-challenge.{domain}` = `tenantry-verification={token}` is seen in DNS (or a
-- superadmin vouches for it), then `active`; `lapsed` when the record has been missing
-- beyond the grace period. Several tenants may hold pending claims on one name; only one
-- claim holds it (the partial unique index below). Relays hear only of held names.
--
-- Rule for the domains made before this change: none stays hosted unless proven or vouched
-- for, so every existing domain becomes a pending claim with a fresh token (relays receive
-- its tombstone at their next sync) and its tenant publishes the record or a superadmin
-- vouches for it (PATCH /v1/mail/domains/{domain} {"status": "active"}).
--
-- The global UNIQUE constraints on names go (mailbox and alias addresses, certificate
-- domains, DKIM selectors): two tenants preparing the same pending name must not see or
-- block each other; what reaches relays stays unique because only the held claim's rows do.

INSERT INTO directory_versions (created_at) VALUES (CAST(strftime('%s', 'now') AS INTEGER));

CREATE TABLE mail_domains_proven (
  tenant_id TEXT NOT NULL REFERENCES tenants(id),
  domain TEXT NOT NULL,
  finess TEXT,
  organization_name TEXT NOT NULL,
  organization_type TEXT NOT NULL,
  status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'active', 'suspended', 'lapsed')),
  max_mailboxes INTEGER NOT NULL,
  max_storage_mb INTEGER NOT NULL,
  version INTEGER NOT NULL,
  deleted INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  proof_token TEXT NOT NULL, -- 128 random bits, hex: the challenge's value
  proven_at INTEGER, -- when DNS proved it or a superadmin vouched
  vouched_by TEXT, -- the superadmin who vouched instead of DNS
  proof_checked_at INTEGER, -- the last lookup; NULL: never, or a check was asked for
  proof_missing_since INTEGER, -- a held domain whose record is gone, since when
  PRIMARY KEY (tenant_id, domain)
);
INSERT INTO mail_domains_proven (tenant_id, domain, finess, organization_name, organization_type, status,
                                 max_mailboxes, max_storage_mb, version, deleted, created_at, proof_token)
  SELECT tenant_id, domain, finess, organization_name, organization_type, 'pending',
         max_mailboxes, max_storage_mb, (SELECT MAX(version) FROM directory_versions), deleted, created_at,
         lower(hex(randomblob(16)))
  FROM mail_domains;
DROP TABLE mail_domains;
ALTER TABLE mail_domains_proven RENAME TO mail_domains;
CREATE INDEX mail_domains_version ON mail_domains (version);
CREATE INDEX mail_domains_name ON mail_domains (domain);
CREATE UNIQUE INDEX mail_domains_holder ON mail_domains (domain) WHERE deleted = 0 AND status != 'pending';
CREATE INDEX mail_domains_due ON mail_domains (proof_checked_at) WHERE deleted = 0;

CREATE TABLE mailboxes_proven (
  tenant_id TEXT NOT NULL REFERENCES tenants(id),
  address TEXT NOT NULL,
  domain TEXT NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('personal', 'organizational')),
  owner TEXT,
  quota_mb INTEGER NOT NULL DEFAULT -1,
  status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
  version INTEGER NOT NULL,
  deleted INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, address)
);
INSERT INTO mailboxes_proven (tenant_id, address, domain, kind, owner, quota_mb, status, version, deleted, created_at)
  SELECT tenant_id, address, domain, kind, owner, quota_mb, status, version, deleted, created_at FROM mailboxes;
DROP TABLE mailboxes;
ALTER TABLE mailboxes_proven RENAME TO mailboxes;
CREATE INDEX mailboxes_domain ON mailboxes (tenant_id, domain);
CREATE INDEX mailboxes_version ON mailboxes (version);
CREATE INDEX mailboxes_address ON mailboxes (address);

CREATE TABLE mail_aliases_proven (
  tenant_id TEXT NOT NULL REFERENCES tenants(id),
  address TEXT NOT NULL,
  domain TEXT NOT NULL,
  targets TEXT NOT NULL, -- JSON array of mailbox addresses
  version INTEGER NOT NULL,
  deleted INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (tenant_id, address)
);
INSERT INTO mail_aliases_proven (tenant_id, address, domain, targets, version, deleted)
  SELECT tenant_id, address, domain, targets, version, deleted FROM mail_aliases;
DROP TABLE mail_aliases;
ALTER TABLE mail_aliases_proven RENAME TO mail_aliases;
CREATE INDEX mail_aliases_version ON mail_aliases (version);
CREATE INDEX mail_aliases_domain ON mail_aliases (tenant_id, domain);

CREATE TABLE mail_dkim_keys_proven (
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
  UNIQUE (tenant_id, domain, selector)
);
INSERT INTO mail_dkim_keys_proven (id, tenant_id, domain, selector, algorithm, state, public_key, private_key, created_at, version, deleted)
  SELECT id, tenant_id, domain, selector, algorithm, state, public_key, private_key, created_at, version, deleted FROM mail_dkim_keys;
DROP TABLE mail_dkim_keys;
ALTER TABLE mail_dkim_keys_proven RENAME TO mail_dkim_keys;
CREATE INDEX mail_dkim_keys_domain ON mail_dkim_keys (tenant_id, domain);
CREATE INDEX mail_dkim_keys_version ON mail_dkim_keys (version);

CREATE TABLE mail_certificates_proven (
  domain TEXT NOT NULL,
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
  deleted INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (tenant_id, domain)
);
INSERT INTO mail_certificates_proven (domain, tenant_id, id, subject, san, names, issuer, serial, not_before, not_after,
                                      chain_pem, private_key, uploaded_at, version, deleted)
  SELECT domain, tenant_id, id, subject, san, names, issuer, serial, not_before, not_after,
         chain_pem, private_key, uploaded_at, version, deleted FROM mail_certificates;
DROP TABLE mail_certificates;
ALTER TABLE mail_certificates_proven RENAME TO mail_certificates;
CREATE INDEX mail_certificates_tenant ON mail_certificates (tenant_id);
CREATE INDEX mail_certificates_version ON mail_certificates (version);
CREATE INDEX mail_certificates_domain ON mail_certificates (domain);
