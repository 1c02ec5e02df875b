package main

import (
	"fmt"
	"io"
	"regexp"
	"runtime"
	"runtime/debug"

	"github.com/urfave/cli/v2"

	"github.com/tacap/tacap/bpf"
)

// version and commit are set at build time by the Makefile
// (-ldflags "-X main.version=... -X main.commit=..."); else they come from
// what the go command recorded (module version, VCS stamp), else "devel".
var (
	version = ""
	commit  = ""
)

// buildInfo describes this binary.
type buildInfo struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	GoVersion string `json:"go_version"`
	BPFObject string `json:"bpf_object_sha256"`
}

func readBuildInfo() buildInfo {
	b := buildInfo{Version: version, Commit: commit, GoVersion: runtime.Version(), BPFObject: bpf.ObjectSHA256()}
	if b.Commit == "" {
		b.Commit = "unknown"
	}
	info, ok := debug.ReadBuildInfo()
	if ok && commit == "" {
		if b.Version == "" && info.Main.Version != "" && info.Main.Version != "(devel)" {
			b.Version = info.Main.Version
		}
		var modified bool
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				b.Commit = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
		if modified && b.Commit != "unknown" {
			b.Commit += "-dirty"
		}
		// A pseudo-version (v0.0.0-20060102150405-abcdef123456) names the commit too.
		if m := pseudoVersion.FindStringSubmatch(info.Main.Version); m != nil && b.Commit == "unknown" {
			b.Commit = m[1] + m[2]
		}
	}
	if b.Version == "" {
		b.Version = "devel"
	}
	return b
}

func versionCommand() *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print version, commit and the embedded BPF object's hash",
		Action: func(c *cli.Context) error {
			if c.Args().Present() {
				return usagef("version takes no arguments")
			}
			return printVersion(c.App.Writer)
		},
	}
}

func printVersion(w io.Writer) error {
	b := readBuildInfo()
	_, err := fmt.Fprintf(w, "tacap %s\ncommit %s\n%s\nbpf object sha256 %s\n", b.Version, b.Commit, b.GoVersion, b.BPFObject)
	return err
}

var pseudoVersion = regexp.MustCompile(`-\d{14}-([0-9a-f]{12})(\+dirty)?$`)
