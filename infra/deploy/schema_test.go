package deploy_test

import (
	"encoding/json"
	"strings"
	"testing"

	"wiresk/infra/deploy"
)

// TestValidatorCatchesMistakes breaks a copy of template.yaml in ways the
// SAM schema forbids and checks that ValidateSAM reports each at its place.
func TestValidatorCatchesMistakes(t *testing.T) {
	tests := []struct {
		name     string
		edit     func(doc map[string]any)
		wantPath string
		wantMsg  string
	}{
		{"wrong type", func(doc map[string]any) {
			get(doc, "Globals", "Function")["Timeout"] = "ten"
		}, "Globals.Function.Timeout", "is a string, want number"},
		{"unknown property", func(doc map[string]any) {
			get(doc, "Resources", "Table", "Properties")["ReadCapacity"] = 5.0
		}, "Resources.Table.Properties.ReadCapacity", "is not a property the schema allows here"},
		{"value not in enum", func(doc map[string]any) {
			get(doc, "Resources", "Table")["DeletionPolicy"] = "Keep"
		}, "Resources.Table.DeletionPolicy", `want one of ["Delete","Retain","Snapshot"]`},
		{"missing required property", func(doc map[string]any) {
			delete(get(doc, "Resources", "Table", "Properties"), "KeySchema")
		}, "Resources.Table.Properties", "KeySchema is required"},
		{"bad resource name", func(doc map[string]any) {
			res := get(doc, "Resources")
			res["Run-Queue"] = res["RunQueue"]
		}, "Resources.Run-Queue", "is not a property the schema allows here"},
		{"bad parameter type", func(doc map[string]any) {
			get(doc, "Parameters", "MaxReceives")["Type"] = "Integer"
		}, "Parameters.MaxReceives.Type", "want one of"},
		{"nested in a list", func(doc map[string]any) {
			gsi := get(doc, "Resources", "Table", "Properties")["GlobalSecondaryIndexes"].([]any)[1].(map[string]any)
			gsi["Projection"] = "ALL"
		}, "Resources.Table.Properties.GlobalSecondaryIndexes[1].Projection", "is a string, want object"},
		{"unknown SQS event property", func(doc map[string]any) {
			get(doc, "Resources", "WorkerFunction", "Properties", "Events", "Runs", "Properties")["Batch"] = 10.0
		}, "Resources.WorkerFunction.Properties.Events.Runs.Properties.Batch", "is not a property the schema allows here"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := clone(t, template(t).Raw)
			tt.edit(doc)
			errs, err := deploy.ValidateSAM(doc)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range errs {
				if e.Path == tt.wantPath && strings.Contains(e.Message, tt.wantMsg) {
					return
				}
			}
			var got []string
			for _, e := range errs {
				got = append(got, e.String())
			}
			t.Errorf("errors:\n got  %s\n want one at %s saying %q", strings.Join(got, "\n      "), tt.wantPath, tt.wantMsg)
		})
	}
}

// get walks doc's maps, creating none.
func get(doc map[string]any, path ...string) map[string]any {
	m := doc
	for _, p := range path {
		next, ok := m[p].(map[string]any)
		if !ok {
			return map[string]any{}
		}
		m = next
	}
	return m
}

func clone(t *testing.T, doc map[string]any) map[string]any {
	t.Helper()
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestValidatorUnderstandsTheBundledSchema(t *testing.T) {
	// The bundled schema loads and compiles, and an empty template breaks
	// it only where the schema says.
	errs, err := deploy.ValidateSAM(map[string]any{})
	if err != nil {
		t.Fatalf("the bundled schema uses something the validator does not implement: %v", err)
	}
	if got, want := len(errs), 2; got != want {
		t.Errorf("errors of an empty template: got %d (%v), want %d (Resources and Transform are required)", got, errs, want)
	}
}
