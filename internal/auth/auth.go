// Package auth provides the caller identity of management calls and the
// local JWT check that stands in for API Gateway's JWT authorizer.
package auth

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"wiresk/internal/wiresk"
)

// Identity is who makes a management call.
type Identity struct {
	UserID string
	// Groups are the Group ids the identity provider says the user is in
	// (the groups claim); they grant member access on top of stored
	// memberships.
	Groups []string
}

// InGroupClaim reports whether the token's groups claim names groupID.
func (i Identity) InGroupClaim(groupID string) bool { return slices.Contains(i.Groups, groupID) }

// Authenticator identifies the caller of a management request. Errors are
// *wiresk.Error with code unauthenticated or token_expired.
type Authenticator interface {
	Authenticate(r *http.Request) (Identity, error)
}

type ctxKey struct{}

// WithIdentity returns ctx carrying id.
func WithIdentity(ctx context.Context, id Identity) context.Context {
	return context.WithValue(ctx, ctxKey{}, id)
}

// FromContext returns the identity stored by WithIdentity.
func FromContext(ctx context.Context) (Identity, bool) {
	id, ok := ctx.Value(ctxKey{}).(Identity)
	return id, ok
}

// JWT checks HS256 bearer tokens signed with Key, the local equivalent of
// the API Gateway JWT authorizer: same claims (sub, iss, aud, exp and a
// groups claim), same refusals.
type JWT struct {
	Key      []byte
	Issuer   string
	Audience string
	// GroupsClaim names the claim that lists Group ids; default "groups".
	GroupsClaim string
}

var _ Authenticator = (*JWT)(nil)

func (j *JWT) groupsClaim() string {
	if j.GroupsClaim == "" {
		return "groups"
	}
	return j.GroupsClaim
}

// Authenticate validates the request's bearer token.
func (j *JWT) Authenticate(r *http.Request) (Identity, error) {
	h := r.Header.Get("Authorization")
	raw, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || raw == "" {
		return Identity{}, wiresk.Errorf(wiresk.EUnauthenticated, "an Authorization: Bearer <JWT> header is required")
	}
	claims := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(raw, claims, func(*jwt.Token) (any, error) { return j.Key, nil },
		jwt.WithValidMethods([]string{"HS256"}), jwt.WithIssuer(j.Issuer), jwt.WithAudience(j.Audience),
		jwt.WithExpirationRequired(), jwt.WithLeeway(30*time.Second))
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return Identity{}, wiresk.Errorf(wiresk.ETokenExpired, "the token has expired")
	case err != nil:
		return Identity{}, wiresk.Errorf(wiresk.EUnauthenticated, "the token is not valid")
	}
	sub, _ := claims["sub"].(string)
	if sub == "" {
		return Identity{}, wiresk.Errorf(wiresk.EUnauthenticated, "the token has no subject")
	}
	return Identity{UserID: sub, Groups: ClaimList(claims[j.groupsClaim()])}, nil
}

// ClaimList reads a claim that is a list of strings, or one string of
// space- or comma-separated values (as API Gateway passes list claims on).
func ClaimList(v any) []string {
	switch v := v.(type) {
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	case []string:
		return v
	case string:
		v = strings.Trim(v, "[]")
		return strings.FieldsFunc(v, func(r rune) bool { return r == ' ' || r == ',' })
	}
	return nil
}

// Mint signs a token for userID with the given groups, valid for ttl.
func (j *JWT) Mint(userID string, groups []string, ttl time.Duration) (string, error) {
	now := time.Now()
	claims := jwt.MapClaims{
		"sub": userID, "iss": j.Issuer, "aud": j.Audience,
		"iat": now.Unix(), "exp": now.Add(ttl).Unix(), j.groupsClaim(): groups,
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(j.Key)
}
