#!/bin/sh
# Install the browser the frontend tests drive: Debian's chromium and chromedriver.
# Idempotent: does nothing when /usr/bin/chromium and /usr/bin/chromedriver are already there.
# As root it installs them with apt-get; otherwise it prints the command to run and exits 1.
set -eu

CHROMIUM=/usr/bin/chromium
CHROMEDRIVER=/usr/bin/chromedriver
PACKAGES="chromium chromium-driver"

if [ -x "$CHROMIUM" ] && [ -x "$CHROMEDRIVER" ]; then
    echo "install-browser: $CHROMIUM and $CHROMEDRIVER are installed"
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-browser: $CHROMIUM / $CHROMEDRIVER are missing and this system has no apt-get." >&2
    echo "  Install Chromium and a matching chromedriver at those paths (Debian/Ubuntu packages: $PACKAGES)." >&2
    exit 1
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "install-browser: $CHROMIUM / $CHROMEDRIVER are missing. Install them with:" >&2
    echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends $PACKAGES" >&2
    exit 1
fi

echo "install-browser: installing $PACKAGES with apt-get"
export DEBIAN_FRONTEND=noninteractive
apt-get update
# shellcheck disable=SC2086
apt-get install -y --no-install-recommends $PACKAGES

if [ ! -x "$CHROMIUM" ] || [ ! -x "$CHROMEDRIVER" ]; then
    echo "install-browser: apt-get finished but $CHROMIUM or $CHROMEDRIVER is still missing" >&2
    exit 1
fi
echo "install-browser: done ($("$CHROMIUM" --version 2>/dev/null || echo chromium))"
