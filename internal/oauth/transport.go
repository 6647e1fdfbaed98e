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
	"time"

	"golang.org/x/oauth2"

	"wiresk/internal/catalog"
	"wiresk/internal/egress"
)

// defaultHTTPClient calls providers when no client is configured: the
// egress client, with a 30 s timeout. Its guard allows every address, as
// the client of net/http did: a provider's endpoints come from the catalog,
// and the services that call providers whose URLs a user sets (connect)
// pass the guarded client.
var defaultHTTPClient = func() *http.Client {
	everywhere, err := egress.NewGuard("0.0.0.0/0", "::/0")
	if err != nil {
		panic(err)
	}
	c := egress.NewClient(everywhere)
	c.Timeout = 30 * time.Second
	return c
}()

// tokenContext returns ctx carrying the HTTP client x/oauth2 uses to call
// app's token endpoint. For apps whose token endpoint takes JSON (Notion),
// the client re-encodes x/oauth2's form body as a JSON object.
func tokenContext(ctx context.Context, hc *http.Client, app *catalog.App) context.Context {
	if hc == nil {
		hc = defaultHTTPClient
	}
	if app.OAuth.TokenBody == "json" {
		c := *hc
		base := c.Transport
		if base == nil {
			base = http.DefaultTransport
		}
		c.Transport = jsonTokenBody{base: base}
		hc = &c
	}
	return context.WithValue(ctx, oauth2.HTTPClient, hc)
}

// jsonTokenBody re-encodes form-encoded token requests as JSON objects.
type jsonTokenBody struct{ base http.RoundTripper }

// RoundTrip sends r with its form body as a JSON object of strings.
func (t jsonTokenBody) RoundTrip(r *http.Request) (*http.Response, error) {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if r.Body == nil || mt != "application/x-www-form-urlencoded" {
		return t.base.RoundTrip(r)
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	r.Body.Close()
	if err != nil {
		return nil, err
	}
	vals, err := url.ParseQuery(string(raw))
	if err != nil {
		return nil, errors.New("oauth: token request body is not form-encoded")
	}
	obj := make(map[string]string, len(vals))
	for k := range vals {
		obj[k] = vals.Get(k)
	}
	body, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	r2 := r.Clone(r.Context())
	r2.Body = io.NopCloser(bytes.NewReader(body))
	r2.ContentLength = int64(len(body))
	r2.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	r2.Header.Set("Content-Type", "application/json")
	r2.Header.Set("Accept", "application/json")
	return t.base.RoundTrip(r2)
}

// hostOf returns the host of rawURL, or "" if it does not parse.
func hostOf(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return ""
	}
	return u.Host
}

// scrubbedError is a cause whose text is scrubbed of secrets; it unwraps to
// the original error so that errors.Is still finds context errors.
type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.err }

// maxCode bounds the provider error code kept in an Error.
const maxCode = 64

// providerError converts an error of x/oauth2 (or of an HTTP round trip) to
// an *Error free of secrets. grant lists the provider's codes that mean
// invalid_grant besides invalid_grant itself.
func providerError(op, host string, err error, grant []string, secrets ...string) error {
	if err == nil {
		return nil
	}
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		status := 0
		if re.Response != nil {
			status = re.Response.StatusCode
		}
		code := scrub(re.ErrorCode, secrets...)
		if len(code) > maxCode {
			code = code[:maxCode]
		}
		return &Error{
			Op: op, Kind: kindOf(code, status, grant), Code: code,
			Description: scrub(re.ErrorDescription, secrets...), Status: status, Host: host,
		}
	}
	return transportError(op, host, err, secrets...)
}

// transportError converts an error that is not a provider's answer: a
// network or context error (its URL, which may carry a token in its query,
// is dropped), or x/oauth2's complaint about an answer it cannot use.
func transportError(op, host string, err error, secrets ...string) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		cause := ue.Err
		return &Error{Op: op, Kind: KindUnavailable, Host: host,
			err: &scrubbedError{msg: scrub(cause.Error(), secrets...), err: cause}}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return &Error{Op: op, Kind: KindUnavailable, Host: host, err: err}
	}
	msg := strings.TrimPrefix(scrub(err.Error(), secrets...), "oauth2: ")
	return &Error{Op: op, Kind: KindInvalidResponse, Host: host, err: &scrubbedError{msg: msg, err: nil}}
}
