#!/usr/bin/env bash
# Runs every Go test verbosely into .tmp/test.log, shows failures, skips (with
# their reasons) and package results, and ends with a count line.
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p .tmp
go test -count=1 -v "${@:-./...}" >.tmp/test.log 2>&1
status=$?
grep -E '^(ok |FAIL|panic:|--- FAIL|--- SKIP)|^ +(--- FAIL|--- SKIP)|^\s+\S+_test\.go:[0-9]+: (skipped|.*TACAP_REQUIRE)' .tmp/test.log
awk '/^ *--- PASS/ {p++} /^ *--- FAIL/ {f++} /^ *--- SKIP/ {s++}
     END { printf "%d passed, %d failed, %d skipped\n", p, f, s }' .tmp/test.log
if [ $status -ne 0 ]; then
	echo "tests failed: see .tmp/test.log" >&2
fi
exit $status
