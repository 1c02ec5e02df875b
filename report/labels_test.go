package report

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/tacap/tacap/dataset"
	"github.com/tacap/tacap/labels"
)

// labRulesV1 is the lab's ground truth as first written: a SYN flood from
// its first packet on, a port scan (its probes only: one direction), a
// DNS amplification whose reflector address has a typo (198.18.1.35 for
// 198.18.1.53) and the lab's SSH traffic.
const labRulesV1 = `# Lab ground truth.
default: benign
rules:
  - id: syn-flood
    label: ddos
    attack: syn_flood
    dst: 198.18.1.1
    proto: tcp
    dport: 80
    start: 2026-03-14T09:26:55Z
  - id: scan
    label: recon
    attack: port_scan
    src: 198.18.0.66
    both_directions: false
  - id: dns-amp
    label: ddos
    attack: dns_amplification
    src: 198.18.1.35
    proto: udp
    sport: 53
  - id: ssh
    label: lab
    dst: 198.18.1.1
    proto: tcp
    dport: 22
`

// labRulesV2 adds a rule after ssh that takes all of its traffic.
const labRulesV2 = labRulesV1 + `  - id: ssh-brute
    label: bruteforce
    attack: ssh
    dst: 198.18.1.1
    proto: tcp
    dport: 22
`

// labelledDataset is three runs: a live capture labelled with the rules'
// first version (handshakes, DNS, a SYN flood the rule's window starts in
// the middle of a connection to, a port scan answered with RSTs, and a
// UDP flood no rule covers), a capture-file replay labelled — by tacap
// label, after the capture — with the second version, and a run written
// before tacap labelled traffic (no label columns).
func labelledDataset(t *testing.T, dir string) {
	t.Helper()
	var live []pkt
	for i := 0; i < 3; i++ {
		live = append(live, handshake(100*i, "198.18.0.2", int32(40000+i), "198.18.1.1", 443)...)
	}
	live = append(live,
		pkt{t: at(400), src: "198.18.0.2", dst: "198.18.1.53", proto: 17, sport: 53000, dport: 53, ipLen: 60, payload: 32},
		pkt{t: at(401), src: "198.18.1.53", dst: "198.18.0.2", proto: 17, sport: 53, dport: 53000, ipLen: 120, payload: 92})
	// A connection to the flooded port across the start of the rule's
	// window: its flow straddles the window's edge.
	live = append(live, handshake(1995, "198.18.0.3", 41000, "198.18.1.1", 80)...)
	for i := 0; i < 250; i++ {
		live = append(live, pkt{t: at(2000 + i), src: fmt.Sprintf("198.19.%d.%d", i/200, i%200+1), dst: "198.18.1.1",
			proto: 6, sport: int32(1024 + i), dport: 80, flags: flagSYN, ipLen: 40})
	}
	for port := int32(1); port <= 120; port++ {
		live = append(live,
			pkt{t: at(3000 + int(port)), src: "198.18.0.66", dst: "198.18.1.5", proto: 6, sport: 999, dport: port, flags: flagSYN, ipLen: 44},
			pkt{t: at(3000 + int(port)), src: "198.18.1.5", dst: "198.18.0.66", proto: 6, sport: port, dport: 999, flags: flagRST | flagACK, ipLen: 40, direction: "egress"})
	}
	for i := 0; i < 1000; i++ {
		live = append(live, pkt{t: at(4000 + i*9/10), src: "198.18.0.77", dst: "198.18.1.7", proto: 17, sport: 4444, dport: 9, ipLen: 128, payload: 100})
	}
	pk := rows(live...)
	writeRun(t, dir, fixtureRun{id: "20260314T092653Z-lab001", host: "sensor-a", iface: "eth0", start: t0, packets: pk,
		sessions: sessionsOf(pk), flows: flowsOf(pk, nil, defaultFlows), rules: labRulesV1, rulesFile: "rules/lab-v1.yaml"})

	replay := rows(handshake(0, "198.18.0.9", 50000, "198.18.1.1", 22)...)
	for i := range replay {
		replay[i].Direction, replay[i].Iface = "unknown", "lab.pcap"
	}
	relabelled := t0.Add(2 * time.Hour)
	writeRun(t, dir, fixtureRun{id: "20260314T100000Z-lab002", host: "sensor-b", pcap: "lab.pcap", start: t0.Add(time.Hour),
		packets: replay, noSessions: true, flows: flowsOf(replay, nil, flowRules{2 * time.Minute, 30 * time.Minute, at(6)}),
		rules: labRulesV2, rulesFile: "rules/lab-v2.yaml", edit: func(m map[string]any) {
			l := m["labels"].(map[string]any)
			l["relabelled"] = relabelled
			l["previous"] = []map[string]any{{"file": "rules/lab-v1.yaml", "sha256": "00", "default": "benign", "rules": 4}}
		}})

	old := rows(
		pkt{t: at(0), src: "198.18.0.2", dst: "198.18.1.53", proto: 17, sport: 53001, dport: 53, ipLen: 60, payload: 32},
		pkt{t: at(1), src: "198.18.1.53", dst: "198.18.0.2", proto: 17, sport: 53, dport: 53001, ipLen: 120, payload: 92})
	writeRun(t, dir, fixtureRun{id: "20260314T080000Z-old003", host: "sensor-c", iface: "eth0", start: t0.Add(-time.Hour),
		packets: old, sessions: sessionsOf(old), noLabelColumns: true})
}

// TestLabelsGolden checks every format of the labelled dataset's report
// against testdata/golden-labels.* (-update rewrites them).
func TestLabelsGolden(t *testing.T) {
	t.Chdir(t.TempDir())
	labelledDataset(t, "ds")
	r := build(t, "ds")
	if len(r.Problems) > 0 {
		t.Fatalf("problems: %v", r.Problems)
	}
	for _, tc := range []struct {
		file  string
		write func(*bytes.Buffer) error
	}{
		{"golden-labels.txt", func(b *bytes.Buffer) error { return WriteText(b, r, false) }},
		{"golden-labels.md", func(b *bytes.Buffer) error { return WriteText(b, r, true) }},
		{"golden-labels.json", func(b *bytes.Buffer) error { return WriteJSON(b, r) }},
		{"golden-labels.html", func(b *bytes.Buffer) error { return WriteHTML(b, r) }},
	} {
		t.Run(tc.file, func(t *testing.T) {
			var b bytes.Buffer
			if err := tc.write(&b); err != nil {
				t.Fatal(err)
			}
			checkGolden(t, tc.file, b.Bytes())
		})
	}
}

// checkGolden compares got with testdata/file, or writes it with -update.
func checkGolden(t *testing.T, file string, got []byte) {
	t.Helper()
	path := filepath.Join(testdataDir(t), file)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file; got:\n%s\n%s", file, got, firstDiff(string(got), string(want)))
	}
}

// labelsOf is the labels section's figures as "label/attack=records,flows,sessions ...".
func labelsOf(l *Labels) string {
	var s []string
	for _, c := range l.ByLabel {
		s = append(s, fmt.Sprintf("%s=%d,%d,%d", labelAttackText(c.Label, c.Attack), c.Records, c.Flows, c.Sessions))
	}
	return strings.Join(s, " ")
}

// hitsOf is the rule hits as "rule=records,flows,sessions ..." (* for a
// rule no rules file lists).
func hitsOf(l *Labels) string {
	var s []string
	for _, h := range l.RuleHits {
		star := ""
		if !h.InRulesFile {
			star = "*"
		}
		s = append(s, fmt.Sprintf("%s%s=%d,%d,%d", h.Rule, star, h.Records, h.Flows, h.Sessions))
	}
	return strings.Join(s, " ")
}

// warned says whether a labels warning contains want.
func warned(l *Labels, want string) bool {
	for _, w := range l.Warnings {
		if strings.Contains(w, want) {
			return true
		}
	}
	return false
}

// manifestLabels is a manifest's labels as capture writes them, of a rules file's content.
func manifestLabels(t *testing.T, content string) map[string]any {
	t.Helper()
	rs, err := labels.Parse("rules.yaml", []byte(content))
	if err != nil {
		t.Fatal(err)
	}
	return map[string]any{"file": "rules.yaml", "sha256": rs.SHA256, "default": rs.Default, "rules": len(rs.Rules), "content": content}
}

// TestLabelFigures checks the labels section on small datasets whose
// right answers are worked out by hand.
func TestLabelFigures(t *testing.T) {
	udp := func(ms int, src, dst string, sport, dport int32) pkt {
		return pkt{t: at(ms), src: src, dst: dst, proto: 17, sport: sport, dport: dport, ipLen: 60, payload: 32}
	}
	tcp := func(ms int, src, dst string, sport, dport, flags int32) pkt {
		return pkt{t: at(ms), src: src, dst: dst, proto: 6, sport: sport, dport: dport, flags: flags, ipLen: 52}
	}
	// Web traffic to 10.0.0.2:80, DNS to 10.0.0.53 and back, other UDP.
	mixed := rows(
		tcp(0, "10.0.0.1", "10.0.0.2", 1000, 80, flagSYN), tcp(1, "10.0.0.2", "10.0.0.1", 80, 1000, flagSYN|flagACK), tcp(2, "10.0.0.1", "10.0.0.2", 1000, 80, flagACK),
		udp(10, "10.0.0.1", "10.0.0.53", 5353, 53), udp(11, "10.0.0.53", "10.0.0.1", 53, 5353),
		udp(12, "10.0.0.1", "10.0.0.53", 5354, 53), udp(13, "10.0.0.53", "10.0.0.1", 53, 5354),
		udp(20, "10.0.0.1", "10.0.0.3", 7000, 7001), udp(21, "10.0.0.1", "10.0.0.3", 7000, 7001),
		udp(22, "10.0.0.1", "10.0.0.3", 7000, 7001), udp(23, "10.0.0.1", "10.0.0.3", 7000, 7001))
	const mixedRules = `default: normal
rules:
  - {id: web, label: attack, attack: http_flood, dst: 10.0.0.2, dport: 80}
  - {id: never, label: attack, attack: typo, dst: 10.9.9.9}
  - {id: dns-all, label: infra, dst: 10.0.0.53}
  - {id: dns-lab, label: lab, dst: 10.0.0.53}
`
	ms := func(ms float64) time.Time { return t0.Add(time.Duration(ms * float64(time.Millisecond))) }
	labelledFlow := func(f dataset.Flow, label, rule string, packets int64) dataset.Flow {
		f.Label, f.LabelRule = label, rule
		if packets >= 0 {
			f.LabelPackets = &packets
		}
		return f
	}
	for _, tc := range []struct {
		name  string
		runs  []fixtureRun
		check func(t *testing.T, r *Report)
	}{
		{name: "no label columns (a dataset written before labels)", runs: []fixtureRun{
			{id: "a", packets: mixed, flows: flowsOf(mixed, nil, defaultFlows), noLabelColumns: true},
			{id: "b", packets: mixed, noLabelColumns: true}},
			check: func(t *testing.T, r *Report) {
				l := &r.Labels
				eq(t, "runs with labels", l.RunsWithLabels, 0)
				eq(t, "runs without", strings.Join(l.RunsWithoutLabels, " "), "a b")
				eq(t, "by label", len(l.ByLabel), 0)
				eq(t, "evidence", len(l.Indicators), 0)
				if text := textOf(t, r); !strings.Contains(text, "LABELS\nNo labels in these runs: ") {
					t.Errorf("text does not say there are no labels:\n%s", text)
				}
				if line := labelsSummary(r); line != "" {
					t.Errorf("summary line %q without labels", line)
				}
			}},
		{name: "empty label columns, no labels in the manifest", runs: []fixtureRun{{id: "a", packets: mixed, flows: flowsOf(mixed, nil, defaultFlows)}},
			check: func(t *testing.T, r *Report) {
				eq(t, "runs with labels", r.Labels.RunsWithLabels, 0)
				eq(t, "runs without", strings.Join(r.Labels.RunsWithoutLabels, " "), "a")
			}},
		{name: "captured without a rules file: every row the default", runs: []fixtureRun{{id: "a", packets: mixed, flows: flowsOf(mixed, nil, defaultFlows), labelled: true}},
			check: func(t *testing.T, r *Report) {
				l := &r.Labels
				eq(t, "runs with labels", l.RunsWithLabels, 1)
				eq(t, "by label", labelsOf(l), "benign=11,4,7") // 4 flows, 7 sessions (one per direction)
				eq(t, "labelled", l.RecordsLabelled, 0)
				eq(t, "rules files", len(l.RulesFiles), 1)
				eq(t, "no sha256", l.RulesFiles[0].SHA256, "")
				eq(t, "rule hits", hitsOf(l), "")
				eq(t, "warnings", len(l.Warnings), 0)
				eq(t, "lines", strings.Join(rulesFileLines(l), "|"), "No rules file: every row of run a is labelled benign.")
			}},
		{name: "hits per rule, a rule that matched nothing, one always overridden, a default of its own", runs: []fixtureRun{
			{id: "a", packets: mixed, flows: flowsOf(mixed, nil, defaultFlows), rules: mixedRules}},
			check: func(t *testing.T, r *Report) {
				l := &r.Labels
				// Flows: the TCP connection, two DNS exchanges, the UDP to 10.0.0.3;
				// sessions: one per direction of each.
				eq(t, "by label", labelsOf(l), "lab=4,2,4 normal=4,1,1 attack/http_flood=3,1,2")
				eq(t, "records labelled", l.RecordsLabelled, 7) // normal is the default
				eq(t, "share", l.RecordsLabelledShare, 0.6364)
				eq(t, "flows labelled", l.FlowsLabelled, 3)
				eq(t, "rule hits", hitsOf(l), "web=3,1,2 never=0,0,0 dns-all=0,0,0 dns-lab=4,2,4")
				eq(t, "never warned", warned(l, "rule never labelled nothing — check its addresses, ports and window"), true)
				eq(t, "dns-all warned", warned(l, "rule dns-all labelled nothing — check its addresses, ports and window (it matched nothing or was always overridden by a later rule)"), true)
				eq(t, "warnings", len(l.Warnings), 2)
				eq(t, "default", l.RulesFiles[0].Default, "normal")
				if !strings.Contains(labelsSummary(r), "7 of 11 records (63.6 %) labelled other than the default; 2 rules labelled nothing") {
					t.Errorf("summary %q", labelsSummary(r))
				}
			}},
		{name: "labelled rows of a run without manifest: rules unknown", runs: []fixtureRun{
			{id: "a", packets: mixed, rules: mixedRules, noManif: true}},
			check: func(t *testing.T, r *Report) {
				l := &r.Labels
				eq(t, "runs with labels", l.RunsWithLabels, 1)
				eq(t, "rules files", len(l.RulesFiles), 0)
				// Without the default, a row is labelled when a rule won it.
				eq(t, "records labelled", l.RecordsLabelled, 7)
				eq(t, "rule hits", hitsOf(l), "dns-lab*=4,0,4 web*=3,0,2")
				eq(t, "rule's label from the rows", l.RuleHits[1].Label+"/"+l.RuleHits[1].Attack, "attack/http_flood")
				eq(t, "warned", warned(l, "run a has labelled rows but no manifest"), true)
				eq(t, "note", unlistedRulesNote(l), "Not in any manifest's rules file, only seen in rows: dns-lab, web.")
			}},
		{name: "flows across a window edge and partly matching", runs: []fixtureRun{{id: "a",
			flows: []dataset.Flow{
				labelledFlow(flw{src: "10.0.0.1", dst: "10.0.0.2", proto: 17, fwdP: 3, bwdP: 1, first: ms(0), flowID: 1}.row(), "x", "r", -1),
				labelledFlow(flw{src: "10.0.0.1", dst: "10.0.0.3", proto: 17, fwdP: 2, bwdP: 1, first: ms(0), flowID: 2}.row(), "x", "r", 2),
				labelledFlow(flw{src: "10.0.0.1", dst: "10.0.0.4", proto: 17, fwdP: 2, bwdP: 1, first: ms(0), flowID: 3}.row(), "x", "r", 3),
				labelledFlow(flw{src: "10.0.0.1", dst: "10.0.0.5", proto: 17, fwdP: 5, first: ms(0), flowID: 4}.row(), "benign", "", 0),
			}}},
			check: func(t *testing.T, r *Report) {
				l := &r.Labels
				eq(t, "straddling", l.FlowsStraddling, 1)
				eq(t, "partly", l.FlowsPartly, 1)
				eq(t, "by label", labelsOf(l), "x=0,3,0 benign=0,1,0")
				eq(t, "flow packets", l.ByLabel[0].FlowPackets, 10)
				eq(t, "flows labelled", l.FlowsLabelled, 3)
				eq(t, "warned", warned(l, "run a has labelled rows but its manifest records no rules"), true)
				eq(t, "text", labelFlowsText(r), "Flows across an edge of their rule's time window (label_packets null: only their packets tell): 1; "+
					"flows only partly matching their rule (label_packets < packets: a rule of one direction): 1.")
			}},
		{name: "two runs, one rules file; another run relabelled with it", runs: []fixtureRun{
			{id: "a", packets: mixed, rules: mixedRules}, {id: "b", packets: mixed, rules: mixedRules},
			{id: "c", packets: mixed, rules: mixedRules, edit: func(m map[string]any) { m["labels"].(map[string]any)["relabelled"] = t0.Add(time.Hour) }}},
			check: func(t *testing.T, r *Report) {
				l := &r.Labels
				eq(t, "rules files", len(l.RulesFiles), 1)
				eq(t, "runs", strings.Join(l.RulesFiles[0].Runs, " "), "a b c")
				eq(t, "relabelled", strings.Join(l.RulesFiles[0].RelabelledRuns, " "), "c")
				eq(t, "different rules", warned(l, "different rules"), false)
				eq(t, "hits add up", hitsOf(l), "web=9,0,6 never=0,0,0 dns-all=0,0,0 dns-lab=12,0,12")
				eq(t, "line", rulesFileLines(l)[0], "Rules file rules.yaml (sha256 "+l.RulesFiles[0].SHA256[:12]+"…), default normal, 4 rules: runs a, b, c (c relabelled with it by tacap label).")
			}},
		{name: "different rules files", runs: []fixtureRun{
			{id: "a", packets: mixed, rules: mixedRules, rulesFile: "one.yaml"},
			{id: "b", packets: mixed, rules: mixedRules + "  - {id: late, label: attack, dst: 10.0.0.3}\n", rulesFile: "two.yaml"}},
			check: func(t *testing.T, r *Report) {
				l := &r.Labels
				eq(t, "rules files", len(l.RulesFiles), 2)
				eq(t, "different rules", warned(l, "runs used different rules: one.yaml (sha256 "), true)
				eq(t, "hits in file order", hitsOf(l), "web=6,0,4 never=0,0,0 dns-all=0,0,0 dns-lab=8,0,8 late=4,0,1")
			}},
		{name: "rules kept unreadable, altered or not at all", runs: []fixtureRun{
			{id: "a", packets: mixed, rules: mixedRules, edit: func(m map[string]any) { m["labels"].(map[string]any)["content"] = "rules: [" }},
			{id: "b", packets: mixed, rules: mixedRules + "# edited\n", edit: func(m map[string]any) { m["labels"].(map[string]any)["sha256"] = "00" }},
			{id: "c", packets: mixed, rules: mixedRules + "# other\n", edit: func(m map[string]any) { delete(m["labels"].(map[string]any), "content") }}},
			check: func(t *testing.T, r *Report) {
				l := &r.Labels
				eq(t, "unreadable", warned(l, "the rules file of run a, as its manifest keeps it, cannot be read"), true)
				eq(t, "altered", warned(l, "the rules file of run b, as its manifest keeps it, does not have the sha256 the manifest gives"), true)
				eq(t, "no content", warned(l, "the manifest of run c does not keep the content of its rules file: its 4 rules are not listed"), true)
				eq(t, "hits: only b's rules listed", hitsOf(l), "web=9,0,6 never=0,0,0 dns-all=0,0,0 dns-lab=12,0,12")
			}},
		{name: "a run without labels beside one with", runs: []fixtureRun{
			{id: "new", packets: mixed, rules: mixedRules}, {id: "old", packets: mixed, noLabelColumns: true}},
			check: func(t *testing.T, r *Report) {
				l := &r.Labels
				eq(t, "runs with labels", l.RunsWithLabels, 1)
				eq(t, "runs without", strings.Join(l.RunsWithoutLabels, " "), "old")
				eq(t, "by label", labelsOf(l), "lab=4,0,4 normal=4,0,1 attack/http_flood=3,0,2 (none)=11,0,7")
				eq(t, "share of all records", l.ByLabel[3].RecordsShare, 0.5)
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, fr := range tc.runs {
				fr.host, fr.iface, fr.start = "h", "eth0", t0
				if fr.sessions == nil && len(fr.packets) > 0 {
					fr.sessions = sessionsOf(fr.packets)
				}
				writeRun(t, dir, fr)
			}
			r, err := Build(Options{Dirs: []string{dir}, Top: 10, Thresholds: DefaultThresholds()})
			if err != nil {
				t.Fatal(err)
			}
			if len(r.Problems) > 0 {
				t.Fatalf("problems: %v", r.Problems)
			}
			validate(t, compileSchema(t), r)
			tc.check(t, r)
		})
	}
}

// TestNoLabelColumns: the fixture of an old dataset really lacks the label
// columns (so the tests above read files without them).
func TestNoLabelColumns(t *testing.T) {
	dir := t.TempDir()
	p := rows(pkt{t: at(0), src: "10.0.0.1", dst: "10.0.0.2", proto: 17, sport: 1, dport: 2, ipLen: 28})
	writeRun(t, dir, fixtureRun{id: "old", host: "h", iface: "eth0", start: t0, packets: p, sessions: sessionsOf(p),
		flows: flowsOf(p, nil, defaultFlows), noLabelColumns: true})
	for _, table := range []string{dataset.PacketsTable, dataset.SessionsTable, dataset.FlowsTable} {
		parts, _ := filepath.Glob(filepath.Join(dir, table, "*", "*", "part-*-old.parquet"))
		if len(parts) != 1 {
			t.Fatalf("%s parts: %v", table, parts)
		}
		f, err := os.Open(parts[0])
		if err != nil {
			t.Fatal(err)
		}
		st, _ := f.Stat()
		pf, err := parquet.OpenFile(f, st.Size())
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []string{"label", "attack", "label_rule", "label_packets"} {
			if _, ok := pf.Schema().Lookup(c); ok {
				t.Errorf("%s: column %s", parts[0], c)
			}
		}
		if _, ok := pf.Schema().Lookup("src_ip"); !ok || pf.NumRows() != 1 {
			t.Errorf("%s: %d rows, src_ip %v", parts[0], pf.NumRows(), ok)
		}
		f.Close()
	}
	r := build(t, dir)
	if len(r.Problems) > 0 || r.Traffic.Records != 1 || r.Flows.Flows != 1 || r.Labels.RunsWithLabels != 0 {
		t.Fatalf("problems %v, %d records, %d flows, %d runs with labels", r.Problems, r.Traffic.Records, r.Flows.Flows, r.Labels.RunsWithLabels)
	}
}

// TestLabelledEvidence: each indicator kind's evidence rows, held against
// rules that label some attacks and miss others.
func TestLabelledEvidence(t *testing.T) {
	dir := t.TempDir()
	var ps []pkt
	for i := 0; i < 600; i++ {
		src := fmt.Sprintf("198.19.%d.%d", i/250, i%250+1)
		ps = append(ps,
			pkt{t: at(i), src: src, dst: "198.18.1.1", proto: 6, sport: int32(1024 + i), dport: 80, flags: flagSYN, ipLen: 40},
			pkt{t: at(i), src: src, dst: "198.18.1.2", proto: 6, sport: 80, dport: int32(1024 + i), flags: flagSYN | flagACK, ipLen: 40},
			pkt{t: at(i), src: src, dst: "198.18.1.3", proto: 17, sport: 53, dport: 4444, ipLen: 1400, payload: 1372},
			pkt{t: at(i), src: src, dst: "198.18.1.3", proto: 17, sport: 123, dport: 4444, ipLen: 468, payload: 440},
			pkt{t: at(i), src: src, dst: "198.18.1.4", proto: 1, icmpType: 8, ipLen: 84},
			pkt{t: at(i), src: "198.18.0.66", dst: "198.18.1.5", proto: 6, sport: 999, dport: int32(1 + i), flags: flagSYN, ipLen: 40})
	}
	for i := 0; i < 100; i++ {
		ps = append(ps, handshake(i*10, "198.18.0.7", int32(30000+i), "198.18.1.6", 80)...)
	}
	// Benign SYNs to the flooded port from elsewhere, and its other port.
	for i := 0; i < 50; i++ {
		ps = append(ps, pkt{t: at(700 + i), src: "198.18.0.8", dst: "198.18.1.6", proto: 6, sport: int32(20000 + i), dport: 80, flags: flagSYN, ipLen: 40},
			pkt{t: at(700 + i), src: "198.18.0.8", dst: "198.18.1.6", proto: 6, sport: int32(21000 + i), dport: 8080, flags: flagSYN, ipLen: 40})
	}
	p := rows(ps...)
	const rules = `rules:
  - {id: syn, label: ddos, attack: syn_flood, dst: 198.18.1.1}
  - {id: refl, label: ddos, attack: tcp_reflection, dst: 198.18.1.2}
  - {id: dns, label: ddos, attack: dns_amplification, dst: 198.18.1.3, proto: udp, sport: 53}
  - {id: icmp, label: ddos, attack: icmp_flood, dst: 198.18.1.4, proto: icmp}
  - {id: scan, label: recon, attack: port_scan, src: 198.18.0.66, both_directions: false}
  - {id: conn, label: ddos, attack: connection_flood, src: 198.18.0.7, dst: 198.18.1.6, dport: 80, both_directions: false}
`
	writeRun(t, dir, fixtureRun{id: "r", host: "h", iface: "eth0", start: t0, packets: p, sessions: sessionsOf(p), rules: rules})
	r, err := Build(Options{Dirs: []string{dir}, Top: 50, Thresholds: DefaultThresholds()})
	if err != nil {
		t.Fatal(err)
	}
	validate(t, compileSchema(t), r)
	got := map[string]string{}
	for _, e := range r.Labels.Indicators {
		got[e.Kind+" "+e.Target] = fmt.Sprintf("%d/%d %s %d %v", e.Labelled, e.Records, labelAttackText(e.Label, e.Attack), e.LabelRecords, e.MostlyDefault)
	}
	for k, want := range map[string]string{
		"syn_flood 198.18.1.1":                    "600/600 ddos/syn_flood 600 false",
		"syn_flood 198.18.1.5":                    "600/600 recon/port_scan 600 false", // the scan's SYNs
		"tcp_reflection 198.18.1.2":               "600/600 ddos/tcp_reflection 600 false",
		"amplification 198.18.1.3 (DNS, udp/53)":  "600/600 ddos/dns_amplification 600 false",
		"amplification 198.18.1.3 (NTP, udp/123)": "0/600 (none) 0 true", // no rule for NTP
		"udp_flood 198.18.1.3":                    "600/1200 ddos/dns_amplification 600 false",
		"icmp_flood 198.18.1.4":                   "600/600 ddos/icmp_flood 600 false",
		"port_scan 198.18.0.66":                   "600/600 recon/port_scan 600 false",
		"connection_flood 198.18.1.6 tcp/80":      "100/150 ddos/connection_flood 100 false", // and 198.18.0.8's 50 SYNs
		"many_to_one 198.18.1.1":                  "600/600 ddos/syn_flood 600 false",
		"many_to_one 198.18.1.3":                  "600/1200 ddos/dns_amplification 600 false",
	} {
		if got[k] != want {
			t.Errorf("%s: %q, want %q", k, got[k], want)
		}
	}
	if len(got) != len(r.Indicators) {
		t.Errorf("%d evidence entries for %d indicators: %v", len(got), len(r.Indicators), got)
	}
	lines := strings.Join(evidenceLines(&r.Labels), "\n")
	for _, want := range []string{
		"amplification 198.18.1.3 (NTP, udp/123): evidence on unlabelled traffic — the rules may miss this attack (0.0 % of its 600 evidence rows, UDP from the service port to it, labelled other than the default)",
		"syn_flood 198.18.1.1 — 100.0 % of its 600 evidence rows (TCP SYNs to it) labelled ddos/syn_flood",
		"connection_flood 198.18.1.6 tcp/80 — 66.7 % of its 150 evidence rows (TCP SYNs to its port) labelled ddos/connection_flood",
	} {
		if !strings.Contains(lines, want) {
			t.Errorf("evidence lines lack %q:\n%s", want, lines)
		}
	}
}

// TestSpreadNulls: a nullable column's values land on the rows whose
// definition level is 1.
func TestSpreadNulls(t *testing.T) {
	for _, tc := range []struct {
		before []int64 // earlier pages' values
		values []int64 // this page's non-null values
		levels []byte
		want   []int64
		err    bool
	}{
		{nil, []int64{1, 2, 3}, nil, []int64{1, 2, 3}, false},
		{nil, []int64{1, 2, 3}, []byte{1, 1, 1}, []int64{1, 2, 3}, false},
		{nil, []int64{7}, []byte{0, 1, 0}, []int64{nullInt64, 7, nullInt64}, false},
		{[]int64{5}, []int64{7, 8}, []byte{1, 0, 0, 1}, []int64{5, 7, nullInt64, nullInt64, 8}, false},
		{nil, nil, []byte{0, 0}, []int64{nullInt64, nullInt64}, false},
		{nil, []int64{1}, []byte{1, 1}, nil, true},
		{nil, []int64{1}, []byte{2}, nil, true},
	} {
		dst := append(slices.Clone(tc.before), tc.values...)
		got, err := spreadNulls(dst, len(tc.before), tc.levels)
		if (err != nil) != tc.err || (!tc.err && !slices.Equal(got, tc.want)) {
			t.Errorf("spreadNulls(%v+%v, %v) = %v, %v; want %v (error %v)", tc.before, tc.values, tc.levels, got, err, tc.want, tc.err)
		}
	}
}
