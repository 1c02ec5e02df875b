package filter

import (
	"net"
	"net/netip"
	"strings"
)

// tokKind is the kind of a token of a filter expression.
type tokKind uint8

const (
	tokEOF   tokKind = iota
	tokWord          // a keyword, a name, a number or an address
	tokOp            // punctuation: ( ) [ ] : / ! and the arithmetic and relational operators
	tokError         // a character no token starts with
)

type token struct {
	kind tokKind
	text string
	pos  int // byte offset in the expression
}

// lex splits an expression into tokens as libpcap's scanner does: a word
// that starts with a letter may hold '-', '_' and '.' (tcp-syn, ftp-data);
// one that starts with a digit or ':' is a number or an address (IPv4,
// IPv6, MAC), and a ':' in it that makes no address ends it (tcp[13:1]).
func lex(s string) []token {
	var out []token
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case isLetter(c) || c == '\\':
			j := i + 1
			for j < len(s) && (isLetter(s[j]) || isDigit(s[j]) || s[j] == '-' || s[j] == '_' || s[j] == '.' || s[j] == ':') {
				j++
			}
			j = trimWord(s, i, j)
			out = append(out, token{tokWord, s[i:j], i})
			i = j
		case isDigit(c) || c == ':' && i+1 < len(s) && s[i+1] == ':':
			j := i + 1
			for j < len(s) && (isHex(s[j]) || s[j] == '.' || s[j] == ':' || s[j] == 'x' || s[j] == 'X') {
				j++
			}
			if j = trimWord(s, i, j); j == i { // "::" that is no address: two ':'
				out = append(out, token{tokOp, ":", i})
				i++
				continue
			}
			out = append(out, token{tokWord, s[i:j], i})
			i = j
		default:
			if op := opAt(s[i:]); op != "" {
				out = append(out, token{tokOp, op, i})
				i += len(op)
				continue
			}
			out = append(out, token{tokError, s[i : i+1], i})
			i++
		}
	}
	return append(out, token{tokEOF, "", len(s)})
}

// trimWord cuts s[i:j] at its first ':' unless the whole word is an IPv6
// or MAC address, and drops a trailing '.', '-' or '_'.
func trimWord(s string, i, j int) int {
	w := s[i:j]
	if k := strings.IndexByte(w, ':'); k >= 0 && !isColonAddress(w) {
		j = i + k
	}
	for j > i+1 && strings.ContainsRune(".-_", rune(s[j-1])) {
		j--
	}
	return j
}

func isColonAddress(w string) bool {
	if a, err := netip.ParseAddr(w); err == nil && a.Is6() {
		return true
	}
	hw, err := net.ParseMAC(w)
	return err == nil && len(hw) == 6
}

var ops = []string{"&&", "||", "<<", ">>", "==", "!=", "<=", ">=", "(", ")", "[", "]", ":", "/", "!",
	"&", "|", "^", "+", "-", "*", "%", "=", "<", ">"}

func opAt(s string) string {
	for _, op := range ops {
		if strings.HasPrefix(s, op) {
			return op
		}
	}
	return ""
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isDigit(c byte) bool  { return c >= '0' && c <= '9' }
func isHex(c byte) bool    { return isDigit(c) || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }
