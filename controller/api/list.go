package api

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/tuxboot/tuxboot/controller/store"
)

// Paging limits of the list.
const (
	DefaultListLimit = 50
	MaxListLimit     = 500
)

// List is a page of tests, newest first. Next, when set, is the cursor
// of the following page.
type List struct {
	Count   int    `json:"count"`
	Results []View `json:"results"`
	Next    string `json:"next,omitempty"`
}

// cursor marks the last test of a page: its submission time and ID, the
// order the list is sorted in, so a page never repeats nor skips a test
// even as new ones are submitted.
type cursor struct {
	at time.Time
	id string
}

func (c cursor) String() string {
	return base64.RawURLEncoding.EncodeToString([]byte(c.at.Format(time.RFC3339Nano) + " " + c.id))
}

func parseCursor(s string) (cursor, error) {
	data, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return cursor{}, fmt.Errorf("cursor: %w", err)
	}
	at, id, ok := strings.Cut(string(data), " ")
	if !ok {
		return cursor{}, errors.New("cursor: malformed")
	}
	t, err := time.Parse(time.RFC3339Nano, at)
	if err != nil {
		return cursor{}, fmt.Errorf("cursor: %w", err)
	}
	return cursor{at: t, id: id}, nil
}

// newer orders tests newest first, by ID among equal times.
func newer(a, b cursor) int {
	if c := b.at.Compare(a.at); c != 0 {
		return c
	}
	return strings.Compare(b.id, a.id)
}

// list lists the group's and project's tests, filtered by state, result
// and device, a page at a time. The state bucket is read in full: fine
// for the thousands of boots a bucket holds within the stream's max age.
func (s *Server) list(w http.ResponseWriter, r *http.Request) {
	group, project := r.PathValue("group"), r.PathValue("project")
	q := r.URL.Query()
	limit := DefaultListLimit
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > MaxListLimit {
			writeError(w, http.StatusBadRequest, "invalid query", fmt.Sprintf("limit: %q is not a number from 1 to %d", l, MaxListLimit))
			return
		}
		limit = n
	}
	var after *cursor
	if c := q.Get("cursor"); c != "" {
		cur, err := parseCursor(c)
		if err != nil {
			writeError(w, http.StatusBadRequest, "invalid query", err.Error())
			return
		}
		after = &cur
	}
	state, result, device := q.Get("state"), q.Get("result"), q.Get("device")
	var reasons []string
	switch state {
	case "", StateProvisioning, StateRunning, StateFinished:
	default:
		reasons = append(reasons, fmt.Sprintf("state: %q is not one of provisioning, running, finished", state))
	}
	switch result {
	case "", "pass", "fail", "error", store.Canceled:
	default:
		reasons = append(reasons, fmt.Sprintf("result: %q is not one of pass, fail, error, canceled", result))
	}
	for k := range q {
		switch k {
		case "state", "result", "device", "limit", "cursor":
		default:
			reasons = append(reasons, k+": unknown filter (known: state, result, device, limit, cursor)")
		}
	}
	if len(reasons) > 0 {
		slices.Sort(reasons)
		writeError(w, http.StatusBadRequest, "invalid query", reasons...)
		return
	}

	ctx := r.Context()
	keys, err := s.Queue.State.ListKeys(ctx)
	if errors.Is(err, jetstream.ErrNoKeysFound) {
		writeJSON(w, http.StatusOK, List{Results: []View{}})
		return
	}
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "cannot list tests: "+err.Error())
		return
	}
	var recs []*store.Record
	seen := map[string]bool{}
	for id := range keys.Keys() {
		if seen[id] {
			continue // a key may be listed twice while being written
		}
		seen[id] = true
		rec, err := s.st.Get(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			continue // deleted meanwhile
		}
		if err != nil {
			keys.Stop()
			writeError(w, http.StatusServiceUnavailable, "cannot list tests: "+err.Error())
			return
		}
		if rec.Group != group || rec.Project != project ||
			(state != "" && apiState(rec.State) != state) ||
			(result != "" && rec.Result != result) ||
			(device != "" && rec.Request.Device != device) {
			continue
		}
		if after != nil && newer(cursor{rec.SubmittedAt, rec.ID}, *after) <= 0 {
			continue
		}
		recs = append(recs, rec)
	}
	if err := ctx.Err(); err != nil {
		return
	}
	slices.SortFunc(recs, func(a, b *store.Record) int {
		return newer(cursor{a.SubmittedAt, a.ID}, cursor{b.SubmittedAt, b.ID})
	})
	page := List{Results: []View{}}
	if len(recs) > limit {
		last := recs[limit-1]
		page.Next = cursor{last.SubmittedAt, last.ID}.String()
		recs = recs[:limit]
	}
	for _, rec := range recs {
		page.Results = append(page.Results, s.view(ctx, rec, false))
	}
	page.Count = len(page.Results)
	writeJSON(w, http.StatusOK, page)
}
