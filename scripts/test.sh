#!/usr/bin/env bash
# One command for the tests: installs what is missing (including redis-server and
# rabbitmq-server, which the broker tests start themselves on free loopback ports), builds, runs
# every doctest suite, and ends with the plain line "N passed, N failed" counted from doctest's
# own per-suite totals.
# Beside the main suites (which mostly wait on servers and timers) it builds and runs the core
# suites under ASan+UBSan and then under TSan (scripts/sanitize.sh address, then thread, against
# a TSan-built libcaf_core that scripts/caf_tsan.sh builds once and caches); their suites count
# too. SANITIZE=0, or naming suites to run, skips them.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || exit 1
bash scripts/build.sh || exit 1
logs=(build/meson-logs/testlog.json)
sanitizer_pid=
if [ "${SANITIZE:-1}" != 0 ] && [ $# -eq 0 ]; then
  rm -f build-asan/meson-logs/testlog.json build-tsan/meson-logs/testlog.json
  (nice -n 5 bash scripts/sanitize.sh address > build/sanitize-address.log 2>&1
   nice -n 5 bash scripts/sanitize.sh thread > build/sanitize-thread.log 2>&1) &
  sanitizer_pid=$!
  logs+=(build-asan/meson-logs/testlog.json build-tsan/meson-logs/testlog.json)
fi
meson test -C build --print-errorlogs --num-processes 1 "$@"
status=$?
if [ -n "$sanitizer_pid" ]; then
  wait "$sanitizer_pid"
  for kind in address thread; do
    if ! grep -q "^Fail: *0" "build/sanitize-$kind.log"; then
      echo "== scripts/sanitize.sh $kind (build/sanitize-$kind.log), last lines:"
      tail -n 60 "build/sanitize-$kind.log"
    fi
  done
fi
python3 scripts/count_tests.py "${logs[@]}"
summary=$?
[ $status -eq 0 ] && [ $summary -eq 0 ]
