// Package labels is tacap's ground truth: a rules file (YAML) that says which
// traffic is which attack, and the matcher that applies it to packets,
// flows and sessions (docs/dataset.md, "Labels"). It reads no kernel,
// Parquet or file-system state: capture, report and the relabeller all use
// it.
package labels

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/tacap/tacap/dataset"
)

// DefaultLabel is the label of traffic no rule matches when the rules file
// names none (and when no rules file is given).
const DefaultLabel = "benign"

// Rule is one entry of a rules file.
type Rule struct {
	ID     string
	Label  string
	Attack string
	// Src and Dst are the rule's prefixes; empty matches any address.
	Src, Dst []netip.Prefix
	// Proto is the IP protocol number, or -1 for any.
	Proto int
	// Sport and Dport are inclusive ranges; [0, 65535] matches any port.
	Sport, Dport PortRange
	// Start (inclusive) and End (exclusive) in nanoseconds since the epoch;
	// math.MinInt64 and math.MaxInt64 when the rule names none.
	Start, End     int64
	BothDirections bool
	// Line is where the rule starts in its file.
	Line int
}

// PortRange is an inclusive range of ports.
type PortRange struct{ Lo, Hi uint16 }

// AnyPort matches every port.
var AnyPort = PortRange{0, 65535}

func (p PortRange) has(port uint16) bool { return p.Lo <= port && port <= p.Hi }

// Windowed says whether the rule has a start or an end.
func (r *Rule) Windowed() bool { return r.Start != math.MinInt64 || r.End != math.MaxInt64 }

// Rules is a parsed rules file.
type Rules struct {
	// Path is the file the rules came from ("" when built in code).
	Path string
	// Default labels traffic no rule matches.
	Default string
	Rules   []Rule
	// Source is the file's content, and SHA256 its hex digest.
	Source []byte
	SHA256 string
}

// None is the rules in force when no rules file is given: everything is
// labelled DefaultLabel.
func None() *Rules { return &Rules{Default: DefaultLabel} }

// Error is a rules file the parser refuses, with where and why.
type Error struct {
	Path   string
	Line   int
	Reason string
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.Path, e.Line, e.Reason)
	}
	return fmt.Sprintf("%s: %s", e.Path, e.Reason)
}

// ErrRules marks every error of Parse, for callers that map it to a usage error.
var ErrRules = errors.New("invalid rules file")

func (e *Error) Unwrap() error { return ErrRules }

// Parse reads a rules file's content; path names it in errors.
func Parse(path string, src []byte) (*Rules, error) {
	sum := sha256.Sum256(src)
	rs := &Rules{Path: path, Default: DefaultLabel, Source: bytes.Clone(src), SHA256: hex.EncodeToString(sum[:])}
	p := parser{path: path}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(src))
	if err := dec.Decode(&doc); err != nil && err != io.EOF {
		return nil, p.yamlError(err)
	}
	var next yaml.Node
	if err := dec.Decode(&next); err != io.EOF {
		if err != nil {
			return nil, p.yamlError(err)
		}
		return nil, p.errf(&next, "a second YAML document: a rules file is one document")
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return rs, nil // an empty file: no rules, the default label
	}
	top := doc.Content[0]
	if top.Kind != yaml.MappingNode {
		return nil, p.errf(top, "the file must be a mapping with the keys default and rules")
	}
	seen := map[string]bool{}
	err := p.mapping(top, func(key string, k, v *yaml.Node) error {
		switch key {
		case "default":
			s, err := p.nonEmpty(v, "default")
			rs.Default = s
			return err
		case "rules":
			if v.Kind != yaml.SequenceNode {
				if v.Tag == "!!null" {
					return nil
				}
				return p.errf(v, "rules must be a list")
			}
			for _, item := range v.Content {
				r, err := p.rule(item)
				if err != nil {
					return err
				}
				if seen[r.ID] {
					return p.errf(idNode(item), "rule %q: duplicate id", r.ID)
				}
				seen[r.ID] = true
				rs.Rules = append(rs.Rules, r)
			}
			return nil
		}
		return p.errf(k, "unknown key %q (the keys are default and rules)", key)
	})
	if err != nil {
		return nil, err
	}
	return rs, nil
}

type parser struct{ path string }

// idNode is the id value of a rule's mapping (the rule itself if none).
func idNode(rule *yaml.Node) *yaml.Node {
	for i := 0; i+1 < len(rule.Content); i += 2 {
		if rule.Content[i].Value == "id" {
			return rule.Content[i+1]
		}
	}
	return rule
}

func (p *parser) errf(n *yaml.Node, format string, args ...any) error {
	return &Error{Path: p.path, Line: n.Line, Reason: fmt.Sprintf(format, args...)}
}

// yamlError turns the YAML library's "yaml: line N: why" into an Error.
func (p *parser) yamlError(err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	// The YAML library leaves the line out of errors on the first line.
	line := 1
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if n, after, ok := strings.Cut(rest, ": "); ok {
			if v, err := strconv.Atoi(n); err == nil {
				line, msg = v, after
			}
		}
	}
	return &Error{Path: p.path, Line: line, Reason: "not valid YAML: " + msg}
}

// mapping calls f for each key of a mapping node, refusing duplicates.
func (p *parser) mapping(n *yaml.Node, f func(key string, k, v *yaml.Node) error) error {
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return p.errf(k, "a key must be a plain name")
		}
		if seen[k.Value] {
			return p.errf(k, "key %q given twice", k.Value)
		}
		seen[k.Value] = true
		if err := f(k.Value, k, v); err != nil {
			return err
		}
	}
	return nil
}

func (p *parser) scalar(n *yaml.Node, what string) (string, error) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		return "", p.errf(n, "%s must be a single value", what)
	}
	return n.Value, nil
}

func (p *parser) nonEmpty(n *yaml.Node, what string) (string, error) {
	s, err := p.scalar(n, what)
	if err == nil && s == "" {
		err = p.errf(n, "%s must not be empty", what)
	}
	return s, err
}

func (p *parser) rule(n *yaml.Node) (Rule, error) {
	r := Rule{Proto: -1, Sport: AnyPort, Dport: AnyPort, Start: math.MinInt64, End: math.MaxInt64,
		BothDirections: true, Line: n.Line}
	if n.Kind != yaml.MappingNode {
		return r, p.errf(n, "a rule must be a mapping (id, label, ...)")
	}
	var startNode, endNode *yaml.Node
	err := p.mapping(n, func(key string, k, v *yaml.Node) error {
		var err error
		switch key {
		case "id":
			r.ID, err = p.nonEmpty(v, "id")
		case "label":
			r.Label, err = p.nonEmpty(v, "label")
		case "attack":
			r.Attack, err = p.scalar(v, "attack")
		case "src":
			r.Src, err = p.prefixes(v, "src")
		case "dst":
			r.Dst, err = p.prefixes(v, "dst")
		case "proto":
			r.Proto, err = p.proto(v)
		case "sport":
			r.Sport, err = p.ports(v, "sport")
		case "dport":
			r.Dport, err = p.ports(v, "dport")
		case "start":
			r.Start, err = p.time(v, "start")
			startNode = v
		case "end":
			r.End, err = p.time(v, "end")
			endNode = v
		case "both_directions":
			r.BothDirections, err = p.bool(v, "both_directions")
		default:
			err = p.errf(k, "unknown key %q (a rule has id, label, attack, src, dst, proto, sport, dport, start, end, both_directions)", key)
		}
		return err
	})
	if err != nil {
		return r, p.inRule(err, r.ID)
	}
	switch {
	case r.ID == "":
		return r, p.errf(n, "a rule needs an id")
	case r.Label == "":
		return r, p.errf(n, "rule %q needs a label", r.ID)
	case startNode != nil && endNode != nil && r.End <= r.Start:
		return r, p.errf(endNode, "rule %q: end %s is not after start %s", r.ID, endNode.Value, startNode.Value)
	}
	return r, nil
}

// inRule names the rule in an error about one of its keys, when its id is
// known (the id usually comes first).
func (p *parser) inRule(err error, id string) error {
	var e *Error
	if id != "" && errors.As(err, &e) && !strings.HasPrefix(e.Reason, "rule ") {
		e.Reason = fmt.Sprintf("rule %q: %s", id, e.Reason)
	}
	return err
}

func (p *parser) prefixes(n *yaml.Node, what string) ([]netip.Prefix, error) {
	items := []*yaml.Node{n}
	if n.Kind == yaml.SequenceNode {
		items = n.Content
		if len(items) == 0 {
			return nil, p.errf(n, "%s: an empty list matches nothing; leave %s out to match any address", what, what)
		}
	}
	var out []netip.Prefix
	for _, it := range items {
		s, err := p.scalar(it, what)
		if err != nil {
			return nil, err
		}
		pfx, err := parsePrefix(s)
		if err != nil {
			return nil, p.errf(it, "%s: %v", what, err)
		}
		out = append(out, pfx)
	}
	return out, nil
}

// parsePrefix reads a CIDR prefix or a single address (a host prefix). A
// prefix with bits set past its length is refused: it is usually a typo.
func parsePrefix(s string) (netip.Prefix, error) {
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("%q is not an address or a CIDR prefix", s)
		}
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return p, fmt.Errorf("%q is not a CIDR prefix", s)
	}
	if p.Addr().Is4In6() {
		return p, fmt.Errorf("%q: write IPv4 prefixes as IPv4", s)
	}
	if m := p.Masked(); m != p {
		return p, fmt.Errorf("%q has bits set past /%d (did you mean %s?)", s, p.Bits(), m)
	}
	return p, nil
}

var protoNames = map[string]int{"tcp": 6, "udp": 17, "icmp": 1, "icmpv6": 58}

func (p *parser) proto(n *yaml.Node) (int, error) {
	s, err := p.scalar(n, "proto")
	if err != nil {
		return 0, err
	}
	if v, ok := protoNames[strings.ToLower(s)]; ok {
		return v, nil
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < 0 || v > 255 {
		return 0, p.errf(n, "proto: %q is not tcp, udp, icmp, icmpv6 or a protocol number 0-255", s)
	}
	return v, nil
}

func (p *parser) ports(n *yaml.Node, what string) (PortRange, error) {
	s, err := p.scalar(n, what)
	if err != nil {
		return AnyPort, err
	}
	port := func(t string) (uint16, bool) {
		v, err := strconv.Atoi(strings.TrimSpace(t))
		return uint16(v), err == nil && v >= 0 && v <= 65535
	}
	lo, hi, isRange := strings.Cut(s, "-")
	a, ok := port(lo)
	b := a
	if isRange {
		var okB bool
		b, okB = port(hi)
		ok = ok && okB
	}
	if !ok {
		return AnyPort, p.errf(n, "%s: %q is not a port (0-65535) or a range LOW-HIGH", what, s)
	}
	if b < a {
		return AnyPort, p.errf(n, "%s: range %q ends before it starts", what, s)
	}
	return PortRange{a, b}, nil
}

func (p *parser) time(n *yaml.Node, what string) (int64, error) {
	s, err := p.scalar(n, what)
	if err != nil {
		return 0, err
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return 0, p.errf(n, "%s: %q is not an RFC 3339 time with an offset (e.g. 2019-01-12T13:29:00-05:00 or ...Z)", what, s)
	}
	// Nanoseconds since the epoch in 64 bits reach from 1677 to 2262.
	if u := t.UTC(); u.Year() < 1678 || u.Year() > 2261 {
		return 0, p.errf(n, "%s: %q is outside the years 1678-2261 that row times can hold", what, s)
	}
	return t.UnixNano(), nil
}

func (p *parser) bool(n *yaml.Node, what string) (bool, error) {
	s, err := p.scalar(n, what)
	if err != nil {
		return false, err
	}
	switch strings.ToLower(s) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, p.errf(n, "%s: %q is not true or false", what, s)
}

// Info is what a run's manifest records of the rules.
func (rs *Rules) Info() *dataset.LabelsInfo {
	return &dataset.LabelsInfo{File: rs.Path, SHA256: rs.SHA256, Default: rs.Default, Rules: len(rs.Rules),
		Content: string(rs.Source)}
}
