package capture

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/tacap/tacap/bpf"
	"github.com/tacap/tacap/capture/attach"
	"github.com/tacap/tacap/dataset"
)

// liveSource is traffic on interfaces, seen by the attached programs.
type liveSource struct {
	cfg    Config
	ifaces []*net.Interface
	names  map[uint32]string
	anchor Anchor
	atts   []*attach.Attachment

	// Link notifications (netlink), read by feed: what happened to the
	// interfaces, and how each is now.
	links     chan netlink.LinkUpdate
	linksDone chan struct{}
	state     map[uint32]string // ifindex -> up, down or gone
	events    []dataset.Event
}

// ErrInterfacesGone marks a live run whose interfaces all went away.
var ErrInterfacesGone = errors.New("every interface the capture was attached to is gone")

// openLive resolves the interfaces (before anything is loaded, so a typo
// costs nothing).
func openLive(cfg Config) (*liveSource, error) {
	s := &liveSource{cfg: cfg, names: map[uint32]string{}}
	for _, name := range cfg.Interfaces {
		iface, err := attach.Interface(name)
		if err != nil {
			return nil, err
		}
		s.ifaces = append(s.ifaces, iface)
		s.names[uint32(iface.Index)] = iface.Name
	}
	return s, nil
}

func (s *liveSource) programs() (bpf.ProgramSet, bool) {
	if s.cfg.Attach == attach.XDP {
		return bpf.ProgramsXDP, false
	}
	return bpf.ProgramsTC, false
}

func (s *liveSource) start(objs *bpf.Objects, m *dataset.Manifest) error {
	s.anchor = NewAnchor()
	progs := attach.Programs{Ingress: objs.TacapTcIngress, Egress: objs.TacapTcEgress, XDP: objs.TacapXdp}
	for _, iface := range s.ifaces {
		a, err := attach.Attach(iface, s.cfg.Directions, s.cfg.Attach, progs)
		if err != nil {
			_ = s.stop()
			return err
		}
		s.atts = append(s.atts, a...)
	}
	if err := s.watchLinks(); err != nil {
		_ = s.stop()
		return err
	}
	m.Interfaces, m.Directions = s.cfg.Interfaces, s.cfg.Directions
	m.Hook = hookOf(s.cfg.Attach)
	m.AttachModes = attachModes(s.atts)
	m.Clock = clockOf(s.anchor)
	return nil
}

func hookOf(m attach.Mode) string {
	if m == attach.XDP {
		return "xdp"
	}
	return "tc"
}

// attachModes lists the modes used, each once, in the order of the
// attachments (first interface first).
func attachModes(atts []*attach.Attachment) []string {
	var out []string
	seen := map[attach.Mode]bool{}
	for _, a := range atts {
		if !seen[a.Mode] {
			seen[a.Mode] = true
			out = append(out, string(a.Mode))
		}
	}
	return out
}

func (s *liveSource) wall(ts uint64) int64 { return s.anchor.Wall(ts) }

func (s *liveSource) ifName(ifindex uint32) string {
	if n, ok := s.names[ifindex]; ok {
		return n
	}
	return "if" + strconv.Itoa(int(ifindex))
}

// feed polls the ring until ctx ends or writing fails. It polls
// adaptively: at once while records pour in, backing off to maxPoll while
// they trickle (a wakeup per millisecond for a few records is what costs
// CPU at low rates), and never longer than the ring takes to fill a
// sixteenth at the rate just seen. Each poll reads one batch (as before the
// engines were merged): between polls the ring absorbs bursts, and the
// final drain empties it.
func (s *liveSource) feed(ctx context.Context, r *run) (string, error) {
	const maxPoll = 10 * time.Millisecond
	busy := busyRecords(r.k.RingSize())
	sleep := r.cfg.PollInterval
	timer := time.NewTimer(sleep)
	defer timer.Stop()
	for {
		n, err := r.pump(false)
		if err != nil {
			return dataset.StopError, err
		}
		r.secondIs(time.Now().Unix())
		if n >= busy {
			sleep = r.cfg.PollInterval
			if ctx.Err() != nil {
				break
			}
			continue // more is probably waiting
		}
		sleep = min(2*sleep, maxPoll)
		timer.Reset(sleep)
		select {
		case <-ctx.Done():
		case <-r.w.failure():
			return dataset.StopError, r.w.err()
		case u := <-s.links:
			if s.linkChanged(u) {
				return dataset.StopNoIfaces, nil
			}
			continue
		case <-timer.C:
			continue
		}
		break
	}
	if errors.Is(context.Cause(ctx), context.DeadlineExceeded) {
		return dataset.StopDeadline, nil
	}
	return dataset.StopSignal, nil
}

// busyRecords is how many records a pump must bring for the reader to
// drain again at once rather than sleep: a sixteenth of the ring, but at
// most a batch, which is all one pump takes. (Without that cap a large
// ring — 262 144 records a sixteenth for --buffer-packets 4000000 — was
// never busy: every batch was followed by a sleep of up to maxPoll, and
// the reader drained at most 8 192 records per 10 ms however fast they
// came, losing records to buffer_full in long floods.)
func busyRecords(ringBytes int) int {
	return max(1, min(batchRows, ringBytes/bpf.RecordSize/16))
}

// stop detaches, last attached first: the tc filter that added a clsact
// qdisc goes last and can then remove it.
func (s *liveSource) stop() error {
	var errs []error
	for i := len(s.atts) - 1; i >= 0; i-- {
		errs = append(errs, s.atts[i].Close())
	}
	s.atts = nil
	return errors.Join(errs...)
}

// watchLinks subscribes to link notifications of this network namespace.
func (s *liveSource) watchLinks() error {
	s.state = map[uint32]string{}
	for _, i := range s.ifaces {
		s.state[uint32(i.Index)] = dataset.IfaceUp // Interface checked it is up
	}
	s.links, s.linksDone = make(chan netlink.LinkUpdate, 64), make(chan struct{})
	if err := netlink.LinkSubscribe(s.links, s.linksDone); err != nil {
		return fmt.Errorf("watch the interfaces (netlink): %w", err)
	}
	return nil
}

// linkChanged records what a link notification says of an attached
// interface, and reports whether none of them is left.
func (s *liveSource) linkChanged(u netlink.LinkUpdate) (noneLeft bool) {
	idx := uint32(u.Index)
	old, ours := s.state[idx]
	if !ours || old == dataset.IfaceGone {
		return false
	}
	now := dataset.IfaceUp
	switch {
	case u.Header.Type == unix.RTM_DELLINK:
		now = dataset.IfaceGone
	case u.IfInfomsg.Flags&unix.IFF_UP == 0:
		now = dataset.IfaceDown
	}
	if now == old {
		return false
	}
	s.state[idx] = now
	s.events = append(s.events, dataset.Event{Time: time.Now().UTC(), Iface: s.names[idx], What: now})
	for _, st := range s.state {
		if st != dataset.IfaceGone {
			return false
		}
	}
	return true
}

func (s *liveSource) finish(m *dataset.Manifest, stopped string) (bool, error, error) {
	m.Events = s.events
	if stopped == dataset.StopNoIfaces {
		var gone []string
		for _, e := range s.events {
			if e.What == dataset.IfaceGone {
				gone = append(gone, fmt.Sprintf("%s at %s", e.Iface, e.Time.Format("15:04:05.000")))
			}
		}
		return true, nil, fmt.Errorf("%w (%s): the dataset holds what came before", ErrInterfacesGone, strings.Join(gone, ", "))
	}
	return true, nil, nil
}

// progress names the interfaces that are down or gone.
func (s *liveSource) progress(st *Status) {
	for _, i := range s.ifaces {
		if now := s.state[uint32(i.Index)]; now != dataset.IfaceUp {
			st.Interfaces = append(st.Interfaces, i.Name+" "+now)
		}
	}
}

func (s *liveSource) programNow() uint64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return uint64(ts.Nano())
}

// flowMargin: live, a flow idle one second past the timeout is taken out
// (a packet racing it would have to be stamped a second before it runs),
// looked for every quarter of the timeout, at most every 10 s.
func (s *liveSource) flowMargin(idle time.Duration) (time.Duration, time.Duration) {
	return time.Second, min(max(idle/4, 100*time.Millisecond), 10*time.Second)
}

func (s *liveSource) close() error {
	if s.linksDone != nil {
		close(s.linksDone)
		s.linksDone = nil
	}
	return s.stop()
}
