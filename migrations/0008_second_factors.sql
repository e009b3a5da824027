-- Second factors (issue "Enterprise sign-in"): an account's authenticator app (TOTP), its
-- single-use recovery codes, and the challenges that carry a password-checked sign-in to
-- its second factor. Secrets are sealed (AES-256-GCM, the account id as context); codes
-- and challenge tokens are stored as their SHA-256.

CREATE TABLE totp_factors (
  user_id TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
  secret_sealed TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  confirmed_at INTEGER,      -- NULL while the enrolment waits for its first code
  last_used_step INTEGER     -- the 30-second step of the last code accepted: each is used once
);

CREATE TABLE recovery_codes (
  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  code_hash TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  used_at INTEGER,
  PRIMARY KEY (user_id, code_hash)
);

CREATE TABLE mfa_challenges (
  token_hash TEXT PRIMARY KEY,
  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  tenant TEXT,               -- the tenant the sign-in asked for (id or slug), if it did
  use_cookie INTEGER NOT NULL DEFAULT 0,
  action TEXT NOT NULL,      -- the audit action of the sign-in it completes
  attempts INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  used_at INTEGER
);
CREATE INDEX mfa_challenges_user ON mfa_challenges (user_id, created_at);

-- How each session authenticated (RFC 8176 amr, a JSON array); every session before
-- this migration signed in with a password.
ALTER TABLE sessions ADD COLUMN amr TEXT NOT NULL DEFAULT '["pwd"]';
