package dataset

import (
	"fmt"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// These tests hold docs/dataset.md, the contract, to the types of this
// package: a column, Parquet type, manifest field or counter that the code
// has and the contract does not name (or names out of order) fails here.
// Each check returns its problems, so TestDocCheckersCatch can feed it a
// broken copy of the contract and see it fail.

// docPath is the contract this package implements.
const docPath = "../docs/dataset.md"

// Headings of the contract the checks (and readers) rely on.
const (
	secLayout     = "Layout"
	secPackets    = "packets/"
	secSessions   = "sessions/"
	secFlows      = "flows/"
	secCSV        = "Per-flow CSV"
	secManifest   = "The run manifest"
	secAccounting = "Accounting"
	secSampling   = "Sampling"
)

func readDoc(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatalf("read the contract: %v", err)
	}
	return string(data)
}

// sections splits markdown into its "## " sections (### subsections
// included), keyed by heading text; headings inside code fences do not
// count.
func sections(doc string) map[string]string {
	out := map[string]string{}
	var (
		name    string
		body    strings.Builder
		inFence bool
	)
	for _, line := range strings.Split(doc, "\n") {
		if strings.HasPrefix(line, "```") {
			inFence = !inFence
		}
		if !inFence && strings.HasPrefix(line, "## ") {
			if name != "" {
				out[name] = body.String()
			}
			name = strings.TrimSpace(strings.TrimPrefix(line, "## "))
			body.Reset()
			continue
		}
		body.WriteString(line)
		body.WriteByte('\n')
	}
	if name != "" {
		out[name] = body.String()
	}
	return out
}

var backticked = regexp.MustCompile("`([^`\n]+)`")

// mentions returns the backticked names in text, with "[]" removed:
// `files.packets[].path` names files.packets.path.
func mentions(text string) map[string]bool {
	out := map[string]bool{}
	for _, m := range backticked.FindAllStringSubmatch(text, -1) {
		out[strings.ReplaceAll(m[1], "[]", "")] = true
	}
	return out
}

// column is one Parquet column of a row struct, from its field and tag.
type column struct {
	name      string
	kind      reflect.Kind
	timestamp bool // timestamp(microsecond)
	dict      bool
	nullable  bool // a pointer, or tagged optional
}

// columnsOf reads the parquet tags of row's fields, in order; the name is
// the part of the tag before the first comma.
func columnsOf(row any) ([]column, []string) {
	typ := reflect.TypeOf(row)
	var (
		out      []column
		problems []string
	)
	for i := 0; i < typ.NumField(); i++ {
		f := typ.Field(i)
		tag, ok := f.Tag.Lookup("parquet")
		if !ok {
			problems = append(problems, fmt.Sprintf("%s.%s has no parquet tag", typ.Name(), f.Name))
			continue
		}
		parts := strings.Split(tag, ",")
		c := column{name: parts[0], kind: f.Type.Kind()}
		if c.kind == reflect.Pointer {
			c.kind, c.nullable = f.Type.Elem().Kind(), true
		}
		for _, opt := range parts[1:] {
			switch opt {
			case "optional":
				c.nullable = true
			case "timestamp(microsecond)":
				c.timestamp = true
			case "dict":
				c.dict = true
			default:
				problems = append(problems, fmt.Sprintf("%s.%s: tag option %q: teach doc_test.go its Parquet type", typ.Name(), f.Name, opt))
			}
		}
		out = append(out, c)
	}
	return out, problems
}

func names(cols []column) []string {
	out := make([]string, len(cols))
	for i, c := range cols {
		out[i] = c.name
	}
	return out
}

// docRow is one row of a column table: | `name` | Parquet type | ... |.
type docRow struct{ name, typ string }

// columnTable returns the rows of the first table in text whose header's
// first cell is "column". A first cell that is not one backticked name is
// kept, marked, so that it shows up as a stray row.
func columnTable(text string) []docRow {
	var (
		rows []docRow
		in   bool
	)
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "|") {
			if in {
				break
			}
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		if !in {
			in = cells[0] == "column"
			continue
		}
		if strings.Trim(cells[0], "-: ") == "" {
			continue // the separator row
		}
		name := "not a column: " + cells[0]
		if m := backticked.FindStringSubmatch(cells[0]); m != nil && m[0] == cells[0] {
			name = m[1]
		}
		typ := ""
		if len(cells) > 1 {
			typ = cells[1]
		}
		rows = append(rows, docRow{name, typ})
	}
	return rows
}

// physical is the Parquet physical type of each Go kind the row structs use.
var physical = map[reflect.Kind]string{
	reflect.Int64:   "INT64",
	reflect.Int32:   "INT32",
	reflect.String:  "BYTE_ARRAY",
	reflect.Bool:    "BOOLEAN",
	reflect.Float64: "DOUBLE",
}

// typeProblem says what is wrong with the Parquet type docType the
// contract states for c, or "".
func typeProblem(c column, docType string) string {
	want, ok := physical[c.kind]
	if !ok {
		return fmt.Sprintf("Go type %s: teach doc_test.go its Parquet type", c.kind)
	}
	switch fields := strings.Fields(docType); {
	case len(fields) == 0 || fields[0] != want:
		return fmt.Sprintf("contract says %q, want physical type %s", docType, want)
	case c.timestamp != strings.Contains(docType, "TIMESTAMP(MICROS, UTC)"):
		if c.timestamp {
			return fmt.Sprintf("contract says %q, want INT64 TIMESTAMP(MICROS, UTC)", docType)
		}
		return fmt.Sprintf("contract says %q, but the column is no timestamp", docType)
	case !c.timestamp && strings.Contains(docType, "TIMESTAMP"):
		return fmt.Sprintf("contract says %q, but the column is no timestamp", docType)
	case c.kind == reflect.String && !strings.Contains(docType, "STRING"):
		return fmt.Sprintf("contract says %q, want BYTE_ARRAY STRING", docType)
	case c.nullable != strings.Contains(docType, "(nullable)"):
		if c.nullable {
			return fmt.Sprintf("contract says %q, but the column is nullable: say (nullable)", docType)
		}
		return fmt.Sprintf("contract says %q, but the column is never null", docType)
	case c.dict != strings.Contains(docType, "(dictionary)"):
		if c.dict {
			return fmt.Sprintf("contract says %q, but the column is dictionary-encoded", docType)
		}
		return fmt.Sprintf("contract says %q, but the column is not dictionary-encoded", docType)
	}
	return ""
}

// columnProblems checks one column section against a row struct: every
// tag name backticked in it, and its column table listing exactly those
// columns, in struct order, each with the Parquet type of its Go type.
func columnProblems(doc map[string]string, sec string, row any) []string {
	text, ok := doc[sec]
	if !ok {
		return []string{fmt.Sprintf("no %q section", "## "+sec)}
	}
	cols, problems := columnsOf(row)
	named := mentions(text)
	for _, c := range cols {
		if !named[c.name] {
			problems = append(problems, fmt.Sprintf("section %q does not name column `%s`", sec, c.name))
		}
	}
	rows := columnTable(text)
	var listed []string
	byName := map[string]docRow{}
	for _, r := range rows {
		listed = append(listed, r.name)
		byName[r.name] = r
	}
	if want := names(cols); !slices.Equal(listed, want) {
		problems = append(problems, fmt.Sprintf("section %q: the column table lists\n\t%q\nwant, in the order of %T,\n\t%q", sec, listed, row, want))
	}
	for _, c := range cols {
		if r, ok := byName[c.name]; ok {
			if p := typeProblem(c, r.typ); p != "" {
				problems = append(problems, fmt.Sprintf("section %q, column %q: %s", sec, c.name, p))
			}
		}
	}
	return problems
}

// jsonField is one JSON field, dotted from the top.
type jsonField struct {
	name   string
	object bool // an object, or an array of objects
}

var timeType = reflect.TypeOf(time.Time{})

// jsonFields walks typ's JSON fields: struct fields, through pointers and
// slices, into structs (time.Time is a string); nested names are dotted.
func jsonFields(typ reflect.Type, prefix string) []jsonField {
	var out []jsonField
	for i := 0; i < typ.NumField(); i++ {
		f := typ.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch name {
		case "-":
			continue
		case "":
			name = f.Name // what encoding/json writes
		}
		ft := f.Type
		for ft.Kind() == reflect.Pointer || ft.Kind() == reflect.Slice {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Struct && ft != timeType {
			out = append(out, jsonField{prefix + name, true})
			out = append(out, jsonFields(ft, prefix+name+".")...)
			continue
		}
		out = append(out, jsonField{prefix + name, false})
	}
	return out
}

// manifestProblems checks that every JSON field of Manifest is backticked
// in the manifest section (an object may be named through its fields).
func manifestProblems(doc map[string]string) []string {
	text, ok := doc[secManifest]
	if !ok {
		return []string{fmt.Sprintf("no %q section", "## "+secManifest)}
	}
	named := mentions(text)
	var problems []string
	for _, f := range jsonFields(reflect.TypeOf(Manifest{}), "") {
		ok := named[f.name]
		for m := range named {
			if ok || !f.object {
				break
			}
			ok = strings.HasPrefix(m, f.name+".")
		}
		if !ok {
			problems = append(problems, fmt.Sprintf("section %q does not name manifest field `%s`", secManifest, f.name))
		}
	}
	return problems
}

// accountingProblems checks that seen, recorded and every not-recorded
// reason are backticked in the accounting section and that its sum rule
// lists them in ReasonNames' order.
func accountingProblems(doc map[string]string) []string {
	text, ok := doc[secAccounting]
	if !ok {
		return []string{fmt.Sprintf("no %q section", "## "+secAccounting)}
	}
	want := append([]string{"seen", "recorded"}, ReasonNames()...)
	named := mentions(text)
	var problems []string
	for _, n := range append(want, FlowCounterNames()...) {
		if !named[n] {
			problems = append(problems, fmt.Sprintf("section %q does not name counter `%s`", secAccounting, n))
		}
	}
	var rule string
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "seen = ") {
			rule = strings.TrimSpace(line)
			break
		}
	}
	if wantRule := "seen = " + strings.Join(want[1:], " + "); rule != wantRule {
		problems = append(problems, fmt.Sprintf("section %q: the sum rule is\n\t%q\nwant\n\t%q", secAccounting, rule, wantRule))
	}
	return problems
}

func report(t *testing.T, problems []string) {
	t.Helper()
	for _, p := range problems {
		t.Errorf("%s: %s", docPath, p)
	}
}

func TestDocSections(t *testing.T) {
	doc := sections(readDoc(t))
	for _, name := range []string{secLayout, secPackets, secSessions, secFlows, secCSV, secManifest, secAccounting, secSampling} {
		if _, ok := doc[name]; !ok {
			t.Errorf("%s has no %q section", docPath, "## "+name)
		}
	}
}

func TestDocColumns(t *testing.T) {
	doc := sections(readDoc(t))
	for _, tc := range []struct {
		section string
		row     any
	}{
		{secPackets, Packet{}},
		{secSessions, Session{}},
		{secFlows, Flow{}},
	} {
		t.Run(strings.TrimSuffix(tc.section, "/"), func(t *testing.T) {
			report(t, columnProblems(doc, tc.section, tc.row))
		})
	}
}

func TestDocManifest(t *testing.T) {
	// The walk must see the nested fields, or it checks nothing.
	fields := map[string]bool{}
	for _, f := range jsonFields(reflect.TypeOf(Manifest{}), "") {
		fields[f.name] = true
	}
	for _, n := range []string{"tacap.bpf_object_sha256", "pcap_file.frames", "parameters.sessions", "clock.anchor_wall",
		"counters.buffer_full", "files.packets.path", "files.sessions.rows", "csv.skipped_rows", "process.max_rss_bytes", "errors"} {
		if !fields[n] {
			t.Errorf("the walk of Manifest misses %q", n)
		}
	}
	report(t, manifestProblems(sections(readDoc(t))))
}

func TestDocAccounting(t *testing.T) {
	report(t, accountingProblems(sections(readDoc(t))))
	// Counters' JSON names are the same names, in the same order.
	var got []string
	for _, f := range jsonFields(reflect.TypeOf(Counters{}), "") {
		got = append(got, f.name)
	}
	if want := append(append([]string{"seen", "recorded"}, ReasonNames()...), FlowCounterNames()...); !slices.Equal(got, want) {
		t.Errorf("Counters' JSON fields are %q, want %q", got, want)
	}
}

// TestTimestampColumns pins which columns are timestamps, so that a lost tag
// option cannot pass TestDocColumns by matching a changed contract.
func TestTimestampColumns(t *testing.T) {
	var got []string
	for _, row := range []any{Packet{}, Session{}, Flow{}} {
		cols, problems := columnsOf(row)
		report(t, problems)
		for _, c := range cols {
			if c.timestamp {
				got = append(got, c.name)
			}
		}
	}
	if want := []string{"ts", "first_ts", "last_ts", "first_ts", "last_ts"}; !slices.Equal(got, want) {
		t.Errorf("timestamp columns %q, want %q", got, want)
	}
}

// TestPacketColumns checks that the CSV header is the Packet tag names.
func TestPacketColumns(t *testing.T) {
	cols, problems := columnsOf(Packet{})
	report(t, problems)
	if want := names(cols); !slices.Equal(PacketColumns, want) {
		t.Errorf("PacketColumns are\n\t%q\nwant the Packet tag names\n\t%q", PacketColumns, want)
	}
}

// TestDocCheckersCatch breaks a copy of the contract in each way the checks
// are for and expects them to notice.
func TestDocCheckersCatch(t *testing.T) {
	doc := readDoc(t)
	packets := func(d map[string]string) []string { return columnProblems(d, secPackets, Packet{}) }
	sessions := func(d map[string]string) []string { return columnProblems(d, secSessions, Session{}) }
	for _, tc := range []struct {
		name  string
		edit  func(string) string
		check func(map[string]string) []string
	}{
		{"packet column removed", dropLine("| `ttl` |"), packets},
		{"packet columns swapped", swapLines("| `src_port` |", "| `dst_port` |"), packets},
		{"packet column renamed", replace("| `icmp_code` |", "| `icmp_kode` |"), packets},
		{"packet type wrong", replace("| `ts_ns` | INT64 |", "| `ts_ns` | INT32 |"), packets},
		{"timestamp type lost", replace("| `ts` | INT64 TIMESTAMP(MICROS, UTC) |", "| `ts` | INT64 |"), packets},
		{"dictionary lost", replace("| `iface` | BYTE_ARRAY STRING (dictionary) |", "| `iface` | BYTE_ARRAY STRING |"), packets},
		{"session column removed", dropLine("| `quota_limited` |"), sessions},
		{"session type wrong", replace("| `packets_seen` | INT64 |", "| `packets_seen` | INT32 |"), sessions},
		{"manifest field removed", dropLine("| `pcap_file.frames` |"), manifestProblems},
		{"nested array field removed", dropLine("| `files.sessions[].rows` |"), manifestProblems},
		{"reason removed", dropLine("| `session_quota` |"), accountingProblems},
		{"sum rule out of order", replace("truncated + filtered", "filtered + truncated"), accountingProblems},
	} {
		t.Run(tc.name, func(t *testing.T) {
			broken := tc.edit(doc)
			if broken == doc {
				t.Fatalf("%s no longer has the text this case breaks: update the case", docPath)
			}
			if len(tc.check(sections(broken))) == 0 {
				t.Error("a contract broken this way passes the check")
			}
		})
	}
}

func replace(old, new string) func(string) string {
	return func(s string) string { return strings.Replace(s, old, new, 1) }
}

// dropLine removes the lines starting with prefix.
func dropLine(prefix string) func(string) string {
	return func(s string) string {
		var out []string
		for _, l := range strings.Split(s, "\n") {
			if !strings.HasPrefix(l, prefix) {
				out = append(out, l)
			}
		}
		return strings.Join(out, "\n")
	}
}

// swapLines swaps the first lines starting with a and with b.
func swapLines(a, b string) func(string) string {
	return func(s string) string {
		lines := strings.Split(s, "\n")
		ia := slices.IndexFunc(lines, func(l string) bool { return strings.HasPrefix(l, a) })
		ib := slices.IndexFunc(lines, func(l string) bool { return strings.HasPrefix(l, b) })
		if ia >= 0 && ib >= 0 {
			lines[ia], lines[ib] = lines[ib], lines[ia]
		}
		return strings.Join(lines, "\n")
	}
}
