package capture

import (
	"math"
	"math/bits"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/tacap/tacap/bpf"
	"github.com/tacap/tacap/dataset"
	"github.com/tacap/tacap/test/pqcheck"
)

// flowOf builds the kernel's statistics of a flow from its packets as
// (from a, time, ip_len), the way the program sums them; the test then
// checks flowRow against statistics computed from the values directly.
type fp struct {
	fromA bool
	ts    uint64
	len   uint32
}

func statsOf(pkts []fp, fwdIsA bool) bpf.FlowStats {
	var st bpf.FlowStats
	st.Id, st.FirstNs, st.LastNs = 7, pkts[0].ts, pkts[0].ts
	if fwdIsA {
		st.FwdIsA = 1
	}
	addSq := func(lo, hi *uint64, v uint64) {
		h, l := bits.Mul64(v, v)
		var c uint64
		*lo, c = bits.Add64(*lo, l, 0)
		*hi += h + c
	}
	gap := func(lo, hi, mn, mx *uint64, g uint64, first bool) {
		if first || g < *mn {
			*mn = g
		}
		if first || g > *mx {
			*mx = g
		}
		addSq(lo, hi, g)
	}
	for i, p := range pkts {
		if i > 0 {
			gap(&st.IatSqLo, &st.IatSqHi, &st.IatMin, &st.IatMax, p.ts-st.LastNs, i == 1)
			st.LastNs = p.ts
		}
		d := &st.Bwd
		if p.fromA == fwdIsA {
			d = &st.Fwd
		}
		if d.Packets == 0 {
			d.FirstNs, d.LastNs, d.LenMin, d.LenMax = p.ts, p.ts, p.len, p.len
		} else {
			gap(&d.IatSqLo, &d.IatSqHi, &d.IatMin, &d.IatMax, p.ts-d.LastNs, d.Packets == 1)
			d.LastNs = p.ts
			d.LenMin, d.LenMax = min(d.LenMin, p.len), max(d.LenMax, p.len)
		}
		d.Packets++
		d.Bytes += uint64(p.len)
		addSq(&d.LenSqLo, &d.LenSqHi, uint64(p.len))
	}
	return st
}

// stdOf is the two-pass sample standard deviation.
func stdOf(vs []float64) float64 {
	if len(vs) < 2 {
		return 0
	}
	var mean float64
	for _, v := range vs {
		mean += v
	}
	mean /= float64(len(vs))
	var ss float64
	for _, v := range vs {
		ss += (v - mean) * (v - mean)
	}
	return math.Sqrt(ss / float64(len(vs)-1))
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

func TestFlowRow(t *testing.T) {
	key := bpf.SessionKey{IpVersion: 4, Protocol: 17, PortA: 1000, PortB: 53}
	key.AddrA = [16]byte{198, 18, 0, 1}
	key.AddrB = [16]byte{198, 18, 0, 2}
	const t0 = uint64(1_700_000_000_000_000_000)
	wall := func(ts uint64) int64 { return int64(ts) }
	cases := []struct {
		name   string
		pkts   []fp
		fwdIsA bool
	}{
		{"one packet: gaps, bwd and rates null", []fp{{true, t0, 100}}, true},
		{"one way", []fp{{true, t0, 100}, {true, t0 + 1500, 200}, {true, t0 + 4000, 60}}, true},
		{"both ways, b is the source", []fp{{false, t0, 40}, {true, t0 + 7, 1500}, {false, t0 + 1_000_000_007, 40}, {true, t0 + 2_000_000_000, 52}}, false},
		{"equal lengths: std exactly 0", []fp{{true, t0, 1500}, {true, t0 + 10, 1500}, {true, t0 + 20, 1500}}, true},
		{"huge gaps (hours, ns): 128-bit squares", []fp{{true, t0, 60}, {true, t0 + uint64(3*time.Hour), 60}, {true, t0 + uint64(5*time.Hour) + 1, 60}}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st := statsOf(tc.pkts, tc.fwdIsA)
			f := flowRow("run", wall, newAddrText(), &key, &st, dataset.FlowEndEnd)
			// Statistics from the values themselves.
			var all, fwd, bwd []float64
			var gapsAll, gapsFwd, gapsBwd []float64
			var lastAll, lastF, lastB uint64
			for i, p := range tc.pkts {
				v := float64(p.len)
				all = append(all, v)
				if i > 0 {
					gapsAll = append(gapsAll, float64(p.ts-lastAll)/1e3)
				}
				lastAll = p.ts
				if p.fromA == tc.fwdIsA {
					if len(fwd) > 0 {
						gapsFwd = append(gapsFwd, float64(p.ts-lastF)/1e3)
					}
					fwd, lastF = append(fwd, v), p.ts
				} else {
					if len(bwd) > 0 {
						gapsBwd = append(gapsBwd, float64(p.ts-lastB)/1e3)
					}
					bwd, lastB = append(bwd, v), p.ts
				}
			}
			checkStat := func(name string, got *float64, vs []float64, fn func([]float64) float64) {
				t.Helper()
				if len(vs) == 0 {
					if got != nil {
						t.Errorf("%s = %v, want null", name, *got)
					}
					return
				}
				if got == nil {
					t.Errorf("%s is null, want %v", name, fn(vs))
				} else if w := fn(vs); !near(*got, w) {
					t.Errorf("%s = %v, want %v", name, *got, w)
				}
			}
			mean := func(vs []float64) float64 {
				s := 0.0
				for _, v := range vs {
					s += v
				}
				return s / float64(len(vs))
			}
			lo := func(vs []float64) float64 { return slices.Min(vs) }
			hi := func(vs []float64) float64 { return slices.Max(vs) }
			checkStat("len_mean", &f.LenMean, all, mean)
			checkStat("len_std", &f.LenStd, all, stdOf)
			checkStat("fwd_len_std", f.FwdLenStd, fwd, stdOf)
			checkStat("bwd_len_mean", f.BwdLenMean, bwd, mean)
			checkStat("bwd_len_std", f.BwdLenStd, bwd, stdOf)
			for _, g := range []struct {
				name          string
				vs            []float64
				mn, mx, m, sd *float64
			}{
				{"iat", gapsAll, f.IATMin, f.IATMax, f.IATMean, f.IATStd},
				{"fwd_iat", gapsFwd, f.FwdIATMin, f.FwdIATMax, f.FwdIATMean, f.FwdIATStd},
				{"bwd_iat", gapsBwd, f.BwdIATMin, f.BwdIATMax, f.BwdIATMean, f.BwdIATStd},
			} {
				checkStat(g.name+"_min", g.mn, g.vs, lo)
				checkStat(g.name+"_max", g.mx, g.vs, hi)
				checkStat(g.name+"_mean", g.m, g.vs, mean)
				checkStat(g.name+"_std", g.sd, g.vs, stdOf)
			}
			if f.FwdPackets+f.BwdPackets != int64(len(tc.pkts)) || f.FwdPackets != int64(len(fwd)) {
				t.Errorf("packets %d fwd %d bwd", f.FwdPackets, f.BwdPackets)
			}
			wantSrc := "198.18.0.1"
			if !tc.fwdIsA {
				wantSrc = "198.18.0.2"
			}
			if f.SrcIP != wantSrc {
				t.Errorf("src %s, want %s", f.SrcIP, wantSrc)
			}
			dur := float64(tc.pkts[len(tc.pkts)-1].ts - tc.pkts[0].ts)
			if f.DurationUs != dur/1e3 {
				t.Errorf("duration %v µs, want %v", f.DurationUs, dur/1e3)
			}
			if dur == 0 {
				if f.PacketsPerS != nil || f.BytesPerS != nil {
					t.Error("rates of a zero duration are not null")
				}
			} else if f.PacketsPerS == nil || !near(*f.PacketsPerS, float64(len(tc.pkts))/(dur/1e9)) {
				t.Errorf("packets_per_s %v", f.PacketsPerS)
			}
		})
	}
}

// TestEngineWritesFlows: flows the program ended during the run, flows the
// sweep took out as idle and flows still open at the end all become rows of
// flows/, with their end reasons, and the manifest accounts for them.
func TestEngineWritesFlows(t *testing.T) {
	dir := t.TempDir()
	k := newFakeKernel()
	key := func(port uint16) bpf.SessionKey {
		k := bpf.SessionKey{IpVersion: 4, Protocol: 6, PortA: port, PortB: 443}
		k.AddrA, k.AddrB = [16]byte{198, 18, 0, 1}, [16]byte{198, 18, 0, 2}
		return k
	}
	flow := func(id uint64, first, last int64) bpf.FlowStats {
		var st bpf.FlowStats
		st.Id, st.FirstNs, st.LastNs, st.FwdIsA = id, uint64(first), uint64(last), 1
		st.Fwd.Packets, st.Fwd.Bytes, st.Fwd.LenMin, st.Fwd.LenMax, st.Fwd.FirstNs, st.Fwd.LastNs = 1, 60, 60, 60, uint64(first), uint64(first)
		st.Fwd.LenSqLo = 3600
		return st
	}
	idle := 120 * time.Second
	src := &fakeSource{k: k}
	src.steps = []func(*fakeKernel){
		func(k *fakeKernel) {
			// The program ended flow 1 (reuse); flow 2 went idle long ago.
			k.flowEnds = append(k.flowEnds, bpf.FlowEnd{Key: key(1), Reason: bpf.FlowEndReuse, St: flow(1, t0, t0)})
			k.flows[key(2)] = flow(2, t0, t0)
			k.flows[key(3)] = flow(3, t0+int64(idle), t0+int64(idle))
			k.counters.FlowsStarted = 4
			src.now = uint64(t0 + int64(idle) + int64(2*time.Second))
		},
		func(k *fakeKernel) {
			// The sweep is due no sooner than a second later.
			k.flows[key(4)] = flow(4, t0+int64(idle)+1, t0+int64(2*idle))
			src.now = uint64(t0 + int64(2*idle) + int64(3*time.Second))
		},
	}
	res, err := runFake(Config{Out: dir}, src)
	if err != nil {
		t.Fatal(err)
	}
	m := readManifest(t, dir, res)
	want := map[string]int64{dataset.FlowEndReuse: 1, dataset.FlowEndIdle: 2, dataset.FlowEndEnd: 1}
	if m.Flows.Written != 4 || len(m.Flows.ByEndReason) != len(want) {
		t.Fatalf("flows %+v, want 4 written: %v", m.Flows, want)
	}
	for r, n := range want {
		if m.Flows.ByEndReason[r] != n {
			t.Errorf("%s: %d flows, want %d", r, m.Flows.ByEndReason[r], n)
		}
	}
	if !m.Complete {
		t.Errorf("run not complete: %v", m.Errors)
	}
	var ids []int64
	for _, f := range m.Files.Flows {
		pf, err := pqcheck.Read(filepath.Join(dir, f.Path))
		if err != nil {
			t.Fatal(err)
		}
		got, err := pf.Int64("flow_id")
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, got...)
		pf.Table.Release()
	}
	if len(ids) != 4 {
		t.Fatalf("flows/ holds ids %v, want 4 rows", ids)
	}
	// Flow 3 was not idle long enough at the first sweep (the margin): the
	// second takes it; flow 4 is still open at the end.
	if ids[0] != 1 || ids[1] != 2 {
		t.Errorf("ids %v: want the program's flow, then the swept one first", ids)
	}
}

// TestFlowsMustAddUp: a flow the program started and nobody wrote fails
// the run.
func TestFlowsMustAddUp(t *testing.T) {
	dir := t.TempDir()
	k := newFakeKernel()
	src := &fakeSource{k: k, steps: []func(*fakeKernel){func(k *fakeKernel) { k.counters.FlowsStarted = 1 }}}
	res, err := runFake(Config{Out: dir}, src)
	if err == nil {
		t.Fatal("a missing flow went unnoticed")
	}
	if m := readManifest(t, dir, res); m.Complete {
		t.Error("run complete though a flow is missing")
	}
}
