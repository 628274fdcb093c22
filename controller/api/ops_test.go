package api_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

func TestReadyzMetricsAndOpenAPI(t *testing.T) {
	srv, _ := newAPI(t)
	if code, data := call(t, "GET", srv.URL+"/readyz", ""); code != 200 || string(data) != "ready\n" {
		t.Errorf("readyz: %d %s", code, data)
	}
	code, data := call(t, "POST", srv.URL+base, `{"device":"qemu-arm64","kernel":"/k"}`)
	if code != http.StatusCreated {
		t.Fatalf("submit: %d %s", code, data)
	}
	call(t, "POST", srv.URL+base, `{"device":"qemu-vax","kernel":"/k"}`)
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

	// Every path the description lists is served: no route of the
	// description meets the mux's own 404 or 405.
	code, data = call(t, "GET", srv.URL+"/v1/openapi.json", "")
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(data, &doc); code != 200 || err != nil || doc.OpenAPI == "" {
		t.Fatalf("openapi: %d %v %s", code, err, data)
	}
	ops := 0
	for path, methods := range doc.Paths {
		for method := range methods {
			ops++
			url := strings.NewReplacer("{group}", "lab", "{project}", "kernel", "{uid}", "nosuchtest").Replace(path)
			code, data := call(t, strings.ToUpper(method), srv.URL+url, "{}")
			if code == http.StatusMethodNotAllowed || strings.Contains(string(data), "404 page not found") {
				t.Errorf("%s %s, described, is not served: %d %s", method, path, code, data)
			}
		}
	}
	if ops != 15 {
		t.Errorf("openapi describes %d operations, want the 15 served", ops)
	}
}
