-- Tenantry system of record (Cloudflare D1 / SQLite).
-- Every tenant-owned table carries tenant_id; its indexes and UNIQUE constraints lead with it.
-- Times are seconds since the Unix epoch.

CREATE TABLE tenants (
  id TEXT PRIMARY KEY,
  slug TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL,
  plan TEXT NOT NULL DEFAULT 'free' CHECK (plan IN ('free', 'starter', 'professional', 'enterprise')),
  status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('pending', 'active', 'suspended', 'deleted')),
  billing_email TEXT NOT NULL,
  stripe_customer_id TEXT UNIQUE,
  subscription_id TEXT,
  subscription_status TEXT,
  billing_event_at INTEGER,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  deleted_at INTEGER
);

CREATE TABLE tenant_hostnames (
  hostname TEXT PRIMARY KEY,
  tenant_id TEXT NOT NULL REFERENCES tenants(id),
  created_at INTEGER NOT NULL
);
CREATE INDEX tenant_hostnames_tenant ON tenant_hostnames (tenant_id);

CREATE TABLE users (
  id TEXT PRIMARY KEY,
  email TEXT NOT NULL UNIQUE,
  platform_role TEXT CHECK (platform_role IN ('superadmin')),
  created_at INTEGER NOT NULL
);

CREATE TABLE memberships (
  tenant_id TEXT NOT NULL REFERENCES tenants(id),
  user_id TEXT NOT NULL REFERENCES users(id),
  role TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, user_id)
);
CREATE INDEX memberships_user ON memberships (user_id);

CREATE TABLE custom_roles (
  tenant_id TEXT NOT NULL REFERENCES tenants(id),
  name TEXT NOT NULL,
  permissions TEXT NOT NULL, -- JSON array
  created_at INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, name)
);

CREATE TABLE api_keys (
  tenant_id TEXT NOT NULL REFERENCES tenants(id),
  id TEXT NOT NULL,
  name TEXT NOT NULL,
  role TEXT NOT NULL,
  key_hash TEXT NOT NULL UNIQUE, -- SHA-256 of the key; the key itself is never stored
  display_prefix TEXT NOT NULL,
  created_by TEXT,
  created_at INTEGER NOT NULL,
  expires_at INTEGER,
  revoked_at INTEGER,
  PRIMARY KEY (tenant_id, id)
);

CREATE TABLE usage_counters (
  tenant_id TEXT NOT NULL REFERENCES tenants(id),
  metric TEXT NOT NULL,
  period TEXT NOT NULL, -- YYYY-MM
  value INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (tenant_id, metric, period)
);

CREATE TABLE limit_overrides (
  tenant_id TEXT NOT NULL REFERENCES tenants(id),
  quota TEXT NOT NULL,
  value INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, quota)
);

CREATE TABLE audit_log (
  tenant_id TEXT NOT NULL,
  id TEXT NOT NULL,
  actor TEXT NOT NULL,
  action TEXT NOT NULL,
  resource TEXT NOT NULL,
  resource_id TEXT,
  before_json TEXT,
  after_json TEXT,
  request_id TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, id)
);
CREATE INDEX audit_log_tenant_time ON audit_log (tenant_id, created_at);

CREATE TABLE settings (
  tenant_id TEXT NOT NULL REFERENCES tenants(id),
  key TEXT NOT NULL,
  value TEXT NOT NULL,
  PRIMARY KEY (tenant_id, key)
);

CREATE TABLE integrations (
  tenant_id TEXT NOT NULL REFERENCES tenants(id),
  kind TEXT NOT NULL CHECK (kind IN ('crm', 'whatsapp')),
  config TEXT NOT NULL,   -- JSON without secrets
  sealed TEXT NOT NULL,   -- JSON of sealed secrets (tenantry-core seal)
  lookup_key TEXT,        -- e.g. the WhatsApp phone_number_id
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, kind)
);

CREATE TABLE clients (
  tenant_id TEXT NOT NULL REFERENCES tenants(id),
  id TEXT NOT NULL,
  name TEXT NOT NULL,
  email TEXT,
  phone TEXT,
  owner_id TEXT,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, id)
);

CREATE TABLE appointments (
  tenant_id TEXT NOT NULL REFERENCES tenants(id),
  id TEXT NOT NULL,
  client_id TEXT NOT NULL,
  employee_id TEXT NOT NULL,
  starts_at INTEGER NOT NULL,
  ends_at INTEGER NOT NULL,
  status TEXT NOT NULL DEFAULT 'scheduled',
  notes TEXT,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, id),
  FOREIGN KEY (tenant_id, client_id) REFERENCES clients (tenant_id, id)
);
CREATE INDEX appointments_employee ON appointments (tenant_id, employee_id);

CREATE TABLE conversations (
  tenant_id TEXT NOT NULL REFERENCES tenants(id),
  id TEXT NOT NULL,
  wa_id TEXT NOT NULL,
  contact_name TEXT,
  last_message_at INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, id),
  UNIQUE (tenant_id, wa_id)
);

CREATE TABLE messages (
  tenant_id TEXT NOT NULL REFERENCES tenants(id),
  message_id TEXT NOT NULL,
  conversation_id TEXT NOT NULL,
  direction TEXT NOT NULL,
  kind TEXT NOT NULL,
  body TEXT,
  status TEXT,
  sent_at INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, message_id)
);

CREATE TABLE stripe_events (
  event_id TEXT PRIMARY KEY,
  tenant_id TEXT,
  type TEXT NOT NULL,
  received_at INTEGER NOT NULL
);

-- The mail directory. Every change takes the next directory version (directory_versions)
-- and stamps the row, so the relay can ask for the rows changed since a version.
CREATE TABLE directory_versions (
  version INTEGER PRIMARY KEY AUTOINCREMENT,
  created_at INTEGER NOT NULL
);

CREATE TABLE mail_domains (
  tenant_id TEXT NOT NULL REFERENCES tenants(id),
  domain TEXT NOT NULL UNIQUE,
  finess TEXT,
  organization_name TEXT NOT NULL,
  organization_type TEXT NOT NULL,
  status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended')),
  max_mailboxes INTEGER NOT NULL,
  max_storage_mb INTEGER NOT NULL,
  version INTEGER NOT NULL,
  deleted INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, domain)
);
CREATE INDEX mail_domains_version ON mail_domains (version);

CREATE TABLE mailboxes (
  tenant_id TEXT NOT NULL REFERENCES tenants(id),
  address TEXT NOT NULL UNIQUE,
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
CREATE INDEX mailboxes_domain ON mailboxes (tenant_id, domain);
CREATE INDEX mailboxes_version ON mailboxes (version);

CREATE TABLE mail_aliases (
  tenant_id TEXT NOT NULL REFERENCES tenants(id),
  address TEXT NOT NULL UNIQUE,
  domain TEXT NOT NULL,
  targets TEXT NOT NULL, -- JSON array of mailbox addresses
  version INTEGER NOT NULL,
  deleted INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (tenant_id, address)
);
CREATE INDEX mail_aliases_version ON mail_aliases (version);

CREATE TABLE mail_usage (
  tenant_id TEXT NOT NULL REFERENCES tenants(id),
  domain TEXT NOT NULL,
  day TEXT NOT NULL,
  messages INTEGER NOT NULL DEFAULT 0,
  bytes INTEGER NOT NULL DEFAULT 0,
  storage_bytes INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (tenant_id, domain, day)
);

CREATE TABLE relay_batches (
  tenant_id TEXT NOT NULL REFERENCES tenants(id),
  batch_id TEXT NOT NULL,
  received_at INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, batch_id)
);
