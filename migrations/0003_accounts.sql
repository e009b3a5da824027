-- People sign in (issue "People sign in"): accounts with passwords, sessions with rotating
-- refresh tokens, invitations, one-time tokens by email and the transactional outbox.
-- Every token is stored as its SHA-256; the token itself is never stored.

ALTER TABLE users ADD COLUMN password_hash TEXT;            -- PHC string; NULL: no password yet
ALTER TABLE users ADD COLUMN email_verified INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended'));
ALTER TABLE users ADD COLUMN locale TEXT NOT NULL DEFAULT 'en' CHECK (locale IN ('en', 'fr'));
ALTER TABLE users ADD COLUMN updated_at INTEGER;
-- Addresses are stored lowercase; this keeps them unique whatever a writer forgets.
CREATE UNIQUE INDEX users_email_nocase ON users (lower(email));
-- Accounts made by operators before sign-in existed were proven by them.
UPDATE users SET email_verified = 1;

ALTER TABLE memberships ADD COLUMN invited_at INTEGER;
ALTER TABLE memberships ADD COLUMN joined_at INTEGER;
UPDATE memberships SET joined_at = created_at;

-- One row per session (a refresh token family).
CREATE TABLE sessions (
  id TEXT PRIMARY KEY,
  user_id TEXT NOT NULL REFERENCES users(id),
  tenant_id TEXT,                 -- the tenant its access tokens are for (switch changes it)
  user_agent TEXT,
  created_at INTEGER NOT NULL,
  last_used_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  revoked_at INTEGER,
  revoked_reason TEXT
);
CREATE INDEX sessions_user ON sessions (user_id, created_at);

-- Every refresh token ever issued in a session: a token is current until rotated.
CREATE TABLE refresh_tokens (
  token_hash TEXT PRIMARY KEY,
  session_id TEXT NOT NULL REFERENCES sessions(id),
  issued_at INTEGER NOT NULL,
  rotated_at INTEGER
);
CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id);

CREATE TABLE invitations (
  tenant_id TEXT NOT NULL REFERENCES tenants(id),
  id TEXT NOT NULL,
  email TEXT NOT NULL,
  role TEXT NOT NULL,
  token_hash TEXT NOT NULL UNIQUE,
  invited_by TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  accepted_at INTEGER,
  accepted_by TEXT,
  revoked_at INTEGER,
  PRIMARY KEY (tenant_id, id)
);
CREATE INDEX invitations_tenant_email ON invitations (tenant_id, email);

-- Email verification and password reset tokens of an account.
CREATE TABLE account_tokens (
  token_hash TEXT PRIMARY KEY,
  user_id TEXT NOT NULL REFERENCES users(id),
  purpose TEXT NOT NULL CHECK (purpose IN ('verify_email', 'reset_password')),
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  used_at INTEGER
);
CREATE INDEX account_tokens_user ON account_tokens (user_id, purpose);

-- The transactional outbox: written in the batch of the change that causes the message,
-- claimed by a relay with a lease, acknowledged once delivered.
CREATE TABLE outbound_messages (
  id TEXT PRIMARY KEY,
  tenant_id TEXT,                  -- NULL: the platform's own (no tenant concerned)
  template TEXT NOT NULL,
  recipient TEXT NOT NULL,
  subject TEXT NOT NULL,
  message TEXT NOT NULL,           -- the rendered RFC 5322 message
  created_at INTEGER NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  claim_id TEXT,
  claimed_until INTEGER,           -- a claim's lease; unacknowledged messages return after it
  sent_at INTEGER,
  failed_at INTEGER,
  last_error TEXT
);
CREATE INDEX outbound_messages_pending ON outbound_messages (sent_at, failed_at, claimed_until, created_at);
CREATE INDEX outbound_messages_tenant ON outbound_messages (tenant_id, created_at);
