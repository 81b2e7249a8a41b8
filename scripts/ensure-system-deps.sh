#!/usr/bin/env bash
# Installs the Debian packages that `npm test` needs (the Python training stack that the
# models/ tests run on, and the Chromium the Playwright browser tests drive) when they are missing.
# As root it installs them (with policy-rc.d refusing service starts); otherwise it stops and prints the exact command to run.
set -euo pipefail

# libopenblas0-pthread replaces the reference BLAS that python3-torch links by default (15x faster matmuls).
# postgresql and redis-server back the distributed-deployment tests, which start their own throwaway
# servers on loopback (lib/runs/test-servers.ts); nothing here enables or starts the system services.
PACKAGES=(python3-torch python3-onnx python3-pil python3-pytest python3-numpy libopenblas0-pthread postgresql redis-server)

missing=()
for pkg in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done

# The browser tests launch this exact path (playwright.config.ts) and never download a browser.
CHROMIUM=/usr/bin/chromium
if [ ! -x "$CHROMIUM" ]; then
  missing+=(chromium)
fi

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "Penumbra's tests need these Debian packages: ${missing[*]}" >&2
  echo "Install them with:" >&2
  echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
  exit 1
fi

echo "Installing Debian packages needed by the tests: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# The database and queue packages would otherwise start system-wide services on their default ports;
# the tests start their own. A policy-rc.d that answers 101 tells invoke-rc.d not to start anything.
policy=/usr/sbin/policy-rc.d
placed_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' > "$policy"
  chmod +x "$policy"
  placed_policy=1
fi
trap '[ "$placed_policy" -eq 1 ] && rm -f "$policy"' EXIT
apt-get install -y -q --no-install-recommends "${missing[@]}"
