// Package apikey provides Group-scoped API keys: their format, generation,
// parsing and the stored record.
//
// A key reads "wsk_" + 43 base62 characters (256 random bits) + 6 base62
// characters of CRC-32 checksum over the random part, e.g.
// wsk_0Fq…3aZ1bC. The fixed prefix lets secret scanners recognise leaked
// keys; the checksum lets a mistyped key be refused before any database call.
// Only the SHA-256 of a key is stored.
package apikey

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"hash/crc32"
	"math/big"
	"time"

	"wiresk/internal/wiresk"
)

// Prefix starts every key.
const Prefix = "wsk_"

const (
	alphabet    = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	randomLen   = 43 // 62^43 > 2^256
	checksumLen = 6  // 62^6 > 2^32
	// Len is the length of a key.
	Len = len(Prefix) + randomLen + checksumLen
)

// Hash is the hex SHA-256 of a key: what the store holds.
type Hash string

// Generate returns a new key's plaintext and its hash.
func Generate() (string, Hash, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", "", err
	}
	n := new(big.Int).SetBytes(b[:])
	buf := make([]byte, Len)
	copy(buf, Prefix)
	body := buf[len(Prefix) : len(Prefix)+randomLen]
	base := big.NewInt(62)
	mod := new(big.Int)
	for i := randomLen - 1; i >= 0; i-- {
		n.DivMod(n, base, mod)
		body[i] = alphabet[mod.Int64()]
	}
	putChecksum(buf[len(Prefix)+randomLen:], crc32.ChecksumIEEE(body))
	s := string(buf)
	return s, HashOf(s), nil
}

func putChecksum(dst []byte, sum uint32) {
	for i := checksumLen - 1; i >= 0; i-- {
		dst[i] = alphabet[sum%62]
		sum /= 62
	}
}

// Parse checks a presented key's format and checksum and returns its hash.
// It makes no store call: a malformed or mistyped key is refused here with
// code invalid_api_key.
func Parse(s string) (Hash, error) {
	if len(s) != Len || s[:len(Prefix)] != Prefix {
		return "", wiresk.Errorf(wiresk.EInvalidAPIKey, "the API key is malformed: keys start with %q and are %d characters long", Prefix, Len)
	}
	body := s[len(Prefix) : len(Prefix)+randomLen]
	for i := 0; i < len(s)-len(Prefix); i++ {
		if !isBase62(s[len(Prefix)+i]) {
			return "", wiresk.Errorf(wiresk.EInvalidAPIKey, "the API key is malformed: it has a character outside [0-9A-Za-z]")
		}
	}
	var want [checksumLen]byte
	putChecksum(want[:], crc32.ChecksumIEEE([]byte(body)))
	if string(want[:]) != s[len(Prefix)+randomLen:] {
		return "", wiresk.Errorf(wiresk.EInvalidAPIKey, "the API key's checksum does not match: it was mistyped or truncated")
	}
	return HashOf(s), nil
}

func isBase62(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z'
}

// HashOf returns the hash of a key without checking its format.
func HashOf(key string) Hash {
	sum := sha256.Sum256([]byte(key))
	return Hash(hex.EncodeToString(sum[:]))
}

// Equal compares two hashes in constant time.
func (h Hash) Equal(o Hash) bool {
	return subtle.ConstantTimeCompare([]byte(h), []byte(o)) == 1
}

// Key is the stored record of an API key. It never holds the plaintext.
type Key struct {
	ID      string `json:"id"`
	GroupID string `json:"groupId"`
	Name    string `json:"name"`
	// Hint is the key's last four characters, to tell keys apart in lists.
	Hint      string     `json:"hint"`
	Hash      Hash       `json:"-"`
	CreatedAt time.Time  `json:"createdAt"`
	CreatedBy string     `json:"createdBy,omitempty"`
	ExpiresAt *time.Time `json:"expiresAt,omitempty"`
	RevokedAt *time.Time `json:"revokedAt,omitempty"`
	// RotatedTo names the key that replaced this one; the old key keeps
	// working until ExpiresAt (the grace period), if any.
	RotatedTo   string `json:"rotatedTo,omitempty"`
	RotatedFrom string `json:"rotatedFrom,omitempty"`
	// RunsPerMinute caps the Runs this key's webhooks start a minute, on
	// top of its Group's cap; 0: only the Group's cap applies.
	RunsPerMinute int `json:"runsPerMinute,omitempty"`
}

// MaxRunsPerMinute bounds a key's RunsPerMinute.
const MaxRunsPerMinute = 1_000_000

// Status is revoked, expired or active.
func (k Key) Status(now time.Time) string {
	switch {
	case k.RevokedAt != nil:
		return "revoked"
	case k.ExpiresAt != nil && !now.Before(*k.ExpiresAt):
		return "expired"
	default:
		return "active"
	}
}

// Check returns the error a webhook presenting this key gets at time now,
// or nil if the key may be used.
func (k Key) Check(now time.Time) error {
	switch k.Status(now) {
	case "revoked":
		return wiresk.Errorf(wiresk.EAPIKeyRevoked, "the API key was revoked")
	case "expired":
		if k.RotatedTo != "" {
			return wiresk.Errorf(wiresk.EAPIKeyExpired, "the API key was rotated and its grace period has ended")
		}
		return wiresk.Errorf(wiresk.EAPIKeyExpired, "the API key has expired")
	}
	return nil
}

// HintOf returns the hint shown for a key.
func HintOf(key string) string {
	if len(key) < 4 {
		return ""
	}
	return key[len(key)-4:]
}
