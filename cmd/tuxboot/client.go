package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/tuxboot/tuxboot/controller/api"
	"github.com/tuxboot/tuxboot/runner"
	"github.com/tuxboot/tuxboot/runner/boot"
)

// clientFlags are where a client subcommand finds the API, from flags or
// the environment (TUXBOOT_URL, TUXBOOT_TOKEN, TUXBOOT_GROUP, TUXBOOT_PROJECT).
type clientFlags struct {
	url, token, group, project string
	// groupFrom says where group came from, for a hint on a 404.
	groupFrom string
	fs        *flag.FlagSet
}

func (c *clientFlags) register(fs *flag.FlagSet) {
	env := func(name, def string) string {
		if v := os.Getenv(name); v != "" {
			return v
		}
		return def
	}
	fs.StringVar(&c.url, "url", env("TUXBOOT_URL", "http://127.0.0.1:8080"), "TuxBoot API URL ($TUXBOOT_URL)")
	fs.StringVar(&c.token, "token", env("TUXBOOT_TOKEN", ""), "API token ($TUXBOOT_TOKEN)")
	fs.Lookup("token").DefValue = "" // a usage message must not print the secret
	fs.StringVar(&c.group, "group", env("TUXBOOT_GROUP", "tuxboot"), "group ($TUXBOOT_GROUP)")
	c.groupFrom = "the default; set --group or $TUXBOOT_GROUP"
	if os.Getenv("TUXBOOT_GROUP") != "" {
		c.groupFrom = "$TUXBOOT_GROUP"
	}
	c.fs = fs
	fs.StringVar(&c.project, "project", env("TUXBOOT_PROJECT", "default"), "project ($TUXBOOT_PROJECT)")
}

// client talks to the API of one group and project.
type client struct {
	project string // .../v1/groups/G/projects/P
	base    string // project + /tests
	token   string
	// group and where it came from, for the hint on a 404 of the group's.
	group, groupFrom string
	http             *http.Client
}

func (c *clientFlags) client() *client {
	project := strings.TrimRight(c.url, "/") + "/v1/groups/" + url.PathEscape(c.group) + "/projects/" + url.PathEscape(c.project)
	from := c.groupFrom
	if c.fs != nil {
		c.fs.Visit(func(f *flag.Flag) {
			if f.Name == "group" {
				from = "--group"
			}
		})
	}
	return &client{
		project:   project,
		base:      project + "/tests",
		token:     c.token,
		group:     c.group,
		groupFrom: from,
		http:      &http.Client{},
	}
}

// apiError is an error answer of the API; its status says whose fault it is.
type apiError struct {
	status  int
	message string
	reasons []string
	hint    string // the client's guess at the cause, if any
}

func (e *apiError) Error() string {
	msg := fmt.Sprintf("%d %s: %s", e.status, http.StatusText(e.status), e.message)
	for _, r := range e.reasons {
		msg += "\n  " + r
	}
	if e.hint != "" {
		msg += "\n  " + e.hint
	}
	return msg
}

// notFoundHint guesses why a request of the group's answered 404 with a
// token: a token is valid for one group only, and a token of another
// group is told "not found", as for a test that does not exist. The hint
// says only what the client sent.
func (c *client) notFoundHint(u string, status int, message string) string {
	if c.token == "" || status != http.StatusNotFound || !strings.HasPrefix(u, c.project) {
		return ""
	}
	switch message {
	case "not found", "no such test", "no such plan":
		return fmt.Sprintf("group %q (%s): is it your token's group?", c.group, c.groupFrom)
	}
	return "" // the test exists: it has no results yet, say
}

// exitCode is the exit status of a failed call: the client's mistakes
// are bad requests, anything else the infrastructure's.
func exitCode(err error) int {
	var ae *apiError
	if errors.As(err, &ae) && ae.status >= 400 && ae.status < 500 {
		return exitBadRequest
	}
	return exitInfra
}

// do sends a request about tests (path is under .../tests) and returns
// the response if it is a success.
func (c *client) do(ctx context.Context, method, path string, body []byte, accept string) (*http.Response, error) {
	return c.send(ctx, method, c.base+path, body, "application/json", accept)
}

// send sends a request to a URL and returns the response if it is a success.
func (c *client) send(ctx context.Context, method, u string, body []byte, contentType, accept string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, u, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", contentType)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, u, err)
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		var e struct {
			Error  string   `json:"error"`
			Reason []string `json:"reason"`
		}
		if json.Unmarshal(data, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(data))
		}
		return nil, &apiError{status: resp.StatusCode, message: e.Error, reasons: e.Reason, hint: c.notFoundHint(u, resp.StatusCode, e.Error)}
	}
	return resp, nil
}

// getJSON decodes a successful answer into v.
func (c *client) getJSON(ctx context.Context, method, path string, body []byte, v any) error {
	resp, err := c.do(ctx, method, path, body, "application/json")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
	}
	return nil
}

func (c *client) status(ctx context.Context, uid string) (*api.View, error) {
	var v api.View
	if err := c.getJSON(ctx, "GET", "/"+url.PathEscape(uid), nil, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// wait waits for a test to finish: it follows the test's events, which end
// as it finishes, then polls, which survives a restart of the server in
// between.
func (c *client) wait(ctx context.Context, uid string) (*api.View, error) {
	if resp, err := c.do(ctx, "GET", "/"+url.PathEscape(uid)+"/events?follow=1", nil, "application/x-ndjson"); err == nil {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	for {
		v, err := c.status(ctx, uid)
		if err != nil || v.State == api.StateFinished {
			return v, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// viewExitCode is `tuxboot run`'s exit status for a finished test.
func viewExitCode(v *api.View) int {
	if v.Results != nil && v.Result != "canceled" {
		return runner.ExitCode(v.Results)
	}
	switch v.Result {
	case boot.Pass:
		return exitPass
	case boot.Fail:
		return exitFail
	}
	if v.Failure != nil && v.Failure.Kind == boot.FailBadRequest {
		return exitBadRequest
	}
	return exitInfra
}

// followLog copies the test's console to w as it comes, from the first
// byte, until the test ends, and returns its result.
func (c *client) followLog(ctx context.Context, uid string, w io.Writer) (string, error) {
	resp, err := c.do(ctx, "GET", "/"+url.PathEscape(uid)+"/logs", nil, "text/event-stream")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	var event string
	var data []string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			text := strings.Join(data, "\n")
			switch event {
			case "":
				io.WriteString(w, text)
			case "end":
				return text, nil
			case "error":
				return "", fmt.Errorf("log of %s: %s", uid, text)
			}
			event, data = "", nil
		case strings.HasPrefix(line, "event:"):
			event = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
		case strings.HasPrefix(line, "data:"):
			data = append(data, strings.TrimPrefix(strings.TrimPrefix(line, "data:"), " "))
		}
	}
	if err := sc.Err(); err != nil {
		return "", fmt.Errorf("log of %s: %w", uid, err)
	}
	return "", fmt.Errorf("log of %s: the stream ended before the test", uid)
}

// clientCommand parses a client subcommand's flags and its one UID;
// operand is how its usage names it (and what follows it, if anything).
func clientCommand(name, operand string, args []string, stderr io.Writer, extra func(fs *flag.FlagSet)) (*client, string, int) {
	fs := flag.NewFlagSet("tuxboot "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	usage := fmt.Sprintf("usage: tuxboot %s [flags] %s", name, operand)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "%s\n\nFlags:\n", usage)
		fs.PrintDefaults()
	}
	var cf clientFlags
	cf.register(fs)
	if extra != nil {
		extra(fs)
	}
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return nil, "", flagExit(err)
	}
	if len(pos) != 1 {
		fmt.Fprintln(stderr, usage)
		return nil, "", exitBadRequest
	}
	return cf.client(), pos[0], -1
}

// parseInterspersed parses flags before and after the positional
// arguments, which it returns, as the documented `tuxboot logs UID
// --follow` and `tuxboot plan FILE --wait` put them (the flag package
// stops at the first argument that is not a flag). After "--" every
// argument is positional.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if len(rest) < len(args) && args[len(args)-len(rest)-1] == "--" {
			return append(pos, rest...), nil
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
}

// statusMain is `tuxboot status UID`: the test's status object as JSON.
func statusMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c, uid, code := clientCommand("status", "UID", args, stderr, nil)
	if code >= 0 {
		return code
	}
	v, err := c.status(ctx, uid)
	if err != nil {
		fmt.Fprintln(stderr, "tuxboot status:", err)
		return exitCode(err)
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	enc.Encode(v)
	return exitPass
}

// resultsMain is `tuxboot results UID`: results.json, as stored.
func resultsMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c, uid, code := clientCommand("results", "UID", args, stderr, nil)
	if code >= 0 {
		return code
	}
	return c.print(ctx, "results", "/"+url.PathEscape(uid)+"/results", "application/json", stdout, stderr)
}

// print copies a GET's body to stdout, and returns the exit status.
func (c *client) print(ctx context.Context, cmd, path, accept string, stdout, stderr io.Writer) int {
	resp, err := c.do(ctx, "GET", path, nil, accept)
	if err != nil {
		fmt.Fprintf(stderr, "tuxboot %s: %v\n", cmd, err)
		return exitCode(err)
	}
	defer resp.Body.Close()
	if _, err := io.Copy(stdout, resp.Body); err != nil {
		fmt.Fprintf(stderr, "tuxboot %s: %v\n", cmd, err)
		return exitInfra
	}
	return exitPass
}

// logsMain is `tuxboot logs UID [--follow]`. With --follow it streams the
// console until the test ends and exits as `tuxboot run` would have.
func logsMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var follow bool
	c, uid, code := clientCommand("logs", "UID", args, stderr, func(fs *flag.FlagSet) {
		fs.BoolVar(&follow, "follow", false, "stream the log live until the test ends; exit as 'tuxboot run' would")
	})
	if code >= 0 {
		return code
	}
	if follow {
		if _, err := c.followLog(ctx, uid, stdout); err != nil {
			fmt.Fprintln(stderr, "tuxboot logs:", err)
			return exitCode(err)
		}
		v, err := c.status(ctx, uid)
		if err != nil {
			fmt.Fprintln(stderr, "tuxboot logs:", err)
			return exitCode(err)
		}
		return viewExitCode(v)
	}
	return c.print(ctx, "logs", "/"+url.PathEscape(uid)+"/logs", "text/plain", stdout, stderr)
}

// cancelMain is `tuxboot cancel UID`.
func cancelMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c, uid, code := clientCommand("cancel", "UID", args, stderr, nil)
	if code >= 0 {
		return code
	}
	var v api.View
	if err := c.getJSON(ctx, "POST", "/"+url.PathEscape(uid)+"/cancel", nil, &v); err != nil {
		var ae *apiError
		if errors.As(err, &ae) && ae.status == http.StatusConflict {
			fmt.Fprintf(stderr, "tuxboot cancel: %s had already finished\n", uid)
			return exitBadRequest
		}
		fmt.Fprintln(stderr, "tuxboot cancel:", err)
		return exitCode(err)
	}
	fmt.Fprintf(stdout, "%s: cancel requested (%s)\n", v.UID, v.State)
	return exitPass
}
