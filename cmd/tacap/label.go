package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/tacap/tacap/labels/relabel"
)

func labelCommand() *cli.Command {
	return &cli.Command{
		Name:      "label",
		Usage:     "relabel existing runs from a rules file, without recapturing",
		UsageText: "tacap label --rules FILE [--dry-run] [--json] DATASET...",
		Description: "Rewrites the label, attack and label_rule columns (and flows' label_packets) of every\n" +
			"packets/, sessions/ and flows/ part and per-flow CSV file of each run of the datasets, each file\n" +
			"under a hidden name renamed over the old one; every other column keeps its values, and each run's\n" +
			"manifest records the new rules. Interrupted, it leaves each file old or new: run it again.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "rules", Aliases: []string{"l"}, Usage: "the rules file (YAML; docs/dataset.md, \"Labels\")"},
			&cli.BoolFlag{Name: "dry-run", Aliases: []string{"n"}, Usage: "say what would change, write nothing"},
			&cli.BoolFlag{Name: "json", Usage: "print what was done as JSON"},
		},
		Action: runLabel,
	}
}

func runLabel(c *cli.Context) error {
	if !c.IsSet("rules") {
		return usagef("label needs --rules FILE")
	}
	if !c.Args().Present() {
		return usagef("label needs the dataset folders to relabel (tacap label --rules FILE DATASET...)")
	}
	if err := flagAfterFolders(c, "tacap label --rules FILE [--dry-run] DATASET..."); err != nil {
		return err
	}
	rules, err := loadRules("--rules", c.String("rules"))
	if err != nil {
		return err
	}
	opt := relabel.Options{Rules: rules, DryRun: c.Bool("dry-run")}
	var all []relabel.Run
	var errs []error
	for _, dir := range c.Args().Slice() {
		runs, err := relabel.Dataset(dir, opt)
		all = append(all, runs...)
		if err != nil {
			if errors.Is(err, relabel.ErrBusy) {
				err = fmt.Errorf("%w — wait for it to finish", err)
			} else {
				err = fmt.Errorf("relabel %s: %w — files already rewritten are complete; run tacap label again to finish", dir, err)
			}
			errs = append(errs, err)
		}
	}
	if c.Bool("json") {
		enc := json.NewEncoder(c.App.Writer)
		enc.SetIndent("", "  ")
		if err := enc.Encode(all); err != nil {
			return err
		}
	} else {
		printRelabel(c.App.Writer, all, opt.DryRun, rules.Path)
	}
	return errors.Join(errs...)
}

// printRelabel says, per run and table, how many rows change and the
// labels after.
func printRelabel(w io.Writer, runs []relabel.Run, dry bool, rules string) {
	verb := "relabelled"
	if dry {
		verb = "would relabel (dry run, nothing written)"
	}
	fmt.Fprintf(w, "%s %d runs with %s\n", verb, len(runs), rules)
	for _, r := range runs {
		before := "no labels (from before labels)"
		if r.Before != nil {
			before = "no rules file"
			if r.Before.File != "" {
				before = r.Before.File + " (sha256 " + short(r.Before.SHA256) + ")"
			}
		}
		fmt.Fprintf(w, "  run %s (%s), labelled before by %s\n", r.RunID, r.Dataset, before)
		for _, t := range []struct {
			name string
			t    relabel.Table
		}{{"packets", r.Packets}, {"sessions", r.Sessions}, {"flows", r.Flows}, {"csv", r.CSV}} {
			if t.t.Files == 0 {
				continue
			}
			skipped := ""
			if t.t.Skipped > 0 {
				skipped = fmt.Sprintf(", %d already labelled by these rules", t.t.Skipped)
			}
			fmt.Fprintf(w, "    %-8s %d files%s: %d of %d rows change; %s\n", t.name, t.t.Files, skipped, t.t.Changed, t.t.Rows, byLabel(t.t.ByLabel))
		}
	}
}

func byLabel(m map[string]int64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return m[keys[i]] > m[keys[j]] || (m[keys[i]] == m[keys[j]] && keys[i] < keys[j]) })
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	if len(parts) == 0 {
		return "no rows"
	}
	return strings.Join(parts, ", ")
}

func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}
