#!/usr/bin/env bash
# Builds the core suites (the ones that start no broker server) with sanitizers and runs them:
#   scripts/sanitize.sh address   ASan + UBSan in build-asan/
#   scripts/sanitize.sh thread    TSan in build-tsan/
# Only the library and those suites are built (not the benches, examples or broker suites), so
# CI pays for a small build. A report fails the suite (halt_on_error).
# `thread` runs against a libcaf_core built with TSan (scripts/caf_tsan.sh, cached): Debian's is
# not instrumented, so TSan could not see the happens-before edges of CAF's lock-free mailboxes
# and would report every payload handed from one actor to another as a race.
set -euo pipefail
cd "$(dirname "$0")/.."
kind="${1:?usage: scripts/sanitize.sh address|thread}"
case "$kind" in
  address) dir=build-asan; sanitize=address,undefined ;;
  thread) dir=build-tsan; sanitize=thread ;;
  *) echo "scripts/sanitize.sh: unknown kind '$kind' (address or thread)" >&2; exit 2 ;;
esac
suites=(codec binding wire consume retries restarts graceful_stop dead_letter expiry delay filter scheduled job_store cron outbox outbox_file
        node stats_line status_record timeout)
actor_suites=(rate_limiter dispatcher fetcher supervisor publisher stop scheduler push_scheduler timeout)
targets=()
for s in "${suites[@]}"; do targets+=("test/test_$s"); done
for s in "${actor_suites[@]}"; do targets+=("test/actors/test_actors_$s"); done
[ -f "$dir/build.ninja" ] \
  || meson setup "$dir" --buildtype=debugoptimized -Db_sanitize="$sanitize" -Db_lundef=false >/dev/null
ninja -C "$dir" "${targets[@]}"
names=("${suites[@]}")
for s in "${actor_suites[@]}"; do names+=("actors_$s"); done
export ASAN_OPTIONS="halt_on_error=1:detect_leaks=1:abort_on_error=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:suppressions=$PWD/test/sanitizers/ubsan.supp"
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$PWD/test/sanitizers/tsan.supp"
if [ "$kind" = thread ]; then
  caf_tsan="$(bash scripts/caf_tsan.sh)"
  export LD_LIBRARY_PATH="$caf_tsan${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
exec meson test -C "$dir" --no-rebuild --print-errorlogs --num-processes 1 "${names[@]}"
