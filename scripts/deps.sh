#!/usr/bin/env bash
# Installs what building and testing tacap needs, with apt-get, when missing.
# Usage: scripts/deps.sh [build|demo|test]
#   build: clang and llvm, to recompile the BPF C (go build needs neither)
#   demo:  iproute2 (network namespaces)
#   test:  both, and the test oracles (tshark, tcpdump, bpftool, h5py and
#          numpy for the HDF5 files, hdf5-tools, chromium, and DuckDB for
#          node: nodejs and npm when npm is missing, then npm ci in
#          scripts/bench/duckdb)
set -euo pipefail
case ${1:-build} in
build) want=(clang llvm) ;;
demo) want=(iproute2) ;;
test) want=(clang llvm tshark tcpdump iproute2 bpftool libcap2-bin python3-h5py python3-numpy hdf5-tools chromium fonts-dejavu-core) ;;
*) echo "deps: unknown target $1" >&2; exit 2 ;;
esac

# DuckDB for node, the Parquet oracle beside arrow-go: after the packages.
duckdb() {
	[ "$1" = test ] || return 0
	local dir
	dir=$(cd "$(dirname "$0")/bench/duckdb" && pwd)
	[ -d "$dir/node_modules/@duckdb/node-api" ] && return 0
	echo "deps: npm ci in $dir (DuckDB for node)" >&2
	(cd "$dir" && npm ci --silent --no-audit --no-fund >/dev/null)
}
target=${1:-build}
[ "$target" = test ] && ! command -v npm >/dev/null && want+=(nodejs npm)

missing=()
for p in "${want[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
command -v go >/dev/null || [ -x /usr/local/go/bin/go ] || {
	echo "deps: Go 1.26 is required (https://go.dev/dl/); it is not on PATH" >&2
	exit 1
}
if [ ${#missing[@]} -gt 0 ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "deps: missing ${missing[*]} — run as root (sudo make ...) or: apt-get install ${missing[*]}" >&2
		exit 1
	fi
	echo "deps: installing ${missing[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# tshark asks whether non-root users may capture; the default (no) is fine.
	echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
duckdb "$target"
