package api_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tuxboot/tuxboot/controller/api"
)

// openapiDoc is the part of /v1/openapi.json the tests read.
type openapiDoc struct {
	OpenAPI    string                                `json:"openapi"`
	Paths      map[string]map[string]json.RawMessage `json:"paths"`
	Components struct {
		Schemas map[string]struct {
			Properties map[string]json.RawMessage `json:"properties"`
			Required   []string                   `json:"required"`
		} `json:"schemas"`
	} `json:"components"`
}

func keys(m map[string]json.RawMessage) []string {
	return slices.Sorted(maps.Keys(m))
}

// TestOpenAPIDescribesTheServedAPI checks the description against the real
// handler: it describes exactly the routes the API serves (as docs/api.md
// lists them), each of them is served, and the JSON the API writes has
// exactly the fields of the schemas that describe it.
func TestOpenAPIDescribesTheServedAPI(t *testing.T) {
	srv, q := newAPI(t)
	startController(t, q)

	// A finished failing test and a finished plan, so every field is there.
	code, data := call(t, "POST", srv.URL+base, `{"device":"qemu-arm64","kernel":"http://h/k","boot_args":"fail"}`)
	if code != http.StatusCreated {
		t.Fatalf("submit: %d %s", code, data)
	}
	uid := view(t, data).UID
	code, data = call(t, "POST", srv.URL+plans, `{"version":1,"name":"p","tests":[{"devices":["qemu-arm64"],"kernels":["http://h/k1"],"boot_args":"pass"}]}`)
	var plan api.PlanView
	if err := json.Unmarshal(data, &plan); code != http.StatusCreated || err != nil {
		t.Fatalf("plan: %d %v %s", code, err, data)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, d1 := call(t, "GET", srv.URL+base+"/"+uid, "")
		_, d2 := call(t, "GET", srv.URL+plans+"/"+plan.UID, "")
		json.Unmarshal(d2, &plan)
		if view(t, d1).State == api.StateFinished && plan.State == api.StateFinished {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("test and plan not finished within 30s")
		}
		time.Sleep(100 * time.Millisecond)
	}

	code, data = call(t, "GET", srv.URL+"/v1/openapi.json", "")
	var doc openapiDoc
	if err := json.Unmarshal(data, &doc); code != 200 || err != nil || doc.OpenAPI != "3.1.0" {
		t.Fatalf("openapi: %d %v %s", code, err, data)
	}

	// The routes the API serves, as docs/api.md lists them: the
	// description has these and no other.
	const p = "/v1/groups/{group}/projects/{project}"
	routes := []struct{ method, path, body string }{
		{"POST", p + "/tests", `{"device":"qemu-arm64","kernel":"http://h/k","boot_args":"pass"}`},
		{"GET", p + "/tests", ""},
		{"GET", p + "/tests/{uid}", ""},
		{"GET", p + "/tests/{uid}/logs", ""},
		{"GET", p + "/tests/{uid}/results", ""},
		{"GET", p + "/tests/{uid}/events", ""},
		{"GET", p + "/tests/{uid}/reproducer", ""},
		{"POST", p + "/tests/{uid}/cancel", ""},
		{"POST", p + "/plans", `{"version":1,"name":"p","tests":[{"device":"qemu-arm64","kernel":"http://h/k","boot_args":"pass"}]}`},
		{"GET", p + "/plans/{uid}", ""},
		{"GET", p + "/keys", ""},
		{"GET", "/healthz", ""},
		{"GET", "/readyz", ""},
		{"GET", "/metrics", ""},
		{"GET", "/v1/openapi.json", ""},
	}
	var want, described []string
	for _, r := range routes {
		want = append(want, r.method+" "+r.path)
	}
	for path, methods := range doc.Paths {
		for method := range methods {
			described = append(described, strings.ToUpper(method)+" "+path)
		}
	}
	slices.Sort(want)
	slices.Sort(described)
	if !slices.Equal(want, described) {
		t.Errorf("the description has\n%s\nthe API serves\n%s", strings.Join(described, "\n"), strings.Join(want, "\n"))
	}

	// Each is served by its own pattern: the mux counts it under that
	// route in /metrics, and answers no other method on its path.
	for _, r := range routes {
		uidFor := uid
		if strings.Contains(r.path, "/plans/") {
			uidFor = plan.UID
		}
		url := srv.URL + strings.NewReplacer("{group}", "lab", "{project}", "kernel", "{uid}", uidFor).Replace(r.path)
		code, data := call(t, r.method, url, r.body)
		if code == http.StatusNotFound || code == http.StatusMethodNotAllowed || code >= 500 {
			t.Errorf("%s %s: %d %s", r.method, r.path, code, data)
		}
		if code, _ := call(t, "DELETE", url, ""); code != http.StatusMethodNotAllowed {
			t.Errorf("DELETE %s: %d, want 405: nothing but the described methods is served", r.path, code)
		}
	}
	_, metrics := call(t, "GET", srv.URL+"/metrics", "")
	for _, r := range routes {
		if label := fmt.Sprintf(`route="%s %s"`, r.method, r.path); !strings.Contains(string(metrics), label) {
			t.Errorf("no request was served by the pattern %s %s", r.method, r.path)
		}
	}

	// The JSON the API writes has the fields its schemas list.
	schema := func(name string) ([]string, []string) {
		s, ok := doc.Components.Schemas[name]
		if !ok {
			t.Fatalf("no component schema %q; there are %v", name, slices.Sorted(maps.Keys(doc.Components.Schemas)))
		}
		return keys(s.Properties), s.Required
	}
	fields := func(path string) []string {
		code, data := call(t, "GET", srv.URL+path, "")
		var m map[string]json.RawMessage
		if err := json.Unmarshal(data, &m); code != 200 || err != nil {
			t.Fatalf("GET %s: %d %v %s", path, code, err, data)
		}
		return keys(m)
	}
	exact := []struct{ schema, path string }{
		{"Status", base + "/" + uid},
		{"PlanStatus", plans + "/" + plan.UID},
	}
	for _, e := range exact {
		props, _ := schema(e.schema)
		if got := fields(e.path); !slices.Equal(got, props) {
			t.Errorf("%s has the fields\n  %v\nits schema %s the properties\n  %v", e.path, got, e.schema, props)
		}
	}
	// results.json leaves out empty optional fields: it has all the required
	// ones and no field the schema lacks.
	props, required := schema("Results")
	got := fields(base + "/" + uid + "/results")
	for _, f := range got {
		if !slices.Contains(props, f) {
			t.Errorf("results.json has %q, which its schema lacks", f)
		}
	}
	for _, f := range required {
		if !slices.Contains(got, f) {
			t.Errorf("results.json lacks %q, which its schema requires", f)
		}
	}
	// A request's schema has what a request may say.
	props, required = schema("Submission")
	for _, f := range []string{"device", "kernel", "rootfs", "boot_args", "timeouts", "callback", "sha256"} {
		if !slices.Contains(props, f) {
			t.Errorf("the Submission schema lacks %q: %v", f, props)
		}
	}
	if !slices.Equal(required, []string{"device", "kernel"}) {
		t.Errorf("a submission requires %v, want device and kernel", required)
	}
	props, _ = schema("Plan")
	if !slices.Equal(props, []string{"name", "tests", "version"}) {
		t.Errorf("Plan properties %v", props)
	}
	// Every reference leads to a schema.
	for _, m := range refRE.FindAllStringSubmatch(string(data), -1) {
		if _, ok := doc.Components.Schemas[m[1]]; !ok {
			t.Errorf("$ref to a missing schema %q", m[1])
		}
	}
}

var refRE = regexp.MustCompile(`"\$ref": "#/components/schemas/([^"]+)"`)
