#!/usr/bin/env bash
# Writes the console's main screenshots into docs/screenshots/ (PNG, 1280 px wide: sign-in,
# dashboard, members, mail and the operator's statistics in English, the dashboard and mail
# in French) from the browser tests' tour of every page (tests/gateway/test_console.py, which
# builds the Workers and runs them under `wrangler dev`). With arguments, runs those tests
# instead (e.g. `scripts/screenshots.sh test_console` for the whole module).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=scripts/env.sh
source "$ROOT/scripts/env.sh"
mkdir -p "$ROOT/docs/screenshots"
cd "$ROOT/tests/gateway"
if [ "$#" -eq 0 ]; then
  set -- test_console.ConsoleTest.test_24_every_page_in_both_languages
fi
CONSOLE_SCREENSHOTS_DIR="$ROOT/docs/screenshots" exec python3 -m unittest -v "$@"
