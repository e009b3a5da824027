#!/usr/bin/env bash
# Runs the cargo-fuzz targets of fuzz/ (libFuzzer, nightly).
#   scripts/fuzz.sh [--seconds N | --runs N] [TARGET...]   default: every target, 20 s each
# A short run (the default, what scripts/test.sh does) reads the committed corpus and
# writes what it finds to a scratch directory; a --runs run (how the README's figures
# were made) grows the committed corpus, then minimises it with `cargo fuzz cmin`.
# Without a nightly toolchain it says so and exits 0: `cargo test` replays every
# committed corpus file through the same targets on stable (fuzz/tests/corpus.rs).
set -euo pipefail
# shellcheck source=scripts/env.sh
source "$(dirname "$0")/env.sh"
cd "$TENANTRY_ROOT"

limit=(-max_total_time=20)
grow=0
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) limit=(-max_total_time="$2"); shift 2 ;;
    --runs) limit=(-runs="$2"); grow=1; shift 2 ;;
    -h | --help) sed -n '2,9p' "$0"; exit 0 ;;
    *) targets+=("$1"); shift ;;
  esac
done
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(ls fuzz/fuzz_targets | sed 's/\.rs$//')
fi

if ! rustc +nightly --version >/dev/null 2>&1 || ! cargo fuzz --version >/dev/null 2>&1; then
  say "no nightly toolchain or cargo-fuzz here: skipped (cargo test replays the committed corpora on stable)"
  exit 0
fi

# No sanitizer (`--sanitizer none`): the code under test is safe Rust (the core forbids
# unsafe, smtp-proto has none), so what the fuzzer hunts is panics and broken promises,
# and it finds them several times faster without AddressSanitizer.
# The workspace's release profile uses LTO, which drops libFuzzer's coverage counters.
export CARGO_PROFILE_RELEASE_LTO=false
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
for target in "${targets[@]}"; do
  say "fuzzing $target (${limit[*]})"
  if [ "$grow" -eq 1 ]; then
    cargo +nightly fuzz run "$target" --sanitizer none --features libfuzzer "fuzz/corpus/$target" -- "${limit[@]}" -print_final_stats=1 2>&1 | tail -12
    cargo +nightly fuzz cmin "$target" --sanitizer none --features libfuzzer "fuzz/corpus/$target" 2>&1 | tail -2
  else
    mkdir -p "$scratch/$target"
    if ! cargo +nightly fuzz run "$target" --sanitizer none --features libfuzzer "$scratch/$target" "fuzz/corpus/$target" \
        -- "${limit[@]}" -print_final_stats=1 >"$scratch/$target.log" 2>&1; then
      tail -40 "$scratch/$target.log" >&2
      echo "FAIL: $target (a crashing input is kept in fuzz/artifacts/$target)" >&2
      exit 1
    fi
    grep -E "stat::number_of_executed_units|Done [0-9]+ runs" "$scratch/$target.log" || true
  fi
done
