package auth_test

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"

	"wiresk/internal/auth"
	"wiresk/internal/wiresk"
)

// jwtAuthorizerSample is aws-lambda-go's own sample of an HTTP API request
// with JWT authorizer claims, byte for byte:
// github.com/aws/aws-lambda-go@815d21f4176907c97cc6a77465ece6a1d2bbbac4,
// events/testdata/apigw-v2-request-jwt-authorizer.json.
const jwtAuthorizerSample = `{
    "version": "2.0",
    "routeKey": "$default",
    "rawPath": "/my/path",
    "rawQueryString": "parameter1=value1&parameter1=value2&parameter2=value",
    "cookies": [
        "cookie1",
        "cookie2"
    ],
    "headers": {
        "Header1": "value1",
        "Header2": "value2"
    },
    "queryStringParameters": {
        "parameter1": "value1,value2",
        "parameter2": "value"
    },
    "pathParameters": {
        "proxy": "hello/world"
    },
    "requestContext": {
        "routeKey": "$default",
        "accountId": "123456789012",
        "stage": "$default",
        "requestId": "id",
        "authorizer": {
            "jwt": {
                "claims": {
                    "claim1": "value1",
                    "claim2": "value2"
                },
                "scopes": [
                    "scope1",
                    "scope2"
                ]
            }
        },
        "apiId": "api-id",
        "authentication": {
            "clientCert": {
                "clientCertPem": "-----BEGIN CERTIFICATE-----\nMIIEZTCCAk0CAQEwDQ...",
                "issuerDN": "C=US,ST=Washington,L=Seattle,O=Amazon Web Services,OU=Security,CN=My Private CA",
                "serialNumber": "1",
                "subjectDN": "C=US,ST=Washington,L=Seattle,O=Amazon Web Services,OU=Security,CN=My Client",
                "validity": {
                    "notAfter": "Aug  5 00:28:21 2120 GMT",
                    "notBefore": "Aug 29 00:28:21 2020 GMT"
                }
            }            
        },
        "domainName": "id.execute-api.us-east-1.amazonaws.com",
        "domainPrefix": "id",
        "time": "12/Mar/2020:19:03:58+0000",
        "timeEpoch": 1583348638390,
        "http": {
            "method": "GET",
            "path": "/my/path",
            "protocol": "HTTP/1.1",
            "sourceIp": "IP",
            "userAgent": "agent"
        }
    },
    "stageVariables": {
        "stageVariable1": "value1",
        "stageVariable2": "value2"
    },
    "body": "{\r\n\t\"a\": 1\r\n}",
    "isBase64Encoded": false
}
`

// jwtAuthorizerSampleBlob is the upstream file's git blob id.
const jwtAuthorizerSampleBlob = "ec045a9742f696e542597b73a0e95280e8499c61"

func TestSampleIsUpstreamCopy(t *testing.T) {
	h := sha1.New()
	fmt.Fprintf(h, "blob %d\x00%s", len(jwtAuthorizerSample), jwtAuthorizerSample)
	if got, want := hex.EncodeToString(h.Sum(nil)), jwtAuthorizerSampleBlob; got != want {
		t.Fatalf("git blob id of the embedded sample: got %s, want %s (the copy was changed)", got, want)
	}
}

// sampleEvent decodes the sample and lets edit change its claims.
func sampleEvent(t *testing.T, edit func(claims map[string]string)) events.APIGatewayV2HTTPRequest {
	t.Helper()
	var ev events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal([]byte(jwtAuthorizerSample), &ev); err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(ev.RequestContext.Authorizer.JWT.Claims)
	}
	return ev
}

// authenticate runs a through the httpadapter, as in Lambda, and returns
// what it answered.
func authenticate(t *testing.T, a auth.Authenticator, ev events.APIGatewayV2HTTPRequest) (auth.Identity, error) {
	t.Helper()
	var id auth.Identity
	var err error
	called := false
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		called = true
		id, err = a.Authenticate(r)
		w.WriteHeader(http.StatusNoContent)
	})
	if _, perr := httpadapter.NewV2(h).ProxyWithContext(context.Background(), ev); perr != nil {
		t.Fatal(perr)
	}
	if !called {
		t.Fatal("the handler was not called")
	}
	return id, err
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	var we *wiresk.Error
	if !errors.As(err, &we) {
		t.Fatalf("got error %v, want a *wiresk.Error with code %s", err, code)
	}
	if got, want := we.Code, code; got != want {
		t.Fatalf("error code: got %s, want %s (%v)", got, want, err)
	}
}

func TestAPIGatewayRealSampleHasNoSubject(t *testing.T) {
	// The upstream sample carries claim1 and claim2 but no sub: no identity.
	_, err := authenticate(t, auth.APIGateway{}, sampleEvent(t, nil))
	wantCode(t, err, wiresk.EUnauthenticated)
}

func TestAPIGatewayClaims(t *testing.T) {
	tests := []struct {
		name        string
		groupsClaim string
		claims      map[string]string
		wantGroups  []string
	}{
		{"api gateway list form", "", map[string]string{"sub": "user-1", "groups": "[grp_a grp_b]"}, []string{"grp_a", "grp_b"}},
		{"json list form", "", map[string]string{"sub": "user-1", "groups": `["grp_a","grp_b"]`}, []string{"grp_a", "grp_b"}},
		{"comma separated", "", map[string]string{"sub": "user-1", "groups": "grp_a,grp_b"}, []string{"grp_a", "grp_b"}},
		{"one group", "", map[string]string{"sub": "user-1", "groups": "grp_a"}, []string{"grp_a"}},
		{"no groups claim", "", map[string]string{"sub": "user-1"}, nil},
		{"cognito groups claim", "cognito:groups", map[string]string{"sub": "user-1", "cognito:groups": "[grp_c]", "groups": "[grp_a]"}, []string{"grp_c"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := sampleEvent(t, func(c map[string]string) {
				for k, v := range tt.claims {
					c[k] = v
				}
			})
			id, err := authenticate(t, auth.APIGateway{GroupsClaim: tt.groupsClaim}, ev)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := id.UserID, "user-1"; got != want {
				t.Errorf("UserID: got %q, want %q", got, want)
			}
			if got, want := id.Groups, tt.wantGroups; !slices.Equal(got, want) {
				t.Errorf("Groups: got %q, want %q", got, want)
			}
		})
	}
}

func TestAPIGatewayRefusals(t *testing.T) {
	t.Run("no authorizer", func(t *testing.T) {
		ev := sampleEvent(t, nil)
		ev.RequestContext.Authorizer = nil
		_, err := authenticate(t, auth.APIGateway{}, ev)
		wantCode(t, err, wiresk.EUnauthenticated)
	})
	t.Run("no jwt", func(t *testing.T) {
		ev := sampleEvent(t, nil)
		ev.RequestContext.Authorizer.JWT = nil
		_, err := authenticate(t, auth.APIGateway{}, ev)
		wantCode(t, err, wiresk.EUnauthenticated)
	})
	t.Run("empty sub", func(t *testing.T) {
		ev := sampleEvent(t, func(c map[string]string) { c["sub"] = ""; c["groups"] = "[grp_a]" })
		_, err := authenticate(t, auth.APIGateway{}, ev)
		wantCode(t, err, wiresk.EUnauthenticated)
	})
	t.Run("not through the adapter", func(t *testing.T) {
		// A bearer header alone is not trusted: only the authorizer's
		// context is.
		r, err := http.NewRequest(http.MethodGet, "https://api.example/v1/groups", strings.NewReader(""))
		if err != nil {
			t.Fatal(err)
		}
		r.Header.Set("Authorization", "Bearer x.y.z")
		_, err = auth.APIGateway{}.Authenticate(r)
		wantCode(t, err, wiresk.EUnauthenticated)
	})
}
