package api_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tuxboot/tuxboot/controller/api"
)

const plans = "/v1/groups/lab/projects/kernel/plans"

func TestPlanMatrix(t *testing.T) {
	srv, q := newAPI(t)
	bad := []struct {
		name, body string
		code       int
		says       string
	}{
		{"wrong version", `{"version":2,"name":"p","tests":[{"device":"qemu-arm64","kernel":"http://h/k"}]}`, 400, "version: 2 is not supported"},
		{"no name", `{"version":1,"tests":[{"device":"qemu-arm64","kernel":"http://h/k"}]}`, 400, "name: is required"},
		{"no tests", `{"version":1,"name":"p","tests":[]}`, 400, "tests: at least one"},
		{"unknown field", `{"version":1,"name":"p","tests":[{"device":"qemu-arm64","kernal":"http://h/k"}]}`, 400, "kernal"},
		{"unknown device in the matrix", `{"version":1,"name":"p","tests":[{"devices":["qemu-arm64","qemu-vax"],"kernels":["http://h/k1","http://h/k2"]}]}`, 400, "tests[0] (qemu-vax, http://h/k2): device: unknown device qemu-vax"},
		{"device and devices", `{"version":1,"name":"p","tests":[{"device":"qemu-arm64","devices":["qemu-arm64"],"kernel":"http://h/k"}]}`, 400, "exclusive"},
		{"too many", `{"version":1,"name":"p","tests":[{"device":"qemu-arm64","kernels":[` + strings.Repeat(`"http://h/k",`, api.MaxPlanTests) + `"http://h/k"]}]}`, 400, "more than 500"},
		{"not JSON", `version: 1`, 400, "body"},
	}
	for _, b := range bad {
		t.Run(b.name, func(t *testing.T) {
			if code, data := call(t, "POST", srv.URL+plans, b.body); code != b.code || !strings.Contains(string(data), b.says) {
				t.Errorf("%d %s, want %d saying %q", code, data, b.code, b.says)
			}
		})
	}
	typed := []struct {
		name, ctype, body string
		code              int
		says              string
	}{
		{"XML", "application/xml", "<plan/>", http.StatusUnsupportedMediaType, "application/xml"},
		{"YAML with a misspelt field", "application/yaml", "version: 1\nname: p\ntests:\n- device: qemu-arm64\n  kernal: /k\n", 400, "kernal"},
		{"YAML with a duplicate key", "application/yaml", "version: 1\nversion: 1\nname: p\n", 400, "body"},
		{"YAML, not a mapping", "application/yaml", "- a\n- b\n", 400, "body"},
	}
	for _, tt := range typed {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("POST", srv.URL+plans, strings.NewReader(tt.body))
			req.Header.Set("Content-Type", tt.ctype)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			data, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.code || !strings.Contains(string(data), tt.says) {
				t.Errorf("%d %s, want %d saying %q", resp.StatusCode, data, tt.code, tt.says)
			}
		})
	}
	if info, err := q.Requests.Info(context.Background()); err != nil || info.State.Msgs != 0 {
		t.Fatalf("refused plans queued tests: %v %v", info, err)
	}

	startController(t, q)
	code, data := call(t, "POST", srv.URL+plans, `{"version":1,"name":"nightly","tests":[
		{"devices":["qemu-arm64"],"kernels":["http://h/k1","http://h/k2"],"boot_args":"pass"},
		{"device":"qemu-arm64","kernel":"http://h/k3","boot_args":"fail"}]}`)
	var p api.PlanView
	if err := json.Unmarshal(data, &p); code != http.StatusCreated || err != nil || len(p.Tests) != 3 || p.Name != "nightly" {
		t.Fatalf("submit plan: %d %v %s", code, err, data)
	}
	if k := p.Tests[0].Request.Kernel + " " + p.Tests[1].Request.Kernel + " " + p.Tests[2].Request.Kernel; k != "http://h/k1 http://h/k2 http://h/k3" {
		t.Errorf("expanded kernels %s", k)
	}
	deadline := time.Now().Add(30 * time.Second)
	for p.State != api.StateFinished {
		if time.Now().After(deadline) {
			t.Fatalf("plan still %s", p.State)
		}
		time.Sleep(100 * time.Millisecond)
		code, data = call(t, "GET", srv.URL+plans+"/"+p.UID, "")
		if err := json.Unmarshal(data, &p); code != 200 || err != nil {
			t.Fatalf("get plan: %d %v %s", code, err, data)
		}
	}
	if p.Result != "fail" || p.Tests[0].Result != "pass" || p.Tests[2].Result != "fail" {
		t.Errorf("finished plan: %s, tests %s %s %s", p.Result, p.Tests[0].Result, p.Tests[1].Result, p.Tests[2].Result)
	}
	// The same matrix in YAML.
	req, _ := http.NewRequest("POST", srv.URL+plans, strings.NewReader(`version: 1
name: nightly-yaml
tests:
  - devices: [qemu-arm64]
    kernels: [http://h/y1, http://h/y2]
    boot_args: pass
`))
	req.Header.Set("Content-Type", "application/yaml")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var yp api.PlanView
	err = json.NewDecoder(resp.Body).Decode(&yp)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || err != nil || yp.Name != "nightly-yaml" || len(yp.Tests) != 2 || yp.Tests[1].Request.Kernel != "http://h/y2" {
		t.Errorf("YAML plan: %d %v %+v", resp.StatusCode, err, yp)
	}

	// The plan's tests are tests like any other.
	if code, _ := call(t, "GET", srv.URL+base+"/"+p.Tests[2].UID, ""); code != 200 {
		t.Errorf("a plan's test: %d", code)
	}
	for _, path := range []string{"/v1/groups/other/projects/kernel/plans/" + p.UID, plans + "/nosuchplan"} {
		if code, _ := call(t, "GET", srv.URL+path, ""); code != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", path, code)
		}
	}
}

// TestPlanTooBigIsRefusedUnexpanded: a plan over the bound is refused by
// its size alone, with one reason, not one per test of its matrix (a
// body within the size limit can name a matrix of billions).
func TestPlanTooBigIsRefusedUnexpanded(t *testing.T) {
	srv, _ := newAPI(t)
	matrix := func(devices, kernels int, device string) string {
		d := strings.TrimSuffix(strings.Repeat(`"`+device+`",`, devices), ",")
		k := strings.TrimSuffix(strings.Repeat(`"http://h/k",`, kernels), ",")
		return `{"devices":[` + d + `],"kernels":[` + k + `]}`
	}
	tests := []struct {
		name, tests string
		says        string
	}{
		{"a matrix of unknown devices", matrix(100, 100, "qemu-vax"), "expands to 10000 tests"},
		{"a matrix of known devices", matrix(300, 300, "qemu-arm64"), "expands to 90000 tests"},
		{"tests under the bound, together over it", matrix(1, 300, "qemu-arm64") + "," + matrix(1, 201, "qemu-vax"), "expands to 501 tests"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, data := call(t, "POST", srv.URL+plans, `{"version":1,"name":"p","tests":[`+tt.tests+`]}`)
			var e struct {
				Error  string   `json:"error"`
				Reason []string `json:"reason"`
			}
			if err := json.Unmarshal(data, &e); err != nil || code != http.StatusBadRequest {
				t.Fatalf("%d %v %.300s", code, err, data)
			}
			if len(e.Reason) != 1 || !strings.Contains(e.Reason[0], tt.says) {
				t.Errorf("%d reasons (the last: %q), want only one saying %q", len(e.Reason), e.Reason[len(e.Reason)-1], tt.says)
			}
		})
	}
}
