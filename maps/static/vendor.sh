#!/usr/bin/env bash
# Re-fetch the vendored browser assets from the npm registry at the versions in SOURCES.md:
# the maps' (here, under vendor/) and the API docs' (api/static/docs/, see its SOURCES.md).
# Only the files the pages load (and each package's licence) are kept; run it after changing a
# version here and in maps/assets.py or api/routes/docs.py, then review the diff.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# take NAME@VERSION DIR FILE...: copy FILEs (paths inside the npm package) to $root/DIR/.
root="$here/vendor"
take() {
  local spec="$1" dest="$root/$2"
  shift 2
  local tgz
  tgz="$(cd "$tmp" && npm pack --silent "$spec" | tail -n 1)"
  rm -rf "$tmp/package" "$dest"
  tar -xzf "$tmp/$tgz" -C "$tmp"
  mkdir -p "$dest"
  (cd "$tmp/package" && cp --parents "$@" "$dest/")
  # The repository ignores every dist/ folder (build output), so npm's dist/ is kept as lib/.
  if [ -d "$dest/dist" ]; then mv "$dest/dist" "$dest/lib"; fi
}

take leaflet@1.9.4 leaflet-1.9.4 LICENSE dist/leaflet.js dist/leaflet.css \
  dist/images/layers.png dist/images/layers-2x.png dist/images/marker-icon.png \
  dist/images/marker-icon-2x.png dist/images/marker-shadow.png
take jquery@3.7.1 jquery-3.7.1 LICENSE.txt dist/jquery.min.js
take bootstrap@5.2.2 bootstrap-5.2.2 LICENSE dist/js/bootstrap.bundle.min.js dist/css/bootstrap.min.css
take @fortawesome/fontawesome-free@6.2.0 fontawesome-free-6.2.0 LICENSE.txt \
  css/fontawesome.min.css css/solid.min.css webfonts/fa-solid-900.woff2
take leaflet.awesome-markers@2.0.5 leaflet.awesome-markers-2.0.5 LICENSE \
  dist/leaflet.awesome-markers.min.js dist/leaflet.awesome-markers.css \
  dist/images/markers-soft.png dist/images/markers-soft@2x.png \
  dist/images/markers-shadow.png dist/images/markers-shadow@2x.png
take leaflet.markercluster@1.5.3 leaflet.markercluster-1.5.3 MIT-LICENCE.txt \
  dist/leaflet.markercluster.js dist/MarkerCluster.css dist/MarkerCluster.Default.css
take leaflet-search@2.9.7 leaflet-search-2.9.7 license.txt dist/leaflet-search.min.js \
  dist/leaflet-search.min.css images/search-icon.png images/loader.gif
take leaflet.heat@0.2.0 leaflet.heat-0.2.0 LICENSE dist/leaflet-heat.js
take leaflet.vectorgrid@1.3.0 leaflet.vectorgrid-1.3.0 README.md dist/Leaflet.VectorGrid.bundled.min.js
# leaflet.vectorgrid has no licence file: its licence (Beerware) is the README's last section.
vectorgrid="$here/vendor/leaflet.vectorgrid-1.3.0"
sed -n '/^## Legalese/,$p' "$vectorgrid/README.md" >"$vectorgrid/LICENSE"
rm "$vectorgrid/README.md"
# Its bundled build includes these libraries (point-geometry too, ISC, with no licence file);
# their licences ask that the notices travel with copies.
for spec in pbf@3.0.5:LICENSE vector-tile@1.3.0:LICENSE.txt ieee754@1.1.8:LICENSE \
  geojson-vt@2.2.0:LICENSE topojson-client@2.1.0:LICENSE.md whatwg-fetch@2.0.3:LICENSE; do
  take "${spec%%:*}" "leaflet.vectorgrid-1.3.0/bundled/${spec%%@*}" "${spec#*:}"
done

# The boundary editor (/admin/grids/edit, maps/editor.py): Leaflet-Geoman, free edition.
take @geoman-io/leaflet-geoman-free@2.20.2 leaflet-geoman-free-2.20.2 LICENSE \
  dist/leaflet-geoman.min.js dist/leaflet-geoman.css

root="$here/../../api/static/docs"
take swagger-ui-dist@5.35.0 swagger-ui-dist-5.35.0 LICENSE NOTICE \
  swagger-ui-bundle.js swagger-ui-bundle.js.LICENSE.txt swagger-ui.css favicon-32x32.png
take redoc@2.5.4 redoc-2.5.4 LICENSE \
  bundles/redoc.standalone.js bundles/redoc.standalone.js.LICENSE.txt
