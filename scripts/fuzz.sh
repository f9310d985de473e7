#!/usr/bin/env bash
# Builds the libFuzzer targets of fuzz/ with clang (-fsanitize=fuzzer,address,undefined) in a
# build directory of their own and runs each for a bounded time. Each run starts with every
# input of fuzz/corpus/<target>/ (the seeds and each crash found so far, which must stay fixed),
# then fuzzes; new interesting inputs go to <build>/corpus/<target>/, so the repository's
# corpus only changes by hand. Exits non-zero if any target finds a crash, a leak, undefined
# behaviour or a broken promise (see the targets' comments); the input is kept in
# <build>/crashes/ and the log says how to replay it.
#
#   FUZZ_SECONDS    seconds of fuzzing per target (default 20)
#   FUZZ_BUILD_DIR  the clang build directory (default build-fuzz)
#   FUZZ_TARGETS    which targets, space-separated (default: all of them)
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
seconds="${FUZZ_SECONDS:-20}"
build="${FUZZ_BUILD_DIR:-$root/build-fuzz}"
read -r -a targets <<<"${FUZZ_TARGETS:-fuzz_message fuzz_redis_url fuzz_amqp_url}"

if ! command -v clang++ >/dev/null; then
  echo "fuzz: clang++ is missing; scripts/setup.sh installs clang and libclang-rt-dev" >&2
  exit 1
fi
if [ ! -f "$build/build.ninja" ]; then
  setup_log="$(mktemp)"
  if ! CXX=clang++ meson setup "$build" "$root/fuzz" >"$setup_log" 2>&1; then
    cat "$setup_log" >&2
    rm -f "$setup_log"
    echo "fuzz: configuring $build failed" >&2
    exit 1
  fi
  rm -f "$setup_log"
fi
ninja -C "$build" "${targets[@]}" || exit 1

failed=()
mkdir -p "$build/crashes"
for target in "${targets[@]}"; do
  work="$build/corpus/$target"
  log="$build/$target.log"
  mkdir -p "$work"
  # Slow inputs count as failures too (-timeout), and a runaway allocation (-rss_limit_mb).
  if "$build/$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
      -print_final_stats=1 -artifact_prefix="$build/crashes/$target-" \
      "$work" "$root/fuzz/corpus/$target" >"$log" 2>&1; then
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$')
    echo "fuzz: $target: no crash in ${runs:-?} runs (${seconds} s)"
  else
    tail -n 60 "$log" >&2
    echo "fuzz: $target FAILED (full log: $log). Replay: $build/$target <input>; add the" \
         "input to fuzz/corpus/$target/ once fixed" >&2
    failed+=("$target")
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: ${#failed[@]} of ${#targets[@]} targets failed: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz: all ${#targets[@]} targets ran ${seconds} s each without a crash"
