// Command tacap turns live traffic or capture files into per-packet datasets
// for attack detection. See README.md.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

// usageError marks a mistake in the command line (exit 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

// flagAfterFolders refuses a flag placed after the positional folders
// (the flag package would take it as a folder); synopsis is how the
// command is called. A lone "-" is a name, not a flag.
func flagAfterFolders(c *cli.Context, synopsis string) error {
	for _, d := range c.Args().Slice() {
		if strings.HasPrefix(d, "-") && len(d) > 1 {
			return usagef("flag %s after the folders: put flags before the folders (%s)", d, synopsis)
		}
	}
	return nil
}

func main() {
	os.Exit(run(os.Args, os.Stdout, os.Stderr))
}

// run is main without the exit, for tests.
func run(args []string, stdout, stderr io.Writer) int {
	app := newApp(stdout, stderr)
	err := app.Run(args)
	if err == nil {
		return exitOK
	}
	// One line: joined errors are separated by "; ".
	fmt.Fprintf(stderr, "tacap: %s\n", strings.ReplaceAll(strings.TrimSpace(err.Error()), "\n", "; "))
	var ue usageError
	if errors.As(err, &ue) {
		return exitUsage
	}
	return exitFailure
}

func newApp(stdout, stderr io.Writer) *cli.App {
	app := &cli.App{
		Name:      "tacap",
		Usage:     "turn network traffic into per-packet datasets for attack detection",
		Writer:    stdout,
		ErrWriter: stderr,
		// Errors are printed once, by run; usage mistakes exit 2.
		ExitErrHandler: func(*cli.Context, error) {},
		OnUsageError: func(_ *cli.Context, err error, _ bool) error {
			return usageError{err}
		},
		CommandNotFound: func(c *cli.Context, name string) {},
		Before: func(c *cli.Context) error {
			if c.Bool("version") {
				return printVersion(c.App.Writer)
			}
			name := c.Args().First()
			if name != "" && c.App.Command(name) == nil {
				return usagef("unknown command %q — see `tacap help`", name)
			}
			if (name == "help" || name == "h") && c.Args().Len() > 1 && c.App.Command(c.Args().Get(1)) == nil {
				return usagef("no command %q to help with — `tacap help` lists them", c.Args().Get(1))
			}
			return nil
		},
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "version", Aliases: []string{"v"}, Usage: "print the version, as tacap version does, and exit"},
		},
		Action: func(c *cli.Context) error {
			if c.Bool("version") {
				return nil // printed by Before
			}
			return cli.ShowAppHelp(c)
		},
		HideVersion: true,
		Commands: []*cli.Command{
			captureCommand(),
			reportCommand(),
			labelCommand(),
			exportCommand(),
			doctorCommand(),
			versionCommand(),
		},
	}
	for _, c := range app.Commands {
		flags := c.Flags
		c.OnUsageError = func(_ *cli.Context, err error, _ bool) error { return usageError{explainFlagError(err, flags)} }
	}
	return app
}

// flagValueError matches the flag package's "invalid value" message.
var flagValueError = regexp.MustCompile(`^invalid value "(.*)" for flag -([a-z-]+): parse error$`)

// explainFlagError says what a duration needs, where the flag package only
// says "parse error"; flags are the command's, to tell which take one.
func explainFlagError(err error, flags []cli.Flag) error {
	m := flagValueError.FindStringSubmatch(err.Error())
	name, ok := durationFlag(flags, m)
	if !ok {
		return err
	}
	return fmt.Errorf("--%s %q is not a duration: write it with a unit, such as 90s, 5m or 1h30m", name, m[1])
}

// durationFlag finds the duration flag the message m names (by any of
// its names) and returns its long name.
func durationFlag(flags []cli.Flag, m []string) (string, bool) {
	if m == nil {
		return "", false
	}
	for _, f := range flags {
		if d, ok := f.(*cli.DurationFlag); ok && slices.Contains(d.Names(), m[2]) {
			return d.Name, true
		}
	}
	return "", false
}
