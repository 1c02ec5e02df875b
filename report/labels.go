package report

import (
	"fmt"
	"sort"
	"strings"

	"github.com/tacap/tacap/labels"
)

// The label columns (label, attack, label_rule; docs/dataset.md, "Labels")
// are dictionary strings of a handful of values, interned like addresses.
// Rows come in long runs of one (label, attack, rule) — a flood's rows,
// every benign row — so each batch is added up per combination: the
// combination is looked up (a small cache, then a map) only when it
// changes, and a row costs three comparisons and an increment.
//
// For the attack indicators, the rows labelled other than their run's
// default are also added up by where they went (their destination, and
// for probes their source), by the kind of traffic an indicator counts
// and by combination; the rows of each kind in all (the denominators) are
// the aggregator's own counters, but for the TCP SYNs per destination and
// port, counted here. Labelled rows of an attack often alternate between
// a few keys (a reflector's requests and responses, both directions of a
// connection), so the counts go through a small direct-mapped cache of
// pending counts (evCache) before the map. At the end, each indicator's
// evidence (the rows it is about, evidenceRef) is looked up in both.
//
// Packets batches are added by a goroutine of its own beside addVolume and
// addRelations (labelState is touched by nothing else meanwhile); sessions
// and flows batches by addSessions and addFlows.

// What an evidence row is, for evKey.kind and evidenceRef.kind.
const (
	evOther   uint8 = iota // a row to the destination of no kind below
	evSYN                  // TCP SYN without ACK to the destination; port: its destination port
	evSYNACK               // TCP SYN-ACK to the destination
	evUDP                  // UDP to the destination; port: its source port when a reflection service's (ampPorts), else 0
	evICMP                 // ICMP or ICMPv6 to the destination
	evProbe                // a probe the source sent (TCP SYN; UDP towards a lower port): keyed by the source
	evAny                  // (evidenceRef only) every row to the destination: every kind but evProbe
	evSYNRows              // (evKey only, combo -1) every TCP SYN row to the destination and port, labelled or not
)

// evidenceRef names an indicator's evidence rows: those of kind to (or, for
// evProbe, from) addr, and when byPort, of that port only.
type evidenceRef struct {
	kind   uint8
	addr   uint32
	port   uint16
	byPort bool
	set    bool // the indicator has evidence rows (every kind does)
}

// comboKey is a run's combination of label, attack and rule (interned).
type comboKey struct {
	run                 int32
	label, attack, rule uint32
}

// labelCombo adds up one combination's rows of each table.
type labelCombo struct {
	comboKey
	labelled                     bool // label is neither "" nor its run's default
	records, sessions, flows     uint64
	flowPackets                  uint64 // Σ fwd_packets + bwd_packets
	flowsStraddling, flowsPartly uint64 // flows with a rule: label_packets null; < packets
}

type comboSlot struct {
	k   comboKey
	idx int32
	ok  bool
}

// evKey is labelled rows of one combination by where they went.
type evKey struct {
	addr  uint32
	combo int32
	port  uint16
	kind  uint8
}

// evSlot is a pending count of key k (none when n is 0).
type evSlot struct {
	k evKey
	n uint64
}

const evCacheBits = 12

// runLabels is what the report knows of a run's labels before its rows.
type runLabels struct {
	def    uint32 // its default label (interned), when hasDef
	hasDef bool   // its manifest names the default; else a row is labelled when a rule won it
}

type labelState struct {
	empty  uint32 // the ID of ""
	runs   []runLabels
	combos map[comboKey]int32 // → index into list
	list   []labelCombo
	cache  [64]comboSlot
	// evidence: some run's manifest keeps labels (or some run has no
	// manifest), so the indicators' evidence is looked into: ev is kept.
	evidence bool
	ev       map[evKey]uint64 // see flushEv
	evCache  *[1 << evCacheBits]evSlot
	blank    []uint32 // IDs of "", for a label column a file lacks beside others it has
}

// newLabelState prepares the label state of runs (interning their default
// labels before any file is read).
func newLabelState(names *interner, runs []*run) *labelState {
	ls := &labelState{empty: names.id(""), combos: map[comboKey]int32{}, ev: map[evKey]uint64{}, evCache: new([1 << evCacheBits]evSlot)}
	ls.runs = make([]runLabels, len(runs))
	for i, r := range runs {
		if m := r.manifest; m != nil && m.Labels != nil {
			ls.runs[i] = runLabels{def: names.id(m.Labels.Default), hasDef: true}
			ls.evidence = true
		} else if m == nil {
			// A run without manifest (a killed capture) may have labelled
			// rows; its default is unknown.
			ls.evidence = true
		}
	}
	return ls
}

// combo is the index of a run's combination in list, made on first use.
func (ls *labelState) combo(run int32, label, attack, rule uint32) int32 {
	k := comboKey{run, label, attack, rule}
	h := (uint64(label)*0x9E3779B97F4A7C15 ^ uint64(attack)*0xC2B2AE3D27D4EB4F ^ uint64(rule)*0x165667B19E3779F9 ^ uint64(run)) >> 58
	slot := &ls.cache[h]
	if slot.ok && slot.k == k {
		return slot.idx
	}
	idx, ok := ls.combos[k]
	if !ok {
		idx = int32(len(ls.list))
		rl := ls.runs[run]
		labelled := label != ls.empty
		if rl.hasDef {
			labelled = labelled && label != rl.def
		} else {
			labelled = labelled && rule != ls.empty
		}
		ls.list = append(ls.list, labelCombo{comboKey: k, labelled: labelled})
		ls.combos[k] = idx
	}
	*slot = comboSlot{k, idx, true}
	return idx
}

// count adds a row of key k.
func (ls *labelState) count(k evKey) {
	h := (uint64(k.addr)<<32 | uint64(uint32(k.combo))) ^ (uint64(k.port)<<8|uint64(k.kind))*0x9E3779B97F4A7C15
	s := &ls.evCache[(h*0xC2B2AE3D27D4EB4F)>>(64-evCacheBits)]
	if s.n > 0 && s.k == k {
		s.n++
		return
	}
	if s.n > 0 {
		ls.ev[s.k] += s.n
	}
	*s = evSlot{k, 1}
}

// flushEv moves the pending counts into ev (before it is read).
func (ls *labelState) flushEv() {
	for i := range ls.evCache {
		if s := &ls.evCache[i]; s.n > 0 {
			ls.ev[s.k] += s.n
			s.n = 0
		}
	}
}

// unlabelled is the combination of a run's rows that carry no label.
func (ls *labelState) unlabelled(run int32) *labelCombo {
	return &ls.list[ls.combo(run, ls.empty, ls.empty, ls.empty)]
}

// column is column i of b, or IDs of "" when the file lacks it.
func (ls *labelState) column(b *batch, i int) []uint32 {
	if !b.absent[i] {
		return b.str[i]
	}
	for len(ls.blank) < b.rows {
		ls.blank = append(ls.blank, ls.empty)
	}
	return ls.blank[:b.rows]
}

// comboCursor gives the combo of each row of a batch, looking it up only
// when (label, attack, rule) changes from the row before: rows come in
// runs of equal labels.
type comboCursor struct {
	ls            *labelState
	run           int32
	lab, att, rul []uint32
	l, a, r       uint32
	idx           int32
	started       bool
}

func (ls *labelState) cursor(run int32, lab, att, rul []uint32) comboCursor {
	return comboCursor{ls: ls, run: run, lab: lab, att: att, rul: rul}
}

// at is row i's combo index.
func (cc *comboCursor) at(i int) int32 {
	if l, a, r := cc.lab[i], cc.att[i], cc.rul[i]; !cc.started || l != cc.l || a != cc.a || r != cc.r {
		cc.l, cc.a, cc.r, cc.started = l, a, r, true
		cc.idx = cc.ls.combo(cc.run, l, a, r)
	}
	return cc.idx
}

// addPackets adds one batch of packets/ rows of run.
func (ls *labelState) addPackets(b *batch, run int32) {
	if b.absent[pLabel] {
		ls.unlabelled(run).records += uint64(b.rows)
		if ls.evidence {
			ls.addSYNs(b)
		}
		return
	}
	cur := ls.cursor(run, b.str[pLabel], ls.column(b, pAttack), ls.column(b, pLabelRule))
	if !ls.evidence {
		for i := 0; i < b.rows; i++ {
			ls.list[cur.at(i)].records++
		}
		return
	}
	src, dst := b.str[pSrcIP], b.str[pDstIP]
	proto, flags := b.i32[pProtocol], b.i32[pTCPFlags]
	sport, dport := b.i32[pSrcPort], b.i32[pDstPort]
	for i := 0; i < b.rows; i++ {
		idx := cur.at(i)
		c := &ls.list[idx]
		c.records++
		p := proto[i]
		isSYN := p == 6 && flags[i]&(flagSYN|flagACK) == flagSYN
		if isSYN {
			ls.count(evKey{dst[i], -1, uint16(dport[i]), evSYNRows})
		}
		if !c.labelled {
			continue
		}
		kind, port := evOther, uint16(0)
		switch p {
		case 6:
			switch flags[i] & (flagSYN | flagACK) {
			case flagSYN:
				kind, port = evSYN, uint16(dport[i])
			case flagSYN | flagACK:
				kind = evSYNACK
			}
		case 17:
			kind = evUDP
			if sp := sport[i]; sp > 0 && sp < 65536 && isAmpPort[sp] {
				port = uint16(sp)
			}
		case 1, 58:
			kind = evICMP
		}
		ls.count(evKey{dst[i], idx, port, kind})
		if isSYN || (p == 17 && dport[i] < sport[i]) {
			ls.count(evKey{src[i], idx, 0, evProbe})
		}
	}
}

// addSYNs counts the TCP SYN rows of a batch without label columns per
// destination and port (the denominators of connection floods).
func (ls *labelState) addSYNs(b *batch) {
	dst, proto, flags, dport := b.str[pDstIP], b.i32[pProtocol], b.i32[pTCPFlags], b.i32[pDstPort]
	for i := 0; i < b.rows; i++ {
		if proto[i] == 6 && flags[i]&(flagSYN|flagACK) == flagSYN {
			ls.count(evKey{dst[i], -1, uint16(dport[i]), evSYNRows})
		}
	}
}

// addSessions adds one batch of sessions/ rows of run.
func (ls *labelState) addSessions(b *batch, run int32) {
	if b.absent[fLabel] {
		ls.unlabelled(run).sessions += uint64(b.rows)
		return
	}
	cur := ls.cursor(run, b.str[fLabel], ls.column(b, fAttack), ls.column(b, fLabelRule))
	for i := 0; i < b.rows; i++ {
		ls.list[cur.at(i)].sessions++
	}
}

// addFlows adds one batch of flows/ rows of run.
func (ls *labelState) addFlows(b *batch, run int32) {
	fwdP, bwdP := b.i64[flFwdPackets], b.i64[flBwdPackets]
	if b.absent[flLabel] {
		c := ls.unlabelled(run)
		c.flows += uint64(b.rows)
		for i := 0; i < b.rows; i++ {
			c.flowPackets += nonNeg(fwdP[i]) + nonNeg(bwdP[i])
		}
		return
	}
	rul := ls.column(b, flLabelRule)
	cur := ls.cursor(run, b.str[flLabel], ls.column(b, flAttack), rul)
	var lp []int64 // nil: the file has no label_packets
	if !b.absent[flLabelPackets] {
		lp = b.i64[flLabelPackets]
	}
	for i := 0; i < b.rows; i++ {
		c := &ls.list[cur.at(i)]
		r := rul[i]
		pk := nonNeg(fwdP[i]) + nonNeg(bwdP[i])
		c.flows++
		c.flowPackets += pk
		if lp == nil || r == ls.empty {
			continue
		}
		switch n := lp[i]; {
		case n < 0: // null
			c.flowsStraddling++
		case uint64(n) < pk:
			c.flowsPartly++
		}
	}
}

// evidenceOf is the description of each kind's evidence rows.
var evidenceOf = map[string]string{
	"syn_flood":        "TCP SYNs to it",
	"udp_flood":        "UDP to it",
	"icmp_flood":       "ICMP to it",
	"tcp_reflection":   "SYN-ACKs to it",
	"many_to_one":      "every record to it",
	"port_scan":        "the probes it sent",
	"amplification":    "UDP from the service port to it",
	"connection_flood": "TCP SYNs to its port",
}

// evidenceTotal is the number of rows of an indicator's evidence, from
// the aggregator's counters (every row, labelled or not).
func (a *aggregator) evidenceTotal(e evidenceRef) uint64 {
	v, r := &a.vol, &a.rel
	if int(e.addr) >= len(v.addrs) || int(e.addr) >= len(r.addrs) {
		return 0
	}
	va, ra := &v.addrs[e.addr], &r.addrs[e.addr]
	var vd *volDest
	if va.dest >= 0 {
		vd = &v.dests[va.dest]
	}
	var rd *relDest
	if ra.dest >= 0 {
		rd = &r.dests[ra.dest]
	}
	switch {
	case e.kind == evAny:
		return va.dstRecords
	case e.kind == evProbe:
		return ra.synOut + ra.udpProbes
	case e.kind == evSYN && e.byPort:
		return a.lab.ev[evKey{e.addr, -1, e.port, evSYNRows}]
	case e.kind == evSYN && rd != nil:
		return rd.synIn
	case e.kind == evSYNACK && rd != nil:
		return rd.synAckIn
	case e.kind == evUDP && e.byPort:
		if st := v.ampResp[ampKey{e.addr, e.port}]; st != nil {
			return st.rows
		}
	case e.kind == evUDP && vd != nil:
		return vd.udpRows
	case e.kind == evICMP && vd != nil:
		return vd.icmpRows
	}
	return 0
}

// holds says whether labelled rows of key k are evidence e.
func (e evidenceRef) holds(k evKey) bool {
	if k.addr != e.addr || k.combo < 0 {
		return false
	}
	switch e.kind {
	case evAny:
		return k.kind != evProbe
	case k.kind:
		return !e.byPort || k.port == e.port
	}
	return false
}

type labelAttack struct{ label, attack string }

// labelsReport is the labels section of runs; order lists their indices
// in the order of rep.Runs, and rep's traffic, flows and indicators are
// done.
func (a *aggregator) labelsReport(runs []*run, order []int, rep *Report) Labels {
	ls, names := a.lab, a.names.names
	out := Labels{RunsWithoutLabels: []string{}, RulesFiles: []RulesFile{}, ByLabel: []LabelCount{}, RuleHits: []RuleHit{},
		Indicators: []LabelledEvidence{}, Warnings: []string{}}
	// Which runs have labels: rules in the manifest, or a labelled row.
	has := make([]bool, len(runs))
	for i, r := range runs {
		has[i] = r.manifest != nil && r.manifest.Labels != nil
	}
	for _, c := range ls.list {
		if c.label != ls.empty && c.records+c.sessions+c.flows > 0 {
			has[c.run] = true
		}
	}
	for _, i := range order {
		if has[i] {
			out.RunsWithLabels++
		} else {
			out.RunsWithoutLabels = append(out.RunsWithoutLabels, runs[i].id)
		}
	}
	if out.RunsWithLabels == 0 {
		return out
	}

	// The rules files, in the order of the runs (rep.Runs), and their rules.
	type fileRules struct {
		info  *RulesFile
		rules []labels.Rule
	}
	var files []*fileRules
	byFile := map[string]*fileRules{}
	for _, i := range order {
		r := runs[i]
		if r.manifest == nil || r.manifest.Labels == nil {
			if has[i] {
				if r.manifest == nil {
					out.Warnings = append(out.Warnings, fmt.Sprintf("run %s has labelled rows but no manifest: its rules and default label are unknown "+
						"(a row counts as labelled when a rule won it)", r.id))
				} else {
					out.Warnings = append(out.Warnings, fmt.Sprintf("run %s has labelled rows but its manifest records no rules: its default label is unknown "+
						"(a row counts as labelled when a rule won it)", r.id))
				}
			}
			continue
		}
		li := r.manifest.Labels
		key := li.SHA256 + "\x00" + li.Default
		f := byFile[key]
		if f == nil {
			f = &fileRules{info: &RulesFile{File: li.File, SHA256: li.SHA256, Default: li.Default, Rules: li.Rules, Runs: []string{}, RelabelledRuns: []string{}}}
			byFile[key] = f
			files = append(files, f)
			switch {
			case li.Content != "":
				rs, err := labels.Parse(firstNonEmpty(li.File, "rules"), []byte(li.Content))
				switch {
				case err != nil:
					out.Warnings = append(out.Warnings, fmt.Sprintf("the rules file of run %s, as its manifest keeps it, cannot be read (%v): its rules are not listed", r.id, err))
				case li.SHA256 != "" && rs.SHA256 != li.SHA256:
					out.Warnings = append(out.Warnings, fmt.Sprintf("the rules file of run %s, as its manifest keeps it, does not have the sha256 the manifest gives: "+
						"its rules are listed as kept", r.id))
					f.rules = rs.Rules
				default:
					f.rules = rs.Rules
				}
			case li.Rules > 0:
				out.Warnings = append(out.Warnings, fmt.Sprintf("the manifest of run %s does not keep the content of its rules file: its %s are not listed", r.id, plural(li.Rules, "rule")))
			}
		}
		f.info.Runs = append(f.info.Runs, r.id)
		if li.Relabelled != nil {
			f.info.RelabelledRuns = append(f.info.RelabelledRuns, r.id)
		}
	}
	for _, f := range files {
		out.RulesFiles = append(out.RulesFiles, *f.info)
	}
	if len(files) > 1 {
		var list []string
		for _, f := range files {
			list = append(list, fmt.Sprintf("%s in %s", rulesFileName(f.info), runsText(f.info.Runs)))
		}
		out.Warnings = append(out.Warnings, fmt.Sprintf("runs used different rules: %s; the hits of a rule add up those of its id in every file", strings.Join(list, "; ")))
	}

	// By label and attack, and by rule.
	byLabel := map[labelAttack]*LabelCount{}
	type ruleTally struct {
		hit     RuleHit
		byLabel map[labelAttack]uint64
	}
	byRule := map[string]*ruleTally{}
	for _, c := range ls.list {
		k := labelAttack{names[c.label], names[c.attack]}
		lc := byLabel[k]
		if lc == nil {
			lc = &LabelCount{Label: k.label, Attack: k.attack}
			byLabel[k] = lc
		}
		lc.Records += c.records
		lc.Flows += c.flows
		lc.FlowPackets += c.flowPackets
		lc.Sessions += c.sessions
		if c.labelled {
			out.RecordsLabelled += c.records
			out.FlowsLabelled += c.flows
		}
		out.FlowsStraddling += c.flowsStraddling
		out.FlowsPartly += c.flowsPartly
		if c.rule == ls.empty {
			continue
		}
		rt := byRule[names[c.rule]]
		if rt == nil {
			rt = &ruleTally{hit: RuleHit{Rule: names[c.rule]}, byLabel: map[labelAttack]uint64{}}
			byRule[names[c.rule]] = rt
		}
		rt.hit.Records += c.records
		rt.hit.Flows += c.flows
		rt.hit.Sessions += c.sessions
		rt.byLabel[k] += c.records + c.flows + c.sessions
	}
	records, flows := rep.Traffic.Records, rep.Flows.Flows
	out.RecordsLabelledShare, out.FlowsLabelledShare = share(out.RecordsLabelled, records), share(out.FlowsLabelled, flows)
	for _, lc := range byLabel {
		if lc.Records+lc.Flows+lc.Sessions == 0 {
			continue
		}
		lc.RecordsShare, lc.FlowsShare = share(lc.Records, records), share(lc.Flows, flows)
		out.ByLabel = append(out.ByLabel, *lc)
	}
	sort.Slice(out.ByLabel, func(i, j int) bool {
		x, y := &out.ByLabel[i], &out.ByLabel[j]
		switch {
		case (x.Label == "") != (y.Label == ""): // rows without a label last
			return y.Label == ""
		case x.Records != y.Records:
			return x.Records > y.Records
		case x.Flows != y.Flows:
			return x.Flows > y.Flows
		case x.Sessions != y.Sessions:
			return x.Sessions > y.Sessions
		case x.Label != y.Label:
			return x.Label < y.Label
		}
		return x.Attack < y.Attack
	})

	// The rules of the files in file order, then those only seen in rows.
	listed := map[string]bool{}
	for _, f := range files {
		for _, rule := range f.rules {
			if listed[rule.ID] {
				continue
			}
			listed[rule.ID] = true
			h := RuleHit{Rule: rule.ID, Label: rule.Label, Attack: rule.Attack, InRulesFile: true}
			if rt := byRule[rule.ID]; rt != nil {
				h.Records, h.Flows, h.Sessions = rt.hit.Records, rt.hit.Flows, rt.hit.Sessions
			}
			out.RuleHits = append(out.RuleHits, h)
			if h.Records+h.Flows+h.Sessions == 0 {
				out.Warnings = append(out.Warnings, fmt.Sprintf("rule %s labelled nothing — check its addresses, ports and window "+
					"(it matched nothing or was always overridden by a later rule)", rule.ID))
			}
		}
	}
	var unlisted []string
	for id := range byRule {
		if !listed[id] {
			unlisted = append(unlisted, id)
		}
	}
	sort.Strings(unlisted)
	for _, id := range unlisted {
		rt := byRule[id]
		var best labelAttack
		var most uint64
		for k, n := range rt.byLabel {
			if n > most || (n == most && (k.label < best.label || (k.label == best.label && k.attack < best.attack))) {
				best, most = k, n
			}
		}
		rt.hit.Label, rt.hit.Attack = best.label, best.attack
		out.RuleHits = append(out.RuleHits, rt.hit)
	}

	out.Indicators = a.labelledEvidence(rep.Indicators)
	return out
}

// labelledEvidence says, for each indicator, how its evidence rows are
// labelled; none when no manifest keeps labels (nothing was kept).
func (a *aggregator) labelledEvidence(ins []Indicator) []LabelledEvidence {
	ls, names := a.lab, a.names.names
	out := []LabelledEvidence{}
	if !ls.evidence {
		return out
	}
	ls.flushEv()
	byAddr := map[uint32][]int{}
	for i, in := range ins {
		if in.ev.set {
			byAddr[in.ev.addr] = append(byAddr[in.ev.addr], i)
		}
	}
	counts := make([]map[labelAttack]uint64, len(ins))
	for k, n := range ls.ev {
		for _, i := range byAddr[k.addr] {
			if !ins[i].ev.holds(k) {
				continue
			}
			if counts[i] == nil {
				counts[i] = map[labelAttack]uint64{}
			}
			c := &ls.list[k.combo]
			counts[i][labelAttack{names[c.label], names[c.attack]}] += n
		}
	}
	for i, in := range ins {
		if !in.ev.set {
			continue
		}
		e := LabelledEvidence{Kind: in.Kind, Target: in.Target, Evidence: evidenceOf[in.Kind], Records: a.evidenceTotal(in.ev)}
		var best labelAttack
		for k, n := range counts[i] {
			e.Labelled += n
			if n > e.LabelRecords || (n == e.LabelRecords && (k.label < best.label || (k.label == best.label && k.attack < best.attack))) {
				best, e.LabelRecords = k, n
			}
		}
		e.Records = max(e.Records, e.Labelled) // never less than its labelled part
		e.Label, e.Attack = best.label, best.attack
		e.LabelledShare, e.LabelShare = share(e.Labelled, e.Records), share(e.LabelRecords, e.Records)
		e.MostlyDefault = e.Records > 0 && 2*e.Labelled < e.Records
		out = append(out, e)
	}
	return out
}

// rulesFileName names a rules file in a sentence.
func rulesFileName(f *RulesFile) string {
	if f.SHA256 == "" {
		return fmt.Sprintf("no rules file (default %s)", f.Default)
	}
	sum := f.SHA256
	if len(sum) > 12 {
		sum = sum[:12] + "…"
	}
	return fmt.Sprintf("%s (sha256 %s)", firstNonEmpty(f.File, "a rules file"), sum)
}

// The labels section's sentences and cells, shared by every format.

// labelsText says what the labels cover, or that there are none.
func labelsText(r *Report) string {
	l := &r.Labels
	if l.RunsWithLabels == 0 {
		return "No labels in these runs: no manifest keeps a rules file and no row carries a label " +
			"(a dataset written before tacap labelled traffic has no label columns)."
	}
	s := fmt.Sprintf("Labels of %s: %d of %d records (%s)", plural(l.RunsWithLabels, "run"), l.RecordsLabelled, r.Traffic.Records, pct(l.RecordsLabelledShare))
	if r.Flows.Runs > 0 {
		s += fmt.Sprintf(" and %d of %d flows (%s)", l.FlowsLabelled, r.Flows.Flows, pct(l.FlowsLabelledShare))
	}
	return s + " are labelled other than their run's default label."
}

// rulesFileLines says which rules labelled which runs.
func rulesFileLines(l *Labels) []string {
	var lines []string
	for i := range l.RulesFiles {
		f := &l.RulesFiles[i]
		var s string
		if f.SHA256 == "" {
			s = fmt.Sprintf("No rules file: every row of %s is labelled %s.", runsText(f.Runs), f.Default)
		} else {
			s = fmt.Sprintf("Rules file %s, default %s, %s: %s", rulesFileName(f), f.Default, plural(f.Rules, "rule"), runsText(f.Runs))
			switch n := len(f.RelabelledRuns); {
			case n > 0 && n == len(f.Runs):
				s += " (relabelled with it by tacap label)"
			case n > 0:
				s += fmt.Sprintf(" (%s relabelled with it by tacap label)", strings.Join(f.RelabelledRuns, ", "))
			}
			s += "."
		}
		lines = append(lines, s)
	}
	if n := len(l.RunsWithoutLabels); n > 0 {
		its := "its"
		if n > 1 {
			its = "their"
		}
		lines = append(lines, fmt.Sprintf("No labels in %s (written before tacap labelled traffic, or killed before it wrote a manifest): "+
			"%s rows count as without a label, (none).", runsText(l.RunsWithoutLabels), its))
	}
	return lines
}

func runsText(ids []string) string {
	if len(ids) == 1 {
		return "run " + ids[0]
	}
	return "runs " + listOrNone(ids)
}

func labelText(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// labelAttackText is "label/attack", or the label alone without an attack.
func labelAttackText(label, attack string) string {
	if attack == "" {
		return labelText(label)
	}
	return labelText(label) + "/" + attack
}

// labelsGrid is the rows of each label and attack.
func labelsGrid(r *Report) grid {
	g := grid{Header: []string{"label", "attack", "records", "share", "flows", "share", "flow packets", "sessions"}, Right: numbersAfter(2, 8)}
	for _, c := range r.Labels.ByLabel {
		g.Rows = append(g.Rows, []string{labelText(c.Label), firstNonEmpty(c.Attack, "-"), u(c.Records), pct(c.RecordsShare), u(c.Flows), pct(c.FlowsShare),
			u(c.FlowPackets), u(c.Sessions)})
	}
	return g
}

// ruleHitsGrid is what each rule labelled.
func ruleHitsGrid(l *Labels) grid {
	g := grid{Header: []string{"rule", "label", "attack", "records", "flows", "sessions"}, Right: numbersAfter(3, 6)}
	for _, h := range l.RuleHits {
		g.Rows = append(g.Rows, []string{h.Rule, labelText(h.Label), firstNonEmpty(h.Attack, "-"), u(h.Records), u(h.Flows), u(h.Sessions)})
	}
	return g
}

// unlistedRulesNote names the rules seen in rows that no manifest's rules
// file lists.
func unlistedRulesNote(l *Labels) string {
	var ids []string
	for _, h := range l.RuleHits {
		if !h.InRulesFile {
			ids = append(ids, h.Rule)
		}
	}
	if len(ids) == 0 {
		return ""
	}
	return fmt.Sprintf("Not in any manifest's rules file, only seen in rows: %s.", listOrNone(ids))
}

// labelFlowsText counts the flows whose rule does not cover them whole.
func labelFlowsText(r *Report) string {
	if r.Flows.Runs == 0 || r.Labels.RunsWithLabels == 0 {
		return ""
	}
	l := &r.Labels
	return fmt.Sprintf("Flows across an edge of their rule's time window (label_packets null: only their packets tell): %d; "+
		"flows only partly matching their rule (label_packets < packets: a rule of one direction): %d.", l.FlowsStraddling, l.FlowsPartly)
}

// evidenceLines say, for each indicator, whether its evidence is labelled.
func evidenceLines(l *Labels) []string {
	var lines []string
	for _, e := range l.Indicators {
		what := fmt.Sprintf("%s %s", e.Kind, e.Target)
		switch {
		case e.Records == 0:
			lines = append(lines, fmt.Sprintf("%s: no recorded rows of its evidence (%s) to hold against the labels", what, e.Evidence))
		case e.MostlyDefault:
			lines = append(lines, fmt.Sprintf("%s: evidence on unlabelled traffic — the rules may miss this attack (%s of its %d evidence rows, %s, "+
				"labelled other than the default)", what, pct(e.LabelledShare), e.Records, e.Evidence))
		default:
			line := fmt.Sprintf("%s — %s of its %d evidence rows (%s) labelled %s", what, pct(e.LabelShare), e.Records, e.Evidence, labelAttackText(e.Label, e.Attack))
			if e.Labelled > e.LabelRecords {
				line += fmt.Sprintf("; %s labelled other than the default in all", pct(e.LabelledShare))
			}
			lines = append(lines, line)
		}
	}
	return lines
}

const evidenceIntro = "The attack indicators against the labels (evidence rows labelled other than their run's default):"

const labelsLegend = "records: rows of packets/; flows: rows of flows/, flow packets: Σ fwd_packets + bwd_packets of those flows " +
	"(every packet seen, recorded or not); sessions: rows of sessions/; shares are of all the records or flows read; (none): rows without a label. " +
	"A rule's hits are the rows whose label_rule it is: the last rule that matches a row labels it."

// labelsSummary is the summary's line on labels; "" without labels.
func labelsSummary(r *Report) string {
	l := &r.Labels
	if l.RunsWithLabels == 0 {
		return ""
	}
	line := fmt.Sprintf("labels: %d of %d records (%s) labelled other than the default", l.RecordsLabelled, r.Traffic.Records, pct(l.RecordsLabelledShare))
	idle := 0
	for _, h := range l.RuleHits {
		if h.InRulesFile && h.Records+h.Flows+h.Sessions == 0 {
			idle++
		}
	}
	if idle > 0 {
		line += fmt.Sprintf("; %s labelled nothing", plural(idle, "rule"))
	}
	missed := 0
	for _, e := range l.Indicators {
		if e.MostlyDefault {
			missed++
		}
	}
	if missed > 0 {
		line += fmt.Sprintf("; the evidence of %s is on unlabelled traffic", plural(missed, "attack indicator"))
	}
	return line + " (see Labels)"
}
