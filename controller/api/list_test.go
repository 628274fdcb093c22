package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tuxboot/tuxboot/controller/api"
	"github.com/tuxboot/tuxboot/controller/queue"
	"github.com/tuxboot/tuxboot/runner/boot"
)

func list(t *testing.T, srvURL, query string) (int, api.List, string) {
	t.Helper()
	code, data := call(t, "GET", srvURL+base+query, "")
	var l api.List
	if code == 200 {
		if err := json.Unmarshal(data, &l); err != nil {
			t.Fatalf("%v: %s", err, data)
		}
	}
	return code, l, string(data)
}

func TestListFiltersAndPages(t *testing.T) {
	srv, q := newAPI(t)
	startController(t, q)
	submit := func(path, script string) string {
		code, data := call(t, "POST", srv.URL+path, `{"device":"qemu-arm64","kernel":"http://h/k","boot_args":"`+script+`"}`)
		if code != http.StatusCreated {
			t.Fatalf("submit: %d %s", code, data)
		}
		return view(t, data).UID
	}
	pass := []string{submit(base, "pass"), submit(base, "pass"), submit(base, "pass")}
	fail := submit(base, "fail")
	hang := submit(base, "hang")
	submit("/v1/groups/lab/projects/other/tests", "pass")
	submit("/v1/groups/elsewhere/projects/kernel/tests", "pass")

	deadline := time.Now().Add(30 * time.Second)
	for {
		_, l, _ := list(t, srv.URL, "?state=finished")
		_, r, _ := list(t, srv.URL, "?state=running")
		if l.Count == 4 && r.Count == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("finished %d, running %d; want 4 and 1", l.Count, r.Count)
		}
		time.Sleep(100 * time.Millisecond)
	}

	uids := func(l api.List) []string {
		var out []string
		for _, v := range l.Results {
			out = append(out, v.UID)
		}
		return out
	}
	tests := []struct {
		query string
		want  []string // newest first
	}{
		{"", []string{hang, fail, pass[2], pass[1], pass[0]}},
		{"?result=pass", []string{pass[2], pass[1], pass[0]}},
		{"?result=fail", []string{fail}},
		{"?state=running", []string{hang}},
		{"?state=finished&result=fail", []string{fail}},
		{"?device=qemu-arm64&result=pass", []string{pass[2], pass[1], pass[0]}},
		{"?device=qemu-amd64", nil},
	}
	for _, tt := range tests {
		code, l, data := list(t, srv.URL, tt.query)
		if got := uids(l); code != 200 || strings.Join(got, ",") != strings.Join(tt.want, ",") || l.Count != len(tt.want) {
			t.Errorf("list %q: %d %v, want %v (%s)", tt.query, code, got, tt.want, data)
		}
	}

	// Two at a time: three pages, each test once, in order.
	var paged []string
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 3 {
			t.Fatalf("more than 3 pages: %v", paged)
		}
		_, l, data := list(t, srv.URL, "?limit=2&cursor="+url.QueryEscape(cursor))
		if l.Count > 2 {
			t.Fatalf("page of %d: %s", l.Count, data)
		}
		paged = append(paged, uids(l)...)
		if l.Next == "" {
			break
		}
		cursor = l.Next
	}
	if got, want := strings.Join(paged, ","), strings.Join(tests[0].want, ","); got != want {
		t.Errorf("paged %s, want %s", got, want)
	}

	// The status object of a finished test.
	_, l, _ := list(t, srv.URL, "?result=fail")
	v := l.Results[0]
	if v.TestResults["boot"] != boot.Fail || v.Request.BootArgs != "fail" || v.Retries != 0 ||
		v.RunningTime == nil || v.FinishedTime == nil || v.FinishedTime.Before(*v.RunningTime) ||
		v.RunningTime.Before(v.ProvisioningTime) || v.Links.Logs != v.URL+"/logs" || v.Links.Results != v.URL+"/results" {
		t.Errorf("finished status: %+v", v)
	}
	if _, data := call(t, "GET", srv.URL+base+"/"+hang, ""); !strings.Contains(string(data), `"finished_time": null`) {
		t.Errorf("a running test has a finished time: %s", data)
	}

	bad := []struct{ query, says string }{
		{"?state=done", "is not one of provisioning, running, finished"},
		{"?result=maybe", "is not one of pass, fail, error, canceled"},
		{"?limit=0", "limit"},
		{"?limit=many", "limit"},
		{"?cursor=!!", "cursor"},
		{"?colour=red", "colour: unknown filter"},
	}
	for _, b := range bad {
		if code, _, data := list(t, srv.URL, b.query); code != 400 || !strings.Contains(data, b.says) {
			t.Errorf("list %q: %d %s, want 400 saying %q", b.query, code, data, b.says)
		}
	}
}

func TestLogStreamIsLiveAndEndsWithTheTest(t *testing.T) {
	srv, q := newAPI(t)
	startController(t, q)
	code, data := call(t, "POST", srv.URL+base, `{"device":"qemu-arm64","kernel":"http://h/k","boot_args":"hang"}`)
	if code != http.StatusCreated {
		t.Fatalf("submit: %d %s", code, data)
	}
	uid := view(t, data).UID
	deadline := time.Now().Add(20 * time.Second)
	for view(t, must(call(t, "GET", srv.URL+base+"/"+uid, ""))).State != api.StateRunning {
		if time.Now().After(deadline) {
			t.Fatal("never running")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// What a runner sends: console chunks of attempt 1.
	lw := q.Publisher(uid, 1, queue.SourceRunner).LogWriter()
	lw.Write([]byte("Booting Linux\r\nfirst li"))
	lw.Close(context.Background())

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+base+"/"+uid+"/logs", nil)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	events := make(chan [2]string)
	go func() {
		defer close(events)
		sc := bufio.NewScanner(resp.Body)
		var name string
		var lines []string
		for sc.Scan() {
			switch line := sc.Text(); {
			case line == "":
				events <- [2]string{name, strings.Join(lines, "\n")}
				name, lines = "", nil
			case strings.HasPrefix(line, "event: "):
				name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				lines = append(lines, strings.TrimPrefix(line, "data: "))
			}
		}
	}()
	var log strings.Builder
	next := func() [2]string {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatalf("stream closed; log so far %q", log.String())
			}
			return ev
		case <-time.After(20 * time.Second):
			t.Fatalf("no event within 20s; log so far %q", log.String())
		}
		return [2]string{}
	}
	// The log so far arrives while the test still runs.
	for !strings.Contains(log.String(), "first li") {
		ev := next()
		if ev[0] != "" {
			t.Fatalf("event %v before the log", ev)
		}
		log.WriteString(ev[1])
	}
	lw = q.Publisher(uid, 1, queue.SourceRunner).LogWriter()
	lw.Write([]byte("ne\nsecond line\n"))
	lw.Close(context.Background())
	for !strings.Contains(log.String(), "second line\n") {
		ev := next()
		log.WriteString(ev[1])
	}
	if got, want := log.String(), "Booting Linux\nfirst line\nsecond line\n"; got != want {
		t.Errorf("streamed log %q, want %q", got, want)
	}
	// Canceling ends the test, and the stream with it.
	if code, data := call(t, "POST", srv.URL+base+"/"+uid+"/cancel", ""); code != http.StatusAccepted {
		t.Fatalf("cancel: %d %s", code, data)
	}
	if ev := next(); ev != [2]string{"end", "canceled"} {
		t.Errorf("last event %v, want end canceled", ev)
	}
	if ev, ok := <-events; ok {
		t.Errorf("event %v after the end", ev)
	}
}

// must drops the status code: the body alone says what is wrong.
func must(_ int, data []byte) []byte { return data }

func TestReproducerPinsArtefacts(t *testing.T) {
	dir := t.TempDir()
	rootfs := filepath.Join(dir, "it's.cpio")
	if err := os.WriteFile(rootfs, []byte("070701"), 0o644); err != nil {
		t.Fatal(err)
	}
	srv, _ := newAPI(t, func(s *api.Server) { s.ArtefactDirs = []string{dir} })
	code, data := call(t, "POST", srv.URL+base, `{"device":"qemu-arm64","kernel":"http://h/Image","rootfs":"`+rootfs+`","boot_args":"tuxboot.mode=pass","timeouts":{"boot":60},"fatal":["warning"]}`)
	if code != http.StatusCreated {
		t.Fatalf("submit: %d %s", code, data)
	}
	uid := view(t, data).UID
	_, script := call(t, "GET", srv.URL+base+"/"+uid+"/reproducer", "")
	for _, want := range []string{"#!/bin/sh\n", "exec tuxboot run", "--device qemu-arm64", "--kernel http://h/Image",
		`--rootfs '` + strings.ReplaceAll(realPath(t, rootfs), "'", `'\''`) + `'`, "--boot-args tuxboot.mode=pass", "--timeouts boot=60", "--fatal warning", "not pinned"} {
		if !strings.Contains(string(script), want) {
			t.Errorf("reproducer lacks %q:\n%s", want, script)
		}
	}
	res := &boot.Result{Artefacts: map[string]boot.Artefact{"kernel": {SHA256: strings.Repeat("a", 64)}, "rootfs": {SHA256: strings.Repeat("b", 64)}}}
	args := api.RunArgs(boot.Request{Device: "qemu-arm64", Kernel: "k", Rootfs: "r"}, res)
	if got, want := strings.Join(args, " "), "--device qemu-arm64 --kernel k --rootfs r --sha256 kernel="+strings.Repeat("a", 64)+" --sha256 rootfs="+strings.Repeat("b", 64); got != want {
		t.Errorf("RunArgs: %s\nwant %s", got, want)
	}
}
