# shellcheck shell=bash
# The lab of the demo and the benchmark drivers, sourced by them: two
# private network namespaces joined by a veth pair (veth0 at both ends),
# 198.18.0.1/24 and 2001:db8::1/64 in A, .2 and ::2 in B. Everything a
# script starts with lab_bg is stopped by PID, and the namespaces and the
# work folder are removed, when the script exits.
#   . scripts/lab.sh; lab_up demo; lab_bg "$LAB_B" cmd ...; lab_wait_file F

LAB_PIDS=()

lab_cleanup() {
	local p
	# TERM, not INT: a non-interactive shell starts background jobs with
	# SIGINT ignored.
	for p in "${LAB_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${LAB_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	[ -n "${LAB_A:-}" ] && ip netns del "$LAB_A" 2>/dev/null
	[ -n "${LAB_B:-}" ] && ip netns del "$LAB_B" 2>/dev/null
	[ -n "${LAB_WORK:-}" ] && rm -rf "$LAB_WORK"
	return 0
}

# lab_up LABEL: make the namespaces and LAB_WORK, a scratch folder.
lab_up() {
	[ "$(id -u)" = 0 ] || { echo "needs root (network namespaces, eBPF)" >&2; exit 1; }
	LAB_WORK=$(mktemp -d)
	LAB_A=tacap-$1-a-$$
	LAB_B=tacap-$1-b-$$
	trap lab_cleanup EXIT
	trap 'exit 130' INT TERM
	ip netns add "$LAB_A"
	ip netns add "$LAB_B"
	ip link add veth0 netns "$LAB_A" type veth peer name veth0 netns "$LAB_B"
	local ns i=1
	for ns in "$LAB_A" "$LAB_B"; do
		ip -n "$ns" link set lo up
		ip -n "$ns" link set veth0 up
		ip -n "$ns" addr add "198.18.0.$i/24" dev veth0
		ip -n "$ns" addr add "2001:db8::$i/64" dev veth0 nodad
		i=$((i + 1))
	done
}

# lab_bg NS CMD...: run CMD in namespace NS in the background; LAB_LAST is its PID.
lab_bg() {
	local ns=$1
	shift
	ip netns exec "$ns" "$@" &
	LAB_LAST=$!
	LAB_PIDS+=("$LAB_LAST")
}

# lab_wait_file F: wait up to 10 s for F (tacap's --ready-file).
lab_wait_file() {
	local _
	for _ in $(seq 200); do [ -f "$1" ] && return 0; sleep 0.05; done
	echo "$1 did not appear" >&2
	return 1
}

# lab_mac NS, lab_rx NS: veth0's MAC address in NS, and the packets it has
# received.
lab_mac() { ip -n "$1" -j link show veth0 | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["address"])'; }
lab_rx() { ip -n "$1" -j -s link show veth0 | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["stats64"]["rx"]["packets"])'; }

# lab_old BASE: builds tacap at the git revision BASE into
# $LAB_WORK/tacap-old (its worktree, $LAB_WORK/base, goes when the script
# exits).
lab_old() {
	git worktree add -q --detach "$LAB_WORK/base" "$1"
	trap 'git worktree remove --force "$LAB_WORK/base"; lab_cleanup' EXIT
	(cd "$LAB_WORK/base" && go build -o "$LAB_WORK/tacap-old" ./cmd/tacap)
}

# lab_versus BASE: lab_old BASE, then tacap from the working tree into
# $LAB_WORK/tacap-new and the flood tool into $LAB_WORK/flood: the
# benchmarks of old against new.
lab_versus() {
	lab_old "$1"
	go build -o "$LAB_WORK/tacap-new" ./cmd/tacap
	go build -o "$LAB_WORK/flood" ./scripts/bench/flood
}

# lab_iperf_gbps NS ARGS...: runs iperf3 -J ARGS in NS and prints the
# received Gbit/s.
lab_iperf_gbps() {
	local ns=$1
	shift
	ip netns exec "$ns" iperf3 -J "$@" |
		python3 -c 'import json,sys; print("%.2f" % (json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/1e9))'
}
