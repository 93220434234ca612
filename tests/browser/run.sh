#!/usr/bin/env bash
# run.sh - the browser tests (tests/browser/*.test.js): Debian's chromium,
# headless, driven by puppeteer-core from .local/browser (./dev installs
# both), against the stack of ./dev test. Exits 77 (ctest: skipped), saying
# why, only where no chromium is installed.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
root=${VIGIL_SOURCE_DIR:-$here/../..}
chromium=${VIGIL_CHROMIUM:-/usr/bin/chromium}
if [[ ! -x $chromium ]]; then
  echo "SKIPPED: the browser tests need chromium at $chromium (Debian: apt-get install" \
    "chromium, which ./dev does on Debian); none is installed here" >&2
  exit 77
fi
modules=$root/.local/browser/node_modules
if [[ ! -d $modules/puppeteer-core ]]; then
  echo "tests/browser: no puppeteer-core in $modules: run ./dev build" >&2
  exit 1
fi
export NODE_PATH=$modules VIGIL_CHROMIUM=$chromium
cd "$here"
exec node --test sdk.test.js
