#!/usr/bin/env bash
# Debian packages the tests need (browser tests drive Debian's chromium; never a downloaded build).
set -euo pipefail
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
# CJK glyphs, so zh-CN pages render (and screenshot) as text rather than empty boxes.
dpkg -s fonts-wqy-microhei >/dev/null 2>&1 || need+=(fonts-wqy-microhei)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}"
  else
    echo "missing Debian packages: ${need[*]} (install them as root)" >&2
    exit 1
  fi
fi
