#!/usr/bin/env bash
# Installs every Debian package funboost-cpp needs to build, test and run its demo.
# Idempotent: does nothing when all are present; runs apt-get update once otherwise.
set -euo pipefail

packages=(
  g++ meson ninja-build pkg-config python3
  libcaf-dev libsimdjson-dev libspdlog-dev doctest-dev
  libhiredis-dev librabbitmq-dev
  libjemalloc-dev         # the allocator programs built with funboost use (meson option jemalloc)
  libhowardhinnant-date-dev tzdata   # IANA time zones for cron triggers (src/schedule/)
  libsqlite3-dev          # the local job store of scheduled pushes
  redis-server rabbitmq-server
  clang libclang-rt-dev   # libFuzzer and the sanitizers for fuzz/ (scripts/fuzz.sh)
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#packages[@]} packages present"
  exit 0
fi

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# policy-rc.d keeps Debian from starting system-wide redis/rabbitmq services: tests and the
# demo start their own servers on loopback ports chosen at run time.
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
  $sudo chmod +x /usr/sbin/policy-rc.d
  trap '$sudo rm -f /usr/sbin/policy-rc.d' EXIT
fi
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
