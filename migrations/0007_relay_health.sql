-- What each relay last reported of itself (POST /v1/relay/health), one row per relay key
-- and relay hostname (several relays may share a key), for the operator's relay page.
CREATE TABLE relay_health (
  relay_key_id TEXT NOT NULL REFERENCES relay_keys(id),
  hostname TEXT NOT NULL,
  reported_at INTEGER NOT NULL, -- the gateway's clock when the report arrived
  synced_at INTEGER,
  directory_version INTEGER NOT NULL,
  queue_depth INTEGER NOT NULL,
  oldest_queued_at INTEGER,
  certificates TEXT NOT NULL, -- JSON array of {domain, not_after}, soonest first, at most 200
  PRIMARY KEY (relay_key_id, hostname)
);
