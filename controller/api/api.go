// Package api is TuxBoot's HTTP API, TuxSuite-style: tests are submitted,
// looked at, read and canceled under /v1/groups/{group}/projects/{project}.
// It talks only to NATS (the state bucket, the queue, the object store),
// so it may run beside a controller or on its own.
package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
	"github.com/rs/zerolog"

	"github.com/tuxboot/tuxboot/controller/queue"
	"github.com/tuxboot/tuxboot/controller/store"
	"github.com/tuxboot/tuxboot/runner/boot"
)

// Validator checks a request beyond its form (for example, that its
// device exists). It returns an error to show the client.
type Validator func(req *boot.Request) error

// Server serves the API.
type Server struct {
	Queue *queue.Queue
	// Validate, if set, runs after the request's own Validate.
	Validate Validator
	// Tokens, if set, are required on every /v1 route, each valid for
	// one group only.
	Tokens Tokens
	// ArtefactDirs are the directories a request's local artefacts
	// (paths, file:// URLs) must lie under, symlinks resolved; without
	// any, local artefacts are refused (see artefacts.go).
	ArtefactDirs []string
	Log          zerolog.Logger
	st           *store.Store

	metrics *metrics
}

// API states, as TuxSuite names them.
const (
	StateProvisioning = "provisioning"
	StateRunning      = "running"
	StateFinished     = "finished"
)

// nameRE is what group and project names may be: they become part of no
// subject or key, but stay printable and short.
var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// Handler returns the API's routes, counted in /metrics.
func (s *Server) Handler() http.Handler {
	s.st = &store.Store{KV: s.Queue.State}
	s.metrics = newMetrics()
	mux := http.NewServeMux()
	for _, rt := range s.routes() {
		mux.HandleFunc(rt.Method+" "+rt.Path, rt.handler)
	}
	// A web page must not submit or cancel tests through its visitor's
	// browser (an API without tokens listens on loopback, which a browser
	// reaches): cross-origin browser requests that change anything are
	// refused; clients that are not browsers send no Sec-Fetch-Site or
	// Origin header and pass.
	csrf := http.NewCrossOriginProtection()
	csrf.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusForbidden, "cross-origin request refused: a web page may not act on this API")
	}))
	return s.metrics.count(csrf.Handler(jsonErrors(mux)))
}

// jsonErrors serves mux, but answers a request no route matches, by path
// (404) or by method (405, with its Allow header), with a JSON error as
// every other error is, instead of the mux's plain text.
func jsonErrors(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, pattern := mux.Handler(r)
		if pattern != "" {
			mux.ServeHTTP(w, r)
			return
		}
		// The mux's own answer says which: its status and Allow header.
		rec := &headerRecorder{header: http.Header{}, code: http.StatusOK}
		h.ServeHTTP(rec, r)
		msg := "no such route: " + r.URL.Path
		if rec.code == http.StatusMethodNotAllowed {
			allow := rec.header.Get("Allow")
			w.Header().Set("Allow", allow)
			msg = fmt.Sprintf("method %s not allowed on %s (allowed: %s)", r.Method, r.URL.Path, allow)
		} else if rec.code != http.StatusNotFound {
			msg = http.StatusText(rec.code)
		}
		writeError(w, rec.code, msg)
	})
}

// headerRecorder keeps a response's header and status, and drops its body.
type headerRecorder struct {
	header http.Header
	code   int
}

func (h *headerRecorder) Header() http.Header         { return h.header }
func (h *headerRecorder) WriteHeader(code int)        { h.code = code }
func (h *headerRecorder) Write(p []byte) (int, error) { return len(p), nil }

// route is one route, served and described in /v1/openapi.json from the
// same table, so the description cannot drift from what is served.
type route struct {
	Method, Path, Summary string
	// Auth says the route needs a token of the path's group (with --tokens).
	Auth bool
	// Body is the component schema of the request body, if any. Reply is
	// what a success answers: Code, of media type ReplyType (JSON if
	// empty), with the component schema Reply (or a string if empty).
	Body      string
	Code      int
	ReplyType string
	Reply     string
	handler   http.HandlerFunc
}

func (s *Server) routes() []route {
	const project = "/v1/groups/{group}/projects/{project}"
	const base = project + "/tests"
	rec := func(h func(http.ResponseWriter, *http.Request, *store.Record)) http.HandlerFunc {
		return s.authorized(s.withRecord(h))
	}
	return []route{
		{"POST", base, "Submit a boot request; 201 with the status object", true, "Submission", 201, "", "Status", s.authorized(s.submit)},
		{"GET", base, "List tests, newest first; filters state, result, device; paging limit, cursor", true, "", 200, "", "TestList", s.authorized(s.list)},
		{"GET", base + "/{uid}", "A test's status object", true, "", 200, "", "Status", rec(s.get)},
		{"GET", base + "/{uid}/logs", "Console log; live Server-Sent Events with Accept: text/event-stream", true, "", 200, "text/plain", "", rec(s.logs)},
		{"GET", base + "/{uid}/results", "results.json of a finished test", true, "", 200, "", "Results", rec(s.results)},
		{"GET", base + "/{uid}/events", "Events as JSON lines; follow=1 until finished", true, "", 200, "application/x-ndjson", "Event", rec(s.events)},
		{"GET", base + "/{uid}/reproducer", "Shell script reproducing the boot with tuxboot run, artefacts pinned by sha256", true, "", 200, "text/x-shellscript", "", rec(s.reproducer)},
		{"POST", base + "/{uid}/cancel", "Cancel a test; 202, or 409 if it had finished", true, "", 202, "", "Status", rec(s.cancel)},
		{"POST", project + "/plans", "Submit a plan (version, name, tests; devices x kernels matrices), JSON or YAML; 201 with the plan", true, "Plan", 201, "", "PlanStatus", s.authorized(s.submitPlan)},
		{"GET", project + "/plans/{uid}", "A plan and its tests' status objects", true, "", 200, "", "PlanStatus", s.authorized(s.getPlan)},
		{"GET", project + "/keys", "The Ed25519 public key callbacks are signed with", true, "", 200, "", "Keys", s.authorized(s.keys)},
		{"GET", "/healthz", "Liveness: NATS connected", false, "", 200, "text/plain", "", s.healthz},
		{"GET", "/readyz", "Readiness: NATS connected and the state bucket and request stream answer", false, "", 200, "text/plain", "", s.readyz},
		{"GET", "/metrics", "Prometheus metrics", false, "", 200, "text/plain", "", s.serveMetrics},
		{"GET", "/v1/openapi.json", "This description", false, "", 200, "", "", s.openapi},
	}
}

// Submission is the body of POST .../tests: a request, and where to
// post the status object once the test has finished.
type Submission struct {
	boot.Request
	Callback string `json:"callback,omitempty"`
}

// View is a test as the API shows it (TuxSuite's status object).
type View struct {
	UID         string          `json:"uid"`
	Group       string          `json:"group"`
	Project     string          `json:"project"`
	State       string          `json:"state"`
	Result      string          `json:"result,omitempty"`
	Failure     *boot.Failure   `json:"failure,omitempty"`
	Device      string          `json:"device"`
	Request     boot.Request    `json:"request"`
	Attempts    []store.Attempt `json:"attempts"`
	SubmittedAt time.Time       `json:"submitted_at"`
	UpdatedAt   time.Time       `json:"updated_at"`
	// TestResults is each test's result by name, "boot" always among
	// them once finished, as TuxSuite's "results" object.
	TestResults map[string]string `json:"results"`
	// Retries counts attempts beyond the first; RetryMessages says why
	// each earlier attempt did not stand.
	Retries       int      `json:"retries"`
	RetryMessages []string `json:"retries_messages"`
	// Times of the state changes; running and finished are null until reached.
	ProvisioningTime time.Time  `json:"provisioning_time"`
	RunningTime      *time.Time `json:"running_time"`
	FinishedTime     *time.Time `json:"finished_time"`
	// Duration is seconds from running to finished (or to now while running).
	Duration int64 `json:"duration"`
	// Results is results.json, once the test has finished.
	Results *boot.Result `json:"results_json,omitempty"`
	URL     string       `json:"url"`
	Links   Links        `json:"links"`
}

// Links are the URLs of a test's documents.
type Links struct {
	Self       string `json:"self"`
	Logs       string `json:"logs"`
	Results    string `json:"results"`
	Events     string `json:"events"`
	Reproducer string `json:"reproducer"`
}

type apiError struct {
	Error  string   `json:"error"`
	Reason []string `json:"reason,omitempty"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string, reasons ...string) {
	writeJSON(w, code, apiError{Error: msg, Reason: reasons})
}

// readBody reads a request body of at most a queue message's size, or
// answers why not; what ("request", "plan") names it in the answer.
func readBody(w http.ResponseWriter, r *http.Request, what string) ([]byte, bool) {
	body, err := io.ReadAll(io.LimitReader(r.Body, queue.MaxRequestBytes+1))
	if err != nil {
		writeError(w, http.StatusBadRequest, "cannot read the "+what+": "+err.Error())
		return nil, false
	}
	if len(body) > queue.MaxRequestBytes {
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("a %s is at most %d bytes", what, queue.MaxRequestBytes))
		return nil, false
	}
	return body, true
}

func (s *Server) submit(w http.ResponseWriter, r *http.Request) {
	group, project := r.PathValue("group"), r.PathValue("project")
	if !nameRE.MatchString(group) || !nameRE.MatchString(project) {
		writeError(w, http.StatusBadRequest, "invalid group or project name")
		return
	}
	body, ok := readBody(w, r, "request")
	if !ok {
		return
	}
	var sub Submission
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields() // a misspelt field is a mistake to point out, not to ignore
	if err := dec.Decode(&sub); err != nil {
		writeError(w, http.StatusBadRequest, "invalid request", "body: "+err.Error())
		return
	}
	if _, err := dec.Token(); err != io.EOF {
		writeError(w, http.StatusBadRequest, "invalid request", "body: more than one JSON value")
		return
	}
	req := sub.Request
	if reasons := serverChosen(&req); len(reasons) > 0 {
		writeError(w, http.StatusBadRequest, "invalid request", reasons...)
		return
	}
	if req.APIVersion == "" {
		req.APIVersion = boot.APIVersion
	}
	var reasons []string
	if err := req.Validate(); err != nil {
		reasons = append(reasons, splitJoined(err)...)
	}
	if s.Validate != nil {
		if err := s.Validate(&req); err != nil {
			reasons = append(reasons, splitJoined(err)...)
		}
	}
	reasons = append(reasons, s.checkArtefacts(&req)...)
	if sub.Callback != "" {
		if err := checkCallback(sub.Callback); err != nil {
			reasons = append(reasons, "callback: "+err.Error())
		}
	}
	if len(reasons) > 0 {
		writeError(w, http.StatusBadRequest, "invalid request", reasons...)
		return
	}
	req.ID = nuid.Next()
	if sub.Callback != "" {
		// Stored before the test is queued, so it is there when it finishes.
		if _, err := s.Queue.Objects.PutBytes(r.Context(), callbackObject(req.ID), []byte(sub.Callback)); err != nil {
			writeError(w, http.StatusServiceUnavailable, "cannot store the callback: "+err.Error())
			return
		}
	}
	rec, err := s.enqueue(r.Context(), group, project, req)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	writeJSON(w, http.StatusCreated, s.view(r.Context(), rec, false))
}

// serverChosen refuses the request fields a client of the API may not
// set: the id, and the QEMU binary, which would let any client run a
// program of its choosing on the server (`tuxboot run --qemu-binary`
// remains for local boots).
func serverChosen(req *boot.Request) []string {
	var reasons []string
	if req.ID != "" {
		reasons = append(reasons, "id: is chosen by the server; leave it out")
	}
	if req.QEMUBinary != "" {
		reasons = append(reasons, "qemu_binary: is chosen by the server from the device table; leave it out")
	}
	return reasons
}

// enqueue stores a valid request's record and queues it.
func (s *Server) enqueue(ctx context.Context, group, project string, req boot.Request) (*store.Record, error) {
	if req.ID == "" {
		req.ID = nuid.Next()
	}
	rec := store.NewQueued(req.ID, group, project, req)
	if err := s.st.Create(ctx, rec); err != nil {
		s.Log.Error().Err(err).Msg("store request")
		return nil, fmt.Errorf("cannot store the request: %w", err)
	}
	s.Queue.Publisher(req.ID, 0, queue.SourceController).State(ctx, store.Queued, "")
	data, _ := json.Marshal(req)
	if err := s.Queue.SubmitRequest(ctx, req.ID, data); err != nil {
		s.Log.Error().Err(err).Str("id", req.ID).Msg("queue request")
		// Never queued: say so in its record too.
		s.st.Update(context.WithoutCancel(ctx), req.ID, func(r *store.Record) (bool, error) {
			r.Finish(boot.Error, &boot.Failure{Kind: boot.FailInfra, Title: "could not queue the request", Message: err.Error()})
			return true, nil
		})
		return nil, fmt.Errorf("cannot queue the request: %w", err)
	}
	s.Log.Info().Str("id", req.ID).Str("group", group).Str("project", project).Str("device", req.Device).Msg("queued")
	return rec, nil
}

// splitJoined turns errors.Join's errors into separate reasons, each
// "field: reason" for a validation error.
func splitJoined(err error) []string {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []string
		for _, e := range j.Unwrap() {
			out = append(out, splitJoined(e)...)
		}
		return out
	}
	var ve *boot.ValidationError
	if errors.As(err, &ve) {
		return []string{ve.Field + ": " + ve.Reason}
	}
	return []string{strings.TrimSpace(err.Error())}
}

// withRecord looks the test up, in its group and project.
func (s *Server) withRecord(h func(http.ResponseWriter, *http.Request, *store.Record)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		rec, err := s.st.Get(r.Context(), r.PathValue("uid"))
		if errors.Is(err, store.ErrNotFound) || (err == nil && (rec.Group != r.PathValue("group") || rec.Project != r.PathValue("project"))) {
			writeError(w, http.StatusNotFound, "no such test")
			return
		}
		if err != nil {
			writeError(w, http.StatusServiceUnavailable, err.Error())
			return
		}
		h(w, r, rec)
	}
}

func apiState(state string) string {
	switch state {
	case store.Running:
		return StateRunning
	case store.Finished:
		return StateFinished
	default:
		return StateProvisioning
	}
}

func (s *Server) view(ctx context.Context, rec *store.Record, withResults bool) View {
	self := fmt.Sprintf("/v1/groups/%s/projects/%s/tests/%s", rec.Group, rec.Project, rec.ID)
	v := View{UID: rec.ID, Group: rec.Group, Project: rec.Project, State: apiState(rec.State),
		Result: rec.Result, Failure: rec.Failure, Device: rec.Request.Device, Request: rec.Request,
		Attempts: rec.Attempts, SubmittedAt: rec.SubmittedAt, UpdatedAt: rec.UpdatedAt,
		TestResults: map[string]string{}, RetryMessages: []string{},
		ProvisioningTime: rec.SubmittedAt, URL: self,
		Links: Links{Self: self, Logs: self + "/logs", Results: self + "/results", Events: self + "/events", Reproducer: self + "/reproducer"}}
	if v.Attempts == nil {
		v.Attempts = []store.Attempt{}
	}
	if n := len(rec.Attempts); n > 0 {
		v.Retries = n - 1
		for _, a := range rec.Attempts[:n-1] {
			msg := fmt.Sprintf("attempt %d: %s", a.N, a.Result)
			if a.Failure != nil {
				msg += ": " + a.Failure.Title
			}
			v.RetryMessages = append(v.RetryMessages, msg)
		}
		started := rec.Attempts[0].StartedAt
		v.RunningTime = &started
	}
	end := time.Now().UTC()
	if rec.State == store.Finished {
		end = rec.UpdatedAt
		if a := rec.Last(); a != nil && a.FinishedAt != nil {
			end = *a.FinishedAt
		}
		v.FinishedTime = &end
		v.TestResults["boot"] = rec.Result
	}
	if v.RunningTime != nil && end.After(*v.RunningTime) {
		v.Duration = int64(end.Sub(*v.RunningTime).Seconds())
	}
	if withResults && rec.ResultObject != "" {
		if data, err := s.Queue.Objects.GetBytes(ctx, rec.ResultObject); err == nil {
			var res boot.Result
			if json.Unmarshal(data, &res) == nil {
				v.Results = &res
				if res.Failure != nil && res.Failure.Kind == boot.FailTest {
					v.TestResults["boot"] = boot.Pass // booted; a test failed
				}
				for _, t := range res.Tests {
					v.TestResults[t.Suite+"/"+t.Name] = t.Result
				}
			}
		}
	}
	return v
}

func (s *Server) get(w http.ResponseWriter, r *http.Request, rec *store.Record) {
	writeJSON(w, http.StatusOK, s.view(r.Context(), rec, rec.State == store.Finished))
}

func (s *Server) results(w http.ResponseWriter, r *http.Request, rec *store.Record) {
	if rec.State == store.Finished && rec.ResultObject == "" && rec.Result == store.Canceled {
		writeError(w, http.StatusNotFound, "canceled before it ran: no results")
		return
	}
	if rec.State != store.Finished || rec.ResultObject == "" {
		writeError(w, http.StatusNotFound, "no results yet: the test is "+apiState(rec.State))
		return
	}
	data, err := s.Queue.Objects.GetBytes(r.Context(), rec.ResultObject)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "cannot read results.json: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(data)
}

// logs serves the stored console.log of a finished test, or what the
// live stream of the current attempt has so far.
func (s *Server) logs(w http.ResponseWriter, r *http.Request, rec *store.Record) {
	if wantsEventStream(r) {
		s.logStream(w, r, rec)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if rec.LogObject != "" {
		obj, err := s.Queue.Objects.Get(r.Context(), rec.LogObject)
		if err != nil {
			writeError(w, http.StatusServiceUnavailable, "cannot read the log: "+err.Error())
			return
		}
		defer obj.Close()
		io.Copy(w, obj)
		return
	}
	a := rec.Last()
	if a == nil {
		return // nothing ran yet: an empty log
	}
	want := fmt.Sprint(a.N)
	s.Queue.Follow(r.Context(), []string{queue.LogSubject(rec.ID)}, false, func(m jetstream.Msg) bool {
		if m.Headers().Get(queue.HeaderAttempt) == want {
			w.Write(m.Data())
		}
		return false
	})
}

// events streams the test's events as JSON lines; with ?follow=1 it goes
// on until the test has finished.
func (s *Server) events(w http.ResponseWriter, r *http.Request, rec *store.Record) {
	follow := r.URL.Query().Get("follow") != "" && r.URL.Query().Get("follow") != "0"
	w.Header().Set("Content-Type", "application/x-ndjson")
	flusher, _ := w.(http.Flusher)
	if follow && rec.State == store.Finished {
		follow = false // all there is, is stored
	}
	s.Queue.Follow(r.Context(), []string{queue.EventSubject(rec.ID)}, follow, func(m jetstream.Msg) bool {
		w.Write(append(bytes.TrimSpace(m.Data()), '\n'))
		if flusher != nil {
			flusher.Flush()
		}
		var ev boot.Event
		json.Unmarshal(m.Data(), &ev)
		return ev.Type == boot.EventState && ev.State == store.Finished
	})
}

// cancel cancels a test: a queued one at once, a running one by telling
// its controller, which stops the runner and finishes it as canceled.
func (s *Server) cancel(w http.ResponseWriter, r *http.Request, rec *store.Record) {
	ctx := r.Context()
	var finishedNow bool
	rec, err := s.st.Update(ctx, rec.ID, func(rec *store.Record) (bool, error) {
		finishedNow = false
		switch {
		case rec.State == store.Finished:
			return false, nil
		case rec.State == store.Queued:
			rec.CancelRequested = true
			rec.Finish(store.Canceled, &boot.Failure{Kind: boot.FailInterrupted, Title: "canceled while queued"})
			finishedNow = true
			return true, nil
		case rec.CancelRequested:
			return false, nil
		}
		rec.CancelRequested = true
		return true, nil
	})
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	if rec.State == store.Finished && !finishedNow {
		writeJSON(w, http.StatusConflict, s.view(ctx, rec, true))
		return
	}
	if finishedNow {
		// Announced once (by message ID), as the controller does.
		s.Queue.PublishFinished(ctx, rec.ID, rec.Result)
	} else {
		s.Queue.NC.Publish(queue.CancelSubject(rec.ID), nil)
	}
	s.Log.Info().Str("id", rec.ID).Msg("cancel requested")
	writeJSON(w, http.StatusAccepted, s.view(ctx, rec, false))
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	if st := s.Queue.NC.Status(); st != nats.CONNECTED {
		writeError(w, http.StatusServiceUnavailable, "NATS is "+st.String())
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	io.WriteString(w, "ok\n")
}
