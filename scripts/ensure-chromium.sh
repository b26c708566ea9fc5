#!/usr/bin/env bash
# The report-page test drives Debian's Chromium (through playwright-core). Installs it when it is
# missing and this machine can (root with apt-get); otherwise says how, and the test names it too.
set -euo pipefail
if [ -n "${CHROMIUM_PATH:-}" ] || command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Debian's chromium for the report-page test (once; about 2 minutes)" >&2
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
else
  echo "warning: no chromium on PATH; the report-page test needs it: apt-get install -y chromium (or set CHROMIUM_PATH)" >&2
fi
