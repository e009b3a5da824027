#!/usr/bin/env bash
# Builds one Worker (wrangler.toml's build command): worker-build with the `worker` Cargo
# profile (size first for every crate), then the symbol names dropped from the WebAssembly.
# worker-build keeps the `name` section on purpose (readable stack traces), but for an
# upload-size budget it is ~38 KiB gzipped of the gateway.
#   scripts/build-worker.sh NAME     (a Worker of functions/workers.toml, from the repository root)
set -euo pipefail
name="${1:?usage: scripts/build-worker.sh NAME (a Worker of functions/workers.toml)}"
cd "$(dirname "$0")/../functions/$name"
worker-build --profile worker
# The same feature set worker-build hands wasm-opt, so no newer encoding is emitted.
"${WASM_OPT_BIN:-wasm-opt}" build/index_bg.wasm -o build/index_bg.wasm --strip-debug --strip-producers \
  --enable-mutable-globals --enable-sign-ext --enable-nontrapping-float-to-int --enable-bulk-memory \
  --enable-multivalue --enable-reference-types --enable-exception-handling
