// Package template renders the inputs of Flow steps.
//
// A template is a string in which every {{ ... }} holds an expression of the
// expr language (github.com/expr-lang/expr). Expressions see two roots:
//
//	trigger  the trigger request: {"body": any, "headers": {...}, "query": {...}}
//	steps    the earlier steps:   {"<id>": {"output": any}}
//
// and, in the input of a loop step's inner step (rendered once per element
// of the loop's list), two more:
//
//	item     the element of the list
//	index    its 0-based position
//
// Parse accepts item and index anywhere and ReadsItem reports them, so that
// the step registry can refuse them outside a loop; ParseCondition refuses
// them. Rendered without them in env, they are nil.
//
// and nothing else: any other name (other than variables declared with let)
// is refused when the template is parsed, and steps must be followed by a
// literal step id (steps.my_step or steps["my_step"]) so that StepRefs lists
// every step a template reads. expr's builtins (len, upper, lower, trim,
// split, join, map, filter, toJSON, ...) are available.
//
// Member and index access is nil-safe: a missing key, an index out of range or
// a member of nil gives nil instead of an error, so trigger.body.a.b renders
// as nil (or "" inside text) when body has no a.
//
// A string that is exactly one {{ expr }} renders to the raw value of the
// expression: a map stays a map, a number a number. Any other template
// renders to a string in which each value is formatted: strings as they are,
// nil as "", numbers without exponent when integral, maps and arrays as
// compact JSON. Raw values are converted to JSON-like types (map[string]any,
// []any, string, int, float64, bool, nil).
//
// URL templates (ParseURL, and Compile's URLField, used for the url of an
// http step) escape each value by where it lands in the URL, so that data
// cannot change the URL's structure: in the path it is escaped as one path
// segment (url.PathEscape: a "/" in the value becomes %2F, and a value that
// is exactly "." or ".." is refused); in the query as a query name or value
// (url.QueryEscape: "&", "=", "#" and "+" are escaped, a space becomes "+");
// in the fragment as a fragment. Before "://" a value is written as it is,
// so that {{ steps.a.output.base }}/items keeps working. In the host and
// port a value is written as it is too (https://{{ trigger.body.sub }}.e.com
// works), but one holding "/", "?", "#", "@", "\", a space or a control
// character is refused: it would end the host, or put a user name in front
// of it. Where a request may go is otherwise the SSRF guard's and the
// Connection's host pinning's business, not escaping's. The position is followed through what is written, values
// included: after {{ base }}, a base URL that holds a "?", the next value is
// in the query. A template that is exactly one expression, like
// {{ trigger.body.url }}, renders the whole URL unescaped.
//
// raw(x) is x itself; written as the whole expression of a URL template, as
// in https://e.com/{{ raw(trigger.body.path) }}, it inserts x without
// escaping, for a value that is meant to be several path segments or a
// whole query string. raw must be the whole expression ({{ raw(a) + b }} is
// refused); outside URL templates it changes nothing.
//
// Literal braces: to write "{{" in the output, write the expression
// {{ "{{" }}. A "}}" outside an expression is ordinary text, and "}}" inside a
// string literal of an expression does not end the expression.
//
// Limits: a template is at most 64 KiB and an expression at most 1000
// syntax nodes. A Render is bounded: besides expr's own memory budget, the
// strings and collections it builds and the data its loops and string
// operations walk through are metered against a budget of 32 Mi units (a
// byte of string, or 16 per collection element), and a rendered value must
// encode to at most 8 MiB of JSON. A template that exceeds the budget fails
// with an error instead of exhausting the process.
//
// Renders also share two budgets (see Budget), so that many renders cannot
// together do what one may not. The memory a render meters (the strings
// and collections it builds and its rendered value, not the data it only
// walks through) is reserved, before repeat, replace and join build their
// result, from the process budget (DefaultProcessBudget, 128 Mi units
// unless SetProcessBudget changes it; the worker reads MemoryEnv) while the
// render runs. A render that finds it exhausted fails with an error of
// code unavailable: the failure is transient, since other renders will
// end, and the worker's redelivery retries the step. RenderIn and EvalIn
// also draw on a Run's budget (NewRunBudget, DefaultRunBudget): the units
// every render of the Run uses add up, and the render that goes over
// fails with an error of code validation_failed: permanent, since a retry
// of the same Flow on the same data needs as much.
//
// Templates, Values and Conditions are immutable once parsed and safe for
// concurrent use.
package template

import (
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/expr-lang/expr/vm"

	"wiresk/internal/wiresk"
)

// Limits of templates, see the package documentation.
const (
	maxTemplateBytes = 64 << 10
	maxNodes         = 1000
	maxMeterUnits    = 32 << 20
	maxOutputBytes   = 8 << 20
	vmMemoryBudget   = 1 << 20
)

// Template is a parsed string template.
type Template struct {
	src   string
	parts []part
	refs  []string
	// raw is set when the template is exactly one expression.
	raw bool
	// url is set for a URL template (ParseURL).
	url bool
	// item is set when an expression reads item or index.
	item bool
}

// part is a run of literal text or one expression.
type part struct {
	text string      // literal text, when prog is nil
	expr string      // the expression's source, trimmed
	pos  int         // 1-based character position of expr in the template
	prog *vm.Program // compiled expression
	// verbatim is set when the expression is raw(x): its value is not
	// escaped in a URL template.
	verbatim bool
}

// Parse parses and compiles the template s. Errors are *wiresk.Error with
// code wiresk.EValidation whose message names the bad expression and its
// position (a 1-based character offset into s).
func Parse(s string) (*Template, error) {
	if len(s) > maxTemplateBytes {
		return nil, wiresk.Errorf(wiresk.EValidation, "template is %d bytes long; the limit is %d", len(s), maxTemplateBytes)
	}
	t := &Template{src: s}
	var refs []string
	rest, offset := s, 0 // offset is the byte offset of rest in s
	for rest != "" {
		open := strings.Index(rest, "{{")
		if open < 0 {
			t.parts = append(t.parts, part{text: rest})
			break
		}
		if open > 0 {
			t.parts = append(t.parts, part{text: rest[:open]})
		}
		start := offset + open // byte offset of "{{" in s
		n, ok := scanExpr(rest[open+2:])
		if !ok {
			return nil, wiresk.Errorf(wiresk.EValidation, "unclosed %q at character %d: add a matching \"}}\" (to write a literal \"{{\", write {{ \"{{\" }})", "{{", charPos(s, start))
		}
		inner := rest[open+2 : open+2+n]
		trimmed := strings.TrimSpace(inner)
		lead := len(inner) - len(strings.TrimLeft(inner, " \t\r\n"))
		exprPos := charPos(s, start+2+lead)
		if trimmed == "" {
			return nil, wiresk.Errorf(wiresk.EValidation, "empty expression %q at character %d", rest[open:open+2+n+2], charPos(s, start))
		}
		c, err := compileExpr(trimmed, false)
		if err != nil {
			return nil, err.at(trimmed, exprPos)
		}
		refs = append(refs, c.refs...)
		t.item = t.item || c.item
		t.parts = append(t.parts, part{expr: trimmed, pos: exprPos, prog: c.prog, verbatim: c.verbatim})
		consumed := open + 2 + n + 2
		rest = rest[consumed:]
		offset += consumed
	}
	t.raw = len(t.parts) == 1 && t.parts[0].prog != nil
	t.refs = sortedUnique(refs)
	return t, nil
}

// ParseURL parses s as a URL template: like Parse, but a value written into
// the URL's path is escaped as a path segment, one written into its query as
// a query name or value, one written into its fragment as a fragment (see
// the package documentation).
func ParseURL(s string) (*Template, error) {
	t, err := Parse(s)
	if err != nil {
		return nil, err
	}
	t.url = true
	return t, nil
}

// String returns the source of the template.
func (t *Template) String() string { return t.src }

// StepRefs returns the ids X of every steps.X (or steps["X"]) the template
// reads, sorted and without duplicates.
func (t *Template) StepRefs() []string { return slices.Clone(t.refs) }

// ReadsItem reports whether the template reads item or index, which only
// the inner step of a loop step has: the step registry refuses such a
// template anywhere else when the Flow is saved.
func (t *Template) ReadsItem() bool { return t.item }

// Literal returns the text of a template without expressions, and false for
// a template with at least one.
func (t *Template) Literal() (string, bool) {
	var b strings.Builder
	for _, p := range t.parts {
		if p.prog != nil {
			return "", false
		}
		b.WriteString(p.text)
	}
	return b.String(), true
}

// Render evaluates the template against env, which holds the roots "trigger"
// and "steps" (other keys are ignored). A template that is exactly one
// expression renders to its value converted to JSON-like types; any other
// renders to a string. Errors are *wiresk.Error with code
// wiresk.EValidation naming the failing expression.
func (t *Template) Render(env map[string]any) (any, error) {
	return t.RenderIn(nil, env)
}

// RenderIn is Render drawing on the shared budget b (a Run's, say) instead
// of the process budget alone.
func (t *Template) RenderIn(b *Budget, env map[string]any) (any, error) {
	r := newRenderer(env, b)
	out, err := t.render(r)
	return out, r.end(err)
}

func (t *Template) render(r *renderer) (any, error) {
	if t.raw {
		p := t.parts[0]
		v, err := r.run(p.prog, p.expr, p.pos)
		if err != nil {
			return nil, err
		}
		out, err := normalize(v, &r.out)
		if err != nil {
			return nil, exprError(p.expr, p.pos, err.Error())
		}
		return out, nil
	}
	var b strings.Builder
	var st urlState
	for _, p := range t.parts {
		if p.prog == nil {
			if err := r.out.take(len(p.text)); err != nil {
				return nil, wiresk.Errorf(wiresk.EValidation, "%s", err.Error())
			}
			b.WriteString(p.text)
			if t.url {
				st.advance(p.text)
			}
			continue
		}
		v, err := r.run(p.prog, p.expr, p.pos)
		if err != nil {
			return nil, err
		}
		n, err := normalize(v, &r.out)
		if err != nil {
			return nil, exprError(p.expr, p.pos, err.Error())
		}
		s := formatText(n)
		if t.url {
			if !p.verbatim {
				e, err := st.escape(s)
				if err != nil {
					return nil, exprError(p.expr, p.pos, err.Error())
				}
				if err := r.out.take(len(e) - len(s)); err != nil {
					return nil, exprError(p.expr, p.pos, err.Error())
				}
				s = e
			}
			st.advance(s)
		}
		b.WriteString(s)
	}
	return b.String(), nil
}

// scanExpr returns the length of the expression that starts s (just after
// "{{"), up to but excluding the "}}" that ends it, and false when no "}}"
// ends it. It skips string literals and comments of the expr language and
// balances braces, so that {{ "}}" }} and {{ {"a": {"b": 1}} }} work.
func scanExpr(s string) (int, bool) {
	depth := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"', '\'':
			i++
			for i < len(s) && s[i] != c && s[i] != '\n' {
				if s[i] == '\\' {
					i++
				}
				i++
			}
			if i >= len(s) {
				return 0, false
			}
		case '`':
			i++
			for {
				if i >= len(s) {
					return 0, false
				}
				if s[i] == '`' {
					if i+1 < len(s) && s[i+1] == '`' {
						i += 2
						continue
					}
					break
				}
				i++
			}
		case '/':
			if i+1 < len(s) && s[i+1] == '/' {
				for i < len(s) && s[i] != '\n' {
					if s[i] == '}' && depth == 0 && i+1 < len(s) && s[i+1] == '}' {
						// A line comment ends at the closing braces of a
						// one-line expression.
						return i, true
					}
					i++
				}
			} else if i+1 < len(s) && s[i+1] == '*' {
				end := strings.Index(s[i+2:], "*/")
				if end < 0 {
					return 0, false
				}
				i += 2 + end + 1
			}
		case '{':
			depth++
		case '}':
			if depth == 0 {
				if i+1 < len(s) && s[i+1] == '}' {
					return i, true
				}
			} else {
				depth--
			}
		}
	}
	return 0, false
}

// charPos returns the 1-based character position of byte offset off in s.
func charPos(s string, off int) int {
	return utf8.RuneCountInString(s[:off]) + 1
}

// exprError returns the error of expression src at character pos.
func exprError(src string, pos int, msg string) *wiresk.Error {
	return wiresk.Errorf(wiresk.EValidation, "expression %s at character %d: %s", quoteExpr(src), pos, msg)
}

// quoteExpr quotes an expression for an error message, shortened to about
// 80 characters.
func quoteExpr(src string) string {
	const max = 80
	if utf8.RuneCountInString(src) > max {
		r := []rune(src)
		src = string(r[:max-3]) + "..."
	}
	return fmt.Sprintf("%q", src)
}

// sortedUnique sorts s and drops duplicates; it returns nil for an empty s.
func sortedUnique(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	slices.Sort(s)
	return slices.Compact(s)
}
