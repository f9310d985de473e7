#!/usr/bin/env bash
# One command for the demo: installs what is missing, builds, and runs the seed's example on the
# in-memory broker. Runs for SECONDS (default 15, enough for one stats line); 0 = until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
exec build/examples/seed_demo --broker memory --seconds "${SECONDS_TO_RUN:-15}"
