#!/usr/bin/env bash
# Builds CAF 0.17.6's libcaf_core with ThreadSanitizer from Debian's own source
# package (actor-framework), once, and prints the directory that holds them:
#   scripts/caf_tsan.sh   ->  ${FUNBOOST_CAF_TSAN_DIR:-$HOME/.cache/funboost-cpp/caf-0.17.6-tsan}
# Why: Debian's libcaf_core is not instrumented, so TSan cannot see the happens-before edges of
# CAF's lock-free mailboxes and reports every message payload handed between actors as a race.
# scripts/sanitize.sh thread runs the suites with this directory first in LD_LIBRARY_PATH: same
# version and build configuration as Debian's (log level QUIET, memory management on), so the
# headers in /usr/include/caf match and nothing is relinked. libcaf_io stays Debian's: the
# suites use no middleman (and 0.17.6's io does not build with GCC 12 without Debian's
# patches). About 2 minutes on 2 cores the first time; later runs find the cache.
set -euo pipefail
out="${FUNBOOST_CAF_TSAN_DIR:-$HOME/.cache/funboost-cpp/caf-0.17.6-tsan}"
if [ -f "$out/libcaf_core.so.0.17.6" ]; then
  echo "$out"
  exit 0
fi
say() { echo "caf_tsan.sh: $*" >&2; }
command -v cmake >/dev/null || { say "installing cmake"; apt-get install -y cmake >&2; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# Debian's source of the installed CAF, through a deb-src list of our own (the system's apt
# configuration is left alone). apt checks the tarball against the signed .dsc.
say "fetching Debian's actor-framework source"
mkdir -p "$work/lists/partial"
cat > "$work/deb-src.sources" <<'EOF'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
apt_opts=(-o "Dir::Etc::SourceList=$work/deb-src.sources" -o "Dir::Etc::SourceParts=/dev/null"
          -o "Dir::State::Lists=$work/lists")
apt-get "${apt_opts[@]}" update >&2
# Only the upstream tarball is needed (Debian's changes are packaging); the download of the
# debian.tar may fail on some mirrors, so the tarball's presence decides.
(cd "$work" && apt-get "${apt_opts[@]}" source --download-only actor-framework >&2) || true
tarball="$(ls "$work"/actor-framework_0.17.6.orig.tar.* 2>/dev/null | head -n 1)"
[ -n "$tarball" ] || { say "could not download actor-framework 0.17.6's source"; exit 1; }
tar -xf "$tarball" -C "$work"

say "building libcaf_core with -fsanitize=thread (about 2 minutes on 2 cores)"
cmake -S "$work/actor-framework-0.17.6" -B "$work/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS="-fsanitize=thread" -DCMAKE_SHARED_LINKER_FLAGS="-fsanitize=thread" \
  -DCAF_LOG_LEVEL=QUIET -DCAF_NO_EXAMPLES=yes -DCAF_NO_UNIT_TESTS=yes -DCAF_NO_OPENSSL=yes \
  -DCAF_NO_TOOLS=yes -DCAF_NO_PYTHON=yes -DCAF_NO_OPENCL=yes >&2
# Same configuration as the headers in use, or the instrumented library would not fit them.
diff <(grep '^#' /usr/include/caf/detail/build_config.hpp) \
     <(grep '^#' "$work/build/libcaf_core/caf/detail/build_config.hpp") >&2 \
  || { say "the build configuration differs from /usr/include/caf's"; exit 1; }
make -C "$work/build" -j"$(nproc)" libcaf_core_shared >&2
rm -rf "$out.partial"
mkdir -p "$out.partial"
cp -a "$work"/build/lib/libcaf_core.so.0.17.6 "$out.partial"/
rm -rf "$out"
mv "$out.partial" "$out"
echo "$out"
