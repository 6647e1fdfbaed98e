package apikey_test

import (
	"strings"
	"testing"
	"time"

	"wiresk/internal/apikey"
	"wiresk/internal/wiresk"
)

func MustGenerate(tb testing.TB) (string, apikey.Hash) {
	tb.Helper()
	k, h, err := apikey.Generate()
	if err != nil {
		tb.Fatalf("Generate: %v", err)
	}
	return k, h
}

func TestGenerateParsesBack(t *testing.T) {
	seen := map[string]bool{}
	for range 200 {
		k, h := MustGenerate(t)
		if !strings.HasPrefix(k, apikey.Prefix) || len(k) != apikey.Len {
			t.Fatalf("key %q: want prefix %q and length %d", k, apikey.Prefix, apikey.Len)
		}
		if seen[k] {
			t.Fatalf("duplicate key %q", k)
		}
		seen[k] = true
		got, err := apikey.Parse(k)
		if err != nil {
			t.Fatalf("Parse(%q): %v", k, err)
		}
		if !got.Equal(h) {
			t.Fatalf("Parse hash = %s, want %s", got, h)
		}
		if strings.Contains(string(h), k) || len(h) != 64 {
			t.Fatalf("hash %q is not a hex SHA-256", h)
		}
	}
}

func TestParseRefuses(t *testing.T) {
	k, _ := MustGenerate(t)
	// Change one character of the random part: the checksum must catch it.
	b := []byte(k)
	i := len(apikey.Prefix) + 5
	if b[i] == 'a' {
		b[i] = 'b'
	} else {
		b[i] = 'a'
	}
	typo := string(b)
	// Swap two adjacent different characters.
	swapped := []byte(k)
	for j := len(apikey.Prefix); j < len(swapped)-1; j++ {
		if swapped[j] != swapped[j+1] {
			swapped[j], swapped[j+1] = swapped[j+1], swapped[j]
			break
		}
	}
	cases := []struct{ name, key string }{
		{"empty", ""},
		{"prefix only", apikey.Prefix},
		{"truncated", k[:len(k)-1]},
		{"extra char", k + "a"},
		{"wrong prefix", "sk__" + k[4:]},
		{"typo", typo},
		{"swapped", string(swapped)},
		{"bad char", k[:10] + "-" + k[11:]},
		{"whitespace", " " + k[1:]},
		{"unicode", k[:10] + "é" + k[12:]},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := apikey.Parse(c.key)
			if got, want := wiresk.ErrorCode(err), wiresk.EInvalidAPIKey; got != want {
				t.Fatalf("Parse(%q) code = %q, want %q (err %v)", c.key, got, want, err)
			}
			if len(c.key) > len(apikey.Prefix) && strings.Contains(err.Error(), c.key) {
				t.Fatalf("error %q echoes the key", err)
			}
		})
	}
}

func TestKeyCheck(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	past, future := now.Add(-time.Minute), now.Add(time.Minute)
	cases := []struct {
		name string
		key  apikey.Key
		want string
	}{
		{"active", apikey.Key{}, ""},
		{"not yet expired", apikey.Key{ExpiresAt: &future}, ""},
		{"expired", apikey.Key{ExpiresAt: &past}, wiresk.EAPIKeyExpired},
		{"expires now", apikey.Key{ExpiresAt: &now}, wiresk.EAPIKeyExpired},
		{"rotated in grace", apikey.Key{RotatedTo: "k2", ExpiresAt: &future}, ""},
		{"rotated past grace", apikey.Key{RotatedTo: "k2", ExpiresAt: &past}, wiresk.EAPIKeyExpired},
		{"revoked", apikey.Key{RevokedAt: &past}, wiresk.EAPIKeyRevoked},
		{"revoked beats expired", apikey.Key{RevokedAt: &past, ExpiresAt: &past}, wiresk.EAPIKeyRevoked},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := wiresk.ErrorCode(c.key.Check(now)); got != c.want {
				t.Fatalf("Check code = %q, want %q", got, c.want)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	k, _, _ := apikey.Generate()
	for _, s := range []string{"", apikey.Prefix, k, k[:len(k)-1], strings.ToUpper(k), "wsk_" + strings.Repeat("z", 49), "\x00\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		h, err := apikey.Parse(s)
		if err == nil {
			if len(s) != apikey.Len || !strings.HasPrefix(s, apikey.Prefix) {
				t.Fatalf("Parse accepted %q", s)
			}
			if !h.Equal(apikey.HashOf(s)) {
				t.Fatalf("hash mismatch for %q", s)
			}
		} else if wiresk.ErrorCode(err) != wiresk.EInvalidAPIKey {
			t.Fatalf("Parse(%q) code %q", s, wiresk.ErrorCode(err))
		}
	})
}
