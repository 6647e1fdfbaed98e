package deploy_test

import (
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"

	"wiresk/infra/deploy"
	"wiresk/internal/metrics"
)

// charted is a metric a dashboard widget draws: its namespace, name and
// dimension keys (sorted), with the dimension values when the widget names
// them.
type charted struct {
	widget, namespace, name string
	dims                    []string
	values                  map[string]string
}

// search matches a widget's SEARCH expression on one metric of one schema:
// SEARCH('{namespace,dim,...} MetricName="name"', ...).
var search = regexp.MustCompile(`^SEARCH\('\{(.+?)\} MetricName="([^"]+)"'`)

// subRef matches a reference of Fn::Sub: ${Name} or ${Resource.Attribute}.
var subRef = regexp.MustCompile(`\$\{([A-Za-z0-9:]+)(\.[A-Za-z]+)?\}`)

// dashboard returns the Dashboard's body (its !Sub text, the Number
// parameters it names put in as their defaults, so that it is JSON) and
// what its widgets chart.
func dashboard(t *testing.T) (body string, widgets []map[string]any, metricsCharted []charted) {
	t.Helper()
	tmpl := template(t)
	if got := lookup(t, "Resources", "Dashboard", "Type"); got != "AWS::CloudWatch::Dashboard" {
		t.Fatalf("Dashboard: type %v", got)
	}
	sub, _ := lookup(t, "Resources", "Dashboard", "Properties", "DashboardBody").(string)
	body, ok := strings.CutPrefix(sub, "Sub(")
	if !ok || !strings.HasSuffix(body, ")") {
		t.Fatalf("DashboardBody: want a !Sub text, got %.80s", sub)
	}
	body = strings.TrimSuffix(body, ")")
	// Every ${...} names a parameter, a resource (or its attribute) or a
	// pseudo parameter.
	resources := lookup(t, "Resources").(map[string]any)
	for _, m := range subRef.FindAllStringSubmatch(body, -1) {
		_, param := tmpl.Parameters[m[1]]
		_, res := resources[m[1]]
		if !param && !res && !strings.HasPrefix(m[1], "AWS::") {
			t.Errorf("DashboardBody names ${%s}, which the template does not have", m[1]+m[2])
		}
	}
	jsonBody := subRef.ReplaceAllStringFunc(body, func(ref string) string {
		name := subRef.FindStringSubmatch(ref)[1]
		if p, ok := tmpl.Parameters[name]; ok && p.Type == "Number" {
			return p.Default.(string)
		}
		return ref
	})
	var doc struct{ Widgets []map[string]any }
	if err := json.Unmarshal([]byte(jsonBody), &doc); err != nil {
		t.Fatalf("DashboardBody is not JSON: %v", err)
	}
	for _, w := range doc.Widgets {
		props, _ := w["properties"].(map[string]any)
		title, _ := props["title"].(string)
		ms, _ := props["metrics"].([]any)
		if w["type"] == "metric" && len(ms) == 0 {
			t.Errorf("widget %q charts no metric", title)
		}
		for _, m := range ms {
			row, _ := m.([]any)
			if len(row) == 0 {
				t.Errorf("widget %q: metric %v is not a list", title, m)
				continue
			}
			if opts, ok := row[0].(map[string]any); ok {
				expr, _ := opts["expression"].(string)
				sm := search.FindStringSubmatch(expr)
				if sm == nil {
					t.Errorf("widget %q: expression %q is not a SEARCH of one metric", title, expr)
					continue
				}
				schema := strings.Split(sm[1], ",")
				dims := slices.Clone(schema[1:])
				slices.Sort(dims)
				metricsCharted = append(metricsCharted, charted{widget: title, namespace: schema[0], name: sm[2], dims: dims})
				continue
			}
			c := charted{widget: title, values: map[string]string{}}
			c.namespace, _ = row[0].(string)
			c.name, _ = row[1].(string)
			for i := 2; i+1 < len(row); i += 2 {
				k, ok := row[i].(string)
				if !ok {
					break // the rendering options
				}
				v, _ := row[i+1].(string)
				c.dims, c.values[k] = append(c.dims, k), v
			}
			slices.Sort(c.dims)
			metricsCharted = append(metricsCharted, c)
		}
	}
	return body, doc.Widgets, metricsCharted
}

// emittedMetrics are the metrics of the code, by name.
func emittedMetrics() map[string]metrics.Metric {
	out := map[string]metrics.Metric{}
	for _, m := range metrics.All() {
		out[m.Name] = m
	}
	return out
}

// awsMetrics are the AWS metrics the dashboard and the alarms may use, with
// the dimension each is read by and the resources it may name.
var awsMetrics = map[string]struct {
	dimension string
	metrics   []string
	resources []string
}{
	"AWS/ApiGateway": {"ApiId", []string{"5xx", "4xx", "Count", "Latency"}, []string{"HttpApi"}},
	"AWS/Lambda":     {"FunctionName", []string{"Errors", "Duration", "Throttles"}, []string{"TriggerFunction", "ManageFunction", "WorkerFunction", "HealthFunction"}},
	"AWS/SQS":        {"QueueName", []string{"ApproximateAgeOfOldestMessage", "ApproximateNumberOfMessagesVisible"}, []string{"RunQueue.QueueName", "DeadLetterQueue.QueueName"}},
}

// TestDashboardChartsOnlyMetricsTheCodeEmits: every metric of the
// Wiresk/<Stage> namespace the dashboard charts is one the code emits
// (package metrics), with the dimensions it is emitted with, and every
// one the code emits is charted; the AWS metrics are the API's, the
// functions' and the queues' of this stack.
func TestDashboardChartsOnlyMetricsTheCodeEmits(t *testing.T) {
	_, _, chartedMetrics := dashboard(t)
	emitted := emittedMetrics()
	seen := map[string]bool{}
	for _, c := range chartedMetrics {
		if c.namespace == "Wiresk/${Stage}" {
			m, ok := emitted[c.name]
			if !ok {
				t.Errorf("widget %q charts %s, which the code does not emit", c.widget, c.name)
				continue
			}
			want := slices.Clone(m.Dimensions)
			slices.Sort(want)
			if !slices.Equal(c.dims, want) {
				t.Errorf("widget %q charts %s by %v; the code emits it by %v", c.widget, c.name, c.dims, want)
			}
			seen[c.name] = true
			continue
		}
		a, ok := awsMetrics[c.namespace]
		if !ok {
			t.Errorf("widget %q charts namespace %q: want Wiresk/${Stage} or one of the stack's AWS services", c.widget, c.namespace)
			continue
		}
		if !slices.Contains(a.metrics, c.name) {
			t.Errorf("widget %q charts %s %s, not one this test knows the stack has", c.widget, c.namespace, c.name)
		}
		if len(c.dims) != 1 || c.dims[0] != a.dimension || !slices.Contains(a.resources, strings.TrimSuffix(strings.TrimPrefix(c.values[a.dimension], "${"), "}")) {
			t.Errorf("widget %q charts %s %s by %v: want %s of one of %v", c.widget, c.namespace, c.name, c.values, a.dimension, a.resources)
		}
	}
	for name := range emitted {
		if !seen[name] {
			t.Errorf("the dashboard does not chart %s, which the code emits", name)
		}
	}
}

// TestDashboardShowsEveryAlarm: the alarm widget lists every alarm of the
// template, and each alarm watches a metric that exists: one the code
// emits, or one of the stack's AWS services.
func TestDashboardShowsEveryAlarm(t *testing.T) {
	_, widgets, _ := dashboard(t)
	var shown []string
	for _, w := range widgets {
		if w["type"] != "alarm" {
			continue
		}
		for _, a := range w["properties"].(map[string]any)["alarms"].([]any) {
			shown = append(shown, a.(string))
		}
	}
	tmpl := template(t)
	emitted := emittedMetrics()
	for name, r := range lookup(t, "Resources").(map[string]any) {
		if r.(map[string]any)["Type"] != "AWS::CloudWatch::Alarm" {
			continue
		}
		if !slices.Contains(shown, "${"+name+".Arn}") {
			t.Errorf("alarm %s is not on the dashboard's alarm widget", name)
		}
		a, err := tmpl.GetCloudWatchAlarmWithName(name)
		if err != nil || a.Namespace == nil || a.MetricName == nil {
			t.Errorf("alarm %s: %v, want a namespace and a metric", name, err)
			continue
		}
		if *a.Namespace == deploy.Sub("Wiresk/${Stage}") {
			if _, ok := emitted[*a.MetricName]; !ok {
				t.Errorf("alarm %s watches %s, which the code does not emit", name, *a.MetricName)
			}
			continue
		}
		svc, ok := awsMetrics[*a.Namespace]
		if !ok || !slices.Contains(svc.metrics, *a.MetricName) || len(a.Dimensions) != 1 || a.Dimensions[0].Name != svc.dimension {
			t.Errorf("alarm %s watches %s %s by %v, not a metric of the stack", name, *a.Namespace, *a.MetricName, a.Dimensions)
		}
	}
}

// TestDashboardIsRead: the checks above read the widgets' metrics, both
// forms (a metric's list and a SEARCH expression), so they cannot pass on
// a dashboard they did not understand.
func TestDashboardIsRead(t *testing.T) {
	_, _, chartedMetrics := dashboard(t)
	var lists, searches int
	for _, c := range chartedMetrics {
		if c.values == nil {
			searches++
		} else {
			lists++
		}
	}
	if lists < 10 || searches < 2 {
		t.Errorf("read %d metric lists and %d SEARCH expressions, want at least 10 and 2", lists, searches)
	}
	if m := search.FindStringSubmatch(`SEARCH('{Wiresk/${Stage},Reason} MetricName="WebhooksRefused"', 'Sum', 300)`); m == nil || m[1] != "Wiresk/${Stage},Reason" || m[2] != "WebhooksRefused" {
		t.Errorf("the SEARCH pattern does not read a SEARCH expression: %q", m)
	}
}
