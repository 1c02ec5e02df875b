#!/usr/bin/env bash
# Opens a tacap HTML report in headless Chromium as TestHTMLReportInBrowser
# (test/browser_test.go) does, writes its screenshot (1280 px wide, the
# README's), and prints each chart with its number of data marks, whether
# the page's script ran to its end, and the errors it reported.
# Nothing leaves the machine: every host name is made unresolvable.
# Usage: scripts/browser-check.sh PAGE.html OUT.png
#   e.g. tacap report --html /tmp/report.html DIR && scripts/browser-check.sh /tmp/report.html docs/report.png
# Exit 0 when the page meets its contract (data-js="ok", no JavaScript
# error, at least one chart, each with marks); 1 otherwise (the screenshot
# is still written); 2 on wrong usage. CHROMIUM overrides /usr/bin/chromium.
set -euo pipefail

usage() {
	echo "usage: $0 PAGE.html OUT.png — screenshot a tacap HTML report and list its charts" >&2
	exit 2
}
[ $# -eq 2 ] || usage
case $1 in -h | --help) usage ;; esac

chromium=${CHROMIUM:-/usr/bin/chromium}
[ -x "$chromium" ] || {
	echo "browser-check: $chromium not found: install chromium (sudo scripts/deps.sh test) or set CHROMIUM" >&2
	exit 1
}
[ -f "$1" ] || {
	echo "browser-check: no such page: $1" >&2
	exit 1
}
page=$(realpath "$1")
out=$(realpath -m "$2")
mkdir -p "$(dirname "$out")"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/browser-check.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# The flags of browser_test.go's browserFlags, with a fresh profile.
flags=(
	--headless --no-sandbox --disable-gpu --no-first-run
	--disable-background-networking --disable-component-update --disable-sync
	"--host-resolver-rules=MAP * ~NOTFOUND"
	--virtual-time-budget=2000 --window-size=1280,4000 --enable-logging=stderr
	--user-data-dir="$tmp/profile" --screenshot="$out" --dump-dom
)
url="file://$(printf '%s' "$page" | sed 's/%/%25/g; s/ /%20/g; s/#/%23/g; s/?/%3F/g')"

# timeout signals the process group it leads: the browser and its helpers.
if ! timeout -k 5 60 "$chromium" "${flags[@]}" "$url" >"$tmp/dom.html" 2>"$tmp/stderr"; then
	echo "browser-check: chromium failed or took over 60 s on $page:" >&2
	grep -v -i 'dbus' "$tmp/stderr" >&2 || true
	exit 1
fi
[ -s "$out" ] || {
	echo "browser-check: chromium wrote no screenshot to $out" >&2
	exit 1
}
echo "screenshot: $out"

problems=0
js=$(grep -o '<body[^>]*>' "$tmp/dom.html" | head -n 1 | sed -n 's/.*data-js="\([^"]*\)".*/\1/p' || true)
if [ "$js" = ok ]; then
	echo 'script: ran (body data-js="ok")'
else
	echo "script: did not finish (body data-js=\"${js:-(absent)}\", want \"ok\")"
	problems=1
fi

# The page's own error report: <pre id="js-errors">, which may span lines.
errors=$(tr '\n' '\r' <"$tmp/dom.html" | sed -n 's/.*<pre[^>]*id="js-errors"[^>]*>\([^<]*\)<\/pre>.*/\1/p' | tr '\r' '\n')
if [ -n "${errors//[[:space:]]/}" ]; then
	echo "js-errors:"
	printf '%s\n' "$errors" | sed 's/^/  /'
	problems=1
fi
if grep -q ':CONSOLE.*\] "Uncaught' "$tmp/stderr"; then
	echo "uncaught errors:"
	grep ':CONSOLE.*\] "Uncaught' "$tmp/stderr" | sed 's/^[^]]*\] /  /'
	problems=1
fi

echo "sortable tables: $(grep -o '<table[^>]*class="\([^"]* \)\{0,1\}sortable[" ]' "$tmp/dom.html" | wc -l)"

# Each <figure class="chart" id="chart-NAME">: its id, its data marks
# (elements of class "mark") and whether it holds <svg class="chart-svg">.
charts=$(awk 'BEGIN { RS = "<figure" }
NR > 1 {
	tag = substr($0, 1, index($0, ">"))
	if (tag !~ /class="([^"]* )?chart( [^"]*)?"/) next
	id = "(no id)"
	if (match(tag, /id="[^"]*"/)) id = substr(tag, RSTART + 4, RLENGTH - 5)
	body = $0
	end = index(body, "</figure>")
	if (end) body = substr(body, 1, end)
	marks = 0
	rest = body
	while (match(rest, /class="([^"]* )?mark( [^"]*)?"/)) {
		marks++
		rest = substr(rest, RSTART + RLENGTH)
	}
	svg = (body ~ /<svg[^>]*class="([^"]* )?chart-svg( [^"]*)?"/) ? "" : "  (no svg.chart-svg)"
	printf "  %-28s %6d marks%s\n", id, marks, svg
}' "$tmp/dom.html")
if [ -z "$charts" ]; then
	echo 'charts: none (no <figure class="chart">)'
	problems=1
else
	echo "charts:"
	printf '%s\n' "$charts"
	if printf '%s\n' "$charts" | grep -q -E ' 0 marks|no svg'; then
		problems=1
	fi
fi
exit $problems
