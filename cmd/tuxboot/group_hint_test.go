package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/tuxboot/tuxboot/controller/api"
	"github.com/tuxboot/tuxboot/controller/queue"
	"github.com/tuxboot/tuxboot/controller/queue/queuetest"
)

// TestNotFoundGroupHint: a token of another group is told "not found";
// the client says which group it asked for and where that came from.
func TestNotFoundGroupHint(t *testing.T) {
	q := queuetest.New(t, queue.Options{})
	s := &api.Server{Queue: q, Log: zerolog.Nop(), Tokens: api.Tokens{"lab-token": "lab"}}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)

	// A test of group lab, queued: it exists but has no results.
	req, _ := http.NewRequest("POST", srv.URL+"/v1/groups/lab/projects/default/tests", strings.NewReader(`{"device":"qemu-arm64","kernel":"http://h/k"}`))
	req.Header.Set("Authorization", "Bearer lab-token")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var v api.View
	json.NewDecoder(resp.Body).Decode(&v)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("submit: %d", resp.StatusCode)
	}

	tests := []struct {
		name     string
		env      string // $TUXBOOT_GROUP
		cmd      func(ctx context.Context, args []string, stdout, stderr *strings.Builder) int
		args     []string
		want     string // in stderr; "" wants no hint
		wantCode int
	}{
		{"default group", "", hintStatus, []string{"--token", "lab-token", v.UID}, `group "tuxboot" (the default; set --group or $TUXBOOT_GROUP): is it your token's group?`, exitBadRequest},
		{"group from the environment", "other", hintStatus, []string{"--token", "lab-token", v.UID}, `group "other" ($TUXBOOT_GROUP): is it your token's group?`, exitBadRequest},
		{"group from the flag", "other", hintStatus, []string{"--token", "lab-token", "--group", "ops", v.UID}, `group "ops" (--group): is it your token's group?`, exitBadRequest},
		{"cancel, default group", "", hintCancel, []string{"--token", "lab-token", v.UID}, `group "tuxboot" (the default`, exitBadRequest},
		{"results of an existing test: no hint", "", hintResults, []string{"--token", "lab-token", "--group", "lab", v.UID}, "", exitBadRequest},
		{"no token: no hint", "", hintStatus, []string{v.UID}, "", exitBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("TUXBOOT_GROUP", tt.env)
			t.Setenv("TUXBOOT_TOKEN", "")
			var stdout, stderr strings.Builder
			code := tt.cmd(context.Background(), append([]string{"--url", srv.URL}, tt.args...), &stdout, &stderr)
			if code != tt.wantCode {
				t.Errorf("exit %d, want %d\n%s", code, tt.wantCode, stderr.String())
			}
			if tt.want == "" && strings.Contains(stderr.String(), "your token's group") {
				t.Errorf("a hint where none belongs:\n%s", stderr.String())
			}
			if !strings.Contains(stderr.String(), tt.want) {
				t.Errorf("stderr does not say %q:\n%s", tt.want, stderr.String())
			}
		})
	}
}

func hintStatus(ctx context.Context, args []string, stdout, stderr *strings.Builder) int {
	return statusMain(ctx, args, stdout, stderr)
}

func hintResults(ctx context.Context, args []string, stdout, stderr *strings.Builder) int {
	return resultsMain(ctx, args, stdout, stderr)
}

func hintCancel(ctx context.Context, args []string, stdout, stderr *strings.Builder) int {
	return cancelMain(ctx, args, stdout, stderr)
}
