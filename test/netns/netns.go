// Package netns makes throwaway network namespaces joined by veth pairs for
// end-to-end tests. Every name is unique to the test run, every namespace is
// deleted when the test ends, and all addresses come from 198.18.0.0/15 and
// 2001:db8::/32, so test traffic never leaves the namespaces.
package netns

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// NS is a network namespace created for a test.
type NS struct {
	Name string
}

// New creates a namespace with a unique name, loopback up, removed at the
// end of the test.
func New(t testing.TB, label string) *NS {
	t.Helper()
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	name := fmt.Sprintf("tacap-%s-%d-%s", label, os.Getpid(), hex.EncodeToString(suffix))
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", name, err, out)
	}
	ns := &NS{Name: name}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", name, err, out)
		}
	})
	ns.MustIP(t, "link set lo up")
	return ns
}

// IP runs `ip -n NAME args...`.
func (n *NS) IP(args string) error {
	out, err := exec.Command("ip", append([]string{"-n", n.Name}, strings.Fields(args)...)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip -n %s %s: %v: %s", n.Name, args, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// MustIP is IP that fails the test on error.
func (n *NS) MustIP(t testing.TB, format string, a ...any) {
	t.Helper()
	if err := n.IP(fmt.Sprintf(format, a...)); err != nil {
		t.Fatal(err)
	}
}

// Veth joins a and b with a veth pair named ifA (in a) and ifB (in b), both up.
func Veth(t testing.TB, a *NS, ifA string, b *NS, ifB string) {
	t.Helper()
	if out, err := exec.Command("ip", "link", "add", ifA, "netns", a.Name, "type", "veth", "peer", "name", ifB, "netns", b.Name).CombinedOutput(); err != nil {
		t.Fatalf("create veth %s/%s: %v: %s", ifA, ifB, err, out)
	}
	a.MustIP(t, "link set %s up", ifA)
	b.MustIP(t, "link set %s up", ifB)
}

// Do runs fn on an OS thread that has entered the namespace: sockets it
// opens and links it attaches belong there.
func (n *NS) Do(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		// The thread is left locked on purpose: it dies with the goroutine
		// instead of going back to the pool in the wrong namespace.
		runtime.LockOSThread()
		f, err := os.Open("/var/run/netns/" + n.Name)
		if err != nil {
			errc <- err
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("enter namespace %s: %w", n.Name, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}
