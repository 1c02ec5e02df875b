#!/usr/bin/env bash
# Recording everything, old against new in one run (issue 15's figures):
# the 64-byte UDP flood of flood.sh over a veth pair between two private
# namespaces, each round running, in rotating order, nothing attached,
# tacap at BASE and from the working tree recording everything
# (--packets-per-session 0), and both with default quotas (the same kernel
# work per packet, almost nothing recorded: what a run costs besides
# recording, loading the program included). Per build it prints the
# received ratio to nothing attached, tacap's CPU (the manifest's user +
# system) per record, the same less the default-quota run of the round
# (the cost of recording itself), and the packets/ bytes per row.
# The sender (whose CPU also runs the receive path: veth processes XDP
# frames in its softirq) is pinned to CPU 0 and tacap to CPU 1: this
# kernel charges softirq time to whatever task it interrupts
# (CONFIG_IRQ_TIME_ACCOUNTING is off), so a tacap thread that ran on the
# sender's CPU would be billed for packets the kernel processed there.
# TACAP_NOPIN=1 leaves both to the scheduler. Root.
#   scripts/bench/record-all.sh BASE [rounds] [frames per run]
set -euo pipefail
cd "$(dirname "$0")/../.."
base=${1:?usage: record-all.sh BASE [rounds] [frames per run]}
rounds=${2:-5}
frames=${3:-3000000}
. scripts/lab.sh
lab_up recall
work=$LAB_WORK
a=$LAB_A
b=$LAB_B
lab_versus "$base"
lab_bg "$b" "$work/flood" pass --iface veth0 >/dev/null
sleep 0.5
mac=$(lab_mac "$b")
pin_tacap=() pin_flood=()
if [ -z "${TACAP_NOPIN:-}" ] && [ "$(nproc)" -ge 2 ]; then
	pin_tacap=(taskset -c 1) pin_flood=(taskset -c 0)
fi
modes=(none old-all new-all old-default new-default)
echo "kernel $(uname -r), $(nproc) cores, base $(git rev-parse --short "$base"), $rounds rounds of $frames frames, pinned: ${pin_tacap[*]:-no}"
printf "round\tmode\trecv_mpps\treceived\trows\tuser_s\tsys_s\tbytes\n" >"$work/r.tsv"
for round in $(seq "$rounds"); do
	for i in "${!modes[@]}"; do
		mode=${modes[$(((i + round) % ${#modes[@]}))]}
		rm -rf "$work/ds" "$work/ready"
		cap=
		if [ "$mode" != none ]; then
			quota=()
			[ "${mode#*-}" = all ] && quota=(--packets-per-session 0)
			ip netns exec "$b" "${pin_tacap[@]}" "$work/tacap-${mode%-*}" capture -i veth0 --direction ingress -o "$work/ds" -q --no-csv \
				"${quota[@]}" --buffer-packets 4000000 --ready-file "$work/ready" >/dev/null 2>&1 &
			cap=$!
			lab_wait_file "$work/ready"
		fi
		r0=$(lab_rx "$b")
		out=$(ip netns exec "$a" "${pin_flood[@]}" "$work/flood" send --iface veth0 --dst-mac "$mac" --frames "$frames")
		secs=$(echo "$out" | sed -n 's/.* in \([0-9.]*\) s .*/\1/p')
		r1=$(lab_rx "$b")
		rows=- user=- sys=- bytes=-
		if [ -n "$cap" ]; then
			kill -INT "$cap"
			wait "$cap" || true
			read -r rows user sys bytes < <(python3 - "$work/ds" <<'PY'
import glob, json, os, sys
m = json.load(open(glob.glob(sys.argv[1] + "/_runs/*.json")[0]))
p = m["process"]
size = sum(os.path.getsize(os.path.join(sys.argv[1], f["path"])) for f in m["files"]["packets"])
print(m["rows_written"], p["cpu_user_seconds"], p["cpu_system_seconds"], size)
PY
)
		fi
		printf "%s\t%s\t%.4f\t%s\t%s\t%s\t%s\t%s\n" "$round" "$mode" "$(echo "($r1 - $r0) / $secs / 1000000" | bc -l)" \
			"$((r1 - r0))" "$rows" "$user" "$sys" "$bytes" | tee -a "$work/r.tsv"
	done
done
python3 - "$work/r.tsv" <<'PY'
import csv, statistics as st, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
by = {(r["round"], r["mode"]): r for r in rows}
rounds = sorted({r["round"] for r in rows}, key=int)
def f(r, k): return float(r[k])
def med(xs): return "%.3f (%.3f-%.3f)" % (st.median(xs), min(xs), max(xs))
print()
for build in ("old", "new"):
    for q in ("all", "default"):
        m = build + "-" + q
        ratio = [f(by[k, m], "recv_mpps") / f(by[k, "none"], "recv_mpps") for k in rounds]
        cpu = [f(by[k, m], "user_s") + f(by[k, m], "sys_s") for k in rounds]
        user = [f(by[k, m], "user_s") for k in rounds]
        print("%-11s received / nothing attached %s; tacap CPU-s %s, user %s" % (m, med(ratio), med(cpu), med(user)))
    a, d = build + "-all", build + "-default"
    per = [(f(by[k, a], "user_s") + f(by[k, a], "sys_s")) / int(by[k, a]["rows"]) * 1e6 for k in rounds]
    marg = [((f(by[k, a], "user_s") + f(by[k, a], "sys_s")) - (f(by[k, d], "user_s") + f(by[k, d], "sys_s")))
            / int(by[k, a]["rows"]) * 1e6 for k in rounds]
    got = [int(by[k, a]["rows"]) / int(by[k, a]["received"]) for k in rounds]
    bpr = [int(by[k, a]["bytes"]) / int(by[k, a]["rows"]) for k in rounds]
    print("%-11s CPU-us a record %s; less the default-quota run %s; rows / received %s; packets/ bytes a row %s" % (
        build, med(per), med(marg), med(got), med(bpr)))
PY
