package report

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// The JSON output is validated against docs/report.schema.json, whose
// objects are closed: a field added, renamed or removed in the code fails
// here until the schema (and docs/report-json.md, checked below) follow.

func compileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	s, err := c.Compile(filepath.Join(pkgDir, "..", "docs", "report.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func validate(t *testing.T, s *jsonschema.Schema, r *Report) {
	t.Helper()
	var b bytes.Buffer
	if err := WriteJSON(&b, r); err != nil {
		t.Fatal(err)
	}
	inst, err := jsonschema.UnmarshalJSON(&b)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Validate(inst); err != nil {
		t.Fatalf("report JSON does not match docs/report.schema.json: %v", err)
	}
}

func TestJSONSchema(t *testing.T) {
	s := compileSchema(t)
	t.Run("golden dataset", func(t *testing.T) {
		dir := t.TempDir()
		goldenDataset(t, dir)
		validate(t, s, build(t, dir))
	})
	t.Run("golden dataset with flows", func(t *testing.T) {
		dir := t.TempDir()
		goldenFlowsDataset(t, dir)
		r := build(t, dir)
		if r.Flows.Runs == 0 || len(r.Top.Flows) == 0 {
			t.Fatalf("fixture has no flows: %+v", r.Flows)
		}
		validate(t, s, r)
	})
	t.Run("run without manifest, with problems", func(t *testing.T) {
		dir := t.TempDir()
		oneRun(t, dir, "a")
		bad := oneRun(t, dir, "b")
		os.Remove(filepath.Join(dir, "_runs", "a.json"))
		os.WriteFile(bad, []byte("junk"), 0o640)
		r := build(t, dir)
		if len(r.Problems) == 0 || r.Runs[0].HasManifest {
			t.Fatalf("fixture: %+v", r)
		}
		validate(t, s, r)
	})
	t.Run("every indicator kind", func(t *testing.T) {
		dir := t.TempDir()
		var ps []pkt
		for i := 0; i < 600; i++ {
			src := "198.19." + itoa(i/250) + "." + itoa(i%250+1)
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
		p := rows(ps...)
		writeRun(t, dir, fixtureRun{id: "r", host: "h", iface: "eth0", start: t0, packets: p, sessions: sessionsOf(p)})
		r, err := Build(Options{Dirs: []string{dir}, Top: 50, Thresholds: DefaultThresholds()}) // list them all
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, in := range r.Indicators {
			seen[in.Kind] = true
		}
		for _, k := range []string{"syn_flood", "udp_flood", "icmp_flood", "amplification", "tcp_reflection", "connection_flood", "many_to_one", "port_scan"} {
			if !seen[k] {
				t.Errorf("fixture does not fire %s (fired: %v)", k, kinds(r))
			}
		}
		validate(t, s, r)
	})
}

func itoa(i int) string { return strconv.Itoa(i) }

// TestJSONDocumented: every field the schema names is explained in
// docs/report-json.md.
func TestJSONDocumented(t *testing.T) {
	schema, err := os.ReadFile(filepath.Join(pkgDir, "..", "docs", "report.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile(filepath.Join(pkgDir, "..", "docs", "report-json.md"))
	if err != nil {
		t.Fatal(err)
	}
	var walk func(v any)
	names := map[string]bool{}
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if p, ok := x["properties"].(map[string]any); ok {
				for k := range p {
					names[k] = true
				}
			}
			for _, c := range x {
				walk(c)
			}
		case []any:
			for _, c := range x {
				walk(c)
			}
		}
	}
	var s any
	if err := json.Unmarshal(schema, &s); err != nil {
		t.Fatal(err)
	}
	walk(s)
	for n := range names {
		if !regexp.MustCompile("`" + regexp.QuoteMeta(n) + "`").Match(doc) {
			t.Errorf("field %s is not explained in docs/report-json.md", n)
		}
	}
}
