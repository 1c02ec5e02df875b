package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/tacap/tacap/export/lucid"
)

func exportCommand() *cli.Command {
	return &cli.Command{
		Name:      "export",
		Usage:     "write datasets in the formats detectors train on",
		UsageText: "tacap export lucid [flags] --out DIR DATASET...",
		Subcommands: []*cli.Command{{
			Name:      "lucid",
			Usage:     "the HDF5 files the LUCID DDoS detector trains on (set_x: N × n × 11, set_y: N)",
			UsageText: "tacap export lucid [--time-window 10s] [--max-packets 10] [--name NAME] [--split none|lucid] --out DIR DATASET...",
			Description: "Cuts each run's packets, in time order, into LUCID's samples — one bidirectional flow in one\n" +
				"time window, its first n packets — with LUCID's 11 normalised features, and writes\n" +
				"DIR/{t}t-{n}n-{NAME}-dataset-full.hdf5 (--split lucid: -train, -val and -test, balanced) and a\n" +
				"JSON file saying how it was made. A sample is an attack (set_y 1) when its first packet's label is\n" +
				"not the benign one. How each feature is taken: docs/lucid.md.",
			Flags: []cli.Flag{
				&cli.DurationFlag{Name: "time-window", Aliases: []string{"t"}, Value: 10 * time.Second, Usage: "LUCID's time window (whole seconds)"},
				&cli.IntFlag{Name: "max-packets", Aliases: []string{"n"}, Value: 10, Usage: "packets per sample; shorter flows are padded with zero rows"},
				&cli.StringFlag{Name: "name", Value: "tacap", Usage: "the dataset id in the file names"},
				&cli.StringFlag{Name: "split", Value: "none", Usage: "none (one -full file) or lucid (balanced classes, then 90/10 train+val/test and 90/10 train/val, fixed seed)"},
				&cli.StringFlag{Name: "out", Aliases: []string{"o"}, Usage: "output folder (made if missing; existing files are never overwritten)"},
				&cli.StringFlag{Name: "benign", Value: "benign", Usage: "the label of benign traffic: every other label is an attack (set_y 1)"},
				&cli.BoolFlag{Name: "allow-sampled", Usage: "export runs recorded with --packets-per-session below --max-packets (their samples miss packets)"},
				&cli.BoolFlag{Name: "ipv6", Usage: "include IPv6 packets (LUCID's parser reads IPv4 only)"},
				&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print nothing but errors"},
			},
			Action: runExportLUCID,
		}},
	}
}

func runExportLUCID(c *cli.Context) error {
	if !c.IsSet("out") {
		return usagef("export lucid needs --out DIR")
	}
	if !c.Args().Present() {
		return usagef("export lucid needs the dataset folders to export (tacap export lucid --out DIR DATASET...)")
	}
	if err := flagAfterFolders(c, "tacap export lucid [flags] --out DIR DATASET..."); err != nil {
		return err
	}
	switch {
	case c.IsSet("max-packets") && c.Int("max-packets") <= 0:
		return usagef("--max-packets must be at least 1")
	case c.IsSet("time-window") && c.Duration("time-window") <= 0:
		return usagef("--time-window must be a positive number of whole seconds, such as 10s")
	case c.IsSet("name") && c.String("name") == "":
		return usagef("--name must not be empty")
	}
	opt := lucid.Options{Window: c.Duration("time-window"), MaxPackets: c.Int("max-packets"), Name: c.String("name"),
		Split: c.String("split"), Out: c.String("out"), Benign: c.String("benign"), AllowSampled: c.Bool("allow-sampled"),
		IPv6: c.Bool("ipv6")}
	start := time.Now()
	res, err := lucid.Export(c.Args().Slice(), opt)
	switch {
	case errors.Is(err, lucid.ErrUsage):
		return usagef("%v", err)
	case errors.Is(err, lucid.ErrSampled):
		return fmt.Errorf("%w; or pass --allow-sampled to export it anyway", err)
	case err != nil:
		return err
	}
	if c.Bool("quiet") {
		return nil
	}
	w := c.App.Writer
	n := res.Counts
	fmt.Fprintf(w, "exported %d runs: %d rows → %d samples (%d attack, %d benign) in %d time windows, %.1f s\n",
		len(res.Runs), n.Rows, n.Samples, n.Attack, n.Samples-n.Attack, n.Windows, time.Since(start).Seconds())
	fmt.Fprintf(w, "  rows in samples %d; beyond a sample's %d packets %d; IPv6 left out %d; out of time order %d\n",
		n.Used, opt.MaxPackets, n.Capped, n.NotIPv4, n.Late)
	for _, f := range res.Files {
		fmt.Fprintf(w, "  %s: %d samples (%d attack)\n", f.Path, f.Samples, f.Attack)
	}
	fmt.Fprintf(w, "  how it was made: %s\n", res.Manifest)
	return nil
}
