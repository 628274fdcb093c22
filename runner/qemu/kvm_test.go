package qemu

import (
	"context"
	"testing"
	"time"
)

func TestProbe(t *testing.T) {
	tests := []struct {
		name    string
		argv    []string
		wantErr bool
	}{
		{"banner then more output", []string{"sh", "-c", "echo firmware; echo 'Linux version 6.1.0'; sleep 30"}, false},
		{"banner split across writes", []string{"sh", "-c", "printf 'Linux ver'; sleep 0.2; printf 'sion 6'; sleep 30"}, false},
		{"silent guest", []string{"sleep", "30"}, true},
		{"guest exits without banner", []string{"sh", "-c", "echo nope; exit 1"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			err := probe(context.Background(), tt.argv, []byte("Linux version"), 2*time.Second)
			if (err != nil) != tt.wantErr {
				t.Fatalf("probe: err = %v, want error %v", err, tt.wantErr)
			}
			if time.Since(start) > 10*time.Second {
				t.Fatalf("probe did not stop its process in time")
			}
		})
	}
}
