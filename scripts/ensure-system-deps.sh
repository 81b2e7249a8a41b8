#!/usr/bin/env bash
# Installs the Debian packages that `npm test` needs (the Python training stack that the
# models/ tests run on, and the Chromium the Playwright browser tests drive) when they are missing.
# As root it installs them; otherwise it stops and prints the exact command to run.
set -euo pipefail

# libopenblas0-pthread replaces the reference BLAS that python3-torch links by default (15x faster matmuls).
PACKAGES=(python3-torch python3-onnx python3-pil python3-pytest python3-numpy libopenblas0-pthread)

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
apt-get install -y -q --no-install-recommends "${missing[@]}"
