#!/usr/bin/env bash
# Applies the D1 migrations in migrations/ (wrangler keeps track of those already applied).
#   scripts/migrate.sh local [--persist-to DIR]   the local database wrangler dev uses
#   scripts/migrate.sh remote                     the production database (needs `wrangler login`
#                                                 or CLOUDFLARE_API_TOKEN, and the real
#                                                 database_id in wrangler.toml)
set -euo pipefail
# shellcheck source=scripts/env.sh
source "$(dirname "$0")/env.sh"
cd "$TENANTRY_ROOT"

where="${1:-}"
shift || true
case "$where" in
  local) wrangler d1 migrations apply DB --local "$@" ;;
  remote) wrangler d1 migrations apply DB --remote "$@" ;;
  *)
    echo "usage: scripts/migrate.sh local [--persist-to DIR] | remote" >&2
    exit 2
    ;;
esac
