package api_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestUnmatchedRoutesAnswerJSON: a path or method no route serves is an
// error like any other, JSON with its status.
func TestUnmatchedRoutesAnswerJSON(t *testing.T) {
	srv, _ := newAPI(t)
	tests := []struct {
		name, method, path string
		code               int
		allow              string // wanted in the Allow header
		says               string
	}{
		{"unknown path", "GET", "/v2/nothing", http.StatusNotFound, "", "no such route: /v2/nothing"},
		{"unknown path under a group", "GET", "/v1/groups/lab/projects/kernel/builds", http.StatusNotFound, "", "no such route"},
		{"wrong method on tests", "DELETE", base, http.StatusMethodNotAllowed, "POST", "method DELETE not allowed"},
		{"wrong method on cancel", "GET", base + "/x/cancel", http.StatusMethodNotAllowed, "POST", "not allowed"},
		{"wrong method on healthz", "POST", "/healthz", http.StatusMethodNotAllowed, "GET", "not allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, srv.URL+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var e struct {
				Error string `json:"error"`
			}
			decodeErr := json.NewDecoder(resp.Body).Decode(&e)
			if resp.StatusCode != tt.code {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.code)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" || decodeErr != nil {
				t.Errorf("Content-Type %q (%v), want a JSON error", ct, decodeErr)
			}
			if !strings.Contains(e.Error, tt.says) {
				t.Errorf("error %q, want it to say %q", e.Error, tt.says)
			}
			if allow := resp.Header.Get("Allow"); !strings.Contains(allow, tt.allow) || (tt.allow == "") != (allow == "") {
				t.Errorf("Allow %q, want it to name %q", allow, tt.allow)
			}
		})
	}
}
