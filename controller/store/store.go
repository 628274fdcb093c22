// Package store keeps each boot's current state in the JetStream KV
// bucket: its state, its attempts and where its result is. Every change is
// a compare-and-set on the entry's revision, so two writers (a controller
// and the API, or two controllers) never overwrite each other's decision.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/tuxboot/tuxboot/runner/boot"
)

// States of a boot, in order. finished is the only final state.
const (
	Queued    = "queued"    // accepted and waiting in the request stream
	Scheduled = "scheduled" // a controller claimed it and is starting a runner
	Running   = "running"   // a runner is booting it
	Finished  = "finished"  // it has its final result
)

// Canceled is the outcome of a boot canceled before it finished, beside
// boot.Pass, boot.Fail and boot.Error.
const Canceled = "canceled"

// Attempt is one runner's try at the boot.
type Attempt struct {
	N          int           `json:"n"`
	Owner      string        `json:"owner"` // the controller instance that ran it
	Executor   string        `json:"executor"`
	StartedAt  time.Time     `json:"started_at"`
	FinishedAt *time.Time    `json:"finished_at,omitempty"`
	Result     string        `json:"result,omitempty"` // pass, fail, error
	Failure    *boot.Failure `json:"failure,omitempty"`
}

// Record is a boot's entry in the state bucket.
type Record struct {
	ID              string        `json:"id"`
	Group           string        `json:"group,omitempty"`
	Project         string        `json:"project,omitempty"`
	State           string        `json:"state"`
	Result          string        `json:"result,omitempty"` // set when finished
	Failure         *boot.Failure `json:"failure,omitempty"`
	Request         boot.Request  `json:"request"`
	Attempts        []Attempt     `json:"attempts"`
	CancelRequested bool          `json:"cancel_requested,omitempty"`
	ResultObject    string        `json:"result_object,omitempty"` // results.json in the object store
	LogObject       string        `json:"log_object,omitempty"`    // console.log in the object store
	SubmittedAt     time.Time     `json:"submitted_at"`
	UpdatedAt       time.Time     `json:"updated_at"`

	Revision uint64 `json:"-"` // the KV revision this copy was read at
}

// Last returns the current attempt, or nil before the first.
func (r *Record) Last() *Attempt {
	if len(r.Attempts) == 0 {
		return nil
	}
	return &r.Attempts[len(r.Attempts)-1]
}

// ErrNotFound says a boot ID is not in the bucket.
var ErrNotFound = errors.New("no such boot")

// ErrConflict says the entry changed since it was read.
var ErrConflict = errors.New("boot state changed concurrently")

// Store reads and writes boot records.
type Store struct {
	KV jetstream.KeyValue
}

// Get reads a record.
func (s *Store) Get(ctx context.Context, id string) (*Record, error) {
	e, err := s.KV.Get(ctx, id)
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrInvalidKey) {
		return nil, fmt.Errorf("boot %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read boot %s: %w", id, err)
	}
	var r Record
	if err := json.Unmarshal(e.Value(), &r); err != nil {
		return nil, fmt.Errorf("decode boot %s: %w", id, err)
	}
	r.Revision = e.Revision()
	return &r, nil
}

// Create stores a new record; it fails if the ID exists.
func (s *Store) Create(ctx context.Context, r *Record) error {
	r.UpdatedAt = time.Now().UTC()
	data, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode boot %s: %w", r.ID, err)
	}
	rev, err := s.KV.Create(ctx, r.ID, data)
	if errors.Is(err, jetstream.ErrKeyExists) {
		return fmt.Errorf("create boot %s: %w", r.ID, ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("create boot %s: %w", r.ID, err)
	}
	r.Revision = rev
	return nil
}

// Update applies change to the current record and stores it if the
// record did not change meanwhile, re-reading and re-applying on a
// conflict. change returns false to leave the record as it is.
func (s *Store) Update(ctx context.Context, id string, change func(r *Record) (bool, error)) (*Record, error) {
	for {
		r, err := s.Get(ctx, id)
		if err != nil {
			return nil, err
		}
		ok, err := change(r)
		if err != nil || !ok {
			return r, err
		}
		r.UpdatedAt = time.Now().UTC()
		data, err := json.Marshal(r)
		if err != nil {
			return nil, fmt.Errorf("encode boot %s: %w", id, err)
		}
		rev, err := s.KV.Update(ctx, id, data, r.Revision)
		if errors.Is(err, jetstream.ErrKeyRevisionMismatch) || errors.Is(err, jetstream.ErrKeyExists) {
			continue // someone else decided first: decide again on what they wrote
		}
		if err != nil {
			return nil, fmt.Errorf("update boot %s: %w", id, err)
		}
		r.Revision = rev
		return r, nil
	}
}

// Finish makes the record final with an outcome (pass, fail, error or
// canceled) and the failure that decided it.
func (r *Record) Finish(result string, failure *boot.Failure) {
	r.State = Finished
	r.Result = result
	r.Failure = failure
}

// NewQueued is the record of a request just accepted.
func NewQueued(id, group, project string, req boot.Request) *Record {
	now := time.Now().UTC()
	return &Record{ID: id, Group: group, Project: project, State: Queued, Request: req,
		Attempts: []Attempt{}, SubmittedAt: now, UpdatedAt: now}
}
