package expression

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits enforced by [Parse].
const (
	// MaxLength is the maximum length of an expression, in characters
	// (Unicode code points).
	MaxLength = 600
	// MaxClauses is the maximum number of clauses joined with "and".
	MaxClauses = 10
	// MaxWildcards is the maximum number of wildcards ("*" and "?"
	// together) in the pattern of one "matches" clause.
	MaxWildcards = 16
)

// operator is a comparison operator of the language.
type operator uint8

const (
	opMatches operator = iota + 1
	opEq
)

func (o operator) String() string {
	switch o {
	case opMatches:
		return "matches"
	case opEq:
		return "eq"
	}
	return "operator(" + strconv.Itoa(int(o)) + ")"
}

// clause is one "claims['name'] op 'comparand'" term.
type clause struct {
	claim     string // decoded claim name
	op        operator
	comparand string // decoded comparand
}

// Expression is a parsed, validated claims-matching expression. It is
// immutable and safe for concurrent use. The zero value (and a nil pointer)
// has no clauses and matches nothing.
type Expression struct {
	clauses []clause
}

// ParseError describes why an expression is invalid.
type ParseError struct {
	Offset int    // byte offset into the source where the problem is
	Msg    string // what is wrong, quoting what was found
}

func (e *ParseError) Error() string {
	return fmt.Sprintf("expression: at offset %d: %s", e.Offset, e.Msg)
}

// Parse parses and validates src. Errors are *ParseError.
func Parse(src string) (*Expression, error) {
	p := parser{src: src}
	if err := p.checkText(); err != nil {
		return nil, err
	}
	var e Expression
	for {
		if len(e.clauses) == MaxClauses {
			return nil, p.errorf(p.pos, "too many clauses: at most %d are allowed", MaxClauses)
		}
		c, err := p.clause()
		if err != nil {
			return nil, err
		}
		e.clauses = append(e.clauses, c)
		if p.pos == len(src) {
			return &e, nil
		}
		if err := p.and(); err != nil {
			return nil, err
		}
	}
}

// String returns the canonical source text of e. Because the grammar admits
// exactly one spelling of each expression, it equals the text e was parsed
// from.
func (e *Expression) String() string {
	if e == nil {
		return ""
	}
	var b strings.Builder
	for i, c := range e.clauses {
		if i > 0 {
			b.WriteString(" and ")
		}
		b.WriteString("claims[")
		b.WriteString(quote(c.claim))
		b.WriteString("] ")
		b.WriteString(c.op.String())
		b.WriteByte(' ')
		b.WriteString(quote(c.comparand))
	}
	return b.String()
}

// Claims returns the claim names referenced by e, in order of first
// appearance, without duplicates.
func (e *Expression) Claims() []string {
	if e == nil {
		return nil
	}
	var names []string
	seen := make(map[string]bool, len(e.clauses))
	for _, c := range e.clauses {
		if !seen[c.claim] {
			seen[c.claim] = true
			names = append(names, c.claim)
		}
	}
	return names
}

// maxShownValue bounds how much of a claim value a failure message quotes.
const maxShownValue = 256

// Match evaluates e against claims supplied by lookup, which returns the
// string value of a claim and whether the claim is present as a string. A
// missing or non-string claim fails its clause. When ok is false, failed
// describes the first failing clause in words, for example
//
//	claims['sub'] is "system:serviceaccount:other:app", which does not match 'system:serviceaccount:team-*:app'
//
// An expression without clauses (the zero value) never matches.
func (e *Expression) Match(lookup func(claim string) (string, bool)) (ok bool, failed string) {
	if e == nil || len(e.clauses) == 0 {
		return false, "the expression is empty"
	}
	for _, c := range e.clauses {
		v, present := lookup(c.claim)
		if !present {
			return false, "claim " + quote(c.claim) + " is missing or not a string"
		}
		var verb string
		switch c.op {
		case opMatches:
			if Wildcard(c.comparand, v) {
				continue
			}
			verb = "does not match"
		case opEq:
			if v == c.comparand {
				continue
			}
			verb = "does not equal"
		default:
			return false, "claims[" + quote(c.claim) + "] has unknown operator " + c.op.String()
		}
		return false, "claims[" + quote(c.claim) + "] is " + showValue(v) + ", which " + verb + " " + quote(c.comparand)
	}
	return true, ""
}

// quote renders s as a single-quoted literal of the language.
func quote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// showValue renders a claim value for a failure message: Go-quoted (so
// control characters and invalid UTF-8 are escaped) and truncated.
func showValue(v string) string {
	if len(v) <= maxShownValue {
		return strconv.Quote(v)
	}
	cut := maxShownValue
	for cut > 0 && !utf8.RuneStart(v[cut]) {
		cut--
	}
	return strconv.Quote(v[:cut]) + "… (" + strconv.Itoa(len(v)) + " bytes)"
}

// parser is a hand-written recursive-descent parser over src.
type parser struct {
	src string
	pos int
}

func (p *parser) errorf(off int, format string, args ...any) *ParseError {
	return &ParseError{Offset: off, Msg: fmt.Sprintf(format, args...)}
}

// checkText enforces the character-level rules: valid UTF-8, no control
// characters, at most MaxLength characters, no leading whitespace.
func (p *parser) checkText() error {
	n := 0
	for i, r := range p.src {
		if r == utf8.RuneError {
			if _, w := utf8.DecodeRuneInString(p.src[i:]); w == 1 {
				return p.errorf(i, "invalid UTF-8 byte %#02x", p.src[i])
			}
		}
		if unicode.IsControl(r) {
			return p.errorf(i, "control character %U is not allowed", r)
		}
		n++
		if n > MaxLength {
			return p.errorf(i, "expression is longer than %d characters", MaxLength)
		}
	}
	if p.src == "" {
		return p.errorf(0, "expression is empty")
	}
	if r, _ := utf8.DecodeRuneInString(p.src); unicode.IsSpace(r) {
		return p.errorf(0, "leading whitespace is not allowed")
	}
	return nil
}

// found describes the text at off for an error message: the run of
// characters up to the next space (bounded), quoted, or "end of expression".
func (p *parser) found(off int) string {
	if off >= len(p.src) {
		return "end of expression"
	}
	rest := p.src[off:]
	n := 0
	for i, r := range rest {
		if i > 0 && r == ' ' {
			return strconv.Quote(rest[:i])
		}
		if n == 24 {
			return strconv.Quote(rest[:i]) + "…"
		}
		n++
	}
	return strconv.Quote(rest)
}

// clause parses one clause starting at p.pos.
func (p *parser) clause() (clause, error) {
	const prefix = "claims['"
	start := p.pos
	rest := p.src[start:]
	if !strings.HasPrefix(rest, prefix) {
		switch {
		case rest == "":
			return clause{}, p.errorf(start, "expected %q, found end of expression", prefix)
		case strings.HasPrefix(rest, "claims[\""):
			return clause{}, p.errorf(start+7, "claim names must be in single quotes, found %s", p.found(start+7))
		case len(rest) >= len(prefix) && strings.EqualFold(rest[:len(prefix)], prefix):
			return clause{}, p.errorf(start, "keywords are lower-case: expected %q, found %q", prefix, rest[:len(prefix)])
		case unicode.IsSpace(firstRune(rest)):
			return clause{}, p.errorf(start, "expected %q, found more whitespace", prefix)
		}
		return clause{}, p.errorf(start, "expected %q, found %s", prefix, p.found(start))
	}
	p.pos += len(prefix) - 1 // at the opening quote
	name, err := p.quoted(func(off int, r rune) error {
		if isNameRune(r) {
			return nil
		}
		return p.errorf(off, "invalid character %q in claim name (allowed: letters, digits, \"_\", \".\", \":\", \"-\")", r)
	})
	if err != nil {
		return clause{}, err
	}
	if name == "" {
		return clause{}, p.errorf(p.pos-1, "claim name is empty")
	}
	if !strings.HasPrefix(p.src[p.pos:], "]") {
		return clause{}, p.errorf(p.pos, "expected \"]\" after claim name, found %s", p.found(p.pos))
	}
	p.pos++
	if err := p.space(); err != nil {
		return clause{}, err
	}
	op, err := p.operator()
	if err != nil {
		return clause{}, err
	}
	if err := p.space(); err != nil {
		return clause{}, err
	}
	if p.pos >= len(p.src) || p.src[p.pos] != '\'' {
		return clause{}, p.errorf(p.pos, "expected a comparand in single quotes, found %s", p.found(p.pos))
	}
	open := p.pos
	comparand, err := p.quoted(nil)
	if err != nil {
		return clause{}, err
	}
	if n := strings.Count(comparand, "*") + strings.Count(comparand, "?"); op == opMatches && n > MaxWildcards {
		return clause{}, p.errorf(open, "too many wildcards in the pattern: %d, at most %d (\"*\" and \"?\" together) are allowed", n, MaxWildcards)
	}
	return clause{claim: name, op: op, comparand: comparand}, nil
}

// isNameRune reports whether r may appear in a claim name. A single quote is
// allowed (written as two single quotes in the source).
func isNameRune(r rune) bool {
	switch {
	case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9':
		return true
	case r == '_', r == '.', r == ':', r == '-', r == '\'':
		return true
	}
	return false
}

func firstRune(s string) rune {
	r, _ := utf8.DecodeRuneInString(s)
	return r
}

// quoted decodes the single-quoted string whose opening quote is at p.pos
// and leaves p.pos after the closing quote. check, if not nil, vets each
// decoded character (off is its source offset).
func (p *parser) quoted(check func(off int, r rune) error) (string, error) {
	open := p.pos
	var b strings.Builder
	i := open + 1
	for i < len(p.src) {
		r, w := utf8.DecodeRuneInString(p.src[i:])
		if r == '\'' {
			if i+1 < len(p.src) && p.src[i+1] == '\'' {
				w = 2 // escaped quote
			} else {
				p.pos = i + 1
				return b.String(), nil
			}
		}
		if check != nil {
			if err := check(i, r); err != nil {
				return "", err
			}
		}
		b.WriteRune(r)
		i += w
	}
	return "", p.errorf(open, "unterminated quoted string: no closing \"'\"")
}

// space consumes exactly one U+0020.
func (p *parser) space() error {
	if p.pos >= len(p.src) {
		return p.errorf(p.pos, "expected a space, found end of expression")
	}
	if p.src[p.pos] != ' ' {
		return p.errorf(p.pos, "expected a space, found %s", p.found(p.pos))
	}
	p.pos++
	if p.pos < len(p.src) && unicode.IsSpace(firstRune(p.src[p.pos:])) {
		return p.errorf(p.pos, "expected a single space, found more whitespace")
	}
	return nil
}

// word returns the run of ASCII letters at p.pos.
func (p *parser) word() string {
	i := p.pos
	for i < len(p.src) && ('a' <= p.src[i] && p.src[i] <= 'z' || 'A' <= p.src[i] && p.src[i] <= 'Z') {
		i++
	}
	return p.src[p.pos:i]
}

func (p *parser) operator() (operator, error) {
	w := p.word()
	var op operator
	switch w {
	case "matches":
		op = opMatches
	case "eq":
		op = opEq
	default:
		if strings.EqualFold(w, "matches") || strings.EqualFold(w, "eq") {
			return 0, p.errorf(p.pos, "operators are lower-case: expected %q, found %q", strings.ToLower(w), w)
		}
		return 0, p.errorf(p.pos, "expected operator \"matches\" or \"eq\", found %s", p.found(p.pos))
	}
	p.pos += len(w)
	return op, nil
}

// and consumes " and " between two clauses.
func (p *parser) and() error {
	start := p.pos
	rest := p.src[start:]
	if strings.TrimLeftFunc(rest, unicode.IsSpace) == "" {
		return p.errorf(start, "trailing whitespace is not allowed")
	}
	if rest[0] != ' ' {
		return p.errorf(start, "expected \" and \" or end of expression, found %s", p.found(start))
	}
	if err := p.space(); err != nil {
		return err
	}
	w := p.word()
	if w != "and" {
		if strings.EqualFold(w, "and") {
			return p.errorf(p.pos, "keywords are lower-case: expected \"and\", found %q", w)
		}
		return p.errorf(p.pos, "expected \"and\" or end of expression, found %s", p.found(p.pos))
	}
	p.pos += len(w)
	if p.pos == len(p.src) {
		return p.errorf(p.pos, "expected a clause after \"and\", found end of expression")
	}
	return p.space()
}
