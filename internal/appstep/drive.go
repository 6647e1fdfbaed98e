package appstep

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"mime"
	"mime/multipart"
	"net/textproto"
	"net/url"
	"strings"

	"wiresk/internal/appcall"
	"wiresk/internal/catalog"
	"wiresk/internal/wiresk"
)

// DriveMaxMultipart caps the content of an upload_file step: Drive's
// multipart upload is for files of 5 MB or less (larger ones take a
// resumable upload, which this step does not make):
// https://developers.google.com/workspace/drive/api/guides/manage-uploads.
const DriveMaxMultipart = 5 << 20

// driveMultipart completes a Drive files.create (upload_file): the
// multipart/related upload, the rendered body as the JSON metadata part,
// then the content part with the file's bytes.
func driveMultipart(req *catalog.Request, input map[string]any) error {
	data, err := driveContent(input)
	if err != nil {
		return err
	}
	mt, _ := input["mime_type"].(string)
	if mt == "" {
		mt = "application/octet-stream"
	}
	if _, _, err := mime.ParseMediaType(mt); err != nil || !strings.Contains(mt, "/") || strings.ContainsAny(mt, "\r\n") {
		return wiresk.FieldError("input.mime_type", "is not a MIME type, like text/csv")
	}
	meta := req.Body
	if meta == nil {
		meta = map[string]any{}
	}
	metaJSON, err := json.Marshal(meta)
	if err != nil {
		return fmt.Errorf("drive_multipart: the metadata is not JSON: %w", err)
	}
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	// A boundary must not occur in the parts (RFC 2046 5.1.1); a random
	// one almost never does, but the content is arbitrary bytes.
	for bytes.Contains(data, []byte("--"+w.Boundary())) || bytes.Contains(metaJSON, []byte("--"+w.Boundary())) {
		w = multipart.NewWriter(&body)
	}
	for _, p := range []struct {
		contentType string
		data        []byte
	}{{"application/json; charset=UTF-8", metaJSON}, {mt, data}} {
		if err := writePart(w, textproto.MIMEHeader{"Content-Type": {p.contentType}}, p.data); err != nil {
			return err
		}
	}
	if err := w.Close(); err != nil {
		return err
	}
	req.Body = appcall.RawBody{ContentType: "multipart/related; boundary=" + w.Boundary(), Data: body.Bytes()}
	return nil
}

// driveContent is the file's bytes: the content input as UTF-8 text, or
// decoded from base64 (standard or URL alphabet) with encoding "base64".
func driveContent(input map[string]any) ([]byte, error) {
	content, _ := input["content"].(string)
	enc, _ := input["encoding"].(string)
	tooLarge := func(n int) error {
		return wiresk.FieldError("input.content", "is %s; Drive's multipart upload takes files of at most 5 MB (%d bytes)", sizeText(n), DriveMaxMultipart)
	}
	switch enc {
	case "", "text":
		if len(content) > DriveMaxMultipart {
			return nil, tooLarge(len(content))
		}
		return []byte(content), nil
	case "base64":
		// Refuse what is surely too large before decoding it; blanks and
		// line breaks may pad the text a little.
		if n := base64.StdEncoding.DecodedLen(len(content)); n > DriveMaxMultipart*11/10 {
			return nil, tooLarge(n)
		}
		data, err := decodeBase64(content)
		if err != nil {
			return nil, wiresk.FieldError("input.content", "is not base64: %v", err)
		}
		if len(data) > DriveMaxMultipart {
			return nil, tooLarge(len(data))
		}
		return data, nil
	}
	return nil, wiresk.FieldError("input.encoding", `must be "text" or "base64", not %q`, enc)
}

// driveQuery writes the q parameter of a files.list request: the name,
// folder and MIME type asked for, and not in the trash.
func driveQuery(req *catalog.Request, input map[string]any) error {
	var terms []string
	for _, f := range []struct{ input, format string }{
		{"name", "name = %s"},
		{"folder_id", "%s in parents"},
		{"mime_type", "mimeType = %s"},
	} {
		if s, _ := input[f.input].(string); s != "" {
			terms = append(terms, fmt.Sprintf(f.format, driveQuote(s)))
		}
	}
	terms = append(terms, "trashed = false")
	u, err := url.Parse(req.URL)
	if err != nil {
		return fmt.Errorf("drive_multipart: bad URL: %w", err)
	}
	q := u.Query()
	q.Set("q", strings.Join(terms, " and "))
	u.RawQuery = q.Encode()
	req.URL = u.String()
	return nil
}

// driveQuote writes s as a string of Drive's search query language: in
// single quotes, with ' and \ escaped by a backslash, so that no value
// can end the string and add terms to the query.
func driveQuote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}
