#!/usr/bin/env bash
# Re-fetch the vendored API-docs assets (Swagger UI for /docs, ReDoc for /redoc) from the npm
# registry at the versions in SOURCES.md. Only the files the pages load (and each package's
# licence) are kept; run it after changing a version here and in api/routes/docs.py, then
# review the diff.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# take NAME@VERSION DIR FILE...: copy FILEs (paths inside the npm package) to DIR/.
take() {
  local spec="$1" dest="$here/$2"
  shift 2
  local tgz
  tgz="$(cd "$tmp" && npm pack --silent "$spec" | tail -n 1)"
  rm -rf "$tmp/package" "$dest"
  tar -xzf "$tmp/$tgz" -C "$tmp"
  mkdir -p "$dest"
  (cd "$tmp/package" && cp --parents "$@" "$dest/")
}

take swagger-ui-dist@5.35.0 swagger-ui-dist-5.35.0 LICENSE NOTICE \
  swagger-ui-bundle.js swagger-ui-bundle.js.LICENSE.txt swagger-ui.css favicon-32x32.png
take redoc@2.5.4 redoc-2.5.4 LICENSE \
  bundles/redoc.standalone.js bundles/redoc.standalone.js.LICENSE.txt
