package api_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/tuxboot/tuxboot/controller/queue"
)

// TestBadInputNamesTheProblem sends each kind of bad input to both routes
// that take a body: every one is a 4xx whose message names what is wrong,
// and nothing is queued.
func TestBadInputNamesTheProblem(t *testing.T) {
	srv, q := newAPI(t)
	huge := strings.Repeat("x", queue.MaxRequestBytes)
	tooBig := fmt.Sprintf("at most %d bytes", queue.MaxRequestBytes)
	tests := []struct {
		name, route, ctype, body string
		code                     int
		says                     []string
	}{
		{"test: malformed JSON", base, "application/json", `{"device": "qemu-arm64",`, 400, []string{"invalid request", "body: unexpected EOF"}},
		{"test: not JSON at all", base, "application/json", `device=qemu-arm64`, 400, []string{"body: invalid character 'd'"}},
		{"test: unknown field", base, "application/json", `{"device":"qemu-arm64","kernel":"http://h/k","bootargs":"x"}`, 400, []string{`unknown field \"bootargs\"`}},
		{"test: unknown device", base, "application/json", `{"device":"qemu-vax","kernel":"http://h/k"}`, 400, []string{"device: unknown device qemu-vax"}},
		{"test: a QEMU binary", base, "application/json", `{"device":"qemu-arm64","kernel":"http://h/k","qemu_binary":"/bin/sh"}`, 400, []string{"qemu_binary: is chosen by the server"}},
		{"test: oversized body", base, "application/json", `{"device":"qemu-arm64","kernel":"http://h/k","boot_args":"` + huge + `"}`, 413, []string{tooBig}},
		{"plan: malformed JSON", plans, "application/json", `{"version":1,"name":"p","tests":[`, 400, []string{"invalid plan", "body: unexpected EOF"}},
		{"plan: malformed YAML", plans, "application/yaml", "version: 1\nname: [p\n", 400, []string{"invalid plan", "body: yaml: line 2: did not find expected ','"}},
		{"plan: unknown field", plans, "application/json", `{"version":1,"name":"p","test":[]}`, 400, []string{`unknown field \"test\"`}},
		{"plan: unknown field in a test", plans, "application/yaml", "version: 1\nname: p\ntests:\n- device: qemu-arm64\n  kernel: http://h/k\n  timeout: 5\n", 400, []string{`unknown field \"timeout\"`}},
		{"plan: unknown device", plans, "application/json", `{"version":1,"name":"p","tests":[{"device":"qemu-arm64","kernel":"http://h/k"},{"device":"qemu-vax","kernel":"http://h/k"}]}`, 400, []string{"tests[1] (qemu-vax, http://h/k): device: unknown device qemu-vax"}},
		{"plan: a QEMU binary", plans, "application/yaml", "version: 1\nname: p\ntests:\n- device: qemu-arm64\n  kernel: http://h/k\n  qemu_binary: /bin/sh\n", 400, []string{"tests[0]: qemu_binary: is chosen by the server"}},
		{"plan: oversized body", plans, "application/json", `{"version":1,"name":"` + huge + `","tests":[]}`, 413, []string{tooBig}},
		{"plan: bad version", plans, "application/json", `{"version":7,"name":"p","tests":[{"device":"qemu-arm64","kernel":"http://h/k"}]}`, 400, []string{"version: 7 is not supported"}},
		{"plan: no tests", plans, "application/json", `{"version":1,"name":"p"}`, 400, []string{"tests: at least one is required"}},
		{"plan: a test without a kernel", plans, "application/json", `{"version":1,"name":"p","tests":[{"device":"qemu-arm64"}]}`, 400, []string{"tests[0] (qemu-arm64, ): kernel: is required"}},
		{"plan: kernel and kernels", plans, "application/json", `{"version":1,"name":"p","tests":[{"device":"qemu-arm64","kernel":"http://h/k","kernels":["http://h/k2"]}]}`, 400, []string{"tests[0]: kernel and kernels are exclusive"}},
		{"plan: unsupported media type", plans, "text/plain", `version: 1`, 415, []string{"not text/plain"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest("POST", srv.URL+tt.route, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", tt.ctype)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			data, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.code {
				t.Errorf("%d %s, want %d", resp.StatusCode, data, tt.code)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q, want a JSON error", ct)
			}
			for _, s := range tt.says {
				if !strings.Contains(string(data), s) {
					t.Errorf("the answer does not say %q: %s", s, data)
				}
			}
		})
	}
	info, err := q.Requests.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 0 {
		t.Errorf("%d tests of refused input queued", info.State.Msgs)
	}
}
