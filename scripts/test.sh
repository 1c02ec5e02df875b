#!/usr/bin/env bash
# Runs every Go test verbosely into .tmp/test.log, shows failures, skips (with
# their reasons) and package results, and ends with a count line.
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p .tmp
go test -count=1 -v "${@:-./...}" >.tmp/test.log 2>&1
status=$?
# The capture engine's unit tests need no privileges: prove it by running
# them again as an unprivileged user (root bypasses permission checks).
if [ $# -eq 0 ] && [ "$(id -u)" = 0 ]; then
	bin=$(mktemp -d /tmp/tacap-unpriv.XXXXXX)
	chown nobody:nogroup "$bin"
	if go test -c -o "$bin/capture.test" ./capture >>.tmp/test.log 2>&1; then
		echo "=== unprivileged: capture unit tests as nobody" >>.tmp/test.log
		(cd "$bin" && setpriv --reuid=nobody --regid=nogroup --clear-groups --inh-caps=-all \
			env HOME="$bin" TMPDIR="$bin" ./capture.test -test.count=1 -test.v) >>.tmp/test.log 2>&1 || status=1
	else
		status=1
	fi
	rm -rf "$bin"
fi
grep -E '^(ok |FAIL|panic:|--- FAIL|--- SKIP)|^ +(--- FAIL|--- SKIP)|^\s+\S+_test\.go:[0-9]+: (skipped|.*TACAP_REQUIRE)' .tmp/test.log
awk '/^ *--- PASS/ {p++} /^ *--- FAIL/ {f++} /^ *--- SKIP/ {s++}
     END { printf "%d passed, %d failed, %d skipped\n", p, f, s }' .tmp/test.log
if [ $status -ne 0 ]; then
	echo "tests failed: see .tmp/test.log" >&2
fi
exit $status
