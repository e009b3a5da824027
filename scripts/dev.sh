#!/usr/bin/env bash
# The main job: set up, build and check the project, then serve it locally.
# Today the core library is what exists: this builds it for every target it runs on and
# runs its tests. The gateway Worker and the SMTP relay join here as they land.
set -euo pipefail
# shellcheck source=scripts/env.sh
source "$(dirname "$0")/env.sh"
cd "$TENANTRY_ROOT"

"$TENANTRY_ROOT/scripts/setup.sh"
say "building tenantry-core (native, wasm32-unknown-unknown, wasm32v1-none)"
cargo build -p tenantry-core --locked
cargo build -p tenantry-core --target wasm32-unknown-unknown --locked
cargo build -p tenantry-core --target wasm32v1-none --no-default-features --locked
say "core tests"
cargo test -p tenantry-core --locked --quiet
cat <<MSG

Tenantry core is built and tested.
  Benchmarks:   scripts/bench.sh core
  All checks:   scripts/test.sh
The gateway (wrangler dev) and the SMTP relay are not built yet; see the open issues.
MSG
