#!/usr/bin/env bash
# Installs what building and testing tacap needs, with apt-get, when missing.
# Usage: scripts/deps.sh [build|test]   (test also brings the test oracles)
set -euo pipefail
want=(clang llvm)
[ "${1:-build}" = test ] && want+=(tshark tcpdump iproute2 bpftool)

missing=()
for p in "${want[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
command -v go >/dev/null || [ -x /usr/local/go/bin/go ] || {
	echo "deps: Go 1.26 is required (https://go.dev/dl/); it is not on PATH" >&2
	exit 1
}
[ ${#missing[@]} -eq 0 ] && exit 0
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
