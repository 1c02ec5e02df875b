package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/cilium/ebpf"

	"github.com/tacap/tacap/capture"
	"github.com/tacap/tacap/capture/attach"
	"github.com/tacap/tacap/capture/sink"
)

// Library errors say what failed and why; this is where the command line
// says what to do about it.

// usageOf turns a configuration mistake into a usage error (exit 2) in the
// command line's words, or returns nil when err is no such mistake.
func usageOf(err error) error {
	var ce *capture.ConfigError
	switch {
	case errors.Is(err, capture.ErrNoSource):
		return usagef("capture needs --iface IF (live) or --pcap FILE")
	case errors.Is(err, capture.ErrTwoSources):
		return usagef("--iface and --pcap exclude each other: capture live or read a file")
	case errors.As(err, &ce):
		problem := ce.Problem
		if problem == "applies to live capture, not to a capture file" {
			problem = "applies to live capture, not to --pcap"
		}
		return usagef("--%s %s", ce.Option, problem)
	}
	return nil
}

// withRemedy adds what to do to a runtime failure, when tacap knows.
func withRemedy(err error, cfg *capture.Config) error {
	var ve *ebpf.VerifierError
	remedy := ""
	switch {
	case errors.As(err, &ve):
		remedy = "please report this with the log above"
	case errors.Is(err, attach.ErrNoSuchInterface):
		remedy = "list them with `ip link`"
	case errors.Is(err, attach.ErrInterfaceDown):
		name := "IF"
		if len(cfg.Interfaces) == 1 {
			name = cfg.Interfaces[0]
		}
		remedy = fmt.Sprintf("bring it up with `ip link set %s up`", name)
	case errors.Is(err, sink.ErrSymlink):
		remedy = "remove the link, or choose another folder with --out"
	case errors.Is(err, capture.ErrOutput):
		remedy = "choose another folder with --out"
	case errors.Is(err, capture.ErrDuplicate), errors.Is(err, capture.ErrSameContent):
		remedy = "it would count those packets twice; pass --allow-duplicate to replay it anyway, or use another --out"
	case errors.Is(err, fs.ErrNotExist):
		remedy = "check the path"
	case errors.Is(err, os.ErrPermission):
		remedy = "run as root, or grant CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN (before Linux 5.11 also raise the locked-memory limit, ulimit -l)"
	case errors.Is(err, ebpf.ErrNotSupported):
		remedy = "this kernel lacks it: see `tacap doctor` (TCX needs Linux 6.6: try --attach tc)"
	}
	if remedy == "" {
		return err
	}
	return fmt.Errorf("%w — %s", err, remedy)
}
