package oauth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"wiresk/internal/wiresk"
)

// ErrNoRevocation is returned by Revoke for apps whose provider documents
// no revocation endpoint (Airtable): disconnecting only forgets the token.
var ErrNoRevocation = errors.New("oauth: the provider has no revocation endpoint")

// Revoke revokes tok at the provider as the app's revoke spec says: the URL
// and method, which token (access or refresh; the other one when that one
// is absent), where it goes (form body, query, JSON body, or as the bearer
// token of the request), and how the client authenticates (none, body,
// basic). A provider answering that the token is already invalid
// (invalid_token, or Slack's token_revoked) counts as revoked; so does a
// token with nothing to revoke. Slack-style answers (200 with "ok": false) are errors.
func (f *Flow) Revoke(ctx context.Context, req Request, tok *Token) error {
	o, err := checkRequest(req, false)
	if err != nil {
		return err
	}
	spec := o.Revoke
	if spec == nil {
		return ErrNoRevocation
	}
	if tok == nil {
		return nil
	}
	revokeURL, err := req.App.RevokeURL(req.Config)
	if err != nil {
		return err
	}
	if revokeURL == "" {
		return ErrNoRevocation
	}
	// A bearer revocation revokes the token it is authenticated with: only
	// an access token can do that.
	value, other := tok.RefreshToken, tok.AccessToken
	if spec.Token == "access_token" || spec.In == "bearer" {
		value, other = tok.AccessToken, tok.RefreshToken
	}
	if value == "" && spec.In != "bearer" {
		value = other
	}
	if value == "" {
		return nil
	}
	secrets := []string{value, tok.AccessToken, tok.RefreshToken, req.Client.Secret}

	fields := map[string]string{}
	if spec.In != "bearer" {
		fields[spec.Param] = value
	}
	if spec.ClientAuth == "body" {
		fields["client_id"] = req.Client.ID
		if req.Client.Secret != "" {
			fields["client_secret"] = req.Client.Secret
		}
	}
	u, err := url.Parse(revokeURL)
	if err != nil {
		return wiresk.FieldError("oauth.revoke.url", "does not parse")
	}
	method := spec.Method
	in := spec.In
	if in == "form" && (method == http.MethodGet || method == http.MethodDelete) {
		in = "query" // no body on these methods
	}
	var body []byte
	contentType := ""
	switch in {
	case "query":
		q := u.Query()
		for k, v := range fields {
			q.Set(k, v)
		}
		u.RawQuery = q.Encode()
	case "json":
		if body, err = json.Marshal(fields); err != nil {
			return err
		}
		contentType = "application/json"
	default: // form, and bearer with client_auth body
		if len(fields) > 0 {
			vals := url.Values{}
			for k, v := range fields {
				vals.Set(k, v)
			}
			body = []byte(vals.Encode())
			contentType = "application/x-www-form-urlencoded"
		}
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	hreq, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return transportError("revoke", u.Host, err, secrets...)
	}
	for k, v := range spec.Headers {
		// Templated headers need the catalog to render them; the catalog's
		// revoke headers are fixed values today (Notion-Version).
		if !strings.Contains(v, "{{") {
			hreq.Header.Set(k, v)
		}
	}
	if contentType != "" {
		hreq.Header.Set("Content-Type", contentType)
	}
	hreq.Header.Set("Accept", "application/json")
	if spec.In == "bearer" {
		hreq.Header.Set("Authorization", "Bearer "+value)
	}
	if spec.ClientAuth == "basic" {
		hreq.SetBasicAuth(url.QueryEscape(req.Client.ID), url.QueryEscape(req.Client.Secret))
	}
	resp, err := f.hc.Do(hreq)
	if err != nil {
		return transportError("revoke", u.Host, err, secrets...)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))

	var answer struct {
		OK          *bool  `json:"ok"`
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt == "application/json" || json.Valid(raw) {
		_ = json.Unmarshal(raw, &answer)
	}
	ok2xx := resp.StatusCode >= 200 && resp.StatusCode < 300
	switch {
	case ok2xx && (answer.OK == nil || *answer.OK):
		return nil
	case answer.Error == "invalid_token" || answer.Error == "token_revoked":
		return nil // already revoked or expired (RFC 7009 §2.2; Slack)
	}
	code := scrub(answer.Error, secrets...)
	if len(code) > maxCode {
		code = code[:maxCode]
	}
	return &Error{Op: "revoke", Kind: kindOf(code, resp.StatusCode, nil), Code: code,
		Description: scrub(answer.Description, secrets...), Status: resp.StatusCode, Host: u.Host}
}
