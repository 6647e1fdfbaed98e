package appstep

import (
	"errors"

	"wiresk/internal/catalog"
)

// driveMultipart makes a Drive files.create multipart upload.
func driveMultipart(req *catalog.Request, input map[string]any) error {
	return errors.New("drive_multipart: not built yet")
}
