#!/usr/bin/env bash
# Install front-end assets from npm and copy the files the web UI serves into static/vendor.
set -euo pipefail
cd "$(dirname "$0")/.."
npm install --no-audit --no-fund --no-package-lock --silent
dest=src/shoal/web/static/vendor
mkdir -p "$dest"
cp node_modules/htmx.org/dist/htmx.min.js "$dest/"
# the web console's terminal (xterm.js and its fit add-on)
cp node_modules/@xterm/xterm/lib/xterm.js node_modules/@xterm/xterm/css/xterm.css "$dest/"
cp node_modules/@xterm/addon-fit/lib/addon-fit.js "$dest/"
