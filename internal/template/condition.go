package template

import (
	"slices"
	"strings"
	"unicode/utf8"

	"wiresk/internal/wiresk"
)

// Condition is the `if` expression of a step: a plain expression, like
// trigger.body.total > 100, that must evaluate to a bool. Wrapping the whole
// expression in {{ }} is also accepted.
type Condition struct {
	part part
	refs []string
}

// ParseCondition parses and compiles the condition s. Errors are
// *wiresk.Error with code wiresk.EValidation, as for Parse.
func ParseCondition(s string) (*Condition, error) {
	if len(s) > maxTemplateBytes {
		return nil, wiresk.Errorf(wiresk.EValidation, "condition is %d bytes long; the limit is %d", len(s), maxTemplateBytes)
	}
	trimmed := strings.TrimSpace(s)
	if trimmed == "" {
		return nil, wiresk.Errorf(wiresk.EValidation, "condition is empty")
	}
	if strings.Contains(trimmed, "{{") {
		t, err := Parse(s)
		if err != nil {
			return nil, err
		}
		// Surrounding blanks are allowed around the one {{ }}.
		var p *part
		for i := range t.parts {
			switch {
			case t.parts[i].prog != nil && p == nil:
				p = &t.parts[i]
			case t.parts[i].prog != nil || strings.TrimSpace(t.parts[i].text) != "":
				return nil, wiresk.Errorf(wiresk.EValidation, "a condition is one expression: write it without {{ }}, or put all of it in a single {{ }}")
			}
		}
		c, perr := compileExpr(p.expr, true)
		if perr != nil {
			return nil, perr.at(p.expr, p.pos)
		}
		if c.item {
			return nil, errConditionItem
		}
		return &Condition{part: part{expr: p.expr, pos: p.pos, prog: c.prog}, refs: t.refs}, nil
	}
	c, perr := compileExpr(trimmed, true)
	pos := utf8.RuneCountInString(s[:strings.Index(s, trimmed)]) + 1
	if perr != nil {
		return nil, perr.at(trimmed, pos)
	}
	if c.item {
		return nil, errConditionItem
	}
	return &Condition{part: part{expr: trimmed, pos: pos, prog: c.prog}, refs: sortedUnique(c.refs)}, nil
}

// errConditionItem refuses a condition that reads item or index: a
// condition is a step's `if`, and no step's `if` runs inside a loop.
var errConditionItem = wiresk.Errorf(wiresk.EValidation, "a condition cannot read item or index: they exist only in the input of a loop's step")

// String returns the expression of the condition.
func (c *Condition) String() string { return c.part.expr }

// StepRefs returns the ids X of every steps.X the condition reads, sorted
// and without duplicates.
func (c *Condition) StepRefs() []string { return slices.Clone(c.refs) }

// Eval evaluates the condition against env (see Template.Render). A result
// that is not a bool, nil included, is an error: compare explicitly, as in
// trigger.body.flag == true, when the data may be missing.
func (c *Condition) Eval(env map[string]any) (bool, error) {
	return c.EvalIn(nil, env)
}

// EvalIn is Eval drawing on the shared budget b (a Run's, say) instead of
// the process budget alone.
func (c *Condition) EvalIn(b *Budget, env map[string]any) (bool, error) {
	r := newRenderer(env, b)
	v, err := r.run(c.part.prog, c.part.expr, c.part.pos)
	if err = r.end(err); err != nil {
		return false, err
	}
	ok, isBool := v.(bool)
	if !isBool {
		return false, exprError(c.part.expr, c.part.pos, "the condition gives "+describe(v)+", not true or false")
	}
	return ok, nil
}
