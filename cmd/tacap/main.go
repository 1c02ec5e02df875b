// Command tacap turns live traffic or capture files into per-packet datasets
// for attack detection. See README.md.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
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
			if name := c.Args().First(); name != "" && c.App.Command(name) == nil {
				return usagef("unknown command %q — see `tacap help`", name)
			}
			return nil
		},
		HideVersion: true,
		Commands: []*cli.Command{
			captureCommand(),
			reportCommand(),
			doctorCommand(),
			versionCommand(),
		},
	}
	for _, c := range app.Commands {
		c.OnUsageError = func(_ *cli.Context, err error, _ bool) error { return usageError{err} }
	}
	return app
}
