package deploy_test

import (
	"strings"
	"testing"

	"wiresk/infra/deploy"
)

// TestParseIntrinsics checks how Parse keeps intrinsic functions, in short
// and long form: Ref, GetAtt and Sub as placeholders, the others as the
// one-key maps of their long form.
func TestParseIntrinsics(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       any
	}{
		{"short Ref", "V: !Ref Table", deploy.Ref("Table")},
		{"long Ref", "V: {Ref: Table}", deploy.Ref("Table")},
		{"short GetAtt", "V: !GetAtt Queue.Arn", deploy.GetAtt("Queue", "Arn")},
		{"GetAtt list", "V: !GetAtt [Queue, Arn]", deploy.GetAtt("Queue", "Arn")},
		{"long GetAtt", `V: {"Fn::GetAtt": [Queue, Arn]}`, deploy.GetAtt("Queue", "Arn")},
		{"short Sub", "V: !Sub 'a/${Stage}'", deploy.Sub("a/${Stage}")},
		{"Sub with variables stays", "V: !Sub ['${X}', {X: !Ref Y}]",
			map[string]any{"Fn::Sub": []any{"${X}", map[string]any{"X": deploy.Ref("Y")}}}},
		{"If", "V: !If [IsProd, 5, !Ref AWS::NoValue]",
			map[string]any{"Fn::If": []any{"IsProd", 5.0, deploy.Ref("AWS::NoValue")}}},
		{"Join", "V: !Join ['-', [a, !Ref B]]", map[string]any{"Fn::Join": []any{"-", []any{"a", deploy.Ref("B")}}}},
		{"numbers are float64", "V: [1, 2.5, 0x10]", []any{1.0, 2.5, 16.0}},
		{"quoted number is a string", `V: "30"`, "30"},
		{"YAML 1.2: yes is a string", "V: yes", "yes"},
		{"null", "V: ~", nil},
		{"alias", "A: &a x\nV: *a", "x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tmpl, err := deploy.Parse([]byte(tt.yaml))
			if err != nil {
				t.Fatal(err)
			}
			got, _ := tmpl.Lookup("V")
			if !jsonEqual(t, got, tt.want) {
				t.Errorf("V: got %s, want %s", show(got), show(tt.want))
			}
		})
	}
}

func TestParseRefusesWhatCloudFormationRefuses(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"unknown tag", "V: !Reff Table", "tag !Reff"},
		{"unknown tag on a list", "V: !Nope [a]", "tag !Nope"},
		{"duplicate key", "Resources:\n  A: {}\n  A: {}", `key "A" is there twice`},
		{"not a mapping", "- a", "not a YAML mapping"},
		{"wrong property type", "Resources:\n  Q:\n    Type: AWS::SQS::Queue\n    Properties:\n      VisibilityTimeout: long", "resource Q"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := deploy.Parse([]byte(tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Parse: got %v, want an error saying %q", err, tt.want)
			}
		})
	}
}

func TestParseTransformList(t *testing.T) {
	tmpl, err := deploy.Parse([]byte("Transform: [AWS::LanguageExtensions, AWS::Serverless-2016-10-31]\nResources: {}"))
	if err != nil {
		t.Fatal(err)
	}
	if tmpl.Transform == nil || tmpl.Transform.StringArray == nil || len(*tmpl.Transform.StringArray) != 2 {
		t.Errorf("Transform: got %+v, want the two macros", tmpl.Transform)
	}
}
