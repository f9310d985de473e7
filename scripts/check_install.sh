#!/usr/bin/env bash
# Installs the built library into a scratch prefix and builds + runs examples/installed against
# it through pkg-config, with meson and with CMake: proves funboost.pc is usable by others.
# examples/installed builds two programs: installed_example (main.cpp) and embed_in_caf_app
# (../embed_in_caf_app.cpp: funboost borrowing a CAF application's own actor system). Each must
# exit 0; the script fails on the first that does not.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$root/build}"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
meson install -C "$build" --destdir "$scratch/dest" --quiet
prefix=$(meson introspect "$build" --buildoptions | python3 -c \
  'import json,sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"]=="prefix"))')
staged="$scratch/dest$prefix"
pcdir=$(dirname "$(find "$staged" -name funboost.pc | head -n1)")
# The staged .pc still says the real prefix: point it at the staging area.
sed -i "s|^prefix=.*|prefix=$staged|" "$pcdir/funboost.pc"
export PKG_CONFIG_PATH="$pcdir"
libdir=$(pkg-config --variable=libdir funboost)
export LD_LIBRARY_PATH="$libdir"
meson setup "$scratch/meson-build" "$root/examples/installed" >/dev/null
ninja -C "$scratch/meson-build" >/dev/null
run() { # runs one built example; on failure says which, and fails the script
  echo "== $1"
  "$1" || { echo "FAILED (exit $?): $1" >&2; exit 1; }
}
run "$scratch/meson-build/installed_example"
run "$scratch/meson-build/embed_in_caf_app"
if command -v cmake >/dev/null; then
  cmake -S "$root/examples/installed" -B "$scratch/cmake-build" >/dev/null
  cmake --build "$scratch/cmake-build" >/dev/null
  run "$scratch/cmake-build/installed_example"
  run "$scratch/cmake-build/embed_in_caf_app"
fi
