package api_test

import (
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
}
