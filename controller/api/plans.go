package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
	"sigs.k8s.io/yaml"

	"github.com/tuxboot/tuxboot/controller/store"
	"github.com/tuxboot/tuxboot/runner/boot"
)

// PlanVersion is the plan format this API reads.
const PlanVersion = 1

// MaxPlanTests bounds the tests one plan expands to: a typo in a matrix
// must not queue thousands of boots.
const MaxPlanTests = 500

// Plan is a set of tests submitted together.
type Plan struct {
	Version int        `json:"version"`
	Name    string     `json:"name"`
	Tests   []PlanTest `json:"tests"`
}

// PlanTest is a request, or with Devices and/or Kernels a matrix of
// requests: each device with each kernel, the other fields shared.
type PlanTest struct {
	boot.Request
	Devices []string `json:"devices,omitempty"`
	Kernels []string `json:"kernels,omitempty"`
}

// size is how many requests the plan test stands for, counted without
// making them: a 256 KiB body can name a matrix of billions.
func (t PlanTest) size() int {
	return max(1, len(t.Devices)) * max(1, len(t.Kernels))
}

// expand returns the requests a plan test stands for.
func (t PlanTest) expand() []boot.Request {
	devices, kernels := t.Devices, t.Kernels
	if len(devices) == 0 {
		devices = []string{t.Device}
	}
	if len(kernels) == 0 {
		kernels = []string{t.Kernel}
	}
	var out []boot.Request
	for _, d := range devices {
		for _, k := range kernels {
			r := t.Request
			r.Device, r.Kernel = d, k
			out = append(out, r)
		}
	}
	return out
}

// planRecord is what is kept of a plan, in the object store.
type planRecord struct {
	UID         string    `json:"uid"`
	Group       string    `json:"group"`
	Project     string    `json:"project"`
	Version     int       `json:"version"`
	Name        string    `json:"name"`
	Tests       []string  `json:"tests"`
	SubmittedAt time.Time `json:"submitted_at"`
}

// PlanView is a plan as the API shows it.
type PlanView struct {
	UID         string    `json:"uid"`
	Group       string    `json:"group"`
	Project     string    `json:"project"`
	Version     int       `json:"version"`
	Name        string    `json:"name"`
	State       string    `json:"state"`
	Result      string    `json:"result,omitempty"`
	SubmittedAt time.Time `json:"submitted_at"`
	Tests       []View    `json:"tests"`
	URL         string    `json:"url"`
}

func planObject(uid string) string { return "plans/" + uid + ".json" }

func (s *Server) submitPlan(w http.ResponseWriter, r *http.Request) {
	group, project := r.PathValue("group"), r.PathValue("project")
	if !nameRE.MatchString(group) || !nameRE.MatchString(project) {
		writeError(w, http.StatusBadRequest, "invalid group or project name")
		return
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	isYAML := false
	switch ct {
	case "", "application/json":
	case "application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml":
		isYAML = true
	default:
		writeError(w, http.StatusUnsupportedMediaType, "a plan is JSON (application/json) or YAML (application/yaml), not "+ct)
		return
	}
	body, ok := readBody(w, r, "plan")
	if !ok {
		return
	}
	if isYAML {
		// Through JSON, so both forms share one strict decoder: a
		// misspelt field is refused in YAML as in JSON.
		var err error
		if body, err = yaml.YAMLToJSONStrict(body); err != nil {
			writeError(w, http.StatusBadRequest, "invalid plan", "body: "+err.Error())
			return
		}
	}
	var plan Plan
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&plan); err != nil {
		writeError(w, http.StatusBadRequest, "invalid plan", "body: "+err.Error())
		return
	}
	if _, err := dec.Token(); err != io.EOF {
		writeError(w, http.StatusBadRequest, "invalid plan", "body: more than one JSON value")
		return
	}
	var reasons []string
	if plan.Version != PlanVersion {
		reasons = append(reasons, fmt.Sprintf("version: %d is not supported (want %d)", plan.Version, PlanVersion))
	}
	if plan.Name == "" || len(plan.Name) > 256 {
		reasons = append(reasons, "name: is required, at most 256 bytes")
	}
	if len(plan.Tests) == 0 {
		reasons = append(reasons, "tests: at least one is required")
	}
	// The size is bounded before any test is expanded or validated, so a
	// huge matrix costs neither memory nor a reason per test.
	total := 0
	for _, t := range plan.Tests {
		total += t.size() // under 2^32 within the body limit: no overflow
	}
	tests := plan.Tests
	if total > MaxPlanTests {
		reasons = append(reasons, fmt.Sprintf("tests: the plan expands to %d tests, more than %d", total, MaxPlanTests))
		tests = nil
	}
	var reqs []boot.Request
	for i, t := range tests {
		if t.Device != "" && len(t.Devices) > 0 {
			reasons = append(reasons, fmt.Sprintf("tests[%d]: device and devices are exclusive", i))
		}
		if t.Kernel != "" && len(t.Kernels) > 0 {
			reasons = append(reasons, fmt.Sprintf("tests[%d]: kernel and kernels are exclusive", i))
		}
		for _, req := range t.expand() {
			for _, e := range serverChosen(&req) {
				reasons = append(reasons, fmt.Sprintf("tests[%d]: %s", i, e))
			}
			if req.APIVersion == "" {
				req.APIVersion = boot.APIVersion
			}
			var errs []string
			if err := req.Validate(); err != nil {
				errs = append(errs, splitJoined(err)...)
			}
			if s.Validate != nil {
				if err := s.Validate(&req); err != nil {
					errs = append(errs, splitJoined(err)...)
				}
			}
			kernel := req.Kernel // as written, before it is resolved
			errs = append(errs, s.checkArtefacts(&req)...)
			for _, e := range errs {
				reasons = append(reasons, fmt.Sprintf("tests[%d] (%s, %s): %s", i, req.Device, kernel, e))
			}
			reqs = append(reqs, req)
		}
	}
	if len(reasons) > 0 {
		writeError(w, http.StatusBadRequest, "invalid plan", reasons...)
		return
	}

	// Every test is valid: only now is any of them queued.
	ctx := r.Context()
	pr := planRecord{UID: nuid.Next(), Group: group, Project: project, Version: plan.Version, Name: plan.Name, SubmittedAt: time.Now().UTC()}
	var recs []*store.Record
	for _, req := range reqs {
		rec, err := s.enqueue(ctx, group, project, req)
		if err != nil {
			writeError(w, http.StatusServiceUnavailable, fmt.Sprintf("plan %s: %d of %d tests queued: %v", pr.UID, len(recs), len(reqs), err))
			return
		}
		recs = append(recs, rec)
		pr.Tests = append(pr.Tests, rec.ID)
	}
	data, _ := json.Marshal(pr)
	if _, err := s.Queue.Objects.PutBytes(ctx, planObject(pr.UID), data); err != nil {
		writeError(w, http.StatusServiceUnavailable, "cannot store the plan: "+err.Error())
		return
	}
	s.Log.Info().Str("plan", pr.UID).Str("name", pr.Name).Int("tests", len(recs)).Msg("plan queued")
	writeJSON(w, http.StatusCreated, s.planView(r, &pr, recs))
}

func (s *Server) getPlan(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if !nameRE.MatchString(r.PathValue("uid")) {
		writeError(w, http.StatusNotFound, "no such plan")
		return
	}
	data, err := s.Queue.Objects.GetBytes(ctx, planObject(r.PathValue("uid")))
	var pr planRecord
	if err == nil {
		err = json.Unmarshal(data, &pr)
	}
	if errors.Is(err, jetstream.ErrObjectNotFound) || (err == nil && (pr.Group != r.PathValue("group") || pr.Project != r.PathValue("project"))) {
		writeError(w, http.StatusNotFound, "no such plan")
		return
	}
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "cannot read the plan: "+err.Error())
		return
	}
	var recs []*store.Record
	for _, id := range pr.Tests {
		rec, err := s.st.Get(ctx, id)
		if err != nil {
			writeError(w, http.StatusServiceUnavailable, err.Error())
			return
		}
		recs = append(recs, rec)
	}
	writeJSON(w, http.StatusOK, s.planView(r, &pr, recs))
}

// severity ranks a result for a plan's: a pass, then a failure, then
// an error or a cancel (what `tuxboot plan --wait` exits 3 for); a
// result this API does not know counts as an error. A plan's result is
// shown only once every test has finished.
func severity(result string) int {
	switch result {
	case "": // not finished
		return -1
	case boot.Pass:
		return 0
	case boot.Fail:
		return 1
	}
	return 2
}

// planView sums the plan's tests up: finished once all are, passing
// if all pass, otherwise the worst result (the first of equals).
func (s *Server) planView(r *http.Request, pr *planRecord, recs []*store.Record) PlanView {
	v := PlanView{UID: pr.UID, Group: pr.Group, Project: pr.Project, Version: pr.Version, Name: pr.Name,
		SubmittedAt: pr.SubmittedAt, Tests: []View{}, State: StateFinished, Result: boot.Pass,
		URL: fmt.Sprintf("/v1/groups/%s/projects/%s/plans/%s", pr.Group, pr.Project, pr.UID)}
	running := false
	for _, rec := range recs {
		tv := s.view(r.Context(), rec, false)
		v.Tests = append(v.Tests, tv)
		switch tv.State {
		case StateRunning:
			running = true
			v.State = StateRunning
		case StateProvisioning:
			if !running {
				v.State = StateProvisioning
			}
		}
		if severity(tv.Result) > severity(v.Result) {
			v.Result = tv.Result
		}
	}
	if v.State != StateFinished {
		v.Result = ""
	}
	return v
}
