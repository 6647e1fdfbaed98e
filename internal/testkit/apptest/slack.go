package apptest

import (
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"unicode/utf8"
)

// Channels of the Slack fake's workspace, by ID; post_message also takes
// their names, with or without "#".
const (
	// SlackChannel is #sales, a public channel the bot is a member of.
	SlackChannel = "C0123456789"
	// SlackOtherChannel is #general, a public channel the bot is not a
	// member of: posting there needs chat:write.public.
	SlackOtherChannel = "C0GENERAL01"
	// SlackArchivedChannel is #old-sales, an archived channel.
	SlackArchivedChannel = "C0ARCHIVED1"
	// SlackUser is a member of the workspace; posting to a user ID posts
	// to the bot's DM with that user, SlackUserDM.
	SlackUser   = "U0G9QF9C6"
	SlackUserDM = "D0G9QF9C6"
)

// SlackChatWriteOnly names, in the Slack fake's Tokens, a bot token
// granted chat:write but not chat:write.public: it may post only where the
// bot is a member.
const SlackChatWriteOnly = "chat_write_only"

// slackMaxText is the longest text chat.postMessage takes, in characters:
// Slack truncates at 40,000 and answers msg_too_long beyond what it can
// store; the fake refuses anything longer.
const slackMaxText = 40000

// slackFailure is the failure answer of the Slack fake: Slack's
// {"ok": false, "error": ...} envelope, with HTTP 429 and the error
// ratelimited for rate limiting.
func slackFailure(w http.ResponseWriter, status int) {
	code := "internal_error"
	switch status {
	case http.StatusTooManyRequests:
		code = "ratelimited"
	case http.StatusServiceUnavailable:
		code = "service_unavailable"
	case http.StatusNotFound:
		code = "unknown_method"
	case http.StatusMethodNotAllowed:
		code = "method_not_allowed"
	}
	writeJSON(w, status, map[string]any{"ok": false, "error": code})
}

// slackError writes Slack's failure inside HTTP 200: {"ok": false,
// "error": code} and the extra fields.
func slackError(w http.ResponseWriter, code string, extra map[string]any) {
	out := map[string]any{"ok": false, "error": code}
	for k, v := range extra {
		out[k] = v
	}
	writeJSON(w, http.StatusOK, out)
}

// slackAuth checks the token of a Slack Web API request: the bearer
// token, or for a form body its "token" parameter (a JSON body cannot
// carry it). It returns the token, or writes Slack's answer for a missing
// or refused one and returns false.
func slackAuth(f *Fake, w http.ResponseWriter, r *http.Request, body []byte) (string, bool) {
	token, ok := bearer(r)
	if !ok && strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		if form, err := url.ParseQuery(string(body)); err == nil {
			token, ok = form.Get("token"), form.Has("token")
		}
	}
	fail := ""
	switch {
	case !ok || token == "":
		fail = "not_authed"
	case token == f.Tokens[Expired]:
		fail = "token_expired"
	case token == f.Tokens[Revoked]:
		fail = "token_revoked"
	case token != f.Token && token != f.Tokens[NoScope] && token != f.Tokens[SlackChatWriteOnly]:
		fail = "invalid_auth"
	}
	if fail != "" {
		slackError(w, fail, nil)
		return "", false
	}
	return token, true
}

// slackChannel is a conversation of the Slack fake's workspace.
type slackChannel struct {
	id, name         string
	member, archived bool
}

// slackChannels are the fake's channels.
var slackChannels = []slackChannel{
	{id: SlackChannel, name: "sales", member: true},
	{id: SlackOtherChannel, name: "general"},
	{id: SlackArchivedChannel, name: "old-sales", member: true, archived: true},
}

// newSlack plays Slack's Web API methods auth.test
// (https://docs.slack.dev/reference/methods/auth.test) and
// chat.postMessage (https://docs.slack.dev/reference/methods/chat.postMessage),
// with the token "as an HTTP Authorization header or alternatively, as a
// POST parameter" (token in a form body; a JSON body needs the header,
// https://docs.slack.dev/apis/web-api/#posting_json). Failures answer
// HTTP 200 with {"ok": false, "error": ...}: not_authed without a token,
// invalid_auth for a bad one, token_expired for an Expired one,
// token_revoked for a Revoked one.
//
//   - POST /api/auth.test answers {"ok": true, "url", "team", "user",
//     "team_id", "user_id", "bot_id"}.
//   - POST /api/chat.postMessage takes a JSON body (Content-Type
//     application/json; charset=utf-8; without the charset Slack adds the
//     warning missing_charset to its answer) or a form, with channel (an
//     ID, a name, or a user ID for the bot's DM with that user), text
//     and/or blocks, thread_ts, reply_broadcast, unfurl_links, username,
//     icon_emoji..., and answers {"ok": true, "channel": <ID>, "ts",
//     "message": {"type": "message", "user", "bot_id", "app_id", "text",
//     "ts", "team", "blocks", "thread_ts", "bot_profile"}}. Its documented
//     errors: channel_not_found (unknown channel), not_in_channel (a
//     public channel the bot is not in, for a SlackChatWriteOnly token
//     without chat:write.public), is_archived, no_text (neither text nor
//     blocks), msg_too_long (text over 40,000 characters),
//     invalid_blocks_format (blocks that are not an array), and for a
//     NoScope token missing_scope with "needed": "chat:write" and
//     "provided" (https://docs.slack.dev/authentication/tokens).
//
// Rate limiting is HTTP 429 with Retry-After (seconds) and {"ok": false,
// "error": "ratelimited"} (https://docs.slack.dev/apis/web-api/rate-limits).
func newSlack() (*Fake, *spec) {
	f := &Fake{
		Token: "xoxb-17653672481-19874698323-pdFZKVeTuE8sk7oOcBrzbqgy",
		Tokens: map[string]string{
			Expired:            "xoxe.xoxb-1-expired-token",
			Revoked:            "xoxb-17653672481-19874698323-revokedrevoked",
			NoScope:            "xoxb-17653672481-19874698323-channelsread0",
			SlackChatWriteOnly: "xoxb-17653672481-19874698323-chatwriteonly",
		},
		Account: "grace @ Subarachnoid Workspace",
	}
	var mu sync.Mutex
	seq := 0
	return f, &spec{
		failure: slackFailure,
		methods: map[string]Handler{
			"POST /api/chat.postMessage": func(f *Fake, w http.ResponseWriter, r *http.Request, body []byte) {
				token, ok := slackAuth(f, w, r, body)
				if !ok {
					return
				}
				if token == f.Tokens[NoScope] {
					slackError(w, "missing_scope", map[string]any{"needed": "chat:write", "provided": "channels:read,users:read"})
					return
				}
				args, warning, code := slackArgs(r, body)
				if code != "" {
					slackError(w, code, nil)
					return
				}
				channel, _ := args["channel"].(string)
				id, code := slackTarget(channel, token != f.Tokens[SlackChatWriteOnly])
				if code != "" {
					slackError(w, code, nil)
					return
				}
				text, _ := args["text"].(string)
				blocks, hasBlocks := args["blocks"]
				if _, isArray := blocks.([]any); hasBlocks && !isArray {
					slackError(w, "invalid_blocks_format", nil)
					return
				}
				switch {
				case strings.TrimSpace(text) == "" && !hasBlocks:
					slackError(w, "no_text", nil)
					return
				case utf8.RuneCountInString(text) > slackMaxText:
					slackError(w, "msg_too_long", nil)
					return
				}
				mu.Lock()
				seq++
				ts := fmt.Sprintf("1503435956.%06d", seq)
				mu.Unlock()
				msg := map[string]any{
					"type":   "message",
					"user":   "U0BOTUSER1",
					"bot_id": "B12345678",
					"app_id": "A0WIRESK01",
					"text":   text,
					"ts":     ts,
					"team":   "T12345678",
					"blocks": []any{},
					"bot_profile": map[string]any{
						"id": "B12345678", "app_id": "A0WIRESK01", "name": "Wiresk", "deleted": false, "team_id": "T12345678",
					},
				}
				if hasBlocks {
					msg["blocks"] = blocks
				}
				if t, _ := args["thread_ts"].(string); t != "" {
					msg["thread_ts"] = t
				}
				out := map[string]any{"ok": true, "channel": id, "ts": ts, "message": msg}
				if warning != "" {
					out["warning"] = warning
					out["response_metadata"] = map[string]any{"warnings": []string{warning}}
				}
				writeJSON(w, http.StatusOK, out)
			},
		},
		serve: func(f *Fake, w http.ResponseWriter, r *http.Request, body []byte) {
			if !route(w, r, http.MethodPost, "/api/auth.test", slackFailure) {
				return
			}
			if _, ok := slackAuth(f, w, r, body); !ok {
				return
			}
			writeJSON(w, http.StatusOK, map[string]any{
				"ok":      true,
				"url":     "https://subarachnoid.slack.com/",
				"team":    "Subarachnoid Workspace",
				"user":    "grace",
				"team_id": "T12345678",
				"user_id": "W12345678",
				"bot_id":  "B12345678",
			})
		},
	}
}

// slackArgs returns the arguments of a Web API request, from its JSON or
// form body, with the warning Slack adds for a JSON body without a
// charset; code is Slack's error for a body it cannot read.
func slackArgs(r *http.Request, body []byte) (args map[string]any, warning, code string) {
	mt, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch mt {
	case "application/json":
		if err := json.Unmarshal(body, &args); err != nil {
			return nil, "", "invalid_json"
		}
		if params["charset"] == "" {
			warning = "missing_charset"
		}
		return args, warning, ""
	case "application/x-www-form-urlencoded":
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, "", "invalid_form_data"
		}
		args = map[string]any{}
		for k := range form {
			args[k] = form.Get(k)
		}
		// Form values are text: blocks come JSON-encoded.
		if s, ok := args["blocks"].(string); ok {
			var v any
			if json.Unmarshal([]byte(s), &v) == nil {
				args["blocks"] = v
			}
		}
		return args, "", ""
	}
	return nil, "", "invalid_form_data"
}

// slackTarget resolves a channel argument to the conversation ID a message
// goes to, or Slack's error for it.
func slackTarget(channel string, public bool) (id, code string) {
	if channel == SlackUser {
		return SlackUserDM, ""
	}
	name := strings.TrimPrefix(channel, "#")
	for _, c := range slackChannels {
		if c.id != channel && c.name != name {
			continue
		}
		switch {
		case c.archived:
			return "", "is_archived"
		case !c.member && !public:
			return "", "not_in_channel"
		}
		return c.id, ""
	}
	return "", "channel_not_found"
}
