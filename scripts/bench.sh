#!/usr/bin/env bash
# Benchmarks, each next to its named peer in the same run.
#   scripts/bench.sh core    criterion benchmarks of tenantry-core (JWT, Stripe, rate limit, ...)
# Later modes (http, smtp) measure the Workers and the relay.
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
  *)
    echo "usage: scripts/bench.sh core" >&2
    exit 2
    ;;
esac
