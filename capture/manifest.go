package capture

import (
	"encoding/json"
	"fmt"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tacap/tacap/bpf"
	"github.com/tacap/tacap/capture/sink"
	"github.com/tacap/tacap/dataset"
)

func parametersOf(o bpf.Options) dataset.Parameters {
	rb, _ := bpf.RingBytes(o.BufferPackets)
	p := dataset.Parameters{
		Sessions: o.Sessions, PacketsPerSession: o.PacketsPerSession, BufferPackets: o.BufferPackets, BufferBytes: rb,
		SessionAcceptRestart: o.SessionAcceptRestart.String(), SessionPacketRestart: o.SessionPacketRestart.String(),
		BufferRestart: o.BufferRestart.String(), Bidirectional: o.Bidirectional,
		Flows: o.Flows, FlowIdleTimeout: o.FlowIdleTimeout.String(), FlowActiveTimeout: o.FlowActiveTimeout.String(),
	}
	if o.Filter != nil {
		p.Filter = o.Filter.Expr
	}
	return p
}

func clockOf(a Anchor) dataset.Clock {
	return dataset.Clock{Source: "kernel CLOCK_MONOTONIC, converted with one anchor taken at start",
		Anchor: time.Unix(0, a.WallNs).UTC(), AnchorNs: a.MonoNs, ErrorNs: a.ErrorNs}
}

func writeManifest(root *sink.Root, m *dataset.Manifest) (string, error) {
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return "", err
	}
	rel := dataset.ManifestPath(m.RunID)
	if err := sink.WriteFileNew(root, rel, append(data, '\n')); err != nil {
		return "", fmt.Errorf("write manifest: %w", err)
	}
	return root.Abs(rel), nil
}

func processUsage() dataset.Process {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		return dataset.Process{}
	}
	return dataset.Process{
		UserSeconds:   float64(ru.Utime.Sec) + float64(ru.Utime.Usec)/1e6,
		SystemSeconds: float64(ru.Stime.Sec) + float64(ru.Stime.Usec)/1e6,
		MaxRSSBytes:   ru.Maxrss * 1024,
	}
}
