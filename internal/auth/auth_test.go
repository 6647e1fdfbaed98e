package auth_test

import (
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"wiresk/internal/auth"
	"wiresk/internal/wiresk"
)

func TestJWT(t *testing.T) {
	j := &auth.JWT{Key: []byte("k-k-k-k-k-k-k-k-k-k-k-k-k-k-k-k-"), Issuer: "iss", Audience: "aud"}
	good, err := j.Mint("u1", []string{"grp_a", "grp_b"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	expired, _ := j.Mint("u1", nil, -time.Hour)
	other := *j
	other.Key = []byte("other-other-other-other-other-ot")
	foreign, _ := other.Mint("u1", nil, time.Hour)
	wrongAud := *j
	wrongAud.Audience = "else"
	aud, _ := wrongAud.Mint("u1", nil, time.Hour)
	none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"sub": "u1", "iss": "iss", "aud": "aud", "exp": time.Now().Add(time.Hour).Unix()}).SignedString(jwt.UnsafeAllowNoneSignatureType)
	noSub, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"iss": "iss", "aud": "aud", "exp": time.Now().Add(time.Hour).Unix()}).SignedString(j.Key)

	cases := []struct {
		name, header, wantCode string
	}{
		{"valid", "Bearer " + good, ""},
		{"missing", "", wiresk.EUnauthenticated},
		{"not bearer", "Basic abc", wiresk.EUnauthenticated},
		{"expired", "Bearer " + expired, wiresk.ETokenExpired},
		{"foreign key", "Bearer " + foreign, wiresk.EUnauthenticated},
		{"wrong audience", "Bearer " + aud, wiresk.EUnauthenticated},
		{"alg none", "Bearer " + none, wiresk.EUnauthenticated},
		{"no subject", "Bearer " + noSub, wiresk.EUnauthenticated},
		{"garbage", "Bearer a.b.c", wiresk.EUnauthenticated},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			if c.header != "" {
				r.Header.Set("Authorization", c.header)
			}
			id, err := j.Authenticate(r)
			if got := wiresk.ErrorCode(err); got != c.wantCode {
				t.Fatalf("code = %q, want %q (%v)", got, c.wantCode, err)
			}
			if c.wantCode == "" && (id.UserID != "u1" || !slices.Equal(id.Groups, []string{"grp_a", "grp_b"}) || !id.InGroupClaim("grp_b")) {
				t.Fatalf("identity = %+v", id)
			}
		})
	}
}

func TestClaimList(t *testing.T) {
	cases := []struct {
		in   any
		want []string
	}{
		{[]any{"a", "b", 3}, []string{"a", "b"}},
		{"[a b]", []string{"a", "b"}},
		{"a,b", []string{"a", "b"}},
		{nil, nil},
	}
	for _, c := range cases {
		if got := auth.ClaimList(c.in); !slices.Equal(got, c.want) {
			t.Errorf("ClaimList(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}
