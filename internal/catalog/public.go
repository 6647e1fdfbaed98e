package catalog

// PublicApp is the view of an app served by GET /v1/apps: what a client
// needs to offer the app, create a Connection to it and configure its steps.
// It leaves out endpoints, credential placement and request templates; the
// catalog holds no secret in any case.
type PublicApp struct {
	ID          string              `json:"id"`
	Name        string              `json:"name"`
	Description string              `json:"description,omitempty"`
	Docs        string              `json:"docs,omitempty"`
	Auth        []AuthType          `json:"auth"`
	Scopes      *PublicScopes       `json:"scopes,omitempty"`
	Config      []PublicConfigField `json:"config"`
	// Testable is false when Test has nothing to call unless the user
	// configures it (the generic HTTP app's test URL).
	Testable bool           `json:"testable"`
	Methods  []PublicMethod `json:"methods"`
}

// PublicScopes are an app's OAuth scopes.
type PublicScopes struct {
	Default  []string `json:"default"`
	Optional []string `json:"optional"`
}

// PublicConfigField is a connection config field.
type PublicConfigField struct {
	Name        string              `json:"name"`
	Label       string              `json:"label"`
	Description string              `json:"description,omitempty"`
	Type        string              `json:"type"`
	Required    bool                `json:"required"`
	Default     string              `json:"default,omitempty"`
	Values      []PublicConfigValue `json:"values,omitempty"`
}

// PublicConfigValue is an allowed value of a config field.
type PublicConfigValue struct {
	Value string `json:"value"`
	Label string `json:"label,omitempty"`
}

// PublicMethod is a step method and its inputs.
type PublicMethod struct {
	Name        string        `json:"name"`
	Label       string        `json:"label"`
	Description string        `json:"description,omitempty"`
	Inputs      []PublicInput `json:"inputs"`
	// Outputs are the step's output fields; "body" (the app's whole
	// answer) is always the first.
	Outputs []PublicOutput `json:"outputs"`
}

// PublicOutput is a field of a step's output.
type PublicOutput struct {
	Name        string `json:"name"`
	Type        string `json:"type"`
	Description string `json:"description,omitempty"`
}

// PublicInput is a step input.
type PublicInput struct {
	Name        string `json:"name"`
	Label       string `json:"label,omitempty"`
	Type        string `json:"type"`
	Required    bool   `json:"required"`
	Description string `json:"description,omitempty"`
	Default     any    `json:"default,omitempty"`
}

// Public returns the public view of every app, sorted by id.
func (c *Catalog) Public() []PublicApp {
	out := make([]PublicApp, 0, len(c.sorted))
	for _, a := range c.sorted {
		out = append(out, a.Public())
	}
	return out
}

// Public returns the public view of the app.
func (a *App) Public() PublicApp {
	p := PublicApp{
		ID:          a.ID,
		Name:        a.Name,
		Description: a.Description,
		Docs:        a.Docs,
		Auth:        append([]AuthType(nil), a.Auth...),
		Config:      []PublicConfigField{},
		Testable:    a.Test != nil && !a.Test.Optional,
		Methods:     []PublicMethod{},
	}
	if a.OAuth != nil {
		p.Scopes = &PublicScopes{
			Default:  append([]string{}, a.OAuth.Scopes.Default...),
			Optional: append([]string{}, a.OAuth.Scopes.Optional...),
		}
	}
	for _, f := range a.Config {
		pf := PublicConfigField{
			Name:        f.Name,
			Label:       f.Label,
			Description: f.Description,
			Type:        f.Type,
			Required:    f.Required,
			Default:     f.Default,
		}
		for _, v := range f.Values {
			pf.Values = append(pf.Values, PublicConfigValue{Value: v.Value, Label: v.Label})
		}
		p.Config = append(p.Config, pf)
	}
	for _, m := range a.Methods {
		pm := PublicMethod{Name: m.Name, Label: m.Label, Description: m.Description, Inputs: []PublicInput{}}
		for _, in := range m.Inputs {
			pm.Inputs = append(pm.Inputs, PublicInput(in))
		}
		pm.Outputs = []PublicOutput{{Name: "body", Type: "any", Description: "The app's whole answer (its JSON, or its text)."}}
		if m.Builder == "http_request" {
			// The generic HTTP step's output (step.HTTP).
			pm.Outputs = append(pm.Outputs,
				PublicOutput{Name: "status", Type: "integer", Description: "The HTTP status."},
				PublicOutput{Name: "headers", Type: "object", Description: "The response headers, by lower-case name (first value)."})
		}
		for _, o := range m.Outputs {
			pm.Outputs = append(pm.Outputs, PublicOutput{Name: o.Name, Type: o.Type, Description: o.Description})
		}
		p.Methods = append(p.Methods, pm)
	}
	return p
}
