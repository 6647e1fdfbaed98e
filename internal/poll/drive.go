package poll

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"wiresk/internal/wiresk"
)

func init() {
	register(Event{
		App:   "google_drive",
		Name:  "new_file",
		Label: "New file in folder",
		Params: []Param{
			{Name: "folder_id", Required: true, Label: "Folder ID"},
			{Name: "mime_type", Label: "MIME type"},
		},
		AnyScope: []string{"https://www.googleapis.com/auth/drive", "https://www.googleapis.com/auth/drive.readonly", "https://www.googleapis.com/auth/drive.metadata.readonly", "https://www.googleapis.com/auth/drive.metadata"},
		Source:   driveNewFile{},
	})
}

// driveFolderType is the MIME type of Drive folders.
const driveFolderType = "application/vnd.google-apps.folder"

// driveTimeLayout is how Drive writes times, and the cursor: RFC 3339 in
// UTC with milliseconds.
const driveTimeLayout = "2006-01-02T15:04:05.000Z"

var (
	// driveID is what a Drive file or folder id is made of (letters,
	// digits, - and _), or the alias "root" of My Drive.
	driveID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,200}$`)
	// driveMIMEType is a type/subtype of RFC 6838's restricted names.
	driveMIMEType = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$`)
)

// driveNewFile is the Google Drive event new_file: a file was created in
// a folder. It polls files.list
// (https://developers.google.com/workspace/drive/api/reference/rest/v3/files/list)
// with q = "'<folder_id>' in parents and trashed = false and createdTime
// >= '<cursor>'" (the folder id quoted as Drive's search guide says, '
// and \ escaped by a backslash), orderBy=createdTime, 100 a page, the
// fields an item has. The cursor is the createdTime of the newest file
// returned, RFC 3339 to the millisecond as Drive keeps it, then the ids of
// the files of that millisecond returned, comma-separated
// ("2026-03-01T10:00:00.123Z,1AbC..."): the search includes the cursor's
// millisecond, and drops the files the cursor names. So a file is
// returned once, and every poll moves on whatever Max is. Item IDs are
// file ids: should a file come twice, it starts one Run.
//
// Decisions, as Zapier's and n8n's Drive triggers behave:
//   - Only the folder's own files count, not its subfolders' files
//     (Drive's "in parents"); folder_id "root" is My Drive. Folders made
//     in the folder are not files: they are left out unless mime_type is
//     the folder type application/vnd.google-apps.folder. mime_type keeps
//     the files of that exact type (application/pdf,
//     application/vnd.google-apps.spreadsheet...).
//   - A file counts when it is created (createdTime): a file moved into
//     the folder later keeps its createdTime and is not new; a copy is.
//     Trashed files are left out.
//   - Shared drives' folders work: the list asks supportsAllDrives and
//     includeItemsFromAllDrives. With the drive.file scope Drive lists
//     only the files the app created or was given; the trigger needs
//     drive.readonly (or drive, drive.metadata.readonly) to see the
//     files others upload.
//   - The item is {id, name, mimeType, createdTime, modifiedTime, parents,
//     webViewLink, size}, as Drive writes them (size is a string of bytes,
//     absent for Google Docs).
//   - With more than Max new files, the oldest Max are returned (by
//     createdTime, then id) with More, and the cursor is the last one's.
type driveNewFile struct{}

// Check requires folder_id, a Drive id or "root", and takes mime_type, a
// type/subtype.
func (driveNewFile) Check(params map[string]string) error {
	if err := googleKnownParams(params, "folder_id", "mime_type"); err != nil {
		return err
	}
	folder, ok := params["folder_id"]
	switch {
	case !ok || folder == "":
		return wiresk.FieldError("params.folder_id", "is required: the id of the folder to watch (the part after /folders/ in its link), or root for My Drive")
	case !driveID.MatchString(folder):
		return wiresk.FieldError("params.folder_id", "%q is not a Drive folder id: ids are letters, digits, - and _ (the part after /folders/ in the folder's link)", folder)
	}
	if mt, ok := params["mime_type"]; ok && mt != "" && !driveMIMEType.MatchString(mt) {
		return wiresk.FieldError("params.mime_type", "%q is not a MIME type like application/pdf", mt)
	}
	return nil
}

// driveFile is a file of a files.list answer.
type driveFile struct {
	ID           string   `json:"id"`
	Name         string   `json:"name"`
	MimeType     string   `json:"mimeType"`
	CreatedTime  string   `json:"createdTime"`
	ModifiedTime string   `json:"modifiedTime"`
	Parents      []string `json:"parents"`
	WebViewLink  string   `json:"webViewLink"`
	Size         string   `json:"size"`

	created time.Time // CreatedTime
}

// item is the file as a Run's trigger.body.
func (f *driveFile) item() Item {
	parents := make([]any, len(f.Parents))
	for i, p := range f.Parents {
		parents[i] = p
	}
	data := map[string]any{
		"id":           f.ID,
		"name":         f.Name,
		"mimeType":     f.MimeType,
		"createdTime":  f.CreatedTime,
		"modifiedTime": f.ModifiedTime,
		"parents":      parents,
		"webViewLink":  f.WebViewLink,
	}
	if f.Size != "" {
		data["size"] = f.Size
	}
	return Item{ID: f.ID, Data: data}
}

// driveFields are the fields a files.list page is asked for.
const driveFields = "nextPageToken,files(id,name,mimeType,createdTime,modifiedTime,parents,webViewLink,size)"

// Poll lists the files created in the folder at or after the cursor,
// oldest first.
func (driveNewFile) Poll(ctx context.Context, in Input) (Result, error) {
	if in.Cursor == "" {
		return Result{Cursor: in.Now.UTC().Format(driveTimeLayout)}, nil
	}
	head, done := googleCursor(in.Cursor)
	cursor, err := time.Parse(time.RFC3339Nano, head)
	if err != nil {
		return Result{}, fmt.Errorf("google_drive.new_file: cursor %q is not an RFC 3339 time and ids", in.Cursor)
	}
	folder := in.Params["folder_id"]
	if !driveID.MatchString(folder) {
		return Result{}, fmt.Errorf("google_drive.new_file: folder_id %q is not a Drive id", folder)
	}
	limit := cmp.Or(in.Max, DefaultMax)
	q := driveQuote(folder) + " in parents and trashed = false and createdTime >= " + driveQuote(cursor.UTC().Format(driveTimeLayout))
	if mt := in.Params["mime_type"]; mt != "" {
		q += " and mimeType = " + driveQuote(mt)
	} else {
		q += " and mimeType != " + driveQuote(driveFolderType)
	}

	// Pages oldest first, until one file more than returned (which tells
	// more remain) or the last page.
	var found []*driveFile
	seen := map[string]bool{}
	tokens := map[string]bool{}
	for token := ""; len(found) <= limit; {
		v := url.Values{
			"q": {q}, "orderBy": {"createdTime"}, "pageSize": {"100"}, "fields": {driveFields},
			"supportsAllDrives": {"true"}, "includeItemsFromAllDrives": {"true"},
		}
		if token != "" {
			v.Set("pageToken", token)
		}
		var page struct {
			Files         []*driveFile `json:"files"`
			NextPageToken string       `json:"nextPageToken"`
		}
		if err := googleGet(ctx, in, "/drive/v3/files?"+v.Encode(), &page); err != nil {
			return Result{}, fmt.Errorf("google_drive.new_file: list files: %w", err)
		}
		for _, f := range page.Files {
			if f == nil || f.ID == "" || seen[f.ID] {
				continue
			}
			if f.created, err = time.Parse(time.RFC3339Nano, f.CreatedTime); err != nil {
				return Result{}, fmt.Errorf("google_drive.new_file: list files: file %s has createdTime %q", f.ID, f.CreatedTime)
			}
			if c := f.created.Compare(cursor); c > 0 || c == 0 && !slices.Contains(done, f.ID) {
				seen[f.ID] = true
				found = append(found, f)
			}
		}
		if page.NextPageToken == "" {
			break
		}
		if tokens[page.NextPageToken] {
			return Result{}, errors.New("google_drive.new_file: list files: Drive answered a page token twice")
		}
		token = page.NextPageToken
		tokens[token] = true
	}
	slices.SortStableFunc(found, func(a, b *driveFile) int {
		return cmp.Or(a.created.Compare(b.created), strings.Compare(a.ID, b.ID))
	})
	res := Result{Cursor: in.Cursor}
	if len(found) > limit {
		found, res.More = found[:limit], true
	}
	if len(found) == 0 {
		return res, nil
	}
	last := found[len(found)-1].created
	if !last.Equal(cursor) {
		done = nil
	}
	for _, f := range found {
		res.Items = append(res.Items, f.item())
		if f.created.Equal(last) {
			done = append(done, f.ID)
		}
	}
	res.Cursor = googleCursorText(last.UTC().Format(driveTimeLayout), done)
	return res, nil
}

// driveQuote writes s as a string of Drive's search query language: in
// single quotes, with ' and \ escaped by a backslash, so that no value can
// end the string and add terms to the query.
func driveQuote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}
