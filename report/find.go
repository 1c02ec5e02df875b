// Package report summarises tacap datasets offline: it finds the runs under
// some folders, reads their manifests and only the Parquet columns each
// section needs, page by page, and computes the accounting, traffic, top
// talkers, TCP handshake state, timelines and attack indicators that
// `tacap report` prints. It needs no privileges and never touches the
// kernel.
package report

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/tacap/tacap/dataset"
)

// run is one capture run found on disk: its manifest (if any) and the
// Parquet files that belong to it.
type run struct {
	id       string
	dataset  string // the dataset folder (holds _runs/, packets/, sessions/, flows/)
	manifest *dataset.Manifest
	packets  []dataFile
	sessions []dataFile
	flows    []dataFile
	hidden   []dataFile // unfinished parts: .part-NNNNN-RUNID.parquet.tmp, never read
	// flowsUnlisted: its flows/ parts on disk are not those its manifest
	// lists (a problem says which), so flows.written is not checked.
	flowsUnlisted bool
}

type dataFile struct {
	path string // absolute or as given
	rel  string // relative to the dataset folder
	rows int64  // rows the manifest promises; -1 when not listed
	host string // from the host= folder
	date string // from the date= folder
	size int64  // bytes (of hidden parts only)
}

// Problem is something the report could not read or that does not add up.
// Each is one line; any problem makes `tacap report` exit 1.
type Problem struct {
	Path   string `json:"path"`
	Reason string `json:"reason"`
}

func (p Problem) String() string {
	if p.Path == "" {
		return p.Reason
	}
	return p.Path + ": " + p.Reason
}

// find walks the input folders for datasets and groups their files into runs.
// A dataset folder is one that holds _runs/, packets/, sessions/ or flows/; other
// folders are searched below (hidden ones and csv/ trees are skipped).
func find(inputs []string) ([]*run, []Problem, []string) {
	var problems []Problem
	var warnings []string
	seen := map[string]bool{}
	var datasets []string
	for _, in := range inputs {
		st, err := os.Stat(in)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			problems = append(problems, Problem{in, "no such folder"})
			continue
		case err != nil:
			problems = append(problems, Problem{in, "cannot read: " + errText(err)})
			continue
		case !st.IsDir():
			problems = append(problems, Problem{in, "not a folder — give the dataset folder (the --out of tacap capture)"})
			continue
		}
		var found []string
		before := len(problems)
		err = filepath.WalkDir(in, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				problems = append(problems, Problem{path, "cannot read: " + errText(err) + permissionHint(err)})
				if d != nil && d.IsDir() {
					return fs.SkipDir
				}
				return nil
			}
			if !d.IsDir() {
				return nil
			}
			if path != in && strings.HasPrefix(d.Name(), ".") {
				return fs.SkipDir
			}
			if isDataset(path) {
				found = append(found, path)
				return fs.SkipDir
			}
			if d.Name() == "csv" {
				return fs.SkipDir
			}
			return nil
		})
		if err != nil {
			problems = append(problems, Problem{in, "cannot search: " + errText(err)})
		}
		if len(found) == 0 && len(problems) == before {
			problems = append(problems, Problem{in, "no tacap runs found (no _runs/, packets/, sessions/ or flows/ folder under it)"})
		}
		for _, d := range found {
			abs, _ := filepath.Abs(d)
			if !seen[abs] {
				seen[abs] = true
				datasets = append(datasets, d)
			}
		}
	}
	var runs []*run
	for _, ds := range datasets {
		r, p, w := findRuns(ds)
		runs = append(runs, r...)
		problems = append(problems, p...)
		warnings = append(warnings, w...)
	}
	return runs, problems, warnings
}

func isDataset(dir string) bool {
	for _, sub := range []string{dataset.RunsDir, dataset.PacketsTable, dataset.SessionsTable, dataset.FlowsTable} {
		if st, err := os.Stat(filepath.Join(dir, sub)); err == nil && st.IsDir() {
			return true
		}
	}
	return false
}

// findRuns reads one dataset folder's manifests and Parquet files and checks
// that they agree.
func findRuns(ds string) ([]*run, []Problem, []string) {
	var problems []Problem
	var warnings []string
	byID := map[string]*run{}
	get := func(id string) *run {
		r := byID[id]
		if r == nil {
			r = &run{id: id, dataset: ds}
			byID[id] = r
		}
		return r
	}

	// Manifests.
	manifests, _ := filepath.Glob(filepath.Join(ds, "_runs", "*.json"))
	for _, path := range manifests {
		if strings.HasPrefix(filepath.Base(path), ".") {
			continue
		}
		data, err := os.ReadFile(path)
		if err != nil {
			problems = append(problems, Problem{path, "cannot read manifest: " + errText(err)})
			continue
		}
		m := new(dataset.Manifest)
		var has struct {
			Counters json.RawMessage `json:"counters"`
		}
		if err := json.Unmarshal(data, m); err != nil {
			problems = append(problems, Problem{path, "not a tacap manifest: " + errText(err)})
			continue
		}
		_ = json.Unmarshal(data, &has)
		want := strings.TrimSuffix(filepath.Base(path), ".json")
		if m.RunID == "" || len(has.Counters) == 0 {
			problems = append(problems, Problem{path, "not a tacap manifest: no run_id or counters"})
			continue
		}
		if m.RunID != want {
			problems = append(problems, Problem{path, fmt.Sprintf("manifest is for run %s, not %s", m.RunID, want)})
			continue
		}
		get(m.RunID).manifest = m
	}

	// Parquet files on disk: TABLE/date=D/host=H/part-NNNNN-RUNID.parquet.
	onDisk := map[string]bool{}
	for _, table := range []string{dataset.PacketsTable, dataset.SessionsTable, dataset.FlowsTable} {
		root := filepath.Join(ds, table)
		_ = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				if !errors.Is(err, fs.ErrNotExist) {
					problems = append(problems, Problem{path, "cannot read: " + errText(err)})
				}
				return nil
			}
			name := d.Name()
			if d.IsDir() {
				if path != root && strings.HasPrefix(name, ".") {
					return fs.SkipDir
				}
				return nil
			}
			rel, _ := filepath.Rel(ds, path)
			rel = filepath.ToSlash(rel)
			if id := hiddenRunIDOf(name); id != "" {
				// A part being written, or left by a capture that was
				// killed: never read, but it tells of the run.
				f := dataFile{path: path, rel: rel, rows: -1}
				f.date, f.host = partitions(rel)
				if info, err := d.Info(); err == nil {
					f.size = info.Size()
				}
				r := get(id)
				r.hidden = append(r.hidden, f)
				return nil
			}
			if strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") || !strings.HasSuffix(name, ".parquet") {
				return nil // being written, or not data
			}
			onDisk[rel] = true
			id := runIDOf(name)
			if id == "" {
				problems = append(problems, Problem{path, "not named part-NNNNN-RUNID.parquet: not written by tacap capture"})
				return nil
			}
			f := dataFile{path: path, rel: rel, rows: -1}
			f.date, f.host = partitions(rel)
			r := get(id)
			switch table {
			case dataset.PacketsTable:
				r.packets = append(r.packets, f)
			case dataset.SessionsTable:
				r.sessions = append(r.sessions, f)
			default:
				r.flows = append(r.flows, f)
			}
			return nil
		})
	}

	// Agreement between manifests and files.
	for _, r := range byID {
		m := r.manifest
		sort.Slice(r.hidden, func(i, j int) bool { return r.hidden[i].rel < r.hidden[j].rel })
		switch {
		case m == nil && len(r.packets)+len(r.sessions)+len(r.flows) == 0:
			warnings = append(warnings, fmt.Sprintf("%s: run %s has no manifest and nothing readable: the capture was killed (kill -9, a crash) "+
				"before it published a part, or is still running; %s", ds, r.id, hiddenText(r.hidden)))
			continue
		case m == nil:
			w := fmt.Sprintf("%s: run %s has files but no manifest (the capture was killed or is still running); its counters are unknown", ds, r.id)
			if len(r.hidden) > 0 {
				w += "; " + hiddenText(r.hidden)
			}
			warnings = append(warnings, w)
			continue
		case len(r.hidden) > 0:
			warnings = append(warnings, fmt.Sprintf("%s: run %s left %s", ds, r.id, hiddenText(r.hidden)))
		}
		if !m.Complete {
			warnings = append(warnings, fmt.Sprintf("%s: run %s ended early (%s)", ds, r.id, firstNonEmpty(strings.Join(m.Errors, "; "), m.StopReason)))
		}
		for _, t := range []struct {
			listed   []dataset.File
			files    *[]dataFile
			unlisted *bool // set when the files on disk are not those listed
		}{{m.Files.Packets, &r.packets, nil}, {m.Files.Sessions, &r.sessions, nil}, {m.Files.Flows, &r.flows, &r.flowsUnlisted}} {
			trouble := func() {
				if t.unlisted != nil {
					*t.unlisted = true
				}
			}
			index := map[string]int{}
			for i, f := range *t.files {
				index[f.rel] = i
			}
			for _, ref := range t.listed {
				i, ok := index[filepath.ToSlash(ref.Path)]
				if !ok {
					problems = append(problems, Problem{filepath.Join(ds, ref.Path), fmt.Sprintf("listed in the manifest of run %s but missing", r.id)})
					trouble()
					continue
				}
				(*t.files)[i].rows = ref.Rows
			}
			for _, f := range *t.files {
				if f.rows < 0 {
					problems = append(problems, Problem{f.path, fmt.Sprintf("not listed in the manifest of run %s", r.id)})
					trouble()
				}
			}
		}
		var listed int64
		for _, ref := range m.Files.Packets {
			listed += ref.Rows
		}
		if listed != m.RowsWritten {
			problems = append(problems, Problem{filepath.Join(ds, "_runs", r.id+".json"),
				fmt.Sprintf("rows_written is %d but its packet files list %d rows", m.RowsWritten, listed)})
		}
		if uint64(m.RowsWritten+m.RecordedNotWritten) != m.Counters.Recorded {
			problems = append(problems, Problem{filepath.Join(ds, "_runs", r.id+".json"),
				fmt.Sprintf("counters say %d recorded but %d rows were written and %d not written", m.Counters.Recorded, m.RowsWritten, m.RecordedNotWritten)})
		}
	}

	runs := make([]*run, 0, len(byID))
	for _, r := range byID {
		sort.Slice(r.packets, func(i, j int) bool { return r.packets[i].rel < r.packets[j].rel })
		sort.Slice(r.sessions, func(i, j int) bool { return r.sessions[i].rel < r.sessions[j].rel })
		sort.Slice(r.flows, func(i, j int) bool { return r.flows[i].rel < r.flows[j].rel })
		runs = append(runs, r)
	}
	sort.Slice(runs, func(i, j int) bool { return runs[i].id < runs[j].id })
	return runs, problems, warnings
}

// runIDOf returns RUNID from part-NNNNN-RUNID.parquet, or "".
func runIDOf(name string) string {
	s, ok := strings.CutPrefix(name, "part-")
	if !ok {
		return ""
	}
	s, ok = strings.CutSuffix(s, ".parquet")
	if !ok {
		return ""
	}
	seq, id, ok := strings.Cut(s, "-")
	if !ok || seq == "" || id == "" || strings.Trim(seq, "0123456789") != "" {
		return ""
	}
	return id
}

// hiddenRunIDOf returns RUNID from .part-NNNNN-RUNID.parquet.tmp (a part
// being written), or "".
func hiddenRunIDOf(name string) string {
	s, ok := strings.CutPrefix(name, ".")
	if !ok {
		return ""
	}
	s, ok = strings.CutSuffix(s, ".tmp")
	if !ok {
		return ""
	}
	return runIDOf(s)
}

// hiddenText lists unfinished parts with their sizes.
func hiddenText(hidden []dataFile) string {
	list := make([]string, len(hidden))
	for i, f := range hidden {
		list[i] = fmt.Sprintf("%s (%s)", f.rel, bytesText(uint64(max(f.size, 0))))
	}
	return "unfinished hidden parts: " + listOrNone(list)
}

// partitions returns the date= and host= values of a file's folders.
func partitions(rel string) (date, host string) {
	for _, part := range strings.Split(rel, "/") {
		if v, ok := strings.CutPrefix(part, "date="); ok {
			date = v
		}
		if v, ok := strings.CutPrefix(part, "host="); ok {
			host = v
		}
	}
	return date, host
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// permissionHint says what to do about a permission error.
func permissionHint(err error) string {
	if errors.Is(err, fs.ErrPermission) {
		return " — tacap capture writes datasets readable by their owner and group only; run as that user or a member of the group"
	}
	return ""
}

// errText is an error without the path os errors repeat.
func errText(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}
