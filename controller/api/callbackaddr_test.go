package api

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestPublicOnly(t *testing.T) {
	for _, tc := range []struct {
		addr string
		ok   bool
	}{
		{"93.184.215.14:443", true},
		{"[2606:2800:21f:cb07:6820:80da:af6b:8b2c]:443", true},
		{"127.0.0.1:80", false},
		{"[::1]:80", false},
		{"10.1.2.3:80", false},
		{"172.16.0.1:80", false},
		{"192.168.1.1:80", false},
		{"169.254.169.254:80", false}, // cloud metadata
		{"[fe80::1]:80", false},
		{"[fd00::1]:80", false},
		{"100.64.0.1:80", false},
		{"0.0.0.0:80", false},
		{"[::ffff:127.0.0.1]:80", false},
		{"224.0.0.1:80", false},
		{"not-an-address", false},
	} {
		err := publicOnly("tcp", tc.addr, nil)
		if (err == nil) != tc.ok {
			t.Errorf("publicOnly(%s) = %v, want ok=%v", tc.addr, err, tc.ok)
		}
	}
}

// Without AllowPrivate a callback aimed at this host is refused as it is
// dialled; with it, it goes through.
func TestCallbackClientRefusesPrivateAddresses(t *testing.T) {
	got := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got++ }))
	t.Cleanup(srv.Close)
	err := postCallback(t.Context(), callbackClient(CallbackOptions{Timeout: 10 * time.Second}), srv.URL, []byte("{}"), "sig")
	if err == nil || !strings.Contains(err.Error(), "not a public address") || got != 0 {
		t.Errorf("callback to %s without AllowPrivate: %v, %d requests received; want refused", srv.URL, err, got)
	}
	if err := postCallback(t.Context(), callbackClient(CallbackOptions{Timeout: 10 * time.Second, AllowPrivate: true}), srv.URL, []byte("{}"), "sig"); err != nil || got != 1 {
		t.Errorf("callback with AllowPrivate: %v, %d requests received", err, got)
	}
}
