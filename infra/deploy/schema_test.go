package deploy_test

import (
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
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
		// CloudFormation's resources (GoFormation's schema).
		{"wrong type", func(doc map[string]any) {
			get(doc, "Resources", "RunQueue", "Properties")["SqsManagedSseEnabled"] = "yes"
		}, "Resources.RunQueue.Properties.SqsManagedSseEnabled", "is a string, want boolean"},
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
		{"unknown event source mapping property", func(doc map[string]any) {
			get(doc, "Resources", "WorkerFunctionRuns", "Properties")["Batch"] = 10.0
		}, "Resources.WorkerFunctionRuns.Properties.Batch", "is not a property the schema allows here"},
		{"literal where a parameter would do", func(doc map[string]any) {
			get(doc, "Resources", "WorkerLogGroup", "Properties")["RetentionInDays"] = "thirty"
		}, "Resources.WorkerLogGroup.Properties.RetentionInDays", "is a string, want number"},
		{"unknown property given by a Ref", func(doc map[string]any) {
			get(doc, "Resources", "Table", "Properties")["ReadCapacity"] = deploy.Ref("MaxReceives")
		}, "Resources.Table.Properties.ReadCapacity", "is not a property the schema allows here"},
		// SAM's resources (SAM's schema).
		{"unknown function property", func(doc map[string]any) {
			get(doc, "Resources", "WorkerFunction", "Properties")["Timout"] = 10.0
		}, "Resources.WorkerFunction.Properties.Timout", "is not a property the schema allows here"},
		{"unknown HttpApi event property", func(doc map[string]any) {
			get(doc, "Resources", "TriggerFunction", "Properties", "Events", "Hook", "Properties")["Route"] = "/x"
		}, "Resources.TriggerFunction.Properties.Events.Hook.Properties.Route", "is not a property the schema allows here"},
		{"unknown Globals property", func(doc map[string]any) {
			get(doc, "Globals", "Function")["Retries"] = 2.0
		}, "Globals.Function.Retries", "is not a property the schema allows here"},
		// A property SAM passes through to CloudFormation is checked
		// against CloudFormation's schema of it.
		{"passed-through property", func(doc map[string]any) {
			get(doc, "Resources", "WorkerFunction", "Properties", "LoggingConfig")["Retention"] = 30.0
		}, "Resources.WorkerFunction.Properties.LoggingConfig.Retention", "is not a property the schema allows here"},
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

// TestValidatorForgivesIntrinsicFunctions: a value CloudFormation computes
// at deploy time (a Ref, GetAtt or Sub, an Fn::If) stands where the schema
// wants a number or a boolean, as the template's own !Ref of parameters do.
func TestValidatorForgivesIntrinsicFunctions(t *testing.T) {
	doc := clone(t, template(t).Raw)
	q := get(doc, "Resources", "RunQueue", "Properties")
	q["SqsManagedSseEnabled"] = map[string]any{"Fn::If": []any{"IsProd", true, false}}
	q["VisibilityTimeout"] = deploy.Ref("QueueTimeout")
	get(doc, "Resources", "Table", "Properties")["BillingMode"] = deploy.Sub("${Mode}")
	errs, err := deploy.ValidateSAM(doc)
	if err != nil {
		t.Fatal(err)
	}
	if len(errs) > 0 {
		t.Errorf("errors: got %v, want none", errs)
	}
}

// TestBundledSchemasAreTheOnesNamed: the vendored schemas are, byte for
// byte once uncompressed, the files whose SHA-256 samschema/README.md gives.
func TestBundledSchemasAreTheOnesNamed(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("samschema", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"sam.schema.json.gz", "goformation.schema.json.gz"} {
		f, err := os.Open(filepath.Join("samschema", name))
		if err != nil {
			t.Fatal(err)
		}
		zr, err := gzip.NewReader(f)
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		if _, err := io.Copy(h, zr); err != nil {
			t.Fatal(err)
		}
		f.Close()
		sum := hex.EncodeToString(h.Sum(nil))
		// The README names each file, then its sum.
		i := strings.Index(string(readme), "`"+name+"`")
		if i < 0 || !strings.Contains(string(readme[i:]), sum) {
			t.Errorf("samschema/README.md does not give %s's SHA-256 %s after its name", name, sum)
		}
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
	// SAM's schema requires Resources only (TestTemplateIsSAM checks the
	// Transform).
	if got, want := show(errs), `[{"Path":"","Message":"Resources is required"}]`; got != want {
		t.Errorf("errors of an empty template: got %s, want %s", got, want)
	}
}
