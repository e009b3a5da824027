#!/usr/bin/env bash
# Benchmarks, each next to its named peer in the same run.
#   scripts/bench.sh core    criterion benchmarks of tenantry-core (JWT, Stripe, rate limit, ...)
#   scripts/bench.sh http [--rounds N] [--duration S] [--warmup S]
#                            the edge under wrangler dev (wrk): /v1/tenant (16 connections and one)
#                            and a signed Stripe webhook next to /healthz, a CRM GET proxied vs
#                            direct; each pair interleaved over N rounds (default 5) of S s per run
#                            (default 5), peer then subject, reported as the median p50 ratio with
#                            its spread; then the sizes of the Workers of functions/workers.toml
#                            against their budgets (scripts/worker-sizes.py)
#   scripts/bench.sh auth    password hashing (argon2id vs PBKDF2) under workerd, login, refresh and
#                            GET /v1/tenant with a fresh session token, next to /healthz
#   scripts/bench.sh smtp    tenantry-relay next to Postfix 3.7 as an MX, in clear (smtp-source)
#                            and with STARTTLS on every session (needs root: installs Debian's
#                            postfix and runs a bench-only instance on :2526)
#   scripts/bench.sh smtp-auth the inbound MX with SPF, DKIM, ARC, DMARC and Rspamd next to Postfix
#                            with Rspamd as its milter: the same DKIM-signed message, STARTTLS,
#                            dnsmasq and Rspamd for both; and the relay's added latency per message
#                            (needs root, like smtp)
#   scripts/bench.sh smtp-out  submission with STARTTLS and AUTH relayed to a loopback smtp-sink,
#                            next to Postfix as a submission relay (Cyrus SASL); the relay's
#                            memory with 100,000 deferred messages (needs root, like smtp)
#   scripts/bench.sh imap    Dovecot over the relay's Maildir with the real gateway: SELECT + FETCH
#                            FLAGS of 10,000 messages (no index, then with it), LOGIN through
#                            `tenantry-relay dovecot-auth` next to Dovecot's passwd-file with the
#                            same Argon2id hash, and API change -> IMAP login allowed / refused
#                            (needs root: installs Debian's dovecot-imapd; mail and auth run as tenantry-relay)
#   scripts/bench.sh console the console's first load (bytes gzipped) and the time to a rendered
#                            dashboard in headless Chromium, next to the time of its API calls
set -euo pipefail
# shellcheck source=scripts/env.sh
source "$(dirname "$0")/env.sh"
cd "$TENANTRY_ROOT"

mode="${1:-core}"
case "$mode" in
  core)
    say "cargo bench -p tenantry-core (about 2 minutes)"
    cargo bench -p tenantry-core --bench core --locked -- --warm-up-time 1 --measurement-time 4 >/dev/null
    python3 scripts/bench/core_report.py target/criterion
    ;;
  http)
    if ! command -v wrk >/dev/null; then
      say "apt-get install wrk"
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk
    fi
    python3 scripts/bench/gateway_http.py "${@:2}"
    ;;
  auth)
    python3 scripts/bench/auth.py
    ;;
  smtp)
    if ! command -v smtp-source >/dev/null; then
      say "apt-get install postfix (for smtp-source and the peer MX)"
      echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postfix
    fi
    say "cargo build --release -p tenantry-relay (and its smtp_load example)"
    cargo build --release -p tenantry-relay --locked --examples --bins
    python3 scripts/bench/smtp.py
    ;;
  smtp-auth)
    if ! command -v smtp-source >/dev/null || ! command -v rspamd >/dev/null; then
      say "apt-get install postfix rspamd dnsmasq-base (the peer MX, the spam engine, the DNS)"
      echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postfix rspamd dnsmasq-base
    fi
    say "cargo build --release -p tenantry-relay (and its smtp_load example)"
    cargo build --release -p tenantry-relay --locked --examples --bins
    python3 scripts/bench/smtp_auth.py
    ;;
  smtp-out)
    if ! command -v smtp-sink >/dev/null || ! command -v saslpasswd2 >/dev/null; then
      say "apt-get install postfix sasl2-bin libsasl2-modules (the peer submission relay and the sink)"
      echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postfix sasl2-bin libsasl2-modules
    fi
    say "cargo build --release -p tenantry-relay (and its smtp_load example)"
    cargo build --release -p tenantry-relay --locked --examples --bins
    python3 scripts/bench/smtp_out.py
    ;;
  imap)
    if ! command -v dovecot >/dev/null; then
      say "apt-get install dovecot-imapd (the IMAP server, and the passwd-file peer)"
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends dovecot-imapd
    fi
    if ! id tenantry-relay >/dev/null 2>&1; then
      say "useradd tenantry-relay (the relay's and Dovecot's user)"
      useradd --system --user-group --no-create-home --shell /usr/sbin/nologin tenantry-relay
    fi
    say "cargo build --release -p tenantry-relay"
    cargo build --release -p tenantry-relay --locked --bins
    python3 scripts/bench/imap.py
    ;;
  console)
    if ! command -v chromedriver >/dev/null; then
      say "apt-get install chromium chromium-driver"
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium chromium-driver
    fi
    python3 scripts/bench/console.py
    ;;
  *)
    echo "usage: scripts/bench.sh core|http|auth|smtp|smtp-auth|smtp-out|imap|console" >&2
    exit 2
    ;;
esac
