package template

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/conf"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/parser"
	"github.com/expr-lang/expr/vm"
)

// The roots an expression may read.
const (
	rootTrigger = "trigger"
	rootSteps   = "steps"
	// item and index are the element of the list a loop step is at and
	// its 0-based position: the templates of the loop's inner step read
	// them. An expression may name them anywhere; the step registry
	// refuses them outside a loop's inner step (see Template.ReadsItem).
	rootItem  = "item"
	rootIndex = "index"
)

// Names the rewritten programs use. They cannot be written in a template:
// the expr lexer never produces an identifier with a space or a dot.
const (
	meterVar = "wiresk meter" // the *meter of the running Render, in the env

	fnAlloc   = "wiresk.alloc"   // charges the value it returns
	fnScan    = "wiresk.scan"    // charges the strings and arrays it is given
	fnGet     = "wiresk.get"     // nil-safe member and index access
	fnRepeat  = "wiresk.repeat"  // bounded repeat
	fnReplace = "wiresk.replace" // bounded replace
	fnJoin    = "wiresk.join"    // bounded join
	fnToJSON  = "wiresk.toJSON"  // bounded toJSON
	fnString  = "wiresk.string"  // bounded string
)

// fnRaw is raw(x): x itself. Written as the whole expression of a URL
// template, it inserts x without escaping it (see the package
// documentation); anywhere else it changes nothing.
const fnRaw = "raw"

// loopBuiltins are the builtins that iterate over their first argument.
var loopBuiltins = map[string]bool{
	"all": true, "none": true, "any": true, "one": true, "filter": true,
	"map": true, "count": true, "sum": true, "find": true, "findIndex": true,
	"findLast": true, "findLastIndex": true, "groupBy": true, "sortBy": true,
	"reduce": true,
}

// cheapBuiltins run in constant time whatever the size of their arguments.
var cheapBuiltins = map[string]bool{
	"len": true, "type": true, "get": true, "first": true, "last": true, "take": true,
	"now": true,
}

// boundedBuiltins are replaced by versions that refuse to build a result
// larger than the remaining budget before building it.
var boundedBuiltins = map[string]string{
	"repeat":  fnRepeat,
	"replace": fnReplace,
	"join":    fnJoin,
	"toJSON":  fnToJSON,
	"string":  fnString,
}

// scanOperators walk through their operands.
var scanOperators = map[string]bool{
	"in": true, "contains": true, "startsWith": true, "endsWith": true, "matches": true,
}

// compiled is a compiled expression.
type compiled struct {
	prog *vm.Program
	refs []string
	// verbatim is set when the whole expression is raw(x).
	verbatim bool
	// item is set when the expression reads item or index.
	item bool
}

// parseError is an error at a 0-based character offset of an expression.
type parseError struct {
	off int
	msg string
}

func (e *parseError) at(src string, pos int) error {
	return exprError(src, pos+e.off, e.msg)
}

// compileExpr checks and compiles one expression; wantBool asks for a
// boolean result, which is checked where the types are known. It is compiled
// twice: once as written, for expr's own checks of syntax, arity and types,
// and once rewritten for Render (metered, nil-safe).
func compileExpr(src string, wantBool bool) (c *compiled, perr *parseError) {
	defer func() {
		// expr is not expected to panic, but a template must never take the
		// process down.
		if r := recover(); r != nil {
			c, perr = nil, &parseError{msg: fmt.Sprintf("cannot compile the expression: %v", r)}
		}
	}()
	cfg := conf.CreateNew()
	cfg.MaxNodes = maxNodes
	tree, err := parser.ParseWithConfig(src, cfg)
	if err != nil {
		return nil, toParseError(err)
	}
	refs, item, perr := check(tree.Node)
	if perr != nil {
		return nil, perr
	}
	plain := []expr.Option{expr.MaxNodes(maxNodes), rawFunction}
	if wantBool {
		plain = append(plain, expr.AsBool())
	}
	if _, err := expr.Compile(src, plain...); err != nil {
		return nil, toParseError(err)
	}
	opts := []expr.Option{expr.MaxNodes(maxNodes), rawFunction, expr.Patch(&rewriter{members: map[*ast.CallNode]*ast.MemberNode{}})}
	opts = append(opts, runtimeFunctions...)
	prog, err := expr.Compile(src, opts...)
	if err != nil {
		// The rewritten program failed where the original compiled: report
		// it like any other error rather than panic.
		return nil, toParseError(err)
	}
	return &compiled{prog: prog, refs: refs, verbatim: isRawCall(tree.Node), item: item}, nil
}

// rawFunction declares raw(x), which returns x.
var rawFunction = expr.Function(fnRaw, func(p ...any) (any, error) { return p[0], nil }, new(func(any) any))

// isRawCall reports whether n is a call of raw.
func isRawCall(n ast.Node) bool {
	c, ok := n.(*ast.CallNode)
	if !ok {
		return false
	}
	id, ok := c.Callee.(*ast.IdentifierNode)
	return ok && id.Value == fnRaw
}

// toParseError converts an expr error.
func toParseError(err error) *parseError {
	var fe *file.Error
	if errors.As(err, &fe) {
		return &parseError{off: fe.From, msg: fe.Message}
	}
	return &parseError{msg: err.Error()}
}

// check walks the tree as written. It refuses names other than the roots and
// let variables, function calls other than builtins and methods, and steps
// not followed by a literal step id; it returns the step ids read, and
// whether item or index is read.
func check(root ast.Node) (refs []string, item bool, perr *parseError) {
	var rootRaw ast.Node
	if isRawCall(root) {
		rootRaw = root.(*ast.CallNode).Callee
	}
	c := &checker{stepBases: map[*ast.IdentifierNode]bool{}, callees: map[ast.Node]bool{}, lets: map[string]bool{}}
	ast.Walk(&root, c)
	var errs []*parseError
	for _, l := range c.letNodes {
		if l.Name == rootTrigger || l.Name == rootSteps {
			errs = append(errs, &parseError{off: l.Location().From, msg: fmt.Sprintf("cannot declare a variable named %s", l.Name)})
		}
	}
	for _, id := range c.idents {
		off := id.Location().From
		switch {
		case c.callees[id] && id.Value == fnRaw && ast.Node(id) != rootRaw:
			errs = append(errs, &parseError{off: off, msg: "raw(...) must be the whole expression, as in {{ raw(trigger.query.path) }}"})
		case c.callees[id] && id.Value == fnRaw:
		case c.callees[id]:
			errs = append(errs, &parseError{off: off, msg: fmt.Sprintf("unknown function %s", id.Value)})
		case id.Value == rootTrigger:
		case id.Value == rootSteps:
			if !c.stepBases[id] {
				errs = append(errs, &parseError{off: off, msg: `steps must be followed by a step id, as in steps.my_step.output or steps["my_step"].output`})
			}
		case c.lets[id.Value]:
		case id.Value == rootItem || id.Value == rootIndex:
			item = true
		default:
			errs = append(errs, &parseError{off: off, msg: fmt.Sprintf("unknown name %s: expressions can read only trigger and steps (and item and index in the step of a loop)", id.Value)})
		}
	}
	errs = append(errs, c.errs...)
	if len(errs) > 0 {
		return nil, false, slices.MinFunc(errs, func(a, b *parseError) int { return a.off - b.off })
	}
	return c.refs, item, nil
}

// checker is the ast.Visitor of check. ast.Walk visits children before
// their parent, so names are judged once the whole tree is seen.
type checker struct {
	idents    []*ast.IdentifierNode
	stepBases map[*ast.IdentifierNode]bool
	callees   map[ast.Node]bool
	lets      map[string]bool
	letNodes  []*ast.VariableDeclaratorNode
	refs      []string
	errs      []*parseError
}

func (c *checker) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.IdentifierNode:
		c.idents = append(c.idents, n)
	case *ast.VariableDeclaratorNode:
		c.lets[n.Name] = true
		c.letNodes = append(c.letNodes, n)
	case *ast.CallNode:
		c.callees[n.Callee] = true
	case *ast.MemberNode:
		id, ok := n.Node.(*ast.IdentifierNode)
		if !ok || id.Value != rootSteps {
			return
		}
		if s, ok := n.Property.(*ast.StringNode); ok {
			c.stepBases[id] = true
			c.refs = append(c.refs, s.Value)
		}
	}
}

// rewriter is the expr.Patch visitor that prepares a program for Render:
// member access becomes the nil-safe fnGet; builtins that could build huge
// results become their bounded versions; every result that may allocate is
// charged with fnAlloc, and every collection or string that a loop, a
// builtin or a string operator walks through is charged with fnScan.
type rewriter struct {
	// members remembers the member accesses rewritten to fnGet, to restore
	// those that turn out to be method calls.
	members map[*ast.CallNode]*ast.MemberNode
}

func (r *rewriter) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.MemberNode:
		call := &ast.CallNode{Callee: ident(fnGet), Arguments: []ast.Node{n.Node, n.Property}}
		r.members[call] = n
		ast.Patch(node, call)

	case *ast.CallNode:
		if g, ok := n.Callee.(*ast.CallNode); ok {
			if m, ok := r.members[g]; ok {
				n.Callee = m // a method call, like now().Format(...)
			}
		}
		if id, ok := n.Callee.(*ast.IdentifierNode); ok && (strings.HasPrefix(id.Value, "wiresk.") || id.Value == fnRaw) {
			return
		}
		ast.Patch(node, metered(fnAlloc, n))

	case *ast.BuiltinNode:
		switch {
		case loopBuiltins[n.Name]:
			n.Arguments[0] = metered(fnScan, n.Arguments[0])
		case !cheapBuiltins[n.Name]:
			for i, a := range n.Arguments {
				n.Arguments[i] = scanned(a)
			}
		}
		var out ast.Node = n
		if fn, ok := boundedBuiltins[n.Name]; ok {
			out = &ast.CallNode{Callee: ident(fn), Arguments: append([]ast.Node{ident(meterVar)}, n.Arguments...)}
		}
		ast.Patch(node, metered(fnAlloc, out))

	case *ast.BinaryNode:
		switch {
		case n.Operator == "+" || n.Operator == "..":
			ast.Patch(node, metered(fnAlloc, n))
		case scanOperators[n.Operator]:
			n.Left = scanned(n.Left)
			n.Right = scanned(n.Right)
		}
	}
}

// ident returns an identifier node.
func ident(name string) *ast.IdentifierNode { return &ast.IdentifierNode{Value: name} }

// scanned returns n charged with fnScan, unless n is a literal: its size is
// bounded by the template's, and leaving it as it is lets expr prepare it
// once (a constant regular expression is compiled with the program).
func scanned(n ast.Node) ast.Node {
	switch n.(type) {
	case *ast.StringNode, *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode, *ast.NilNode, *ast.ConstantNode:
		return n
	}
	return metered(fnScan, n)
}

// metered returns the call fn(meter, n).
func metered(fn string, n ast.Node) ast.Node {
	c := &ast.CallNode{Callee: ident(fn), Arguments: []ast.Node{ident(meterVar), n}}
	c.SetLocation(n.Location())
	return c
}
