package main

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// fakeUpstream stands in for an LLM API, so that the example runs without internet: it answers every request with
// an OpenAI-shaped completion whose usage.total_tokens is the request's length in words plus max_tokens/2 (or what
// the X-Fake-Usage header says), and with the status of X-Fake-Status when a test wants a failure.
func fakeUpstream() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, maxBody))
		if status, err := strconv.Atoi(r.Header.Get("X-Fake-Status")); err == nil && status >= 300 {
			http.Error(w, "fake upstream failure", status)
			return
		}
		var request struct {
			MaxTokens int64 `json:"max_tokens"`
		}
		_ = json.Unmarshal(body, &request)
		prompt := int64(len(strings.Fields(string(body))))
		completion := request.MaxTokens / 2
		if v, err := strconv.ParseInt(r.Header.Get("X-Fake-Usage"), 10, 64); err == nil {
			prompt, completion = 0, v
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"object":  "chat.completion",
			"model":   "fake",
			"choices": []any{map[string]any{"index": 0, "message": map[string]string{"role": "assistant", "content": "Hello from the fake upstream."}}},
			"usage":   map[string]int64{"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion},
		})
	})
}
