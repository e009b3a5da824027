#!/usr/bin/env bash
# Runs every check and test of the project, after installing what they need.
# Every step runs even when an earlier one fails; the summary says which failed.
set -uo pipefail
# shellcheck source=scripts/env.sh
source "$(dirname "$0")/env.sh"
cd "$TENANTRY_ROOT"

"$TENANTRY_ROOT/scripts/setup.sh" || { echo "FAIL: setup"; exit 1; }

results=()
failed=0
step() {
  local name="$1"
  shift
  say "$name"
  local started=$SECONDS
  if "$@"; then
    results+=("PASS  $name ($((SECONDS - started)) s)")
  else
    results+=("FAIL  $name ($((SECONDS - started)) s)")
    failed=1
  fi
}

step "cargo fmt --check" cargo fmt --all --check
step "clippy (native, all targets)" cargo clippy --workspace --all-targets --locked -- -D warnings
step "clippy (core, wasm32-unknown-unknown, lib and tests)" cargo clippy -p tenantry-core --target wasm32-unknown-unknown --lib --tests --locked -- -D warnings
step "clippy (core, wasm32v1-none, no_std)" cargo clippy -p tenantry-core --target wasm32v1-none --no-default-features --locked -- -D warnings
step "cargo test --workspace (native)" cargo test --workspace --locked
step "core tests in wasm under node" cargo test -p tenantry-core --target wasm32-unknown-unknown --locked
step "core builds no_std (wasm32v1-none)" cargo build -p tenantry-core --no-default-features --target wasm32v1-none --locked
step "benchmarks compile" cargo bench -p tenantry-core --no-run --locked
# The Workers' crates are those of functions/workers.toml, with tenantry-edge, their library.
if worker_crates="$(python3 scripts/worker-sizes.py --crates)"; then
  read -ra worker_crate_args <<<"$worker_crates"
  step "clippy (Workers, wasm32-unknown-unknown)" cargo clippy -p tenantry-edge "${worker_crate_args[@]}" --target wasm32-unknown-unknown --locked -- -D warnings
else
  step "clippy (Workers, wasm32-unknown-unknown): the crates of functions/workers.toml" false
fi
step "fuzz targets (cargo fuzz, 20 s each; skipped without nightly)" scripts/fuzz.sh --seconds 20
step "size-budget check's own tests" python3 -m unittest discover -s tests/tools -t tests/tools -v
step "openapi.yaml is a valid OpenAPI 3.1 document" python3 -m openapi_spec_validator openapi.yaml
step "relay end-to-end (real TCP, smtplib, swaks, openssl)" bash -c \
  'cargo build -p tenantry-relay --locked && python3 -m unittest discover -s tests/relay -t tests/relay -v'
step "edge end-to-end (wrangler dev: the Workers of functions/workers.toml on local D1), with the relay" bash -c \
  'cargo build -p tenantry-relay --locked && python3 -m unittest discover -s tests/gateway -t tests/gateway -v'
step "Worker sizes within budget (functions/workers.toml)" python3 scripts/worker-sizes.py

echo
echo "Summary"
printf '  %s\n' "${results[@]}"
if [ "$failed" -ne 0 ]; then
  echo "RESULT: FAIL"
  exit 1
fi
echo "RESULT: PASS"
