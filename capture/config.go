package capture

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tacap/tacap/bpf"
	"github.com/tacap/tacap/capture/attach"
	"github.com/tacap/tacap/dataset"
	"github.com/tacap/tacap/labels"
)

// Config describes one capture run. The source is either live interfaces
// (Interfaces, with Directions and Attach) or a capture file (File), never
// both. Validate fills in the defaults and checks every option; Run calls
// it, and so may a caller that wants to report mistakes before anything
// is loaded.
type Config struct {
	// Live capture.
	Interfaces []string
	Directions []string      // "ingress", "egress"; default both
	Attach     attach.Mode   // default attach.Auto
	For        time.Duration // stop after this long; 0: until ctx ends

	// Files are pcap or pcapng files (gzip too), or "-" for standard
	// input, to replay one after the other through the same program
	// instead, in the order given (ExpandInputs orders folders, globs and
	// files); File is one more, read first.
	File  string
	Files []string
	// AllowDuplicate replays a file whose SHA-256 a run of the dataset
	// already replayed (refused otherwise: it would double the dataset).
	AllowDuplicate bool

	Out      string    // the dataset folder (default ./dump)
	Sampling Sampling  // docs/dataset.md, "Sampling"
	Flows    FlowTable // docs/dataset.md, "flows/"
	// Filter is a capture filter in tcpdump's syntax (docs/filters.md):
	// recordable packets it does not match are counted filtered and are
	// in no session or flow. "": every packet.
	Filter string
	// Labels label every row (docs/dataset.md, "Labels"); nil: no rules,
	// every row gets the default label.
	Labels *labels.Rules

	CSV         bool
	CSVMaxFiles int // 0: no cap
	// Parts rotate after this many rows or this long (defaults 10 M, 1 min).
	PartMaxRows int64
	PartMaxAge  time.Duration
	Build       dataset.BuildInfo

	// SkipDrain, once closed, skips what is left of the final drain (a
	// second Ctrl-C); the files are still closed properly.
	SkipDrain <-chan struct{}
	// OnLoad is called once the program is loaded, before attaching, with
	// the memory its maps take.
	OnLoad func(memoryBytes uint64)
	// OnReady is called once the source is ready (programs attached),
	// before any packet is awaited (the hidden --ready-file, tests).
	OnReady func(*Ready)
	// OnStatus is called a few times a second while capturing.
	OnStatus func(Status)
	// PollInterval is how often an idle ring is checked at first (1 ms).
	PollInterval time.Duration
	// DrainTimeout bounds how long the final drain waits for a record the
	// kernel reserved but has not committed (2 s).
	DrainTimeout time.Duration

	// options is Sampling checked and converted, set by Validate.
	options bpf.Options
	// createPart opens a part's hidden file (tests inject failures).
	createPart func(path string) (sinkFile, error)
}

// Sampling are the prototype's sampling parameters, as given by the user.
type Sampling struct {
	Sessions             uint64 // session table size (default 1024)
	PacketsPerSession    uint64 // records per session before it pauses; 0 = no limit
	BufferPackets        uint64 // ring capacity in records; 0: sessions × max(packets-per-session, 100)
	SessionAcceptRestart time.Duration
	SessionPacketRestart time.Duration
	BufferRestart        time.Duration
	Bidirectional        bool
}

// FlowTable sizes the kernel's flow table and sets when a flow ends; zero
// fields take the defaults (65 536 flows, 120 s idle, 1800 s active).
type FlowTable struct {
	Size          uint64
	IdleTimeout   time.Duration
	ActiveTimeout time.Duration
}

// maxFlows bounds --flows: 4 M flows take a table of 3 GiB of kernel memory.
const maxFlows = bpf.MaxFlows

// apply checks the flow options and sets them in o.
func (f FlowTable) apply(o *bpf.Options) error {
	d := bpf.DefaultOptions()
	if f.Size == 0 {
		f.Size = uint64(d.Flows)
	}
	if f.IdleTimeout == 0 {
		f.IdleTimeout = d.FlowIdleTimeout
	}
	if f.ActiveTimeout == 0 {
		f.ActiveTimeout = d.FlowActiveTimeout
	}
	switch {
	case f.Size > maxFlows:
		return bad("flows", "must be between 1 and %d", maxFlows)
	case f.IdleTimeout < 0:
		return bad("flow-idle-timeout", "must be a positive duration such as 120s")
	case f.ActiveTimeout < 0:
		return bad("flow-active-timeout", "must be a positive duration such as 30m")
	}
	o.Flows, o.FlowIdleTimeout, o.FlowActiveTimeout = uint32(f.Size), f.IdleTimeout, f.ActiveTimeout
	return nil
}

// DefaultSampling returns the prototype's defaults (buffer derived).
func DefaultSampling() Sampling {
	d := bpf.DefaultOptions()
	return Sampling{
		Sessions: uint64(d.Sessions), PacketsPerSession: uint64(d.PacketsPerSession),
		SessionAcceptRestart: d.SessionAcceptRestart, SessionPacketRestart: d.SessionPacketRestart,
		BufferRestart: d.BufferRestart,
	}
}

// Defaults of a Config's zero fields.
const (
	DefaultOut          = "./dump"
	DefaultPartMaxRows  = 10_000_000
	DefaultPartMaxAge   = time.Minute
	DefaultPollInterval = time.Millisecond
	DefaultDrainTimeout = 2 * time.Second
	maxSessions         = 1 << 24
	maxPacketsPerSess   = 1 << 31
)

// ConfigError is a mistake in one option of a Config. Option is the
// option's name as the command line spells it ("buffer-packets").
type ConfigError struct {
	Option  string
	Problem string
}

func (e *ConfigError) Error() string { return e.Option + ": " + e.Problem }

// Source mistakes: no source, or both.
var (
	ErrNoSource   = errors.New("no source: give interfaces (live) or a capture file")
	ErrTwoSources = errors.New("interfaces and a capture file exclude each other: capture live or read a file")
)

func bad(option, format string, a ...any) error {
	return &ConfigError{Option: option, Problem: fmt.Sprintf(format, a...)}
}

// Live reports whether the source is live interfaces.
func (c *Config) Live() bool { return len(c.Interfaces) > 0 }

// Validate checks every option and fills in the defaults. Its errors are
// ErrNoSource, ErrTwoSources or a *ConfigError.
func (c *Config) Validate() error {
	if err := c.validateSource(); err != nil {
		return err
	}
	if c.Out == "" {
		c.Out = DefaultOut
	}
	if c.PartMaxRows == 0 {
		c.PartMaxRows = DefaultPartMaxRows
	}
	if c.PartMaxAge == 0 {
		c.PartMaxAge = DefaultPartMaxAge
	}
	if c.PartMaxRows < 0 {
		return bad("rotate-rows", "must be positive")
	}
	if c.PartMaxAge < 0 {
		return bad("rotate-every", "must be positive")
	}
	if c.CSVMaxFiles < 0 {
		return bad("csv-max-files", "must not be negative")
	}
	if c.PollInterval <= 0 {
		c.PollInterval = DefaultPollInterval
	}
	if c.DrainTimeout <= 0 {
		c.DrainTimeout = DefaultDrainTimeout
	}
	opts, err := c.Sampling.options()
	if err != nil {
		return err
	}
	if err := c.Flows.apply(&opts); err != nil {
		return err
	}
	if strings.TrimSpace(c.Filter) != "" {
		prog, err := bpf.CompileFilter(c.Filter)
		if err != nil {
			return &ConfigError{Option: "filter", Problem: err.Error()}
		}
		opts.Filter = prog
	}
	c.options = opts
	return nil
}

func (c *Config) validateSource() error {
	if c.File != "" {
		c.Files, c.File = append([]string{c.File}, c.Files...), ""
	}
	switch {
	case c.Live() && len(c.Files) > 0:
		return ErrTwoSources
	case !c.Live() && len(c.Files) == 0:
		return ErrNoSource
	case len(c.Files) > 0:
		switch {
		case c.Directions != nil:
			return bad("direction", "applies to live capture, not to a capture file")
		case c.Attach != "":
			return bad("attach", "applies to live capture, not to a capture file")
		case c.For != 0:
			return bad("for", "applies to live capture, not to a capture file")
		}
		return nil
	}
	seen := map[string]bool{}
	for _, i := range c.Interfaces {
		if i == "" || seen[i] {
			return bad("iface", "%q given twice or empty", i)
		}
		seen[i] = true
	}
	if c.Directions == nil {
		c.Directions = []string{"ingress", "egress"}
	}
	seenDir := map[string]bool{}
	for _, d := range c.Directions {
		if (d != "ingress" && d != "egress") || seenDir[d] {
			return bad("direction", "must be ingress, egress or both, not %q", d)
		}
		seenDir[d] = true
	}
	if c.Attach == "" {
		c.Attach = attach.Auto
	}
	if _, err := attach.ParseMode(string(c.Attach)); err != nil {
		return bad("attach", "must be auto, tcx, tc or xdp, not %q", c.Attach)
	}
	if c.Attach == attach.XDP && (len(c.Directions) != 1 || c.Directions[0] != "ingress") {
		return bad("attach", "xdp sees ingress only: add --direction ingress")
	}
	if c.For < 0 {
		return bad("for", "must be a positive duration such as 60s or 5m")
	}
	return nil
}

// options checks the sampling parameters and converts them for the kernel.
func (s Sampling) options() (bpf.Options, error) {
	if s.Sessions == 0 || s.Sessions > maxSessions {
		return bpf.Options{}, bad("sessions", "must be between 1 and %d", maxSessions)
	}
	if s.PacketsPerSession > maxPacketsPerSess {
		return bpf.Options{}, bad("packets-per-session", "is too large (at most %d)", maxPacketsPerSess)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"session-accept-restart", s.SessionAcceptRestart},
		{"session-packet-restart", s.SessionPacketRestart},
		{"buffer-restart", s.BufferRestart},
	} {
		if d.v < 0 {
			return bpf.Options{}, bad(d.name, "must not be negative")
		}
	}
	buf := s.BufferPackets
	if buf == 0 {
		buf = s.Sessions * max(s.PacketsPerSession, 100)
		// The default follows the prototype but stays within the ring's limit.
		buf = min(buf, bpf.MaxRingBytes/uint64(bpf.RecordSize)/2)
	}
	if buf > 1<<32-1 {
		return bpf.Options{}, bad("buffer-packets", "%d is more than the %d records a ring can be asked for", buf, uint64(1<<32-1))
	}
	if _, err := bpf.RingBytes(uint32(buf)); err != nil {
		return bpf.Options{}, bad("buffer-packets", "%v", err)
	}
	return bpf.Options{
		Sessions:             uint32(s.Sessions),
		PacketsPerSession:    uint32(s.PacketsPerSession),
		BufferPackets:        uint32(buf),
		SessionAcceptRestart: s.SessionAcceptRestart,
		SessionPacketRestart: s.SessionPacketRestart,
		BufferRestart:        s.BufferRestart,
		Bidirectional:        s.Bidirectional,
	}, nil
}

// Options are the kernel options Validate derived from Sampling.
func (c *Config) Options() bpf.Options { return c.options }
