package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"unicode/utf8"

	"wiresk/internal/flow"
	"wiresk/internal/run"
	"wiresk/internal/step"
	"wiresk/internal/template"
	"wiresk/internal/wiresk"
)

// A loop step (step.Loop) is run here rather than by its Kind, item by
// item, so that its progress is part of the Run: after each item that
// finishes, the step's record is written with
//
//	{"items": [the outputs so far], "done": k, "total": n}
//
// (status running, or failed when an item failed), and a later delivery
// resumes at item k. Once the loop ends its output is {"items": [...],
// "count": n}. "done" is always kept whole when the record is cut to size;
// when "items" was cut (over MaxRecorded) and the loop resumes in a later
// delivery, the outputs of the earlier items are gone, and its final
// "items" is the truncation marker that was recorded.

// loopProgress is where a loop step stands.
type loopProgress struct {
	outputs []any // outputs of items 0..done-1, unless lost
	bytes   int   // JSON size of outputs, so far
	// lost is the recorded marker of outputs cut to size by an earlier
	// delivery; then outputs is only counted.
	lost  any
	done  int
	total int
}

// resumeLoop reads the progress a loop step recorded before: none when it
// never ran, or ran to an error before its first item.
func resumeLoop(prev *run.StepResult) loopProgress {
	var p loopProgress
	if prev == nil {
		return p
	}
	m, ok := prev.Output.(map[string]any)
	if !ok {
		return p
	}
	done, ok := toInt(m["done"])
	if !ok || done <= 0 {
		return p
	}
	p.done = done
	if items, ok := m["items"].([]any); ok && len(items) == done {
		p.outputs = items
		p.bytes = jsonSize(items)
	} else {
		p.lost = m["items"]
	}
	return p
}

// add records the output of the next item.
func (p *loopProgress) add(out any) {
	p.done++
	if p.lost != nil {
		return
	}
	p.outputs = append(p.outputs, out)
	p.bytes += jsonSize(out) + 1
}

// items returns the items' outputs, or the marker of those cut to size.
func (p *loopProgress) items() any {
	if p.lost != nil {
		return p.lost
	}
	if p.outputs == nil {
		return []any{}
	}
	return p.outputs
}

// record is the progress as the step's record holds it, cut to size
// without measuring the whole list again.
func (p *loopProgress) record() map[string]any {
	items := p.items()
	if p.lost == nil && p.bytes > MaxRecorded {
		items = previewList(p.outputs, p.bytes)
	}
	return map[string]any{"items": items, "done": p.done, "total": p.total}
}

// output is the loop's output once every item ran.
func (p *loopProgress) output() map[string]any {
	return map[string]any{"items": p.items(), "count": p.total}
}

// loopRun is what runLoop needs beside the step.
type loopRun struct {
	runID   string
	in      step.LoopInput
	secrets []string
	// checkpoint records the step as it stands after an item, with the
	// attempts of this delivery; an error stops the delivery.
	checkpoint func(res run.StepResult) error
}

// runLoop runs a loop step from where prev left it: the result's Attempts
// are this delivery's. A non-nil error is the store's: the delivery stops
// and is redelivered.
func (w *Worker) runLoop(ctx context.Context, cs flow.CompiledStep, lr loopRun, prev *run.StepResult, env map[string]any, budget *template.Budget) (res run.StepResult, o outcome, err error) {
	start := w.now()
	res = run.StepResult{ID: cs.Step.ID, App: cs.Step.App, Method: cs.Step.Method, StartedAt: start}
	defer func() { res.DurationMs = w.now().Sub(start).Milliseconds() }()
	if goOn, o := gate(cs, env, budget, &res); !goOn {
		return res, o, nil
	}
	fail := func(msg string, permanent bool) (run.StepResult, outcome, error) {
		res.Status, res.Error = run.StepFailed, msg
		return res, outcome{permanent: permanent}, nil
	}
	// Only forEach is rendered with the loop: the inner step's input is
	// rendered per item, with item and index.
	each, err := template.Compile(map[string]any{"forEach": lr.in.ForEach})
	if err != nil {
		return fail("input."+wiresk.ErrorField(err)+": "+wiresk.ErrorMessage(err), true)
	}
	rendered, err := each.RenderIn(budget, env)
	if err != nil {
		return fail("input: "+err.Error(), wiresk.ErrorCode(err) != wiresk.EUnavailable)
	}
	list := rendered.(map[string]any)["forEach"]
	res.Input = map[string]any{"forEach": list, "maxItems": lr.in.MaxItems, "step": cs.Step.Input["step"]}
	items, err := lr.in.Items(list)
	if err != nil {
		return fail(err.Error(), true)
	}
	var opts []template.CompileOption
	if u, ok := w.Steps.(flow.URLInputs); ok {
		for _, path := range u.URLInputs(lr.in.Step.App, lr.in.Step.Method) {
			opts = append(opts, template.URLField(path))
		}
	}
	inner, err := template.Compile(lr.in.Step.Input, opts...)
	if err != nil {
		return fail("input.step.input: "+err.Error(), true)
	}

	p := resumeLoop(prev)
	p.total = len(items)
	if p.done > len(items) {
		// The list is shorter than when the loop ran before: the items it
		// had done are still done.
		p.done = len(items)
	}
	attempts := 0
	for i := p.done; i < len(items); i++ {
		itemEnv := map[string]any{"trigger": env["trigger"], "steps": env["steps"], "item": items[i], "index": i}
		v, err := inner.RenderIn(budget, itemEnv)
		if err != nil {
			res.Output, res.Attempts = p.record(), attempts
			return fail(fmt.Sprintf("item %d: input: %s", i, err), wiresk.ErrorCode(err) != wiresk.EUnavailable)
		}
		input, _ := v.(map[string]any)
		// Each item has its own key, the same on every attempt and
		// delivery of that item.
		itemCtx := step.WithIdempotencyKey(ctx, step.IdempotencyKey(lr.runID, cs.Step.ID+"/"+strconv.Itoa(i)))
		out, n, err := w.Steps.Execute(itemCtx, lr.in.Step.App, lr.in.Step.Method, input)
		attempts += n
		switch {
		case errors.Is(err, step.ErrFiltered):
			// A filter that says no skips its item, not the Run.
			out = nil
		case err != nil:
			res.Status, res.Error = run.StepFailed, fmt.Sprintf("item %d: %s", i, err)
			res.Output, res.Attempts = p.record(), attempts
			o := outcome{permanent: step.IsPermanent(err)}
			var se *step.Error
			if errors.As(err, &se) {
				o.unauthorized = se.Unauthorized || se.Status == http.StatusUnauthorized
			}
			return res, o, nil
		}
		p.add(redact(out, lr.secrets))
		if i+1 < len(items) {
			// The next item's attempt is counted before it is sent, as a
			// step's is.
			cp := res
			cp.Status, cp.Output, cp.Attempts = run.StepRunning, p.record(), attempts+1
			cp.DurationMs = w.now().Sub(start).Milliseconds()
			if err := lr.checkpoint(cp); err != nil {
				return res, outcome{}, err
			}
		}
	}
	res.Status, res.Output, res.Attempts = run.StepSucceeded, p.output(), attempts
	return res, outcome{}, nil
}

// recordableOutput is recordable for the output of step st: a loop's
// keeps its count (or progress) whole and cuts only its items.
func recordableOutput(st run.StepResult) any {
	if !step.IsLoop(st.App, st.Method) {
		return recordable(st.Output)
	}
	m, ok := st.Output.(map[string]any)
	if !ok || jsonSize(m) <= MaxRecorded {
		return recordable(st.Output)
	}
	return shrinkLoop(m)
}

// shrinkLoop returns the loop output or progress m with its items cut to a
// preview, or, when they already are, to the marker without its preview:
// whatever else must go, its count and progress stay. Anything else is
// previewed as any value.
func shrinkLoop(m map[string]any) any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	switch items := m["items"].(type) {
	case []any:
		out["items"] = previewList(items, jsonSize(items))
	case map[string]any:
		out["items"] = map[string]any{"truncated": true, "bytes": items["bytes"]}
	default:
		return preview(m)
	}
	return out
}

// previewList is preview(items) for a list whose JSON size is known, made
// from its first items only.
func previewList(items []any, size int) any {
	b := []byte{'['}
	for i, it := range items {
		if len(b) > previewBytes {
			break
		}
		if i > 0 {
			b = append(b, ',')
		}
		e, _ := json.Marshal(it)
		b = append(b, e...)
	}
	p := b[:min(len(b), previewBytes)]
	for !utf8.Valid(p) {
		p = p[:len(p)-1]
	}
	return map[string]any{"truncated": true, "bytes": size, "preview": string(p)}
}

// toInt returns a whole JSON number as an int.
func toInt(v any) (int, bool) {
	switch n := v.(type) {
	case int:
		return n, true
	case float64:
		if n == float64(int(n)) {
			return int(n), true
		}
	case json.Number:
		i, err := n.Int64()
		return int(i), err == nil
	}
	return 0, false
}
