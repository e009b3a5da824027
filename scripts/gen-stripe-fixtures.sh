#!/usr/bin/env bash
# Regenerates core/tests/fixtures/stripe/webhooks.json with Stripe's official Python SDK,
# installed at the pinned version in a private virtualenv.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=core/tests/fixtures/stripe
venv=.state/stripe-venv
if [ ! -x "$venv/bin/python" ]; then
  echo "==> creating $venv"
  python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --requirement "$dir/requirements.txt"
"$venv/bin/python" "$dir/generate.py"
