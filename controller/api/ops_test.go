package api_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestReadyzMetricsAndOpenAPI(t *testing.T) {
	srv, _ := newAPI(t)
	if code, data := call(t, "GET", srv.URL+"/readyz", ""); code != 200 || string(data) != "ready\n" {
		t.Errorf("readyz: %d %s", code, data)
	}
	code, data := call(t, "POST", srv.URL+base, `{"device":"qemu-arm64","kernel":"http://h/k"}`)
	if code != http.StatusCreated {
		t.Fatalf("submit: %d %s", code, data)
	}
	call(t, "POST", srv.URL+base, `{"device":"qemu-vax","kernel":"http://h/k"}`)
	call(t, "GET", srv.URL+"/nowhere", "")

	code, data = call(t, "GET", srv.URL+"/metrics", "")
	for _, want := range []string{
		"# TYPE tuxboot_api_requests_total counter\n",
		`tuxboot_api_requests_total{method="POST",route="POST /v1/groups/{group}/projects/{project}/tests",code="201"} 1` + "\n",
		`tuxboot_api_requests_total{method="POST",route="POST /v1/groups/{group}/projects/{project}/tests",code="400"} 1` + "\n",
		`tuxboot_api_requests_total{method="GET",route="GET /readyz",code="200"} 1` + "\n",
		`tuxboot_api_requests_total{method="GET",route="unmatched",code="404"} 1` + "\n",
		`tuxboot_tests{state="provisioning",result=""} 1` + "\n",
		`tuxboot_tests{state="finished",result="pass"} 0` + "\n",
		"tuxboot_nats_connected 1\n",
	} {
		if code != 200 || !strings.Contains(string(data), want) {
			t.Errorf("metrics lack %q:\n%s", want, data)
		}
	}
}

// TestMethodLabelIsBounded: a made-up method is counted as "other", so
// a client cannot add a metrics series per request.
func TestMethodLabelIsBounded(t *testing.T) {
	srv, _ := newAPI(t)
	for _, m := range []string{"FOO1", "FOO2", "BREW"} {
		call(t, m, srv.URL+"/nowhere", "")
	}
	_, data := call(t, "GET", srv.URL+"/metrics", "")
	if strings.Contains(string(data), "FOO") || !strings.Contains(string(data), `tuxboot_api_requests_total{method="other",route="unmatched",code="404"} 3`+"\n") {
		t.Errorf("made-up methods in the metrics:\n%s", data)
	}
}

// TestCrossOriginBrowserRequestsAreRefused: a web page cannot submit,
// plan or cancel through its visitor's browser (CSRF against an API
// without tokens on loopback), while clients that are not browsers, and
// a browser's reads, pass.
func TestCrossOriginBrowserRequestsAreRefused(t *testing.T) {
	srv, _ := newAPI(t)
	submit := `{"device":"qemu-arm64","kernel":"http://h/k"}`
	plan := `{"version":1,"name":"p","tests":[{"device":"qemu-arm64","kernel":"http://h/k"}]}`
	tests := []struct {
		name, method, path, body, ctype string
		headers                         map[string]string
		code                            int
	}{
		{"cross-site submit as text/plain", "POST", base, submit, "text/plain", map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}, http.StatusForbidden},
		{"cross-site submit, Origin only", "POST", base, submit, "text/plain", map[string]string{"Origin": "https://evil.example"}, http.StatusForbidden},
		{"cross-site plan without a type", "POST", plans, plan, "", map[string]string{"Sec-Fetch-Site": "cross-site"}, http.StatusForbidden},
		{"cross-site cancel", "POST", base + "/nosuchtest/cancel", "", "", map[string]string{"Sec-Fetch-Site": "same-site"}, http.StatusForbidden},
		{"curl or tuxboot submit", "POST", base, submit, "application/json", nil, http.StatusCreated},
		{"same-origin browser", "POST", base, submit, "application/json", map[string]string{"Sec-Fetch-Site": "same-origin"}, http.StatusCreated},
		{"cross-site read", "GET", base, "", "", map[string]string{"Sec-Fetch-Site": "cross-site"}, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, srv.URL+tt.path, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if tt.ctype != "" {
				req.Header.Set("Content-Type", tt.ctype)
			}
			for k, v := range tt.headers {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			data, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.code {
				t.Errorf("%d %s, want %d", resp.StatusCode, data, tt.code)
			}
			if tt.code == http.StatusForbidden && !strings.Contains(string(data), `"error": "cross-origin request refused`) {
				t.Errorf("not a JSON error: %s", data)
			}
		})
	}
}
