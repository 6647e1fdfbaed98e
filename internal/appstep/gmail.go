package appstep

import (
	"errors"

	"wiresk/internal/catalog"
)

// gmailRaw adds "raw" to a Gmail messages.send request.
func gmailRaw(req *catalog.Request, input map[string]any) error {
	return errors.New("gmail_raw: not built yet")
}
