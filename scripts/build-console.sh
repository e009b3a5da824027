#!/usr/bin/env bash
# Builds the console (console/src, Preact) into console/dist, the gateway's static assets:
# one minified ES module bundled by esbuild, the page, the stylesheet and the `_headers`
# file that gives every asset its Content-Security-Policy. Run by the gateway's build
# command, so `wrangler dev` and `wrangler deploy` always serve a fresh build. The files are
# replaced in place (a running `wrangler dev` keeps serving the directory).
set -euo pipefail
cd "$(dirname "$0")/.."
esbuild="node_modules/.bin/esbuild"
[ -x "$esbuild" ] || { echo "build-console: run npm ci first (scripts/setup.sh does)" >&2; exit 1; }
out="console/dist"
mkdir -p "$out"
"$esbuild" console/src/main.jsx --bundle --minify --format=esm --target=es2020 \
  --jsx=automatic --jsx-import-source=preact --outfile="$out/app.js.new" --log-level=warning
mv "$out/app.js.new" "$out/app.js"
for file in index.html styles.css _headers; do
  cp "console/$file" "$out/$file.new"
  mv "$out/$file.new" "$out/$file"
done
