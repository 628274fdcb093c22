package api

import (
	"fmt"
	"net/http/httptest"
	"testing"

	"github.com/tuxboot/tuxboot/controller/store"
	"github.com/tuxboot/tuxboot/runner/boot"
)

// TestPlanResultIsTheWorst: a finished plan's result is the worst of its
// tests' (error or canceled, then fail, then pass), wherever it stands
// in the plan; an unfinished plan has none.
func TestPlanResultIsTheWorst(t *testing.T) {
	tests := []struct {
		name    string
		results []string // "" for a test still queued
		want    string
	}{
		{"all pass", []string{boot.Pass, boot.Pass}, boot.Pass},
		{"one fail", []string{boot.Pass, boot.Fail, boot.Pass}, boot.Fail},
		{"fail before error", []string{boot.Fail, boot.Error}, boot.Error},
		{"error before fail", []string{boot.Error, boot.Fail}, boot.Error},
		{"fail before canceled", []string{boot.Pass, boot.Fail, store.Canceled}, store.Canceled},
		{"error before canceled: the first of equals", []string{boot.Error, store.Canceled}, boot.Error},
		{"canceled before error: the first of equals", []string{store.Canceled, boot.Error}, store.Canceled},
		{"unknown result counts as an error", []string{boot.Fail, "weird"}, "weird"},
		{"not finished", []string{boot.Fail, ""}, ""},
	}
	s := &Server{}
	r := httptest.NewRequest("GET", "/", nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pr := &planRecord{UID: "P", Group: "lab", Project: "kernel", Version: PlanVersion, Name: "p"}
			var recs []*store.Record
			for i, res := range tt.results {
				rec := store.NewQueued(fmt.Sprint("T", i), "lab", "kernel", boot.Request{Device: "qemu-arm64", Kernel: "http://h/k"})
				if res != "" {
					rec.Finish(res, nil)
				}
				recs = append(recs, rec)
			}
			v := s.planView(r, pr, recs)
			if v.Result != tt.want {
				t.Errorf("plan of %q: result %q, want %q", tt.results, v.Result, tt.want)
			}
			if finished := tt.want != ""; (v.State == StateFinished) != finished {
				t.Errorf("plan of %q: state %s", tt.results, v.State)
			}
		})
	}
}
