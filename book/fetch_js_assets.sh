#!/usr/bin/env bash
# Fetch the JavaScript that the published pages need and that no CDN can serve offline:
# the ipywidgets html-manager (+ require.js) and MathJax. Pinned npm packages, checked by SHA-256,
# unpacked into book/_js_assets/ which html_extra_path copies into the site root.
# Usage: bash book/fetch_js_assets.sh   (run by `make book` and `make test`; idempotent)
set -euo pipefail
cd "$(dirname "$0")/.."
dest=book/_js_assets
[ -f "$dest/.complete" ] && exit 0
command -v npm >/dev/null || { echo "npm is needed once to fetch the book's JavaScript (apt-get install npm)" >&2; exit 1; }

packages=(
  "@jupyter-widgets/html-manager@1.0.15 jupyter-widgets-html-manager-1.0.15.tgz 2b9d65cb7913e1c7d671757a10008b32c9c2448d4429513371e55c07d6107638"
  "requirejs@2.3.8 requirejs-2.3.8.tgz 777158e89275e16bd51aec3ef714fbcb5dc45789e7078659933bc814916d7dec"
  "mathjax@3.2.2 mathjax-3.2.2.tgz 1b9c0a1c44df864e915690558e72adb9cc5203360daefd385084ced3b6c64c09"
)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for entry in "${packages[@]}"; do
  read -r spec file sha <<<"$entry"
  (cd "$tmp" && npm pack --silent "$spec" >/dev/null 2>&1)
  echo "$sha  $tmp/$file" | sha256sum -c --quiet
  mkdir -p "$tmp/${file%.tgz}" && tar xzf "$tmp/$file" -C "$tmp/${file%.tgz}"
done

out="$tmp/site"
manager="$tmp/jupyter-widgets-html-manager-1.0.15/package/dist"
mkdir -p "$out/_static/widgets" "$out/_static/mathjax"
cp "$tmp/requirejs-2.3.8/package/require.js" "$manager/embed-amd.js" "$out/_static/widgets/"
# The widget manager loads its icon fonts relative to the page, so each page folder gets a copy.
for pages in book chapters; do
  mkdir -p "$out/$pages/@jupyter-widgets/html-manager/dist"
  cp "$manager"/*.woff* "$manager"/*.ttf "$out/$pages/@jupyter-widgets/html-manager/dist/"
done
cp -r "$tmp/mathjax-3.2.2/package/es5/." "$out/_static/mathjax/"
touch "$out/.complete"
rm -rf "$dest" && mv "$out" "$dest"
echo "book JavaScript (widgets, MathJax) ready in $dest"
