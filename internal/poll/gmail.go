package poll

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"wiresk/internal/appcall"
	"wiresk/internal/catalog"
	"wiresk/internal/wiresk"
)

func init() {
	register(Event{
		App:      "gmail",
		Name:     "new_message",
		Label:    "New email matching a search",
		Params:   []Param{{Name: "query", Label: "Search"}},
		AnyScope: []string{"https://www.googleapis.com/auth/gmail.readonly", "https://www.googleapis.com/auth/gmail.modify", "https://mail.google.com/"},
		Source:   gmailNewMessage{},
	})
}

// gmailMaxQuery is the longest search a trigger takes, in bytes.
const gmailMaxQuery = 1024

// gmailNewMessage is the Gmail event new_message: a message that matches
// a Gmail search arrived in the mailbox. It needs a Connection granted a
// read scope (gmail.readonly, gmail.modify or mail.google.com; not
// gmail.metadata, with which Gmail refuses a search); the catalog's
// default scopes only send.
//
// It polls users.messages.list
// (https://developers.google.com/workspace/gmail/api/reference/rest/v1/users.messages/list)
// with q = "(<query>) after:<seconds>", 100 a page, newest first, and
// users.messages.get with format=metadata for each message listed (the
// list names only id and threadId). The cursor is the internalDate (Unix
// milliseconds, the time Gmail received the message) of the newest
// message returned, then the ids of the messages of that millisecond
// returned, comma-separated ("1767225600123,19a2b3c4d5e6f708"). after:
// has second granularity, so the search starts a second before the
// cursor's second (Gmail does not document whether after: includes its
// own second); the messages received before the cursor's millisecond are
// dropped, and so are the ones of that millisecond the cursor names. So a
// message is returned once, even a boundary one, and every poll moves on
// whatever Max is (a cursor of the instant alone would return its own
// messages again, filling a small Max with repeats); a message of the
// cursor's millisecond that the search finds late still comes. Item IDs
// are message ids: should a message come twice, it starts one Run.
//
// Decisions, as Zapier's and n8n's Gmail triggers behave:
//   - The param is the one search, written as in Gmail's search box
//     ("from:billing@example.com has:attachment"); there is no separate
//     label param: label:<name> or in:inbox in the search does it. An
//     empty search watches every message, sent ones included (in:inbox
//     keeps received ones only); Spam and Trash are left out, as Gmail's
//     search leaves them out.
//   - A message counts when it is received (its internalDate): one that
//     gets a label or is read later, or is imported with an old date, is
//     not new. A message that Gmail indexes for search later than the
//     next poll after it arrived is missed when a newer match was seen
//     first; Gmail indexes within seconds.
//   - A message deleted between the list and its metadata is skipped.
//   - The item is {id, threadId, labelIds, snippet, internalDate (Gmail's
//     string of Unix milliseconds), from, to, subject, date (the Date
//     header, as written)}: the headers a step most often needs, not the
//     body, which format=metadata does not carry.
//   - With more than Max new messages, the oldest Max are returned (by
//     internalDate, then id) with More, and the cursor is the last one's.
type gmailNewMessage struct{}

// Check accepts query, at most gmailMaxQuery bytes of text without
// control characters.
func (gmailNewMessage) Check(params map[string]string) error {
	if err := googleKnownParams(params, "query"); err != nil {
		return err
	}
	q := params["query"]
	if len(q) > gmailMaxQuery {
		return wiresk.FieldError("params.query", "is %d bytes long; a search may be at most %d", len(q), gmailMaxQuery)
	}
	if strings.ContainsFunc(q, unicode.IsControl) {
		return wiresk.FieldError("params.query", "has a control character (a line break or a tab); write the search on one line")
	}
	return nil
}

// gmailList is a users.messages.list answer.
type gmailList struct {
	Messages []struct {
		ID       string `json:"id"`
		ThreadID string `json:"threadId"`
	} `json:"messages"`
	NextPageToken string `json:"nextPageToken"`
}

// gmailMessage is a users.messages.get answer in format metadata.
type gmailMessage struct {
	ID           string   `json:"id"`
	ThreadID     string   `json:"threadId"`
	LabelIDs     []string `json:"labelIds"`
	Snippet      string   `json:"snippet"`
	InternalDate string   `json:"internalDate"`
	Payload      struct {
		Headers []struct {
			Name  string `json:"name"`
			Value string `json:"value"`
		} `json:"headers"`
	} `json:"payload"`

	at int64 // InternalDate
}

// header returns the first value of the header name, "" when absent.
func (m *gmailMessage) header(name string) string {
	for _, h := range m.Payload.Headers {
		if strings.EqualFold(h.Name, name) {
			return h.Value
		}
	}
	return ""
}

// item is the message as a Run's trigger.body.
func (m *gmailMessage) item() Item {
	labels := make([]any, len(m.LabelIDs))
	for i, l := range m.LabelIDs {
		labels[i] = l
	}
	return Item{ID: m.ID, Data: map[string]any{
		"id":           m.ID,
		"threadId":     m.ThreadID,
		"labelIds":     labels,
		"snippet":      m.Snippet,
		"internalDate": m.InternalDate,
		"from":         m.header("From"),
		"to":           m.header("To"),
		"subject":      m.header("Subject"),
		"date":         m.header("Date"),
	}}
}

// gmailHeaders are the headers the metadata of a message is asked for.
var gmailHeaders = []string{"From", "To", "Subject", "Date"}

// Poll lists the messages received at or after the cursor, oldest first.
func (gmailNewMessage) Poll(ctx context.Context, in Input) (Result, error) {
	if in.Cursor == "" {
		return Result{Cursor: strconv.FormatInt(in.Now.UnixMilli(), 10)}, nil
	}
	head, done := googleCursor(in.Cursor)
	cursor, err := strconv.ParseInt(head, 10, 64)
	if err != nil || cursor < 0 {
		return Result{}, fmt.Errorf("gmail.new_message: cursor %q is not Unix milliseconds and ids", in.Cursor)
	}
	limit := cmp.Or(in.Max, DefaultMax)
	q := "after:" + strconv.FormatInt(max(cursor/1000-1, 0), 10)
	if s := strings.TrimSpace(in.Params["query"]); s != "" {
		q = "(" + s + ") " + q
	}

	// The ids, newest first, every page: the oldest come last.
	var ids []string
	listed := map[string]bool{}
	tokens := map[string]bool{}
	for token := ""; ; {
		v := url.Values{"q": {q}, "maxResults": {"100"}}
		if token != "" {
			v.Set("pageToken", token)
		}
		var page gmailList
		if err := googleGet(ctx, in, "/gmail/v1/users/me/messages?"+v.Encode(), &page); err != nil {
			return Result{}, fmt.Errorf("gmail.new_message: list messages: %w", err)
		}
		for _, m := range page.Messages {
			if m.ID != "" && !listed[m.ID] {
				listed[m.ID] = true
				ids = append(ids, m.ID)
			}
		}
		if page.NextPageToken == "" {
			break
		}
		if tokens[page.NextPageToken] {
			return Result{}, errors.New("gmail.new_message: list messages: Gmail answered a page token twice")
		}
		token = page.NextPageToken
		tokens[token] = true
	}

	// The oldest limit+1 messages at or after the cursor: one more than
	// returned tells whether more remain.
	var found []*gmailMessage
	for i := len(ids) - 1; i >= 0 && len(found) <= limit; i-- {
		v := url.Values{"format": {"metadata"}, "metadataHeaders": gmailHeaders}
		var m gmailMessage
		err := googleGet(ctx, in, "/gmail/v1/users/me/messages/"+url.PathEscape(ids[i])+"?"+v.Encode(), &m)
		var ae *appcall.Error
		if errors.As(err, &ae) && ae.Status == http.StatusNotFound {
			continue // deleted since the list
		}
		if err != nil {
			return Result{}, fmt.Errorf("gmail.new_message: get message %s: %w", ids[i], err)
		}
		if m.at, err = strconv.ParseInt(m.InternalDate, 10, 64); err != nil || m.ID == "" {
			return Result{}, fmt.Errorf("gmail.new_message: get message %s: no id or internalDate %q", ids[i], m.InternalDate)
		}
		if m.at > cursor || m.at == cursor && !slices.Contains(done, m.ID) {
			found = append(found, &m)
		}
	}
	slices.SortFunc(found, func(a, b *gmailMessage) int {
		return cmp.Or(cmp.Compare(a.at, b.at), strings.Compare(a.ID, b.ID))
	})
	res := Result{Cursor: in.Cursor}
	if len(found) > limit {
		found, res.More = found[:limit], true
	}
	if len(found) == 0 {
		return res, nil
	}
	last := found[len(found)-1].at
	if last != cursor {
		done = nil
	}
	for _, m := range found {
		res.Items = append(res.Items, m.item())
		if m.at == last {
			done = append(done, m.ID)
		}
	}
	res.Cursor = googleCursorText(strconv.FormatInt(last, 10), done)
	return res, nil
}

// googleCursor splits a cursor "<instant>[,<id>...]" into the instant and
// the ids of the items of that instant already returned.
func googleCursor(s string) (instant string, ids []string) {
	instant, rest, _ := strings.Cut(s, ",")
	if rest != "" {
		ids = strings.Split(rest, ",")
	}
	return instant, ids
}

// googleCursorText writes the cursor of instant and ids.
func googleCursorText(instant string, ids []string) string {
	return strings.Join(append([]string{instant}, ids...), ",")
}

// googleKnownParams refuses a param not in names.
func googleKnownParams(params map[string]string, names ...string) error {
	for _, k := range slices.Sorted(maps.Keys(params)) {
		if !slices.Contains(names, k) {
			return wiresk.FieldError("params."+k, "is not a param of this event (params: %s)", strings.Join(names, ", "))
		}
	}
	return nil
}

// googleGet sends GET path (under in.BaseURL) and decodes the JSON answer
// into v.
func googleGet(ctx context.Context, in Input, path string, v any) error {
	resp, err := in.Call(ctx, &catalog.Request{Method: http.MethodGet, URL: in.BaseURL + path})
	if err != nil {
		return err
	}
	if err := json.Unmarshal(resp.Body, v); err != nil {
		return fmt.Errorf("the answer is not the JSON expected: %w", err)
	}
	return nil
}
