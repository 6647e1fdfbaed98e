package template

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"

	"wiresk/internal/wiresk"
)

// Value is a compiled JSON-like value (map[string]any, []any, string,
// number, bool or nil) whose string leaves are templates.
type Value struct {
	root node
	refs []string
}

// node is one compiled element of a Value.
type node interface {
	render(r *renderer, path string) (any, error)
}

type (
	scalarNode   struct{ v any } // nil, bool, number, or a string without expressions
	templateNode struct{ t *Template }
	mapNode      struct {
		keys  []string // sorted, so that errors come out in a stable order
		elems map[string]node
	}
	listNode []node
)

// CompileOption is an option of Compile.
type CompileOption func(*compiler)

// URLField makes the string at path (a path as in errors, like "url")
// a URL template, parsed with ParseURL.
func URLField(path string) CompileOption {
	return func(c *compiler) { c.urls[path] = true }
}

// compiler is the state of one Compile.
type compiler struct {
	urls map[string]bool
	refs []string
}

// Compile compiles v, parsing every string in it as a template. Map keys
// are not templates. Errors are *wiresk.Error with code wiresk.EValidation
// whose Field is the path of the bad element, like "body.items[2].name"
// (empty for v itself).
func Compile(v any, opts ...CompileOption) (*Value, error) {
	c := &compiler{urls: map[string]bool{}}
	for _, o := range opts {
		o(c)
	}
	root, err := c.node(v, "")
	if err != nil {
		return nil, err
	}
	return &Value{root: root, refs: sortedUnique(c.refs)}, nil
}

func (c *compiler) node(v any, path string) (node, error) {
	switch v := v.(type) {
	case int64:
		return scalarNode{int(v)}, nil
	case nil, bool, int, float64:
		if f, ok := v.(float64); ok && (math.IsNaN(f) || math.IsInf(f, 0)) {
			return nil, wiresk.FieldError(path, "is not a finite number")
		}
		return scalarNode{v}, nil
	case json.Number:
		if i, err := v.Int64(); err == nil {
			return scalarNode{int(i)}, nil
		}
		f, err := v.Float64()
		if err != nil {
			return nil, wiresk.FieldError(path, "is not a valid number")
		}
		return scalarNode{f}, nil
	case string:
		parse := Parse
		if c.urls[path] {
			parse = ParseURL
		}
		t, err := parse(v)
		if err != nil {
			var we *wiresk.Error
			if errors.As(err, &we) {
				return nil, wiresk.FieldError(path, "%s", we.Message)
			}
			return nil, err
		}
		if s, ok := t.Literal(); ok {
			return scalarNode{s}, nil
		}
		c.refs = append(c.refs, t.refs...)
		return templateNode{t}, nil
	case map[string]any:
		m := mapNode{keys: make([]string, 0, len(v)), elems: make(map[string]node, len(v))}
		for k := range v {
			m.keys = append(m.keys, k)
		}
		slices.Sort(m.keys)
		for _, k := range m.keys {
			n, err := c.node(v[k], joinPath(path, k))
			if err != nil {
				return nil, err
			}
			m.elems[k] = n
		}
		return m, nil
	case []any:
		l := make(listNode, len(v))
		for i, e := range v {
			n, err := c.node(e, path+"["+strconv.Itoa(i)+"]")
			if err != nil {
				return nil, err
			}
			l[i] = n
		}
		return l, nil
	}
	return nil, wiresk.FieldError(path, "has unsupported type %T; a value is made of objects, arrays, strings, numbers, booleans and null", v)
}

// joinPath returns the path of key k inside path: path.k, or path["k"] when
// k is not a plain name.
func joinPath(path, k string) string {
	plain := k != ""
	for _, c := range k {
		if !(c == '_' || c == '-' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			plain = false
			break
		}
	}
	switch {
	case !plain:
		return path + "[" + strconv.Quote(k) + "]"
	case path == "":
		return k
	default:
		return path + "." + k
	}
}

// StepRefs returns the ids X of every steps.X any template of v reads,
// sorted and without duplicates.
func (v *Value) StepRefs() []string { return slices.Clone(v.refs) }

// Render renders every template of v against env (see Template.Render) and
// returns a new value of the same shape. Errors are *wiresk.Error with code
// wiresk.EValidation whose Field is the path of the failing template. The
// whole Value shares one budget (see the package documentation).
func (v *Value) Render(env map[string]any) (any, error) {
	return v.RenderIn(nil, env)
}

// RenderIn is Render drawing on the shared budget b (a Run's, say) instead
// of the process budget alone.
func (v *Value) RenderIn(b *Budget, env map[string]any) (any, error) {
	r := newRenderer(env, b)
	out, err := v.root.render(r, "")
	return out, r.end(err)
}

func (n scalarNode) render(r *renderer, path string) (any, error) {
	if s, ok := n.v.(string); ok {
		if err := r.out.take(len(s) + 2); err != nil {
			return nil, wiresk.FieldError(path, "%s", err.Error())
		}
	}
	return n.v, nil
}

func (n templateNode) render(r *renderer, path string) (any, error) {
	out, err := n.t.render(r)
	if err != nil {
		var we *wiresk.Error
		if errors.As(err, &we) {
			return nil, &wiresk.Error{Code: we.Code, Field: path, Message: we.Message}
		}
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return out, nil
}

func (n mapNode) render(r *renderer, path string) (any, error) {
	out := make(map[string]any, len(n.keys))
	for _, k := range n.keys {
		v, err := n.elems[k].render(r, joinPath(path, k))
		if err != nil {
			return nil, err
		}
		out[k] = v
	}
	return out, nil
}

func (n listNode) render(r *renderer, path string) (any, error) {
	out := make([]any, len(n))
	for i, e := range n {
		v, err := e.render(r, path+"["+strconv.Itoa(i)+"]")
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}
