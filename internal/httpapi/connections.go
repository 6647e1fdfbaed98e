package httpapi

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"strconv"

	"wiresk/internal/auth"
	"wiresk/internal/connect"
	"wiresk/internal/connection"
	"wiresk/internal/wiresk"
)

// Connections serves the Connections API and the apps catalog under /v1
// (JWT required): the routes Routes lists. Its responses never hold a
// secret: a Connection's credentials stay in the vault, and no key,
// password or client secret a request sends is echoed back.
type Connections struct {
	mux    *http.ServeMux
	svc    *connect.Connections
	log    *slog.Logger
	authed func(handlerFunc) http.Handler
	routes []route
}

// NewConnections returns the handler of the Connections API and of
// GET /v1/apps. Mount it on each pattern Routes returns (they are more
// specific than the management API's "/v1/", so both share a mux); a
// request it does not route is answered with a JSON 404, as the management
// API does.
func NewConnections(svc *connect.Connections, a auth.Authenticator, log *slog.Logger) *Connections {
	if log == nil {
		log = slog.Default()
	}
	c := &Connections{mux: http.NewServeMux(), svc: svc, log: log}
	// The management API's wrapper, so that both APIs authenticate and
	// answer errors alike.
	c.authed = (&Management{auth: a, log: log}).authed
	c.routes = []route{
		{"GET /v1/apps", c.listApps},

		{"POST /v1/groups/{g}/connections", noStore(c.create)},
		{"GET /v1/groups/{g}/connections", noStore(c.list)},
		{"GET /v1/groups/{g}/connections/{c}", noStore(c.get)},
		{"PATCH /v1/groups/{g}/connections/{c}", noStore(c.update)},
		{"DELETE /v1/groups/{g}/connections/{c}", noStore(c.delete)},
		{"POST /v1/groups/{g}/connections/{c}/test", noStore(action(svc.Test))},
		{"POST /v1/groups/{g}/connections/{c}/reconnect", noStore(action(svc.Reconnect))},
		{"POST /v1/groups/{g}/connections/{c}/disconnect", noStore(action(svc.Disconnect))},
		{"GET /v1/groups/{g}/connections/{c}/audit", noStore(c.audit)},
	}
	for _, rt := range c.routes {
		c.mux.Handle(rt.pattern, c.authed(rt.h))
	}
	c.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, r, c.log, wiresk.Errorf(wiresk.ENotFound, "no route %s %s", r.Method, r.URL.Path))
	})
	return c
}

// Routes lists the method and path pattern of every route of the handler.
func (c *Connections) Routes() []string {
	out := make([]string, len(c.routes))
	for i, rt := range c.routes {
		out[i] = rt.pattern
	}
	return out
}

// ServeHTTP implements http.Handler.
func (c *Connections) ServeHTTP(w http.ResponseWriter, r *http.Request) { c.mux.ServeHTTP(w, r) }

// noStore marks the answer of h, error or not, as not to be cached: a
// Connection's answer may carry an authorization URL with its state, its
// account, and why it broke.
func noStore(h handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, who auth.Identity) error {
		w.Header().Set("Cache-Control", "no-store")
		return h(w, r, who)
	}
}

// decodeNone refuses a body on a call that takes none, so that a field a
// client sends in the belief that it is used (a new API key sent to
// reconnect, say) is refused rather than silently ignored. An empty body,
// or an empty JSON object, is accepted.
func decodeNone(r *http.Request) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxManagementBody+1))
	if err != nil {
		return wiresk.Errorf(wiresk.EInvalid, "the request body could not be read")
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	var none struct{}
	return decode(r, &none)
}

func (c *Connections) listApps(w http.ResponseWriter, r *http.Request, _ auth.Identity) error {
	apps, err := c.svc.Apps()
	if err != nil {
		return err // a wiring mistake: logged, answered 500
	}
	writeJSON(w, http.StatusOK, map[string]any{"apps": apps})
	return nil
}

func (c *Connections) create(w http.ResponseWriter, r *http.Request, who auth.Identity) error {
	var in connect.CreateInput
	if err := decode(r, &in); err != nil {
		return err
	}
	v, err := c.svc.Create(r.Context(), who, r.PathValue("g"), in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, v)
	return nil
}

func (c *Connections) list(w http.ResponseWriter, r *http.Request, who auth.Identity) error {
	vs, err := c.svc.List(r.Context(), who, r.PathValue("g"))
	if err != nil {
		return err
	}
	if vs == nil {
		vs = []connect.View{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"connections": vs})
	return nil
}

func (c *Connections) get(w http.ResponseWriter, r *http.Request, who auth.Identity) error {
	d, err := c.svc.Get(r.Context(), who, r.PathValue("g"), r.PathValue("c"))
	if err != nil {
		return err
	}
	if d.UsedBy == nil {
		d.UsedBy = []connection.FlowRef{}
	}
	writeJSON(w, http.StatusOK, d)
	return nil
}

func (c *Connections) update(w http.ResponseWriter, r *http.Request, who auth.Identity) error {
	var in connect.UpdateInput
	if err := decode(r, &in); err != nil {
		return err
	}
	v, err := c.svc.Update(r.Context(), who, r.PathValue("g"), r.PathValue("c"), in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

func (c *Connections) delete(w http.ResponseWriter, r *http.Request, who auth.Identity) error {
	if err := c.svc.Delete(r.Context(), who, r.PathValue("g"), r.PathValue("c")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// action serves a POST on a Connection that takes no body and answers the
// Connection's view: do is the service method (Test, Reconnect or
// Disconnect).
func action(do func(ctx context.Context, who auth.Identity, groupID, id string) (connect.View, error)) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, who auth.Identity) error {
		if err := decodeNone(r); err != nil {
			return err
		}
		v, err := do(r.Context(), who, r.PathValue("g"), r.PathValue("c"))
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, v)
		return nil
	}
}

// maxAuditLimit is the largest page of audit events a call may ask for.
const maxAuditLimit = 1000

func (c *Connections) audit(w http.ResponseWriter, r *http.Request, who auth.Identity) error {
	limit := 0
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxAuditLimit {
			return wiresk.FieldError("limit", "must be a whole number between 1 and %d", maxAuditLimit)
		}
		limit = n
	}
	es, err := c.svc.Audit(r.Context(), who, r.PathValue("g"), r.PathValue("c"), limit)
	if err != nil {
		return err
	}
	if es == nil {
		es = []connection.AuditEvent{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"events": es})
	return nil
}
