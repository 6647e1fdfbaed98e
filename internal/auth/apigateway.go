package auth

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/awslabs/aws-lambda-go-api-proxy/core"

	"wiresk/internal/wiresk"
)

// APIGateway identifies the caller from the claims that an API Gateway HTTP
// API JWT authorizer has already verified (issuer, audience, signature and
// expiry). It reads the API Gateway v2 request context that the
// aws-lambda-go-api-proxy httpadapter (NewV2, ProxyWithContext) puts in the
// request's context, so it works only behind that adapter; a request without
// that context is refused as unauthenticated.
type APIGateway struct {
	// GroupsClaim names the claim that lists Group ids; default "groups".
	GroupsClaim string
}

var _ Authenticator = APIGateway{}

// Authenticate returns the identity of the request's verified JWT: its sub
// claim and the Group ids of its groups claim. API Gateway passes list
// claims on as one string such as "[a b]"; that form, a single value, a
// comma-separated list and JSON text of a list are understood.
func (a APIGateway) Authenticate(r *http.Request) (Identity, error) {
	rc, ok := core.GetAPIGatewayV2ContextFromContext(r.Context())
	if !ok {
		return Identity{}, wiresk.Errorf(wiresk.EUnauthenticated, "the request did not come through the API Gateway JWT authorizer")
	}
	if rc.Authorizer == nil || rc.Authorizer.JWT == nil {
		return Identity{}, wiresk.Errorf(wiresk.EUnauthenticated, "an Authorization: Bearer <JWT> header is required")
	}
	claims := rc.Authorizer.JWT.Claims
	sub := claims["sub"]
	if sub == "" {
		return Identity{}, wiresk.Errorf(wiresk.EUnauthenticated, "the token has no subject")
	}
	name := a.GroupsClaim
	if name == "" {
		name = "groups"
	}
	return Identity{UserID: sub, Groups: claimStrings(claims[name])}, nil
}

// claimStrings reads a list claim as API Gateway passes it on: "[a b]" for
// a JSON list, or the claim's text, or JSON text of a list of strings.
func claimStrings(v string) []string {
	if strings.HasPrefix(v, `["`) {
		var list []string
		if json.Unmarshal([]byte(v), &list) == nil {
			return list
		}
	}
	return ClaimList(v)
}
