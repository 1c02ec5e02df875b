#!/usr/bin/env bash
# Runs every Go test verbosely into .tmp/test.log, shows failures, skips (with
# their reasons) and package results, and ends with a count line.
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p .tmp
go test -count=1 -timeout 40m -v "${@:-./...}" >.tmp/test.log 2>&1
status=$?
# The engine's and the report's unit tests need no privileges: prove it by
# running them again as an unprivileged user (root bypasses permission
# checks), built with the race detector (their goroutines share nothing
# unguarded).
if [ $# -eq 0 ] && [ "$(id -u)" = 0 ]; then
	bin=$(mktemp -d /tmp/tacap-unpriv.XXXXXX)
	cp -r docs "$bin/docs" # the report's and the dataset's tests read them
	for pkg in capture report dataset; do
		mkdir -p "$bin/$pkg"
		[ -d "$pkg/testdata" ] && cp -r "$pkg/testdata" "$bin/$pkg/"
		chown -R nobody:nogroup "$bin"
		if go test -race -c -o "$bin/$pkg/$pkg.test" "./$pkg" >>.tmp/test.log 2>&1; then
			echo "=== unprivileged, -race: $pkg as nobody" >>.tmp/test.log
			(cd "$bin/$pkg" && setpriv --reuid=nobody --regid=nogroup --clear-groups --inh-caps=-all \
				env HOME="$bin" TMPDIR="$bin" "./$pkg.test" -test.count=1 -test.v) >>.tmp/test.log 2>&1 || status=1
		else
			status=1
		fi
	done
	rm -rf "$bin"
fi
grep -E '^(ok |FAIL|panic:|--- FAIL|--- SKIP)|^ +(--- FAIL|--- SKIP)|^\s+\S+_test\.go:[0-9]+: (skipped|.*TACAP_REQUIRE)' .tmp/test.log
awk '/^ *--- PASS/ {p++} /^ *--- FAIL/ {f++} /^ *--- SKIP/ {s++}
     END { printf "%d passed, %d failed, %d skipped\n", p, f, s }' .tmp/test.log
if [ $status -ne 0 ]; then
	echo "tests failed: see .tmp/test.log" >&2
fi
exit $status
