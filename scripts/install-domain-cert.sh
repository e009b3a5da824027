#!/usr/bin/env bash
# Installs a mail domain's own TLS certificate through the API, for operators: the relay
# (SMTP STARTTLS, 465) and Dovecot (IMAPS) serve it by SNI for the domain and its mx./mail.
# names from their next sync, without a restart.
#   scripts/install-domain-cert.sh DOMAIN CERT KEY [CHAIN]   upload (or replace) from PEM files
#   scripts/install-domain-cert.sh --delete DOMAIN           back to the relay's default certificate
#
# CERT may be a full-chain file (the certificate, then its intermediates): the API reads the
# chain after it. KEY is PKCS#8, PKCS#1 or SEC1 PEM, unencrypted. The API checks the names,
# the validity, the chain's order and that the key matches, and stores nothing otherwise.
# Environment:
#   TENANTRY_TOKEN    an API key or access token allowed mail:update (required)
#   TENANTRY_API_URL  the API (default http://127.0.0.1:8787)
set -euo pipefail
# shellcheck source=scripts/env.sh
source "$(dirname "$0")/env.sh"

usage() {
  echo "usage: scripts/install-domain-cert.sh DOMAIN CERT KEY [CHAIN]" >&2
  echo "       scripts/install-domain-cert.sh --delete DOMAIN" >&2
  exit 2
}

delete=false
if [ "${1:-}" = "--delete" ]; then
  delete=true
  shift
  [ $# -eq 1 ] || usage
else
  [ $# -eq 3 ] || [ $# -eq 4 ] || usage
fi
domain="$1"
if ! [[ "$domain" =~ ^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$ ]]; then
  echo "error: '$domain' is not a domain name" >&2
  exit 2
fi
if [ -z "${TENANTRY_TOKEN:-}" ]; then
  echo "error: TENANTRY_TOKEN is not set: export an API key or access token allowed mail:update" >&2
  exit 2
fi
api="${TENANTRY_API_URL:-http://127.0.0.1:8787}"
url="${api%/}/v1/mail/domains/$domain/certificate"

body="$(mktemp)"
trap 'rm -f "$body"' EXIT

# The token goes to curl through a file descriptor, never on its command line.
call() { # METHOD [curl args...] -> prints the HTTP status; the response body is in $body
  local method="$1"
  shift
  if ! curl --silent --show-error --max-time 60 --request "$method" --output "$body" --write-out '%{http_code}' \
    --header @<(printf 'Authorization: Bearer %s\n' "$TENANTRY_TOKEN") "$@" "$url"; then
    echo "error: could not reach $api (set TENANTRY_API_URL)" >&2
    exit 1
  fi
}

# Prints the answer: the certificate now served, or the problem's detail (exit 1).
report() { # STATUS
  python3 - "$1" "$body" "$domain" <<'PY'
import datetime, json, sys
status, path, domain = int(sys.argv[1]), sys.argv[2], sys.argv[3]
text = open(path, encoding="utf-8", errors="replace").read()
try:
    answer = json.loads(text) if text else {}
except ValueError:
    answer = None
if not isinstance(answer, dict):
    answer = {"detail": text.strip()[:500] or "no detail"}
if status >= 300:
    detail = answer.get("detail") or answer.get("title") or "no detail"
    field = answer.get("field")
    field = f" (field: {field})" if field and not detail.startswith(f"{field}:") else ""
    print(f"error: HTTP {status}: {detail}{field}", file=sys.stderr)
    sys.exit(1)
if status == 204:
    print(f"removed: {domain} is served with the relay's default certificate from the next sync")
    sys.exit(0)
day = lambda seconds: datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
print(("uploaded" if status == 201 else "replaced") + f": {domain}")
print(f"  subject    {answer['subject']}")
print(f"  issuer     {answer['issuer']}")
print(f"  names      {', '.join(answer['names'])} (served by SNI from the next sync)")
print(f"  not_after  {day(answer['not_after'])}")
PY
}

if $delete; then
  status="$(call DELETE)"
  report "$status"
  exit
fi

cert="$2" key="$3" chain="${4:-}"
for file in "$cert" "$key" ${chain:+"$chain"}; do
  if [ ! -r "$file" ]; then
    echo "error: cannot read $file" >&2
    exit 2
  fi
done
say "PUT $url"
status="$(python3 - "$cert" "$key" "$chain" <<'PY' | call PUT --header 'content-type: application/json' --data-binary @-
import json, sys
cert, key, chain = sys.argv[1:4]
read = lambda path: open(path, encoding="utf-8", errors="replace").read()
body = {"certificate_pem": read(cert), "private_key_pem": read(key)}
if chain:
    body["chain_pem"] = read(chain)
json.dump(body, sys.stdout)
PY
)"
report "$status"
