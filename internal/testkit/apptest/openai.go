package apptest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// openaiError writes OpenAI's JSON error answer: {"error": {"message",
// "type", "param", "code"}}; code is null when "".
func openaiError(w http.ResponseWriter, status int, typ, code, message string) {
	var c any
	if code != "" {
		c = code
	}
	writeJSON(w, status, map[string]any{"error": map[string]any{"message": message, "type": typ, "param": nil, "code": c}})
}

// openaiFailure is the failure answer of the OpenAI fake.
func openaiFailure(w http.ResponseWriter, status int) {
	switch status {
	case http.StatusTooManyRequests:
		openaiError(w, status, "requests", "rate_limit_exceeded", "Rate limit reached for requests. Please try again later.")
	case http.StatusNotFound, http.StatusMethodNotAllowed:
		openaiError(w, http.StatusNotFound, "invalid_request_error", "unknown_url", "Unknown request URL.")
	case http.StatusServiceUnavailable:
		openaiError(w, status, "server_error", "", "The engine is currently overloaded, please try again later.")
	default:
		openaiError(w, status, "server_error", "", "The server had an error while processing your request.")
	}
}

// maskKey masks an API key the way OpenAI's errors quote it: its first
// three and last four characters around stars.
func maskKey(key string) string {
	if len(key) <= 8 {
		return "****"
	}
	return key[:3] + "*****" + key[len(key)-4:]
}

// OpenAIContextWindow is the context length, in tokens, of the OpenAI
// fake's models; the fake counts a token for every four characters of
// the messages' contents.
const OpenAIContextWindow = 128000

// openaiModels are the models the OpenAI fake lists and answers with, by
// ID: the dated snapshot a chat completion names.
var openaiModels = map[string]string{"gpt-4o-mini": "gpt-4o-mini-2024-07-18", "gpt-4o": "gpt-4o-2024-08-06"}

// openaiKey checks the "Authorization: Bearer" key of an OpenAI request
// and answers OpenAI's 401 (or a QuotaExhausted key's 429) otherwise.
func openaiKey(f *Fake, w http.ResponseWriter, r *http.Request) bool {
	key, ok := bearer(r)
	switch {
	case !ok || key == "":
		openaiError(w, http.StatusUnauthorized, "invalid_request_error", "",
			"You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).")
		return false
	case key == f.Tokens[QuotaExhausted]:
		openaiError(w, http.StatusTooManyRequests, "insufficient_quota", "insufficient_quota",
			"You exceeded your current quota, please check your plan and billing details. For more information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.")
		return false
	case key != f.Token:
		openaiError(w, http.StatusUnauthorized, "invalid_request_error", "invalid_api_key",
			"Incorrect API key provided: "+maskKey(key)+". You can find your API key at https://platform.openai.com/account/api-keys.")
		return false
	}
	return true
}

// openaiParamError writes OpenAI's 400 invalid_request_error about param.
func openaiParamError(w http.ResponseWriter, param, code, message string) {
	var c, p any
	if code != "" {
		c = code
	}
	if param != "" {
		p = param
	}
	writeJSON(w, http.StatusBadRequest, map[string]any{"error": map[string]any{"message": message, "type": "invalid_request_error", "param": p, "code": c}})
}

// openaiChat answers POST /v1/chat/completions.
func openaiChat(f *Fake, w http.ResponseWriter, r *http.Request, body []byte) {
	if !openaiKey(f, w, r) {
		return
	}
	var req struct {
		Model    string `json:"model"`
		Messages []struct {
			Role    string `json:"role"`
			Content any    `json:"content"`
		} `json:"messages"`
		Temperature         *float64 `json:"temperature"`
		MaxTokens           *int     `json:"max_tokens"`
		MaxCompletionTokens *int     `json:"max_completion_tokens"`
		ResponseFormat      *struct {
			Type string `json:"type"`
		} `json:"response_format"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		openaiParamError(w, "", "", "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON. If you have trouble figuring out how to fix this, please contact us through our help center at help.openai.com.)")
		return
	}
	switch {
	case req.Model == "":
		openaiParamError(w, "", "", "you must provide a model parameter")
		return
	case openaiModels[req.Model] == "":
		writeJSON(w, http.StatusNotFound, map[string]any{"error": map[string]any{
			"message": fmt.Sprintf("The model `%s` does not exist or you do not have access to it.", req.Model),
			"type":    "invalid_request_error", "param": nil, "code": "model_not_found",
		}})
		return
	case len(req.Messages) == 0:
		openaiParamError(w, "messages", "empty_array", "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.")
		return
	case req.Temperature != nil && (*req.Temperature < 0 || *req.Temperature > 2):
		openaiParamError(w, "temperature", "decimal_above_max_value", fmt.Sprintf("Invalid 'temperature': decimal above maximum value. Expected a value <= 2, but got %v instead.", *req.Temperature))
		return
	case req.MaxTokens != nil && req.MaxCompletionTokens != nil:
		openaiParamError(w, "max_tokens", "invalid_request_error", "max_tokens and max_completion_tokens cannot both be set")
		return
	}
	chars, sawJSON, last := 0, false, ""
	for i, m := range req.Messages {
		if !slices.Contains([]string{"system", "developer", "user", "assistant", "tool", "function"}, m.Role) {
			openaiParamError(w, fmt.Sprintf("messages[%d].role", i), "invalid_value", fmt.Sprintf("Invalid value: '%s'. Supported values are: 'system', 'assistant', 'user', 'function', 'tool', and 'developer'.", m.Role))
			return
		}
		text, isText := m.Content.(string)
		if !isText {
			openaiParamError(w, fmt.Sprintf("messages[%d].content", i), "invalid_type", fmt.Sprintf("Invalid type for 'messages[%d].content': expected one of a string or array of objects, but got %T instead.", i, m.Content))
			return
		}
		chars += len(text)
		sawJSON = sawJSON || strings.Contains(strings.ToLower(text), "json")
		if m.Role == "user" {
			last = text
		}
	}
	prompt := (chars+3)/4 + 7*len(req.Messages)
	if prompt > OpenAIContextWindow {
		openaiParamError(w, "messages", "context_length_exceeded", fmt.Sprintf("This model's maximum context length is %d tokens. However, your messages resulted in %d tokens. Please reduce the length of the messages.", OpenAIContextWindow, prompt))
		return
	}
	jsonMode := req.ResponseFormat != nil && req.ResponseFormat.Type == "json_object"
	if jsonMode && !sawJSON {
		openaiParamError(w, "messages", "", "'messages' must contain the word 'json' in some form, to use 'response_format' of type 'json_object'.")
		return
	}
	// The fake's model repeats the last user message.
	words := strings.Fields("You said: " + last)
	if jsonMode {
		b, _ := json.Marshal(map[string]string{"reply": strings.Join(words, " ")})
		words = []string{string(b)}
	}
	finish := "stop"
	limit := req.MaxCompletionTokens
	if limit == nil {
		limit = req.MaxTokens
	}
	if limit != nil && *limit < len(words) && !jsonMode {
		words, finish = words[:max(*limit, 0)], "length"
	}
	content := strings.Join(words, " ")
	completion := len(words)
	writeJSON(w, http.StatusOK, map[string]any{
		"id":      "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT",
		"object":  "chat.completion",
		"created": 1741569952,
		"model":   openaiModels[req.Model],
		"choices": []any{map[string]any{
			"index":         0,
			"message":       map[string]any{"role": "assistant", "content": content, "refusal": nil, "annotations": []any{}},
			"logprobs":      nil,
			"finish_reason": finish,
		}},
		"usage": map[string]any{
			"prompt_tokens":     prompt,
			"completion_tokens": completion,
			"total_tokens":      prompt + completion,
		},
		"service_tier":       "default",
		"system_fingerprint": "fp_06737a9306",
	})
}

// newOpenAI plays OpenAI's API with "Authorization: Bearer <key>" (and
// the optional OpenAI-Organization and OpenAI-Project headers):
//
//   - "List models" (https://platform.openai.com/docs/api-reference/models/list):
//     GET /v1/models answers 200 {"object": "list", "data": [{"id",
//     "object": "model", "created", "owned_by"}]}.
//   - "Create chat completion"
//     (https://platform.openai.com/docs/api-reference/chat/create): POST
//     /v1/chat/completions {"model", "messages": [{"role", "content"}],
//     "temperature"?, "max_completion_tokens" (or the deprecated
//     "max_tokens")?, "response_format"?} answers 200 {"id", "object":
//     "chat.completion", "created", "model", "choices": [{"index": 0,
//     "message": {"role": "assistant", "content"}, "finish_reason"}],
//     "usage": {"prompt_tokens", "completion_tokens", "total_tokens"}}.
//     Its model repeats the last user message ("You said: ..."), cut
//     with finish_reason "length" at max_completion_tokens words, or as
//     {"reply": ...} with a json_object response format (which needs the
//     word "json" in the messages). A bad request answers 400
//     invalid_request_error naming the param (an empty messages array, a
//     role or temperature out of range, messages past
//     OpenAIContextWindow: code context_length_exceeded); an unknown
//     model 404 code model_not_found ("The model `x` does not exist or
//     you do not have access to it.").
//
// Errors are {"error": {"message", "type", "param", "code"}}
// (https://platform.openai.com/docs/guides/error-codes). A missing key
// answers 401 with code null; a bad one 401 {"error": {"message":
// "Incorrect API key provided: sk-pro*****ABCD. ...", "type":
// "invalid_request_error", "code": "invalid_api_key"}}, quoting part of
// the key. Rate limiting is 429 rate_limit_exceeded (Throttle adds the
// Retry-After); a QuotaExhausted key answers 429 insufficient_quota,
// which is no rate limit: retrying cannot help
// (https://help.openai.com/en/articles/6891839-api-error-code-guidance).
// Fail(n, 500 or 503) answers OpenAI's server_error.
func newOpenAI() (*Fake, *spec) {
	f := &Fake{
		Token:   "sk-proj-valid0123456789abcdefghijklmnopqrstuvwxyzABCD",
		Tokens:  map[string]string{QuotaExhausted: "sk-proj-noquota0123456789abcdefghijklmnopqrstuvwxyz"},
		Account: "API key",
	}
	return f, &spec{
		failure: openaiFailure,
		methods: map[string]Handler{"POST /v1/chat/completions": openaiChat},
		serve: func(f *Fake, w http.ResponseWriter, r *http.Request, _ []byte) {
			if !route(w, r, http.MethodGet, "/v1/models", openaiFailure) || !openaiKey(f, w, r) {
				return
			}
			writeJSON(w, http.StatusOK, map[string]any{
				"object": "list",
				"data": []any{
					map[string]any{"id": "gpt-4o-mini", "object": "model", "created": 1721172741, "owned_by": "system"},
					map[string]any{"id": "gpt-4o", "object": "model", "created": 1715367049, "owned_by": "system"},
				},
			})
		},
	}
}
