package main

import (
	"strings"
	"testing"
	"time"

	"github.com/tacap/tacap/capture"
	"github.com/tacap/tacap/dataset"
)

// TestStatusLine: the rate is that of the last second, not the average
// since the start; with --for the line says how long is left; interfaces
// that went away show.
func TestStatusLine(t *testing.T) {
	var m rateMeter
	steps := []struct {
		at    time.Duration
		seen  uint64
		rate  string
		total time.Duration
		left  string
	}{
		{500 * time.Millisecond, 500, "1.0k pkt/s", 60 * time.Second, "(59s left)"},
		{time.Second, 900, "1.0k pkt/s", 60 * time.Second, "(59s left)"}, // under a second since the last reading: unchanged
		{1500 * time.Millisecond, 1000, "500 pkt/s", 60 * time.Second, "(58s left)"},
		{2500 * time.Millisecond, 1000, "0 pkt/s", 60 * time.Second, "(57s left)"}, // traffic stopped: the average would say 400
		{3500 * time.Millisecond, 11000, "10.0k pkt/s", 0, ""},
	}
	for _, s := range steps {
		line := statusLine(capture.Status{Elapsed: s.at, Counters: dataset.Counters{Seen: s.seen}, Interfaces: []string{"eth1 gone"}}, s.total, &m)
		if !strings.Contains(line, " "+s.rate) || (s.left != "" && !strings.Contains(line, s.left)) || !strings.Contains(line, "!eth1 gone") {
			t.Errorf("at %v: %q, want %q and %q", s.at, line, s.rate, s.left)
		}
	}
}

// TestSize: sizes in the unit that suits them (a 4 KiB ring is not "0.0 MiB").
func TestSize(t *testing.T) {
	for n, want := range map[uint64]string{0: "0 B", 1000: "1000 B", 4096: "4.0 KiB", 16 << 20: "16.0 MiB", 3 << 30: "3.0 GiB"} {
		if got := size(n); got != want {
			t.Errorf("size(%d) = %q, want %q", n, got, want)
		}
	}
}
