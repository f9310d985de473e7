#!/usr/bin/env python3
"""Prints 'N passed, N failed' from meson's test logs (one or more testlog.json: the main build
and the sanitizer builds): doctest's test-case totals per suite. A suite without doctest totals
is one test: a script test that passed, or a doctest suite that died before printing its totals
(crash, timeout, a sanitizer report), which counts as failed. A log that is missing (its build
failed) counts as one failed test."""
import json
import re
import sys

TOTALS = re.compile(r"\[doctest\] test cases:\s*(\d+)\s*\|\s*(\d+) passed\s*\|\s*(\d+) failed")

passed = failed = 0
logs = []
for path in sys.argv[1:]:
    try:
        with open(path, encoding="utf-8") as f:
            logs.append((path, f.readlines()))
    except OSError:
        failed += 1
        print(f"{path}: missing (its build or run failed before testing)")
for path, lines in logs:
    for line in lines:
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
