#!/usr/bin/env bash
# run.sh - the browser tests (tests/browser/sdk.test.js): Debian's chromium,
# headless, driven by puppeteer-core from .local/browser (./dev installs
# both), against the stack of ./dev test. Exits 77 (ctest: skipped), saying
# why, only where no chromium is installed.
#   run.sh size   checks sdk/vigil.js's minified and gzipped size (size.js)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
root=${VIGIL_SOURCE_DIR:-$here/../..}
chromium=${VIGIL_CHROMIUM:-/usr/bin/chromium}
if [[ ${1:-} != size && ! -x $chromium ]]; then
  echo "SKIPPED: the browser tests need chromium at $chromium (Debian: apt-get install" \
    "chromium, which ./dev does on Debian); none is installed here" >&2
  exit 77
fi
modules=$root/.local/browser/node_modules
if [[ ! -d $modules/puppeteer-core || ! -d $modules/terser ]]; then
  echo "tests/browser: the packages of tests/browser/package.json are not in $modules:" \
    "run ./dev build" >&2
  exit 1
fi
export NODE_PATH=$modules VIGIL_CHROMIUM=$chromium
cd "$here"
if [[ ${1:-} == size ]]; then
  exec node size.js
fi
exec node --test sdk.test.js
