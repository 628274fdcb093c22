package api_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/tuxboot/tuxboot/controller/api"
	"github.com/tuxboot/tuxboot/controller/queue"
	"github.com/tuxboot/tuxboot/controller/queue/queuetest"
)

func newAuthAPI(t *testing.T, tokens api.Tokens) *httptest.Server {
	t.Helper()
	q := queuetest.New(t, queue.Options{AckWait: 2 * time.Second})
	s := &api.Server{Queue: q, Log: zerolog.Nop(), Tokens: tokens}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return srv
}

func authCall(t *testing.T, method, url, auth, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return resp.StatusCode, b.String()
}

func TestTokensScopeEveryRouteToOneGroup(t *testing.T) {
	srv := newAuthAPI(t, api.Tokens{"labsecret": "lab", "othersecret": "other"})
	const lab = "/v1/groups/lab/projects/kernel/tests"
	const other = "/v1/groups/other/projects/kernel/tests"
	body := `{"device":"qemu-arm64","kernel":"http://h/k"}`

	code, data := authCall(t, "POST", srv.URL+lab, "Bearer labsecret", body)
	if code != http.StatusCreated {
		t.Fatalf("submit with the group's token: %d %s", code, data)
	}
	uid := view(t, []byte(data)).UID
	code, data = authCall(t, "POST", srv.URL+other, "othersecret", body) // TuxSuite's bare form
	if code != http.StatusCreated {
		t.Fatalf("submit with a bare token: %d %s", code, data)
	}
	otherUID := view(t, []byte(data)).UID

	tests := []struct {
		name, method, path, auth string
		code                     int
		says                     string
	}{
		{"no token", "GET", lab + "/" + uid, "", 401, "missing token"},
		{"unknown token", "GET", lab + "/" + uid, "Bearer guess", 401, "unknown token"},
		{"empty bearer", "GET", lab + "/" + uid, "Bearer ", 401, "unknown token"},
		{"own test", "GET", lab + "/" + uid, "Bearer labsecret", 200, uid},
		{"own test, bare token", "GET", lab + "/" + uid, "labsecret", 200, uid},
		{"lowercase scheme", "GET", lab + "/" + uid, "bearer labsecret", 200, uid},
		{"own list", "GET", lab, "Bearer labsecret", 200, uid},
		{"own list hides others", "GET", lab, "Bearer othersecret", 404, "not found"},
		{"other group's test via its path", "GET", other + "/" + otherUID, "Bearer labsecret", 404, "not found"},
		{"other group's test via own path", "GET", lab + "/" + otherUID, "Bearer labsecret", 404, "no such test"},
		{"other group's list", "GET", other, "Bearer labsecret", 404, "not found"},
		{"other group's logs", "GET", other + "/" + otherUID + "/logs", "Bearer labsecret", 404, "not found"},
		{"other group's results", "GET", other + "/" + otherUID + "/results", "Bearer labsecret", 404, "not found"},
		{"other group's events", "GET", other + "/" + otherUID + "/events", "Bearer labsecret", 404, "not found"},
		{"other group's reproducer", "GET", other + "/" + otherUID + "/reproducer", "Bearer labsecret", 404, "not found"},
		{"other group's cancel", "POST", other + "/" + otherUID + "/cancel", "Bearer labsecret", 404, "not found"},
		{"submit into another group", "POST", other, "Bearer labsecret", 404, "not found"},
		{"healthz needs no token", "GET", "/healthz", "", 200, "ok"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := ""
			if tt.method == "POST" && !strings.HasSuffix(tt.path, "/cancel") {
				b = body
			}
			code, data := authCall(t, tt.method, srv.URL+tt.path, tt.auth, b)
			if code != tt.code || !strings.Contains(data, tt.says) {
				t.Errorf("%d %s, want %d saying %q", code, data, tt.code, tt.says)
			}
			if tt.code/100 != 2 && strings.Contains(data, otherUID) {
				t.Errorf("a refusal shows the other group's test: %s", data)
			}
		})
	}
	// The other group's test was not canceled by the refused request.
	code, data = authCall(t, "GET", srv.URL+other+"/"+otherUID, "Bearer othersecret", "")
	if v := view(t, []byte(data)); code != 200 || v.State != api.StateProvisioning {
		t.Errorf("other group's test after a refused cancel: %d %+v", code, v)
	}
}

func TestParseTokens(t *testing.T) {
	tests := []struct {
		name, in string
		want     api.Tokens
		err      string
	}{
		{"two groups", "# comment\nt1 lab\n\n  t2   other  \n", api.Tokens{"t1": "lab", "t2": "other"}, ""},
		{"missing group", "t1\n", nil, "tokens:1: want TOKEN GROUP"},
		{"three fields", "t1 lab extra\n", nil, "got 3 fields"},
		{"bad group", "t1 -lab\n", nil, "not a valid group name"},
		{"duplicate", "t1 lab\nt1 other\n", nil, "tokens:2: the same token"},
		{"empty", "# none\n", nil, "no tokens"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := api.ParseTokens(strings.NewReader(tt.in), "tokens")
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want one saying %q", err, tt.err)
				}
				return
			}
			if err != nil || len(got) != len(tt.want) {
				t.Fatalf("%v, %v; want %v", got, err, tt.want)
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Errorf("token %s: group %q, want %q", k, got[k], v)
				}
			}
		})
	}
}
