#!/usr/bin/env bash
# test/sanitize.sh — `npm run test:sanitize`: builds the addon with AddressSanitizer + UndefinedBehaviorSanitizer into
# build-sanitize/ (the normal build is left alone) and runs the whole jest suite against it, child processes and
# worker threads included (LATENTKIT_NATIVE points every load at the instrumented addon). Exits non-zero on a failed
# test or on any sanitizer report; prints the reports, the count and how long it took.
set -uo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
LATENTKIT_SANITIZE=ON LATENTKIT_CUDA=OFF npx cmake-js rebuild --out build-sanitize >/tmp/latentkit-sanitize-build.log 2>&1 ||
  { tail -40 /tmp/latentkit-sanitize-build.log; exit 1; }
npm run --silent build:ts
logs=$(mktemp -d)
export LATENTKIT_NATIVE="$PWD/build-sanitize/Release/latentkit.node"
export LD_PRELOAD="$(gcc -print-file-name=libasan.so)"
# Node and V8 keep memory until exit by design: leak reports would only be noise.
export ASAN_OPTIONS="detect_leaks=0:log_path=$logs/asan:allow_user_segv_handler=1"
export UBSAN_OPTIONS="print_stacktrace=1:log_path=$logs/ubsan"
npx jest --testTimeout=900000 "$@"
status=$?
unset LD_PRELOAD
reports=$(find "$logs" -type f | wc -l)
for f in "$logs"/*; do [ -f "$f" ] && { echo "=== $f"; head -60 "$f"; }; done
echo "sanitizer reports: $reports; jest exit status: $status; $(( $(date +%s) - start )) s in all"
[ "$status" -eq 0 ] && [ "$reports" -eq 0 ]
