#!/usr/bin/env bash
# One command for the tests: installs what is missing (including redis-server and
# rabbitmq-server, which the broker tests start themselves on free loopback ports), builds, runs
# every doctest suite, and ends with the plain line "N passed, N failed" counted from doctest's
# own per-suite totals.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || exit 1
bash scripts/build.sh || exit 1
meson test -C build --print-errorlogs --num-processes 1 "$@"
status=$?
python3 scripts/count_tests.py build/meson-logs/testlog.json
summary=$?
[ $status -eq 0 ] && [ $summary -eq 0 ]
