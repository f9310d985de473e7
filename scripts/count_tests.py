#!/usr/bin/env python3
"""Prints 'N passed, N failed' from meson's test log: doctest's test-case totals per suite.
A suite without doctest totals is one test: a script test that passed, or a doctest suite that
died before printing its totals (crash, timeout), which counts as failed."""
import json
import re
import sys

TOTALS = re.compile(r"\[doctest\] test cases:\s*(\d+)\s*\|\s*(\d+) passed\s*\|\s*(\d+) failed")

passed = failed = 0
with open(sys.argv[1], encoding="utf-8") as log:
    for line in log:
        suite = json.loads(line)
        found = TOTALS.findall(suite.get("stdout", "") or "")
        if not found:
            if suite.get("result") == "OK" and "[doctest]" not in (suite.get("stdout") or ""):
                passed += 1
            else:
                failed += 1
                print(f"suite {suite.get('name')}: died before its totals ({suite.get('result')})")
            continue
        _, ok, bad = map(int, found[-1])
        passed += ok
        failed += bad
        if suite.get("result") not in ("OK", "EXPECTEDFAIL") and bad == 0:
            failed += 1  # exited non-zero after reporting success: count it
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
