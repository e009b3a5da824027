#!/usr/bin/env bash
# The main job: set up, build, migrate a fresh local D1, serve the gateway (wrangler dev)
# and the SMTP relay on 127.0.0.1, seed a demo through the API, and print how to use it.
# Ctrl-C stops everything.
set -euo pipefail
# shellcheck source=scripts/env.sh
source "$(dirname "$0")/env.sh"
cd "$TENANTRY_ROOT"

GATEWAY_PORT="${GATEWAY_PORT:-8787}"
CRM_PORT="${CRM_PORT:-8790}"
SMTP_PORT="${SMTP_PORT:-2525}"
ADMIN_PORT="${ADMIN_PORT:-9925}"
SUBMISSION_PORT="${SUBMISSION_PORT:-2587}"
SUBMISSIONS_PORT="${SUBMISSIONS_PORT:-2465}"
IMAP_PORT="${IMAP_PORT:-2143}"
IMAPS_PORT="${IMAPS_PORT:-2993}"
DNS_PORT="${DNS_PORT:-5335}"
RSPAMD_PORT="${RSPAMD_PORT:-11333}"
RSPAMD_CONTROLLER_PORT="${RSPAMD_CONTROLLER_PORT:-11334}"
RSPAMD_PROXY_PORT="${RSPAMD_PROXY_PORT:-11332}"
# Space-separated domain=host:port pairs: the demo's outbound mail for those domains goes
# to that SMTP server (a local test server) instead of their MX, e.g.
# OUTBOUND_TRANSPORT="example.org=127.0.0.1:1025".
OUTBOUND_TRANSPORT="${OUTBOUND_TRANSPORT:-}"
# Where the demo keeps its state and its secrets (both outside git); a test runs the demo
# beside a developer's own with other values.
STATE="${TENANTRY_DEV_STATE:-$TENANTRY_ROOT/.state/dev}"
DEV_VARS="${TENANTRY_DEV_VARS:-$TENANTRY_ROOT/.dev.vars}"
export TENANTRY_DEV_VARS="$DEV_VARS"  # for the scripts it runs (seed-demo.py mints tokens with its JWT_SECRET)

"$TENANTRY_ROOT/scripts/setup.sh"

if [ ! -f "$DEV_VARS" ]; then
  say "writing $DEV_VARS with fresh local secrets (not committed)"
  {
    echo "JWT_SECRET=$(openssl rand -hex 32)"
    echo "SEAL_MASTER_KEY=$(openssl rand -hex 32)"
    echo "INTERNAL_SECRET=$(openssl rand -hex 32)"
  } > "$DEV_VARS"
fi
# The route Workers' settings, added to an older .dev.vars when missing.
grep -q '^STRIPE_WEBHOOK_SECRETS=' "$DEV_VARS" || echo "STRIPE_WEBHOOK_SECRETS=whsec_$(openssl rand -hex 24)" >> "$DEV_VARS"
grep -q '^STRIPE_PRICE_PLANS=' "$DEV_VARS" ||
  echo 'STRIPE_PRICE_PLANS={"price_starter":"starter","price_professional":"professional","price_enterprise":"enterprise"}' >> "$DEV_VARS"
# Sign-in: the demo lets anyone sign up; its mail links point at this gateway.
grep -q '^SIGNUP_MODE=' "$DEV_VARS" || echo "SIGNUP_MODE=open" >> "$DEV_VARS"
grep -q '^CONSOLE_URL=' "$DEV_VARS" || echo "CONSOLE_URL=http://127.0.0.1:$GATEWAY_PORT" >> "$DEV_VARS"
grep -q '^MAIL_FROM=' "$DEV_VARS" || echo "MAIL_FROM=no-reply@tenantry.localhost" >> "$DEV_VARS"
# The relay's own name is the platform's, never a tenant's domain.
grep -q '^RELAY_HOSTNAMES=' "$DEV_VARS" || echo "RELAY_HOSTNAMES=mx.tenantry.localhost" >> "$DEV_VARS"
# Mail goes out: the key DKIM keys are sealed with for the relay.
grep -q '^RELAY_SEAL_KEY=' "$DEV_VARS" || echo "RELAY_SEAL_KEY=$(openssl rand -hex 32)" >> "$DEV_VARS"

say "building the relay"
cargo build -p tenantry-relay --locked

say "fresh local state in $STATE"
rm -rf "$STATE"
mkdir -p "$STATE/mail"
scripts/migrate.sh local --persist-to "$STATE/d1" >/dev/null

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -- "-$pid" 2>/dev/null || kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

say "starting the EspoCRM stand-in on 127.0.0.1:$CRM_PORT (EspoCRM itself cannot run here)"
setsid python3 tests/gateway/espocrm.py --port "$CRM_PORT" --api-key demo-espocrm-api-key >"$STATE/espocrm.log" 2>&1 &
pids+=($!)

say "starting the gateway with the route Workers of functions/workers.toml behind it (wrangler dev builds them all; the first build takes a few minutes)"
setsid scripts/serve-workers.py --port "$GATEWAY_PORT" --persist-to "$STATE/d1" --vars "$DEV_VARS" \
  >"$STATE/gateway.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 1500); do
  curl -fsS "http://127.0.0.1:$GATEWAY_PORT/healthz" >/dev/null 2>&1 && break
  if ! kill -0 "${pids[1]}" 2>/dev/null; then tail -50 "$STATE/gateway.log"; exit 1; fi
  sleep 1
done
curl -fsS "http://127.0.0.1:$GATEWAY_PORT/healthz" >/dev/null || { tail -50 "$STATE/gateway.log"; exit 1; }

say "seeding the demo"
python3 scripts/seed-demo.py "http://127.0.0.1:$GATEWAY_PORT" "http://127.0.0.1:$CRM_PORT" > "$STATE/demo.json"
field() { python3 -c "import json,sys; d=json.load(open('$STATE/demo.json')); print(eval(sys.argv[1]))" "$1"; }

say "setting demo passwords (accounts of the paris and lyon owners, and a superadmin)"
DEMO_PASSWORD="${DEMO_PASSWORD:-tenantry-demo-$(openssl rand -hex 4)}"
export TENANTRY_PASSWORD="$DEMO_PASSWORD"
python3 scripts/set-password.py direction@hopital-paris.example --local "$STATE/d1" >/dev/null
python3 scripts/set-password.py direction@clinique-lyon.example --local "$STATE/d1" >/dev/null
python3 scripts/create-superadmin.py operator@tenantry.localhost --local "$STATE/d1" >/dev/null
unset TENANTRY_PASSWORD

# The platform's own mail (invitations, resets) is signed as in production: an RSA key
# (the one every receiver verifies) for MAIL_FROM's domain, selector `platform`.
PLATFORM_MAIL_DOMAIN="$(grep '^MAIL_FROM=' "$DEV_VARS" | cut -d= -f2 | cut -d@ -f2)"
PLATFORM_DKIM_KEY="$(dirname "$STATE")/platform-dkim.pem"
if [ ! -f "$PLATFORM_DKIM_KEY" ]; then
  say "generating the platform's DKIM key ($PLATFORM_DKIM_KEY, RSA 2048)"
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$PLATFORM_DKIM_KEY" 2>/dev/null
  chmod 600 "$PLATFORM_DKIM_KEY"
fi
PLATFORM_DKIM_VALUE="v=DKIM1; k=rsa; p=$(openssl pkey -in "$PLATFORM_DKIM_KEY" -pubout -outform DER 2>/dev/null | base64 -w0)"

say "starting the demo's DNS server (dnsmasq on 127.0.0.1:$DNS_PORT) with the demo domains' challenge and DKIM records"
# The demo's domains were claimed like any tenant's (pending); their DNS host publishes the
# challenge records, and the relay's lookups prove them (README: "Mail domains are proven").
# TXT values over 255 characters are published as several strings, as DNS requires.
{
  printf 'no-resolv\nno-hosts\nbind-interfaces\nlisten-address=127.0.0.1\nlocal=/example/\nlocal=/localhost/\n'
  python3 - "$STATE/demo.json" "platform._domainkey.$PLATFORM_MAIL_DOMAIN" "$PLATFORM_DKIM_VALUE" <<'PY'
import json, sys
demo, platform_name, platform_value = sys.argv[1:]
def record(name, value):
    strings = ",".join(f'"{value[i:i + 255]}"' for i in range(0, len(value), 255))
    print(f"txt-record={name},{strings}")
tenants = json.load(open(demo))["tenants"].values()
for t in tenants:
    record(t["verification"]["name"], t["verification"]["value"])
    for key in t["dkim_keys"]:
        record(key["name"], key["value"])
record(platform_name, platform_value)
PY
} > "$STATE/dns.conf"
setsid dnsmasq --keep-in-foreground "--conf-file=$STATE/dns.conf" "--port=$DNS_PORT" --pid-file= --log-facility=- \
  >"$STATE/dns.log" 2>&1 &
pids+=($!)

if [ ! -f "$STATE/certs/default/cert.pem" ]; then
  mkdir -p "$STATE/certs/default"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 365 -subj "/CN=mx.tenantry.localhost" \
    -addext "subjectAltName=DNS:mx.tenantry.localhost" -keyout "$STATE/certs/default/key.pem" \
    -out "$STATE/certs/default/cert.pem" 2>/dev/null
fi
# The relay's configuration, with its secrets, stays in the local state directory.
cat > "$STATE/relay.toml" <<TOML
hostname = "mx.tenantry.localhost"
listen = ["127.0.0.1:$SMTP_PORT"]
submission_listen = ["127.0.0.1:$SUBMISSION_PORT"]
submissions_listen = ["127.0.0.1:$SUBMISSIONS_PORT"]
admin_listen = "127.0.0.1:$ADMIN_PORT"
mail_root = "$STATE/mail"
cert_dir = "$STATE/certs"
gateway_url = "http://127.0.0.1:$GATEWAY_PORT"
relay_api_key = "$(field 'd["relay_api_key"]')"
seal_key = "$(grep '^RELAY_SEAL_KEY=' "$DEV_VARS" | cut -d= -f2)"
sync_interval_secs = 5
usage_push_interval_secs = 10
proof_interval_secs = 5
[outbound]
dns_servers = ["127.0.0.1:$DNS_PORT"]
[outbound.transport]
$(for pair in $OUTBOUND_TRANSPORT; do printf '"%s" = "%s"\n' "${pair%%=*}" "${pair#*=}"; done)
[outbound.platform_dkim]
domain = "$PLATFORM_MAIL_DOMAIN"
selector = "platform"
private_key_file = "$PLATFORM_DKIM_KEY"
[dovecot]
dir = "$STATE/dovecot-view"
reload_command = ["doveadm", "-c", "$STATE/dovecot/dovecot.conf", "reload"]
[spam]
rspamd_url = "http://127.0.0.1:$RSPAMD_PORT"
TOML
# Dovecot never gives mail processes root's identity: run as root, the relay and Dovecot
# run as the relay's own user (scripts/setup.sh creates it), which then owns the mail.
mail_user="$(id -un)"
as_mail_user=()
if [ "$(id -u)" -eq 0 ]; then
  mail_user=tenantry-relay
  as_mail_user=(setpriv "--reuid=$mail_user" "--regid=$mail_user" --clear-groups)
fi
# Dovecot runs the relay (its checkpassword) as the mail user: a copy in the state directory,
# which that user must be able to reach.
mkdir -p "$STATE/bin"
cp target/debug/tenantry-relay "$STATE/bin/tenantry-relay"
RELAY="$STATE/bin/tenantry-relay"
if [ "$(id -u)" -eq 0 ] && ! "${as_mail_user[@]}" test -x "$RELAY"; then
  echo "dev.sh: the mail user $mail_user cannot reach $STATE (a parent directory is private);"
  echo "        set TENANTRY_DEV_STATE to a directory it can reach, e.g. TENANTRY_DEV_STATE=/var/tmp/tenantry-dev"
  exit 1
fi
python3 scripts/dovecot_config.py "$STATE/dovecot" --relay "$RELAY" \
  --dovecot-dir "$STATE/dovecot-view" --cert "$STATE/certs/default/cert.pem" --key "$STATE/certs/default/key.pem" \
  --imap-port "$IMAP_PORT" --imaps-port "$IMAPS_PORT" --user "$mail_user" >/dev/null
mkdir -p "$STATE/dovecot-view"
[ "$(id -u)" -ne 0 ] || chown -R "$mail_user:$mail_user" "$STATE/mail" "$STATE/certs" "$STATE/dovecot" "$STATE/dovecot-view" "$STATE/relay.toml" "$PLATFORM_DKIM_KEY"
say "starting Rspamd (Debian's configuration; scanner on 127.0.0.1:$RSPAMD_PORT, DNS from the demo's dnsmasq)"
rspamd_user=()
[ "$(id -u)" -ne 0 ] || rspamd_user=(env RSPAMD_USER="$mail_user")
read -ra rspamd_command <<<"$("${rspamd_user[@]}" python3 scripts/rspamd_config.py "$STATE/rspamd" "$RSPAMD_PORT" \
  "$RSPAMD_CONTROLLER_PORT" "$RSPAMD_PROXY_PORT" "127.0.0.1:$DNS_PORT")"
setsid "${rspamd_command[@]}" >"$STATE/rspamd/rspamd.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 300); do curl -fsS "http://127.0.0.1:$RSPAMD_PORT/ping" >/dev/null 2>&1 && break; sleep 0.2; done
# Dovecot first: the relay asks it to reload its certificates once it has synced.
say "starting Dovecot (unprivileged, IMAP on 127.0.0.1:$IMAP_PORT with STARTTLS and $IMAPS_PORT with TLS) over the relay's Maildir"
setsid "${as_mail_user[@]}" dovecot -F -c "$STATE/dovecot/dovecot.conf" >"$STATE/dovecot/stdout.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do (: </dev/tcp/127.0.0.1/"$IMAP_PORT") 2>/dev/null && break; sleep 0.1; done
say "starting the relay: MX on 127.0.0.1:$SMTP_PORT, submission on $SUBMISSION_PORT (STARTTLS) and $SUBMISSIONS_PORT (TLS)"
setsid "${as_mail_user[@]}" "$RELAY" --config "$STATE/relay.toml" serve >"$STATE/relay.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do grep -q "tenantry-relay ready" "$STATE/relay.log" 2>/dev/null && break; sleep 0.2; done

say "waiting for the relay to prove the demo's mail domains through DNS"
for _ in $(seq 1 60); do
  statuses="$(for key in "$(field 'd["tenants"]["paris"]["owner_api_key"]')" "$(field 'd["tenants"]["lyon"]["owner_api_key"]')"; do
    curl -fsS "http://127.0.0.1:$GATEWAY_PORT/v1/mail/domains" -H "Authorization: Bearer $key" |
      python3 -c 'import json,sys; print(" ".join(d["status"] for d in json.load(sys.stdin)["domains"]))'
  done)"
  [ "$(echo $statuses)" = "active active" ] && break
  sleep 1
done
[ "$(echo $statuses)" = "active active" ] || { echo "the demo's domains were not proven ($statuses); see $STATE/relay.log"; tail -20 "$STATE/relay.log"; exit 1; }


PARIS_KEY="$(field 'd["tenants"]["paris"]["owner_api_key"]')"
LYON_KEY="$(field 'd["tenants"]["lyon"]["owner_api_key"]')"
EMPLOYEE="$(field 'd["tenants"]["paris"]["employee_token"]')"
PARIS_ID="$(field 'd["tenants"]["paris"]["id"]')"
APP_USER="$(field 'd["tenants"]["paris"]["app_password"]["mailbox"]')"
APP_PASSWORD="$(field 'd["tenants"]["paris"]["app_password"]["password"]')"
DKIM_NAME="$(field 'd["tenants"]["paris"]["dkim"]["name"]')"
# As the demo's DNS publishes it: strings of at most 255 characters.
DKIM_VALUE="$(grep -m1 "^txt-record=$DKIM_NAME," "$STATE/dns.conf" | cut -d, -f2- | tr ',' ' ')"
cat <<BANNER

  Tenantry is running.

  Console    http://127.0.0.1:$GATEWAY_PORT/       (sign in with an account below)
  Gateway    http://127.0.0.1:$GATEWAY_PORT        (logs: $STATE/gateway.log)
             with the people, records, mail, admin, relay API, auth, WhatsApp, Stripe and CRM Workers behind it
  EspoCRM    stand-in on http://127.0.0.1:$CRM_PORT (api key demo-espocrm-api-key)
  SMTP relay MX 127.0.0.1:$SMTP_PORT, submission 127.0.0.1:$SUBMISSION_PORT (STARTTLS) and :$SUBMISSIONS_PORT (TLS),
             metrics http://127.0.0.1:$ADMIN_PORT/metrics  (mail in $STATE/mail, config $STATE/relay.toml)
  IMAP       Dovecot on 127.0.0.1:$IMAP_PORT (STARTTLS) and :$IMAPS_PORT (TLS)  (log: $STATE/dovecot/dovecot.log)
  Spam       Rspamd on 127.0.0.1:$RSPAMD_PORT scores mail from outside  (log: $STATE/rspamd/rspamd.log)
  Demo credentials: $STATE/demo.json

  paris (professional) owner key:  $PARIS_KEY
  lyon  (starter)      owner key:  $LYON_KEY
  paris employee JWT:              ${EMPLOYEE:0:40}...

  Sign in (password $DEMO_PASSWORD):
    paris owner   direction@hopital-paris.example
    lyon owner    direction@clinique-lyon.example
    superadmin    operator@tenantry.localhost

  Try:
    curl -s http://127.0.0.1:$GATEWAY_PORT/v1/auth/login -H 'content-type: application/json' \
      -d '{"email":"direction@hopital-paris.example","password":"$DEMO_PASSWORD"}'
    curl -s http://127.0.0.1:$GATEWAY_PORT/v1/tenant -H "Authorization: Bearer $PARIS_KEY"
    curl -s http://127.0.0.1:$GATEWAY_PORT/v1/tenant -H "Host: lyon.app.example" -H "Authorization: Bearer $LYON_KEY"
    curl -s http://127.0.0.1:$GATEWAY_PORT/v1/tenant -H "X-Tenant: lyon" -H "Authorization: Bearer $PARIS_KEY"   # 403 tenant_mismatch
    curl -s http://127.0.0.1:$GATEWAY_PORT/v1/mail/domains/hopital-paris.example/mailboxes -H "Authorization: Bearer $PARIS_KEY"
    curl -s http://127.0.0.1:$GATEWAY_PORT/v1/crm/api/v1/Contact -H "Authorization: Bearer $PARIS_KEY"   # via the CRM Worker
    curl -s "http://127.0.0.1:$GATEWAY_PORT/webhook/whatsapp/$PARIS_ID?hub.mode=subscribe&hub.verify_token=demo-verify-paris&hub.challenge=42"
    swaks --server 127.0.0.1:$SMTP_PORT --to dr.martin@hopital-paris.example --from you@example.org
    ls $STATE/mail/hopital-paris.example/dr.martin/new

  Send as $APP_USER (app password $APP_PASSWORD):
    swaks --server 127.0.0.1:$SUBMISSION_PORT --tls --auth PLAIN --auth-user $APP_USER \\
      --auth-password $APP_PASSWORD --from $APP_USER --to accueil@hopital-paris.example
    target/debug/tenantry-relay --config $STATE/relay.toml queue list     # mail for other domains until delivered or bounced
  DKIM record to publish for hopital-paris.example (RSA; an Ed25519 key is published beside it):
    $DKIM_NAME  TXT  $DKIM_VALUE
  The platform's own mail (invitations, resets) is signed with $PLATFORM_DKIM_KEY
  (d=$PLATFORM_MAIL_DOMAIN, s=platform; its record is in $STATE/dns.conf).
  Mail to other domains waits in the queue (the demo's DNS knows no other MX); to hand it
  to a local test server, start with e.g.
    OUTBOUND_TRANSPORT="example.org=127.0.0.1:1025" scripts/dev.sh
  Mail domains are proven by DNS: the demo's DNS server (dnsmasq, 127.0.0.1:$DNS_PORT, $STATE/dns.conf)
  serves each domain's challenge record, which the relay looked up:
    grep txt-record $STATE/dns.conf
  A new domain starts pending; add its record to $STATE/dns.conf, restart dnsmasq, then
    curl -s -X POST http://127.0.0.1:$GATEWAY_PORT/v1/mail/domains/DOMAIN/verify -H "Authorization: Bearer $PARIS_KEY"

  Read the mail of $APP_USER in any IMAP client (server 127.0.0.1, port $IMAPS_PORT, TLS,
  self-signed certificate; user $APP_USER, password $APP_PASSWORD), or:
    openssl s_client -quiet -connect 127.0.0.1:$IMAPS_PORT -crlf    # then: a LOGIN $APP_USER $APP_PASSWORD / b SELECT INBOX
  Give a domain its own certificate (served by SNI on SMTP and IMAP from the next sync):
    TENANTRY_TOKEN=$PARIS_KEY scripts/install-domain-cert.sh hopital-paris.example cert.pem key.pem [chain.pem]

  Ctrl-C stops everything.
BANNER
wait
