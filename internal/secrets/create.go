package secrets

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smithy "github.com/aws/smithy-go"

	"wiresk/internal/wiresk"
)

// Create stores value as name only if no secret of that name exists, with
// a single CreateSecret call, which Secrets Manager refuses for an existing
// secret: of the Lambda instances that find no OAuth state key at once,
// exactly one makes it (connect.LoadStateKey). It returns an error wrapping
// wiresk.ErrConflict when name exists.
func (v *Vault) Create(ctx context.Context, name string, value []byte) error {
	id, err := v.SecretName(name)
	if err != nil {
		return err
	}
	_, err = v.client.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name:         aws.String(id),
		Description:  aws.String("Wiresk: HMAC key of the OAuth authorization states (PKCE verifiers). Deleting it fails the authorizations in progress."),
		SecretBinary: value,
	})
	var apiErr smithy.APIError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &apiErr) && apiErr.ErrorCode() == "ResourceExistsException":
		return fmt.Errorf("create secret %s: %w", name, wiresk.ErrConflict)
	case errors.As(err, &apiErr):
		return fmt.Errorf("create secret %s: secrets manager: %s", name, apiErr.ErrorCode())
	default:
		return fmt.Errorf("create secret %s: %w", name, err)
	}
}
