// Package secrets is the AWS Secrets Manager adapter of the vault port: each
// vault name is one secret, named <prefix>/<name>, holding the value as
// SecretBinary. Deletion always keeps a recovery window, so a deleted
// Connection's tokens can be restored from the AWS console until it ends.
//
// A Vault keeps a small in-memory cache of the values it read or wrote, so
// that a warm Lambda does not call Secrets Manager on every step: see
// Options.CacheTTL for how stale a value may be.
package secrets

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smithy "github.com/aws/smithy-go"

	"wiresk/internal/wiresk"
)

// Defaults and limits of Options.
const (
	// DefaultRecoveryWindowDays is the recovery window of Delete when
	// Options.RecoveryWindowDays is 0.
	DefaultRecoveryWindowDays = 7
	// MinRecoveryWindowDays and MaxRecoveryWindowDays bound the recovery
	// window, as Secrets Manager does.
	MinRecoveryWindowDays = 7
	MaxRecoveryWindowDays = 30
	// DefaultCacheTTL is the cache TTL when Options.CacheTTL is 0.
	DefaultCacheTTL = 5 * time.Minute
	// MaxCacheTTL is the longest cache TTL New accepts.
	MaxCacheTTL = 15 * time.Minute
	// DefaultCacheSize is the cache bound when Options.CacheSize is 0.
	DefaultCacheSize = 1000
)

// MaxValueSize is the largest value Put accepts, in bytes: the largest
// SecretBinary of Secrets Manager. The smallest is 1 byte.
const MaxValueSize = 65536

// maxSecretName is the longest secret name, prefix included, that
// Secrets Manager accepts.
const maxSecretName = 512

// The error codes of Secrets Manager the vault acts on.
const (
	codeNotFound       = "ResourceNotFoundException"
	codeExists         = "ResourceExistsException"
	codeInvalidRequest = "InvalidRequestException"
)

// Options configures a Vault. The zero value is valid and means the
// defaults.
type Options struct {
	// RecoveryWindowDays is how many days a deleted secret can still be
	// restored: 0 means DefaultRecoveryWindowDays, otherwise it must be
	// between MinRecoveryWindowDays and MaxRecoveryWindowDays.
	RecoveryWindowDays int
	// CacheTTL is how long a value read or written stays in the cache, and
	// so how long a change made by another process (another Lambda
	// instance) may go unseen by Get: 0 means DefaultCacheTTL, a positive
	// TTL must be at most MaxCacheTTL, and a negative one disables the
	// cache.
	CacheTTL time.Duration
	// CacheSize bounds the number of cached values: 0 means
	// DefaultCacheSize, and a negative size disables the cache. When the
	// cache is full, the oldest entry goes.
	CacheSize int
	// Now returns the current time, for the cache; nil means time.Now.
	Now func() time.Time
}

// Vault stores secrets in AWS Secrets Manager under a name prefix. Errors
// never contain a secret's value. It is safe for concurrent use.
type Vault struct {
	client       API
	prefix       string
	recoveryDays int32
	cache        *cache // nil when disabled
}

// API is the part of the Secrets Manager client the vault uses:
// *secretsmanager.Client implements it, and a test may wrap it.
type API interface {
	CreateSecret(ctx context.Context, in *secretsmanager.CreateSecretInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.CreateSecretOutput, error)
	DeleteSecret(ctx context.Context, in *secretsmanager.DeleteSecretInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.DeleteSecretOutput, error)
	DescribeSecret(ctx context.Context, in *secretsmanager.DescribeSecretInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error)
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
	PutSecretValue(ctx context.Context, in *secretsmanager.PutSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.PutSecretValueOutput, error)
	RestoreSecret(ctx context.Context, in *secretsmanager.RestoreSecretInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.RestoreSecretOutput, error)
}

var _ API = (*secretsmanager.Client)(nil)

// New returns a vault that stores the secret name as the Secrets Manager
// secret <prefix>/<name> through client. prefix, such as "wiresk/prod",
// must be non-empty, must neither start nor end with a slash, and may hold
// only the characters Secrets Manager allows in names (ASCII letters,
// digits and /_+=.@-). New fails with a *wiresk.Error of code
// wiresk.EValidation for a bad prefix or bad options, and with another error
// for a nil client. It makes no call to Secrets Manager.
func New(client API, prefix string, opts Options) (*Vault, error) {
	if client == nil {
		return nil, errors.New("secrets: nil Secrets Manager client")
	}
	if err := checkPrefix(prefix); err != nil {
		return nil, err
	}
	days := opts.RecoveryWindowDays
	if days == 0 {
		days = DefaultRecoveryWindowDays
	}
	if days < MinRecoveryWindowDays || days > MaxRecoveryWindowDays {
		return nil, wiresk.FieldError("RecoveryWindowDays", "must be between %d and %d days, got %d",
			MinRecoveryWindowDays, MaxRecoveryWindowDays, opts.RecoveryWindowDays)
	}
	ttl := opts.CacheTTL
	if ttl == 0 {
		ttl = DefaultCacheTTL
	}
	if ttl > MaxCacheTTL {
		return nil, wiresk.FieldError("CacheTTL", "must be at most %v, got %v", MaxCacheTTL, ttl)
	}
	size := opts.CacheSize
	if size == 0 {
		size = DefaultCacheSize
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	v := &Vault{client: client, prefix: prefix, recoveryDays: int32(days)}
	if ttl > 0 && size > 0 {
		v.cache = newCache(ttl, size, now)
	}
	return v, nil
}

// SecretName returns the Secrets Manager name of the vault name name,
// <prefix>/<name>, or the validation error of a bad name.
func (v *Vault) SecretName(name string) (string, error) {
	if err := checkName(name); err != nil {
		return "", err
	}
	id := v.prefix + "/" + name
	if len(id) > maxSecretName {
		return "", wiresk.FieldError("name", "must be at most %d characters with the prefix", maxSecretName)
	}
	return id, nil
}

// Put stores value as the secret name, creating or replacing it: it creates
// the secret, or adds a new current version to an existing one, or restores
// one scheduled for deletion and then adds the version. The value must be 1
// to MaxValueSize bytes. A bad name or value is a *wiresk.Error of code
// wiresk.EValidation; a failure of Secrets Manager is another error.
func (v *Vault) Put(ctx context.Context, name string, value []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	id, err := v.SecretName(name)
	if err != nil {
		return err
	}
	if len(value) == 0 {
		return wiresk.FieldError("value", "must not be empty (Secrets Manager stores 1 to %d bytes)", MaxValueSize)
	}
	if len(value) > MaxValueSize {
		return wiresk.FieldError("value", "must be at most %d bytes, got %d", MaxValueSize, len(value))
	}
	gen := v.cache.generation()
	if err := v.put(ctx, name, id, value); err != nil {
		v.cache.drop(id)
		return redact(err, value)
	}
	v.cache.store(id, value, gen)
	return nil
}

// put writes value to Secrets Manager. A secret can change state between
// two calls (deleted, restored or created by another process), so put tries
// a few times, each attempt acting on the state the previous one met.
func (v *Vault) put(ctx context.Context, name, id string, value []byte) error {
	const attempts = 3
	create := true
	var err error
	for range attempts {
		if create {
			_, err = v.client.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
				Name:         aws.String(id),
				SecretBinary: value,
			})
			switch code := errorCode(err); {
			case err == nil:
				return nil
			case code == codeExists:
				create = false
			case code == codeInvalidRequest && v.pendingDeletion(ctx, id, err):
				if err = v.restore(ctx, id); err != nil {
					return v.fail("put", name, err)
				}
				create = false
			default:
				return v.fail("put", name, err)
			}
			continue
		}
		_, err = v.client.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
			SecretId:     aws.String(id),
			SecretBinary: value,
		})
		switch code := errorCode(err); {
		case err == nil:
			return nil
		case code == codeNotFound:
			// Deleted for good meanwhile: create it again.
			create = true
		case code == codeInvalidRequest && v.pendingDeletion(ctx, id, err):
			if err = v.restore(ctx, id); err != nil {
				return v.fail("put", name, err)
			}
		default:
			return v.fail("put", name, err)
		}
	}
	return v.fail("put", name, err)
}

// restore cancels the scheduled deletion of the secret id. A secret deleted
// for good meanwhile is not an error: the next attempt of put creates it.
func (v *Vault) restore(ctx context.Context, id string) error {
	_, err := v.client.RestoreSecret(ctx, &secretsmanager.RestoreSecretInput{SecretId: aws.String(id)})
	if errorCode(err) == codeNotFound {
		return nil
	}
	return err
}

// Get returns the value of the secret name, from the cache if it holds it.
// A missing secret, or one scheduled for deletion, is an error wrapping
// wiresk.ErrNotFound; a bad name is a *wiresk.Error of code
// wiresk.EValidation; a failure of Secrets Manager is another error. The
// caller may modify the returned slice.
func (v *Vault) Get(ctx context.Context, name string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	id, err := v.SecretName(name)
	if err != nil {
		return nil, err
	}
	if value, ok := v.cache.get(id); ok {
		return value, nil
	}
	return v.fetch(ctx, name, id)
}

// GetFresh is Get without the cache: it always reads Secrets Manager, and
// refreshes the cache with what it read. Use it where a value another
// process may have just written matters, such as reading a refresh token
// under the lock that serializes its rotation.
func (v *Vault) GetFresh(ctx context.Context, name string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	id, err := v.SecretName(name)
	if err != nil {
		return nil, err
	}
	return v.fetch(ctx, name, id)
}

// fetch reads the current value of the secret id and caches it.
func (v *Vault) fetch(ctx context.Context, name, id string) ([]byte, error) {
	gen := v.cache.generation()
	out, err := v.client.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)})
	if err != nil {
		code := errorCode(err)
		if code == codeNotFound || (code == codeInvalidRequest && v.pendingDeletion(ctx, id, err)) {
			return nil, fmt.Errorf("get secret %s: %w", name, wiresk.ErrNotFound)
		}
		return nil, v.fail("get", name, err)
	}
	var value []byte
	switch {
	case out.SecretBinary != nil:
		value = out.SecretBinary
	case out.SecretString != nil:
		// A secret written as text, say from the console.
		value = []byte(*out.SecretString)
	default:
		value = []byte{}
	}
	v.cache.fill(id, value, gen)
	return value, nil
}

// Delete schedules the deletion of the secret name with the vault's recovery
// window; it never deletes without recovery. A missing secret, or one
// already scheduled for deletion, is an error wrapping wiresk.ErrNotFound; a
// bad name is a *wiresk.Error of code wiresk.EValidation; a failure of
// Secrets Manager is another error.
func (v *Vault) Delete(ctx context.Context, name string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	id, err := v.SecretName(name)
	if err != nil {
		return err
	}
	defer v.cache.drop(id)
	_, err = v.client.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{
		SecretId:             aws.String(id),
		RecoveryWindowInDays: aws.Int64(int64(v.recoveryDays)),
	})
	if err != nil {
		code := errorCode(err)
		if code == codeNotFound || (code == codeInvalidRequest && v.pendingDeletion(ctx, id, err)) {
			return fmt.Errorf("delete secret %s: %w", name, wiresk.ErrNotFound)
		}
		return v.fail("delete", name, err)
	}
	return nil
}

// pendingDeletion reports whether err, an InvalidRequestException about the
// secret id, means that the secret is scheduled for deletion. Secrets
// Manager says so only in the message, so when the message does not,
// pendingDeletion asks DescribeSecret, which answers for such a secret.
func (v *Vault) pendingDeletion(ctx context.Context, id string, err error) bool {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) && strings.Contains(strings.ToLower(apiErr.ErrorMessage()), "deletion") {
		return true
	}
	out, derr := v.client.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(id)})
	return derr == nil && out.DeletedDate != nil
}

// fail returns the error of the operation op on the secret name. It keeps
// the error code and message of Secrets Manager and the context's error,
// and replaces any other error text that could quote a response body.
func (v *Vault) fail(op, name string, err error) error {
	var apiErr smithy.APIError
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%s secret %s: %w", op, name, err)
	case errors.As(err, &apiErr):
		return fmt.Errorf("%s secret %s: secrets manager: %w", op, name, apiErr)
	default:
		var derr *smithy.DeserializationError
		if errors.As(err, &derr) {
			return fmt.Errorf("%s secret %s: secrets manager: malformed response", op, name)
		}
		return fmt.Errorf("%s secret %s: secrets manager: %w", op, name, err)
	}
}

// errorCode returns the Secrets Manager error code of err, or "".
func errorCode(err error) string {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode()
	}
	return ""
}

// redactedError hides the text of an error that quotes a secret value,
// keeping it in the chain for errors.Is and errors.As.
type redactedError struct {
	err error
}

func (e *redactedError) Error() string {
	if code := errorCode(e.err); code != "" {
		return "secrets manager error " + code + " (message redacted: it quoted the secret value)"
	}
	return "secrets manager error (message redacted: it quoted the secret value)"
}

func (e *redactedError) Unwrap() error { return e.err }

// redact returns err, or a redacted error if its text contains value.
func redact(err error, value []byte) error {
	if err != nil && len(value) > 0 && strings.Contains(err.Error(), string(value)) {
		return &redactedError{err: err}
	}
	return err
}

// checkPrefix validates the secret name prefix.
func checkPrefix(prefix string) error {
	switch {
	case prefix == "":
		return wiresk.FieldError("prefix", "must not be empty")
	case strings.HasPrefix(prefix, "/") || strings.HasSuffix(prefix, "/"):
		return wiresk.FieldError("prefix", "must neither start nor end with a slash")
	case !validChars(prefix):
		return wiresk.FieldError("prefix", "may hold only ASCII letters, digits and /_+=.@-")
	case strings.Contains(prefix, "//"):
		return wiresk.FieldError("prefix", "must not contain an empty path segment")
	case strings.Contains(prefix, ".."):
		return wiresk.FieldError("prefix", `must not contain ".."`)
	case len(prefix) >= maxSecretName-1:
		return wiresk.FieldError("prefix", "must be shorter than %d characters", maxSecretName-1)
	}
	return nil
}

// checkName validates a vault name: the characters Secrets Manager allows,
// no "..", and no empty path segment.
func checkName(name string) error {
	switch {
	case name == "":
		return wiresk.FieldError("name", "must not be empty")
	case !validChars(name):
		return wiresk.FieldError("name", "may hold only ASCII letters, digits and /_+=.@-")
	case strings.Contains(name, ".."):
		return wiresk.FieldError("name", `must not contain ".."`)
	case strings.HasPrefix(name, "/") || strings.HasSuffix(name, "/") || strings.Contains(name, "//"):
		return wiresk.FieldError("name", "must not start or end with a slash or contain an empty path segment")
	}
	return nil
}

// validChars reports whether s holds only the characters Secrets Manager
// allows in a secret name.
func validChars(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("/_+=.@-", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// NewFromConfig returns the Vault under prefix with a Secrets Manager
// client made from awsCfg: what a Lambda function's main builds. Its
// errors are New's.
func NewFromConfig(awsCfg aws.Config, prefix string, opts Options) (*Vault, error) {
	return New(secretsmanager.NewFromConfig(awsCfg), prefix, opts)
}
