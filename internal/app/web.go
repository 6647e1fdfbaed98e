package app

// What the HTTP Lambda functions share to serve the project's http.Handlers
// behind API Gateway: a handler per public URL when the URL is the API's
// own (ByDomain), and a handler built on first use from something loaded
// then (Lazy).

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"sync"

	"github.com/awslabs/aws-lambda-go-api-proxy/core"
)

// maxDomains bounds the handlers ByDomain keeps: an API has its
// execute-api domain and perhaps a custom one or two.
const maxDomains = 8

// ByDomain serves each request with the handler build makes for
// https://<domain>, the domain being the one API Gateway received the
// request on (the Host header outside Lambda). It serves when the public
// URL is not configured: the template cannot pass an API's own URL to a
// function whose routes the API depends on without a circular dependency.
func ByDomain(build func(publicURL string) http.Handler) http.Handler {
	return &byDomain{build: build}
}

type byDomain struct {
	build func(publicURL string) http.Handler
	mu    sync.Mutex
	byURL map[string]http.Handler
}

// ServeHTTP implements http.Handler.
func (b *byDomain) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	domain := r.Host
	if rc, ok := core.GetAPIGatewayV2ContextFromContext(r.Context()); ok && rc.DomainName != "" {
		domain = rc.DomainName
	}
	b.handler("https://"+domain).ServeHTTP(w, r)
}

func (b *byDomain) handler(public string) http.Handler {
	b.mu.Lock()
	defer b.mu.Unlock()
	if h, ok := b.byURL[public]; ok {
		return h
	}
	h := b.build(public)
	if b.byURL == nil {
		b.byURL = make(map[string]http.Handler)
	}
	if len(b.byURL) < maxDomains {
		b.byURL[public] = h
	}
	return h
}

// Lazy serves through the handler build makes from what load returns,
// calling load on the first request and again after a failure, so that a
// cold start makes no network call and a transient failure is not fatal.
// While load fails, requests get 503 unavailable (what names the thing
// loaded, for the message) and the error is logged.
func Lazy[T any](what string, load func(context.Context) (T, error), build func(T) http.Handler, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.Default()
	}
	return &lazy[T]{what: what, load: load, build: build, log: log}
}

type lazy[T any] struct {
	what  string
	load  func(context.Context) (T, error)
	build func(T) http.Handler
	log   *slog.Logger

	mu sync.Mutex
	h  http.Handler
}

// ServeHTTP implements http.Handler.
func (l *lazy[T]) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h, err := l.handler(r.Context())
	if err != nil {
		l.log.ErrorContext(r.Context(), "load "+l.what, "err", err)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(http.StatusServiceUnavailable)
		_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{
			"code": "unavailable", "message": l.what + " could not be loaded; retry",
		}})
		return
	}
	h.ServeHTTP(w, r)
}

func (l *lazy[T]) handler(ctx context.Context) (http.Handler, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.h != nil {
		return l.h, nil
	}
	v, err := l.load(ctx)
	if err != nil {
		return nil, err
	}
	l.h = l.build(v)
	return l.h, nil
}
