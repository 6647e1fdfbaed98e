package appstep_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"wiresk/internal/appcall"
	"wiresk/internal/appstep"
	"wiresk/internal/step"
	"wiresk/internal/testkit/apptest"
)

// driveParts parses the multipart/related body of an upload the Drive
// fake received: the metadata JSON and the content part.
func driveParts(t *testing.T, req apptest.Request) (meta map[string]any, metaType, contentType string, content []byte) {
	t.Helper()
	mt, params, err := mime.ParseMediaType(req.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/related" || params["boundary"] == "" {
		t.Fatalf("Content-Type = %q, want multipart/related; boundary=...", req.Header.Get("Content-Type"))
	}
	mr := multipart.NewReader(bytes.NewReader(req.Body), params["boundary"])
	var parts [][]byte
	var types []string
	for {
		p, err := mr.NextRawPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("multipart body: %v", err)
		}
		data, err := io.ReadAll(p)
		if err != nil {
			t.Fatal(err)
		}
		parts, types = append(parts, data), append(types, p.Header.Get("Content-Type"))
	}
	if len(parts) != 2 {
		t.Fatalf("%d parts, want 2 (metadata, content)", len(parts))
	}
	return mustJSON(t, parts[0]), types[0], types[1], parts[1]
}

// driveDownload reads a file's bytes back from the Drive fake
// (files.get alt=media).
func driveDownload(t *testing.T, f *apptest.Fake, id string) []byte {
	t.Helper()
	status, data := f.Get(t, "/drive/v3/files/"+id+"?alt=media")
	if status != http.StatusOK {
		t.Fatalf("download %s: HTTP %d %s", id, status, data)
	}
	return data
}

func TestDriveUploadFileKeepsEveryByte(t *testing.T) {
	reg, f := mustApp(t, "google_drive")
	conn := connectionTo(f, appcall.CredentialBearer)
	every := make([]byte, 1024)
	for i := range every {
		every[i] = byte(i)
	}
	for _, tc := range []struct{ name, content string }{
		{"standard base64", base64.StdEncoding.EncodeToString(every)},
		{"URL base64 without padding, wrapped", strings.Join(strings.SplitAfter(base64.RawURLEncoding.EncodeToString(every), "AAA"), "\r\n")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(f.Received("POST /upload/drive/v3/files"))
			out, _, err := execute(t, reg, conn, "upload_file", map[string]any{
				"name": "bytes.bin", "content": tc.content, "encoding": "base64", "mime_type": "application/octet-stream",
				"folder_id": apptest.DriveFolderID, "description": "every byte value",
			})
			if err != nil {
				t.Fatal(err)
			}
			reqs := f.Received("POST /upload/drive/v3/files")
			if len(reqs) != before+1 {
				t.Fatalf("%d uploads, want 1", len(reqs)-before)
			}
			req := reqs[len(reqs)-1]
			for k, want := range map[string]string{"uploadType": "multipart", "supportsAllDrives": "true", "fields": "id,name,mimeType,parents,webViewLink"} {
				if got := req.Query.Get(k); got != want {
					t.Errorf("query %s = %q, want %q", k, got, want)
				}
			}
			meta, metaType, contentType, content := driveParts(t, req)
			if want := map[string]any{"name": "bytes.bin", "mimeType": "application/octet-stream", "description": "every byte value", "parents": []any{apptest.DriveFolderID}}; !sameJSON(t, meta, want) {
				t.Errorf("metadata = %v, want %v", meta, want)
			}
			if metaType != "application/json; charset=UTF-8" || contentType != "application/octet-stream" {
				t.Errorf("part types %q, %q; want application/json; charset=UTF-8 and the file's type", metaType, contentType)
			}
			if !bytes.Equal(content, every) {
				t.Errorf("content part: %d bytes, want the %d bytes intact", len(content), len(every))
			}
			id, _ := out["file_id"].(string)
			if id == "" || out["name"] != "bytes.bin" || out["web_view_link"] != "https://drive.google.com/file/d/"+id+"/view?usp=drivesdk" {
				t.Errorf("output = %v, want file_id, name and web_view_link", out)
			}
			if got := driveDownload(t, f, id); !bytes.Equal(got, every) {
				t.Errorf("Drive keeps %d other bytes", len(got))
			}
		})
	}
}

func TestDriveUploadTextAtTheRoot(t *testing.T) {
	reg, f := mustApp(t, "google_drive")
	csv := "name,city\nZoé,Genève\n"
	out, _, err := execute(t, reg, connectionTo(f, appcall.CredentialBearer), "upload_file", map[string]any{"name": "people.csv", "content": csv, "mime_type": "text/csv"})
	if err != nil {
		t.Fatal(err)
	}
	meta, _, contentType, content := driveParts(t, mustOne(t, f, "POST /upload/drive/v3/files"))
	if want := map[string]any{"name": "people.csv", "mimeType": "text/csv"}; !sameJSON(t, meta, want) {
		t.Errorf("metadata = %v, want %v (no parents: My Drive)", meta, want)
	}
	if contentType != "text/csv" || string(content) != csv {
		t.Errorf("content part %q %q, want text/csv %q", contentType, content, csv)
	}
	body, _ := out["body"].(map[string]any)
	if parents, _ := body["parents"].([]any); len(parents) != 1 || parents[0] != apptest.DriveRootID {
		t.Errorf("parents = %v, want My Drive", body["parents"])
	}
}

func TestDriveUploadFileCap(t *testing.T) {
	reg, f := mustApp(t, "google_drive")
	conn := connectionTo(f, appcall.CredentialBearer)
	data := bytes.Repeat([]byte{0xff, 0x00, 'A', '\n'}, appstep.DriveMaxMultipart/4)
	out, _, err := execute(t, reg, conn, "upload_file", map[string]any{"name": "max.bin", "content": base64.StdEncoding.EncodeToString(data), "encoding": "base64"})
	if err != nil {
		t.Fatalf("a file of exactly 5 MB: %v", err)
	}
	if got := driveDownload(t, f, out["file_id"].(string)); !bytes.Equal(got, data) {
		t.Errorf("the 5 MB file arrived as %d other bytes", len(got))
	}
	for _, tc := range []struct {
		name  string
		input map[string]any
	}{
		{"base64 one byte over", map[string]any{"name": "big.bin", "content": base64.StdEncoding.EncodeToString(append(data, 0)), "encoding": "base64"}},
		{"text one byte over", map[string]any{"name": "big.txt", "content": strings.Repeat("x", appstep.DriveMaxMultipart+1)}},
		{"base64 far over", map[string]any{"name": "huge.bin", "content": strings.Repeat("AAAA", appstep.DriveMaxMultipart), "encoding": "base64"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(f.Received(""))
			_, _, err := execute(t, reg, conn, "upload_file", tc.input)
			se := mustStepError(t, err)
			if !se.Permanent || !strings.HasPrefix(se.Message, "input.content:") || !strings.Contains(se.Message, "5 MB") {
				t.Errorf("err = %q (permanent %v), want a permanent input.content error naming Drive's 5 MB", se.Message, se.Permanent)
			}
			if got := len(f.Received("")) - before; got != 0 {
				t.Errorf("the fake received %d requests, want none", got)
			}
		})
	}
}

func TestDriveUploadFileRefusesBadInput(t *testing.T) {
	reg, f := mustApp(t, "google_drive")
	conn := connectionTo(f, appcall.CredentialBearer)
	for _, tc := range []struct {
		name  string
		input map[string]any
		field string
	}{
		{"unknown encoding", map[string]any{"name": "a", "content": "x", "encoding": "hex"}, "input.encoding"},
		{"not base64", map[string]any{"name": "a", "content": "not base64!", "encoding": "base64"}, "input.content"},
		{"bad MIME type", map[string]any{"name": "a", "content": "x", "mime_type": "csv"}, "input.mime_type"},
		{"MIME type with a line break", map[string]any{"name": "a", "content": "x", "mime_type": "text/csv\r\nX-Evil: 1"}, "input.mime_type"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := execute(t, reg, conn, "upload_file", tc.input)
			if se := mustStepError(t, err); !se.Permanent || !strings.HasPrefix(se.Message, tc.field+":") {
				t.Errorf("err = %q (permanent %v), want a permanent error naming %s", se.Message, se.Permanent, tc.field)
			}
		})
	}
	if got := len(f.Received("")); got != 0 {
		t.Errorf("the fake received %d requests, want none", got)
	}

	// A folder Drive does not have: its 404 is permanent and names it.
	_, _, err := execute(t, reg, conn, "upload_file", map[string]any{"name": "a.txt", "content": "x", "folder_id": "1NoSuchFolder"})
	if se := mustStepError(t, err); !se.Permanent || se.Status != http.StatusNotFound || !strings.Contains(se.Message, "File not found: 1NoSuchFolder.") {
		t.Errorf("unknown folder: %q (permanent %v, status %d), want a permanent 404 quoting Drive", se.Message, se.Permanent, se.Status)
	}
}

func TestDriveFolderThenFindFile(t *testing.T) {
	reg, f := mustApp(t, "google_drive")
	conn := connectionTo(f, appcall.CredentialBearer)
	out, _, err := execute(t, reg, conn, "create_folder", map[string]any{"name": "Reports", "parent_id": apptest.DriveFolderID})
	if err != nil {
		t.Fatal(err)
	}
	folder, _ := out["folder_id"].(string)
	if folder == "" || out["web_view_link"] != "https://drive.google.com/drive/folders/"+folder {
		t.Fatalf("create_folder output = %v, want folder_id and its link", out)
	}
	if got, want := mustJSON(t, mustOne(t, f, "POST /drive/v3/files").Body), map[string]any{"name": "Reports", "mimeType": "application/vnd.google-apps.folder", "parents": []any{apptest.DriveFolderID}}; !sameJSON(t, got, want) {
		t.Errorf("folder body = %v, want %v", got, want)
	}
	tricky := `Ada's \ notes.txt`
	for _, name := range []string{tricky, "notes.txt"} {
		if _, _, err := execute(t, reg, conn, "upload_file", map[string]any{"name": name, "content": name, "folder_id": folder}); err != nil {
			t.Fatal(err)
		}
	}

	find := func(input map[string]any) (map[string]any, url.Values) {
		t.Helper()
		before := len(f.Received("GET /drive/v3/files"))
		out, _, err := execute(t, reg, conn, "find_file", input)
		if err != nil {
			t.Fatal(err)
		}
		reqs := f.Received("GET /drive/v3/files")
		if len(reqs) != before+1 {
			t.Fatalf("%d list requests, want 1", len(reqs)-before)
		}
		return out, reqs[len(reqs)-1].Query
	}
	names := func(out map[string]any) []string {
		files, _ := out["files"].([]any)
		var got []string
		for _, e := range files {
			m, _ := e.(map[string]any)
			got = append(got, m["name"].(string))
		}
		return got
	}

	// A name with a quote and a backslash: escaped as Drive says, it
	// matches that file only.
	out, q := find(map[string]any{"name": tricky, "folder_id": folder})
	if got, want := q.Get("q"), `name = 'Ada\'s \\ notes.txt' and '`+folder+`' in parents and trashed = false`; got != want {
		t.Errorf("q = %s, want %s", got, want)
	}
	for k, want := range map[string]string{"spaces": "drive", "fields": "nextPageToken,files(id,name,mimeType,parents,webViewLink)", "pageSize": "10"} {
		if got := q.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if got := names(out); len(got) != 1 || got[0] != tricky || out["file_id"] == nil || out["web_view_link"] == nil {
		t.Errorf("found %q (output %v), want the one file %q", got, out, tricky)
	}

	// A name that tries to widen the query finds nothing.
	out, q = find(map[string]any{"name": `x' or name contains '`})
	if got, want := q.Get("q"), `name = 'x\' or name contains \'' and trashed = false`; got != want {
		t.Errorf("q = %s, want %s", got, want)
	}
	if got := names(out); len(got) != 0 {
		t.Errorf("an injected name found %q, want nothing", got)
	}
	if _, ok := out["file_id"]; ok {
		t.Errorf("file_id = %v with no match", out["file_id"])
	}

	// The trashed copy of the invoice is not found.
	out, _ = find(map[string]any{"name": apptest.DriveFileName, "folder_id": apptest.DriveFolderID})
	if got := names(out); len(got) != 1 || out["file_id"] != apptest.DriveFileID {
		t.Errorf("found %q (file_id %v), want only the invoice not in the trash", got, out["file_id"])
	}

	// Folders by MIME type.
	out, q = find(map[string]any{"mime_type": "application/vnd.google-apps.folder", "max_results": 50})
	if got := names(out); strings.Join(got, ",") != apptest.DriveFolderName+",Reports" || q.Get("pageSize") != "50" {
		t.Errorf("folders = %q (pageSize %s), want %s and Reports", got, q.Get("pageSize"), apptest.DriveFolderName)
	}
}

func TestDriveFakeRefusesBadRequests(t *testing.T) {
	_, f := mustApp(t, "google_drive")
	status, data := f.Get(t, "/drive/v3/files?q="+url.QueryEscape(`name = 'unterminated`))
	var got struct {
		Error struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
			Errors  []struct {
				Reason, Location, LocationType string
			} `json:"errors"`
		} `json:"error"`
	}
	if err := json.Unmarshal(data, &got); err != nil || status != 400 || got.Error.Message != "Invalid Value" ||
		len(got.Error.Errors) != 1 || got.Error.Errors[0].Reason != "invalid" || got.Error.Errors[0].Location != "q" {
		t.Errorf("bad q: HTTP %d %s, want Drive's 400 Invalid Value at q", status, data)
	}

	post := func(contentType, body string) (int, string) {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, f.URL()+"/upload/drive/v3/files?uploadType=multipart", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+f.Token)
		req.Header.Set("Content-Type", contentType)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		return status, string(data)
	}
	if status, body := post("application/json", `{"name": "a"}`); status != 400 || !strings.Contains(body, "Bad content type. Please use multipart.") {
		t.Errorf("JSON to the multipart upload: HTTP %d %s, want 400 badContent", status, body)
	}
	if status, body := post("multipart/related; boundary=b", "--b\r\nContent-Type: application/json\r\n\r\n{}\r\n--b\r\nContent-Type: text/plain\r\n\r\nunterminated"); status != 400 || body != "Malformed multipart body." {
		t.Errorf("no closing boundary: HTTP %d %q, want 400 Malformed multipart body.", status, body)
	}
	if status, body := post("multipart/related; boundary=b", "--b\r\nContent-Type: application/json\r\n\r\n[1]\r\n--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b--\r\n"); status != 400 || !strings.Contains(body, "parseError") {
		t.Errorf("metadata not an object: HTTP %d %s, want 400 parseError", status, body)
	}
}

func TestDriveFailures(t *testing.T) {
	reg, f := mustApp(t, "google_drive")
	upload := map[string]any{"name": "a.txt", "content": "x"}
	with := func(name string) step.Connection {
		c := connectionTo(f, appcall.CredentialBearer)
		c.Credential.Token = f.Tokens[name]
		return c
	}

	_, _, err := execute(t, reg, with(apptest.Expired), "upload_file", upload)
	if se := mustStepError(t, err); !se.Unauthorized || se.Permanent || se.Status != http.StatusUnauthorized || strings.Contains(se.Message, f.Tokens[apptest.Expired]) {
		t.Errorf("expired token: %q (unauthorized %v, permanent %v), want an Unauthorized retryable 401 without the token", se.Message, se.Unauthorized, se.Permanent)
	}

	_, _, err = execute(t, reg, with(apptest.NoScope), "find_file", map[string]any{"name": "a.txt"})
	if se := mustStepError(t, err); !se.Permanent || se.Unauthorized || se.Status != http.StatusForbidden || !strings.Contains(se.Message, "Request had insufficient authentication scopes.") {
		t.Errorf("no Drive scope: %q (permanent %v, unauthorized %v, status %d), want a permanent 403 quoting Google", se.Message, se.Permanent, se.Unauthorized, se.Status)
	}

	// Google's 403 userRateLimitExceeded is rate limiting (the catalog's
	// rule): retried, then transient.
	_, attempts, err := execute(t, reg, with(apptest.RateLimitedForbidden), "find_file", map[string]any{})
	if se := mustStepError(t, err); se.Permanent || se.Unauthorized || attempts < 2 {
		t.Errorf("403 userRateLimitExceeded: %q (permanent %v, unauthorized %v) after %d attempts, want retried rate limiting", se.Message, se.Permanent, se.Unauthorized, attempts)
	}

	f.Throttle(2, "1")
	if out, attempts, err := execute(t, reg, connectionTo(f, appcall.CredentialBearer), "upload_file", upload); err != nil || attempts != 3 || out["file_id"] == nil {
		t.Errorf("after two 429: attempts %d, err %v, output %v; want the file after 3 attempts", attempts, err, out)
	}
	f.Fail(1, http.StatusServiceUnavailable, "")
	if out, attempts, err := execute(t, reg, connectionTo(f, appcall.CredentialBearer), "create_folder", map[string]any{"name": "X"}); err != nil || attempts != 2 || out["folder_id"] == nil {
		t.Errorf("after a 503: attempts %d, err %v, output %v; want the folder after 2 attempts", attempts, err, out)
	}
}
