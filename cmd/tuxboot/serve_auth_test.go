package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// serve without tokens refuses to listen beyond loopback, and a bad
// tokens file or --artefact-dir is a bad request: all before anything starts.
func TestServeRefusesAnOpenAPIOffLoopback(t *testing.T) {
	dir := t.TempDir()
	badTokens := filepath.Join(dir, "tokens")
	if err := os.WriteFile(badTokens, []byte("lonely-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		says string
	}{
		{"all interfaces", []string{"--listen", ":0"}, "not a loopback address"},
		{"any IPv4", []string{"--listen", "0.0.0.0:0"}, "not a loopback address"},
		{"a hostname", []string{"--listen", "example.com:8080"}, "not a loopback address"},
		{"missing tokens file", []string{"--tokens", filepath.Join(dir, "none")}, "--tokens"},
		{"malformed tokens file", []string{"--tokens", badTokens}, "want TOKEN GROUP"},
		{"missing artefact dir", []string{"--artefact-dir", filepath.Join(dir, "none")}, "--artefact-dir: artefact directory"},
		{"artefact dir is a file", []string{"--artefact-dir", badTokens}, "is not a directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			args := append([]string{"serve", "--data-dir", filepath.Join(dir, "data")}, tt.args...)
			code := dispatch(context.Background(), args, nil, &stdout, &stderr)
			if code != exitBadRequest || !strings.Contains(stderr.String(), tt.says) {
				t.Errorf("exit %d, stderr %q; want %d saying %q", code, stderr.String(), exitBadRequest, tt.says)
			}
		})
	}
}

func TestIsLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:8080": true, "127.9.9.9:1": true, "[::1]:0": true, "localhost:80": true,
		":8080": false, "0.0.0.0:80": false, "[::]:80": false, "10.0.0.1:80": false, "nonsense": false,
	} {
		if got := isLoopback(addr); got != want {
			t.Errorf("isLoopback(%q) = %v, want %v", addr, got, want)
		}
	}
}
