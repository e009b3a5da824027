#!/usr/bin/env bash
# Installs what Tenantry needs, at pinned versions, and skips what is already there.
# Safe to run again: with everything present it takes a few seconds.
set -euo pipefail
# shellcheck source=scripts/env.sh
source "$(dirname "$0")/env.sh"
cd "$TENANTRY_ROOT"

WORKER_BUILD_VERSION=0.8.7
CARGO_FUZZ_VERSION=0.13.2
# swaks drives the relay tests; openssl makes their certificates.
# postfix: its smtp-sink is the remote MX of the outbound tests; dnsmasq-base: their DNS;
# libnet-ssleay-perl: swaks's STARTTLS (submission in the demo); dovecot-imapd: IMAP
# over the relay's Maildir (the demo and the mail-is-read tests); chromium and
# chromium-driver: the console's browser tests (Selenium drives Debian's driver); rspamd:
# spam scores of mail from outside (the demo and the spam tests run it).
DEBIAN_PACKAGES=(swaks openssl libnet-ssleay-perl postfix dnsmasq-base dovecot-imapd chromium chromium-driver rspamd)

need_targets=()
installed_targets="$(rustup target list --installed)"
for target in wasm32-unknown-unknown wasm32v1-none; do
  grep -qx "$target" <<<"$installed_targets" || need_targets+=("$target")
done
if [ ${#need_targets[@]} -gt 0 ]; then
  say "rustup target add ${need_targets[*]}"
  rustup target add "${need_targets[@]}"
fi
installed_components="$(rustup component list --installed)"
for component in rustfmt clippy; do
  grep -q "^$component" <<<"$installed_components" || { say "rustup component add $component"; rustup component add "$component"; }
done

if [ "$(worker-build --version 2>/dev/null | awk '{print $NF}')" != "$WORKER_BUILD_VERSION" ]; then
  say "cargo install worker-build $WORKER_BUILD_VERSION (about 6 minutes on 2 cores)"
  cargo install worker-build --version "$WORKER_BUILD_VERSION" --locked
fi

bindgen_version="$(wasm_bindgen_locked_version)"
if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$bindgen_version" ]; then
  say "cargo install wasm-bindgen-cli $bindgen_version (about 4 minutes on 2 cores)"
  # Not --locked: the CLI's own lockfile pins dependencies that no longer build.
  cargo install wasm-bindgen-cli --version "$bindgen_version"
fi

# The fuzz targets need nightly; where there is none, cargo test replays their corpora.
if rustc +nightly --version >/dev/null 2>&1; then
  if [ "$(cargo fuzz --version 2>/dev/null | awk '{print $2}')" != "$CARGO_FUZZ_VERSION" ]; then
    say "cargo install cargo-fuzz $CARGO_FUZZ_VERSION (about 1 minute on 2 cores)"
    cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked
  fi
else
  say "no nightly toolchain: fuzzing is replaced by the corpus replay of cargo test"
fi

if [ ! -x node_modules/.bin/wrangler ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "npm ci (wrangler, binaryen, and the console's preact and esbuild)"
  npm ci --no-audit --no-fund
fi

if ! python3 - <<'PY' 2>/dev/null
import importlib.metadata as m, pathlib, sys
pins = [l.split("==") for l in pathlib.Path("tests/requirements.txt").read_text().splitlines() if "==" in l and not l.startswith("#")]
sys.exit(any(m.version(name) != version for name, version in pins))
PY
then
  say "pip install -r tests/requirements.txt"
  python3 -m pip install --quiet --disable-pip-version-check -r tests/requirements.txt
fi

missing=()
for package in "${DEBIAN_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "apt-get install ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  # Postfix asks how to configure itself: not at all (the tests only run its smtp-sink).
  echo "postfix postfix/main_mailer_type select No configuration" | $sudo_cmd debconf-set-selections
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# parsedmarc reads the relay's TLS reports in the tests, from a virtual environment of its
# own (its cryptography pin conflicts with tests/requirements.txt's).
PARSEDMARC_VENV="$TENANTRY_ROOT/.state/parsedmarc-venv"
if ! cmp -s tests/parsedmarc-requirements.txt "$PARSEDMARC_VENV/installed.txt" 2>/dev/null; then
  say "pip install -r tests/parsedmarc-requirements.txt (in $PARSEDMARC_VENV)"
  rm -rf "$PARSEDMARC_VENV"
  python3 -m venv "$PARSEDMARC_VENV"
  "$PARSEDMARC_VENV/bin/pip" install --quiet --disable-pip-version-check -r tests/parsedmarc-requirements.txt
  cp tests/parsedmarc-requirements.txt "$PARSEDMARC_VENV/installed.txt"
fi

# Dovecot refuses to give root's mail to anyone: as root, the relay and Dovecot of the demo
# and the tests run as this user (the one deploy/tenantry-relay.service names).
if [ "$(id -u)" -eq 0 ] && ! id tenantry-relay >/dev/null 2>&1; then
  say "useradd tenantry-relay (the relay's and Dovecot's user when run as root)"
  useradd --system --user-group --no-create-home --shell /usr/sbin/nologin tenantry-relay
fi

say "setup complete: worker-build $WORKER_BUILD_VERSION, wasm-bindgen $bindgen_version, wrangler $(wrangler --version 2>/dev/null | tail -1)"
