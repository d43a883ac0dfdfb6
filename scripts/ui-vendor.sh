#!/bin/sh
# ui-vendor.sh - re-fetches the JavaScript libraries the web UI embeds
# (ui/vendor/) from the npm registry at the versions pinned in
# ui/package-lock.json, and checks every vendored file against
# ui/vendor/SHA256SUMS.
#
#   scripts/ui-vendor.sh          fetch, copy into ui/vendor, check hashes
#   scripts/ui-vendor.sh --check  only check the committed files' hashes
#
# npm verifies each tarball against the lockfile's integrity field; the
# SHA256SUMS file then pins the exact files copied out of it, so a change
# of either shows up here and in review.
set -eu
cd "$(dirname "$0")/../ui"
if [ "${1:-}" != --check ]; then
	tmp=$(mktemp -d /tmp/nprof-ui-vendor.XXXXXX)
	trap 'rm -rf "$tmp"' EXIT
	cp package.json package-lock.json "$tmp/"
	(cd "$tmp" && npm ci --ignore-scripts --no-audit --no-fund >/dev/null)
	u=$tmp/node_modules/uplot
	mkdir -p vendor/uplot
	cp "$u/dist/uPlot.iife.min.js" "$u/dist/uPlot.min.css" "$u/LICENSE" vendor/uplot/
fi
sha256sum -c --quiet vendor/SHA256SUMS
echo "ui/vendor: every file matches vendor/SHA256SUMS"
