package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestExitCodes: usage mistakes exit 2 with a one-line reason, before
// anything is loaded or attached (so this runs unprivileged).
func TestExitCodes(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"version"}, 0, ""},
		{[]string{"version", "x"}, 2, "takes no arguments"},
		{[]string{"bogus"}, 2, `unknown command "bogus"`},
		{[]string{"--nope"}, 2, "flag provided but not defined"},
		{[]string{"capture"}, 2, "needs --iface IF (live) or --pcap FILE"},
		{[]string{"capture", "-i", "eth0", "extra"}, 2, "takes no arguments"},
		{[]string{"capture", "-i", "eth0", "--direction", "sideways"}, 2, "--direction must be"},
		{[]string{"capture", "-i", "eth0", "--attach", "magic"}, 2, "--attach must be"},
		{[]string{"capture", "-i", "eth0", "--attach", "xdp"}, 2, "xdp sees ingress only"},
		{[]string{"capture", "-i", "eth0", "--for", "0s"}, 2, "--for must be a positive duration"},
		{[]string{"capture", "-i", "eth0", "--for", "soon"}, 2, `--for "soon" is not a duration: write it with a unit`},
		{[]string{"capture", "-i", "eth0", "--for", "90"}, 2, `--for "90" is not a duration: write it with a unit, such as 90s`},
		{[]string{"capture", "-i", "eth0", "--rotate-every", "60"}, 2, `--rotate-every "60" is not a duration`},
		{[]string{"capture", "-i", "eth0", "-o", ""}, 2, "--out must name a folder"},
		{[]string{"help", "nosuch"}, 2, `no command "nosuch" to help with`},
		{[]string{"--version"}, 0, ""},
		{[]string{"capture", "--pcap", "/nonexistent/x.pcap"}, 1, "capture file /nonexistent/x.pcap: no such file or directory — check the path"},
		{[]string{"capture", "-i", "eth0", "--sessions", "0"}, 2, "--sessions must be"},
		{[]string{"capture", "-i", "eth0", "--buffer-packets", "0"}, 2, "--buffer-packets"},
		{[]string{"capture", "-i", "eth0", "--buffer-packets", "100000000"}, 2, "limit"},
		{[]string{"capture", "-i", "eth0", "--buffer-packets", "4294967296"}, 2, "--buffer-packets 4294967296 is more than the 4294967295 records"},
		{[]string{"capture", "--pcap", "x.pcap", "--attach", "tc"}, 2, "--attach applies to live capture, not to --pcap"},
		{[]string{"capture", "-i", "eth0", "--csv-max-files", "-1"}, 2, "--csv-max-files must not be negative"},
		{[]string{"capture", "-i", "eth0", "--session-packet-restart", "-1s"}, 2, "must not be negative"},
		{[]string{"capture", "-i", "eth0", "-i", "eth0"}, 2, "given twice"},
		{[]string{"capture", "-i", "eth0", "--rotate-rows", "0"}, 2, "must be positive"},
		{[]string{"capture", "-i", "eth0", "--flows", "0"}, 2, "--flows must be at least 1"},
		{[]string{"capture", "--pcap", "x.pcap", "--flow-idle-timeout", "0s"}, 2, "must be positive durations"},
		{[]string{"capture", "-i", "eth0", "--flows", "99999999"}, 2, "--flows must be between 1 and 4194304"},
		{[]string{"capture", "-i", "tacap-no-such-if0"}, 1, "no such interface"},
		{[]string{"capture", "-i", "eth0", "--pcap", "x.pcap"}, 2, "exclude each other"},
		{[]string{"capture", "--pcap", "x.pcap", "--direction", "ingress"}, 2, "applies to live capture"},
		{[]string{"capture", "--pcap", "x.pcap", "--for", "1s"}, 2, "applies to live capture"},
		{[]string{"report"}, 2, "needs at least one dataset folder"},
		{[]string{"report", "--format", "xml", "d"}, 2, "want table, json or markdown"},
		{[]string{"report", "--top", "0", "d"}, 2, "--top 0"},
		{[]string{"report", "--syn-flood-half-open", "2", "d"}, 2, "between 0 and 1"},
		{[]string{"report", "/nonexistent/dump", "--top", "3"}, 2, "put flags before the folders"},
		{[]string{"report", "/nonexistent/dump"}, 1, "/nonexistent/dump: no such folder"},
		{[]string{"report", "--run", "x", "/nonexistent/dump"}, 1, "no such folder"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(append([]string{"tacap"}, tc.args...), &out, &errb)
			if code != tc.code {
				t.Fatalf("exit %d, want %d; stderr %q", code, tc.code, errb.String())
			}
			msg := errb.String()
			if tc.code != 0 {
				lines := strings.Split(strings.TrimSpace(msg), "\n")
				last := lines[len(lines)-1]
				if !strings.HasPrefix(last, "tacap: ") || !strings.Contains(last, tc.msg) {
					t.Fatalf("last stderr line %q, want a 'tacap: ' reason containing %q", last, tc.msg)
				}
			}
		})
	}
}

// TestReportCLI: what `tacap report` writes where, and its exit codes, on
// small datasets made here: a run that recorded nothing (a manifest and
// no files) and a run killed in its first minute (only an empty hidden
// part, no manifest).
func TestReportCLI(t *testing.T) {
	tmp := t.TempDir()
	t.Chdir(tmp)
	const quiet, killed = "20260314T092653Z-0000aa", "20260314T092653Z-dead00"
	if err := os.MkdirAll(filepath.Join("quiet", "_runs"), 0o755); err != nil {
		t.Fatal(err)
	}
	manifest := `{"tacap": {"version": "v0.test"}, "run_id": "` + quiet + `", "host": "h", "interfaces": ["eth0"], "hook": "tc",
		"start": "2026-03-14T09:26:53Z", "end": "2026-03-14T09:27:03Z", "stop_reason": "deadline",
		"counters": {"seen": 0, "recorded": 0}, "rows_written": 0, "files": {"packets": null, "sessions": null}, "complete": true}`
	if err := os.WriteFile(filepath.Join("quiet", "_runs", quiet+".json"), []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	part := filepath.Join("killed", "packets", "date=2026-03-14", "host=h")
	if err := os.MkdirAll(part, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(part, ".part-00000-"+killed+".parquet.tmp"), nil, 0o644); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		args   []string
		code   int
		stdout []string // contains each
		not    []string // contains none
		files  []string // these exist afterwards
		absent []string // these do not
	}{
		{args: []string{"report", "--html", "-", "quiet"}, code: 0,
			stdout: []string{"<!doctype html>", "<h2>Summary</h2>"}, not: []string{"SUMMARY", "┌"}, absent: []string{"-"}},
		{args: []string{"report", "--format", "json", "--html", "-", "quiet"}, code: 2, absent: []string{"-"}},
		{args: []string{"report", "--html", "page.html", "quiet"}, code: 0,
			stdout: []string{"SUMMARY"}, not: []string{"<!doctype html>"}, files: []string{"page.html"}},
		{args: []string{"report", "killed"}, code: 0,
			stdout: []string{"run " + killed + " has no manifest and nothing readable", ".part-00000-" + killed + ".parquet.tmp (0 B)"}},
		{args: []string{"report", "--format", "json", "killed"}, code: 0, stdout: []string{`"has_manifest": false`}},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var out, errb bytes.Buffer
			if code := run(append([]string{"tacap"}, tc.args...), &out, &errb); code != tc.code {
				t.Fatalf("exit %d, want %d; stderr %q", code, tc.code, errb.String())
			}
			for _, s := range tc.stdout {
				if !strings.Contains(out.String(), s) {
					t.Errorf("stdout lacks %q:\n%s", s, out.String())
				}
			}
			for _, s := range tc.not {
				if strings.Contains(out.String(), s) {
					t.Errorf("stdout has %q:\n%s", s, out.String())
				}
			}
			for _, f := range tc.files {
				if _, err := os.Stat(f); err != nil {
					t.Errorf("%s not written: %v", f, err)
				}
			}
			for _, f := range tc.absent {
				if _, err := os.Stat(f); err == nil {
					t.Errorf("%s written", f)
					os.Remove(f)
				}
			}
		})
	}
}
