package storagetest

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/mcp-authz/mcp-authz/storage"
)

// RunElicitations runs only the conformance tests of [storage.Elicitations], which [Run] runs
// among the rest. open is as for Run.
func RunElicitations(t *testing.T, open func(t *testing.T) storage.Store) {
	t.Helper()
	runTests(t, elicitationTests(), open)
}

// elicitation returns a pending elicitation, created now and expiring in ten minutes, with every
// field that a pending one has set.
func elicitation(id string) storage.Elicitation {
	now := time.Now()
	return storage.Elicitation{
		ID:        id,
		Resource:  "https://mcp.example/files",
		Subject:   "user-7f3a",
		ClientID:  "https://client.example/oauth/metadata.json",
		Kind:      "connect",
		Request:   []byte(`{"provider":"github","message":"Connect your GitHub account"}`),
		Status:    storage.ElicitationPending,
		CreatedAt: now,
		ExpiresAt: now.Add(10 * time.Minute),
	}
}

func checkElicitation(t *testing.T, want storage.Elicitation, got *storage.Elicitation) {
	t.Helper()
	if got == nil {
		t.Fatalf("elicitation %s: got nil", want.ID)
	}
	var d diff
	d.str("ID", want.ID, got.ID)
	d.str("Resource", want.Resource, got.Resource)
	d.str("Subject", want.Subject, got.Subject)
	d.str("ClientID", want.ClientID, got.ClientID)
	d.str("Kind", want.Kind, got.Kind)
	d.bytes("Request", want.Request, got.Request)
	d.str("Status", want.Status, got.Status)
	d.bytes("Result", want.Result, got.Result)
	d.time("CreatedAt", want.CreatedAt, got.CreatedAt)
	d.time("ExpiresAt", want.ExpiresAt, got.ExpiresAt)
	d.time("CompletedAt", want.CompletedAt, got.CompletedAt)
	d.bool("ResultTaken", want.ResultTaken, got.ResultTaken)
	d.report(t, "elicitation "+want.ID)
}

func createElicitation(t *testing.T, es storage.Elicitations, e storage.Elicitation) {
	t.Helper()
	wantErr(t, "CreateElicitation("+e.ID+")", es.CreateElicitation(t.Context(), e), nil)
}

func getElicitation(t *testing.T, es storage.Elicitations, id string) *storage.Elicitation {
	t.Helper()
	e, err := es.GetElicitation(t.Context(), id)
	if err != nil {
		t.Fatalf("GetElicitation(%s): %v", id, err)
	}
	return e
}

func wantNoElicitation(t *testing.T, es storage.Elicitations, id string) {
	t.Helper()
	_, err := es.GetElicitation(t.Context(), id)
	wantErr(t, "GetElicitation("+id+")", err, storage.ErrNotFound)
}

func complete(t *testing.T, es storage.Elicitations, id, status string, result []byte, at time.Time) {
	t.Helper()
	wantErr(t, "CompleteElicitation("+id+")", es.CompleteElicitation(t.Context(), id, status, result, at), nil)
}

func elicitationTests() []test {
	return []test{
		{"CreateElicitation and GetElicitation round-trip every field", func(t *testing.T, s storage.Store) {
			pending := elicitation("e1")
			createElicitation(t, s, pending)
			checkElicitation(t, pending, getElicitation(t, s, "e1"))

			// Every field set, as an elicitation that has run its course would have them.
			t0 := fixedTime()
			done := storage.Elicitation{
				ID:          "e2",
				Resource:    "https://mcp.example/admin",
				Subject:     "user-1",
				ClientID:    "client-1",
				Kind:        "confirm",
				Request:     []byte("{\"message\":\"Delete \\\"prod\\\"?\"}\n"),
				Status:      storage.ElicitationAccepted,
				Result:      []byte("sealed\x00\xffresult"),
				CreatedAt:   t0,
				ExpiresAt:   t0.Add(10 * time.Minute),
				CompletedAt: t0.Add(time.Minute),
				ResultTaken: true,
			}
			createElicitation(t, s, done)
			checkElicitation(t, done, getElicitation(t, s, "e2"))
			checkElicitation(t, pending, getElicitation(t, s, "e1"))
		}},
		{"CreateElicitation of an existing ID is ErrConflict", func(t *testing.T, s storage.Store) {
			orig := elicitation("e1")
			createElicitation(t, s, orig)
			again := elicitation("e1")
			again.Subject = "someone-else"
			wantErr(t, "CreateElicitation again", s.CreateElicitation(t.Context(), again), storage.ErrConflict)
			checkElicitation(t, orig, getElicitation(t, s, "e1"))
		}},
		{"GetElicitation returns expired ones, and ErrNotFound if none", func(t *testing.T, s storage.Store) {
			wantNoElicitation(t, s, "nope")
			old := elicitation("old")
			old.CreatedAt, old.ExpiresAt = time.Now().Add(-time.Hour), time.Now().Add(-time.Minute)
			createElicitation(t, s, old)
			checkElicitation(t, old, getElicitation(t, s, "old"))
		}},
		{"CompleteElicitation moves a pending one to each final state", func(t *testing.T, s storage.Store) {
			for i, status := range []string{storage.ElicitationAccepted, storage.ElicitationDeclined, storage.ElicitationCancelled} {
				id := fmt.Sprintf("e%d", i)
				e := elicitation(id)
				createElicitation(t, s, e)
				at := time.Now()
				result := []byte(fmt.Sprintf(`{"action":%q}`, status))
				complete(t, s, id, status, result, at)
				e.Status, e.Result, e.CompletedAt = status, result, at
				checkElicitation(t, e, getElicitation(t, s, id))
			}
			// With no result at all.
			e := elicitation("bare")
			createElicitation(t, s, e)
			at := time.Now()
			complete(t, s, "bare", storage.ElicitationDeclined, nil, at)
			e.Status, e.CompletedAt = storage.ElicitationDeclined, at
			checkElicitation(t, e, getElicitation(t, s, "bare"))
		}},
		{"CompleteElicitation of one no longer pending is ErrInactive", func(t *testing.T, s storage.Store) {
			e := elicitation("e1")
			createElicitation(t, s, e)
			at := time.Now()
			complete(t, s, "e1", storage.ElicitationAccepted, []byte("first"), at)
			for _, status := range []string{storage.ElicitationAccepted, storage.ElicitationDeclined, storage.ElicitationCancelled} {
				err := s.CompleteElicitation(t.Context(), "e1", status, []byte("second"), at.Add(time.Second))
				wantErr(t, "CompleteElicitation again as "+status, err, storage.ErrInactive)
			}
			e.Status, e.Result, e.CompletedAt = storage.ElicitationAccepted, []byte("first"), at
			checkElicitation(t, e, getElicitation(t, s, "e1"))
		}},
		{"CompleteElicitation at or after the expiry is ErrInactive", func(t *testing.T, s storage.Store) {
			// Whole microseconds, which every backend keeps exactly, so that "at the expiry" is
			// the same instant in the database.
			exp := time.Now().Add(time.Minute).Truncate(time.Microsecond)
			for _, id := range []string{"late", "on-time", "just-in-time"} {
				e := elicitation(id)
				e.ExpiresAt = exp
				createElicitation(t, s, e)
			}
			wantErr(t, "CompleteElicitation after the expiry",
				s.CompleteElicitation(t.Context(), "late", storage.ElicitationAccepted, nil, exp.Add(time.Second)), storage.ErrInactive)
			wantErr(t, "CompleteElicitation at the expiry",
				s.CompleteElicitation(t.Context(), "on-time", storage.ElicitationAccepted, nil, exp), storage.ErrInactive)
			complete(t, s, "just-in-time", storage.ElicitationAccepted, nil, exp.Add(-time.Microsecond))
			for _, id := range []string{"late", "on-time"} {
				if got := getElicitation(t, s, id); got.Status != storage.ElicitationPending || !got.CompletedAt.IsZero() {
					t.Errorf("%s after a refused completion: status %q, completed at %v", id, got.Status, got.CompletedAt)
				}
			}
			// The clock that counts is at, not the database's: an elicitation already expired by
			// the wall clock completes with an earlier at.
			old := elicitation("old")
			old.CreatedAt, old.ExpiresAt = time.Now().Add(-time.Hour), time.Now().Add(-time.Minute)
			createElicitation(t, s, old)
			complete(t, s, "old", storage.ElicitationCancelled, nil, time.Now().Add(-2*time.Minute))
		}},
		{"CompleteElicitation of none is ErrNotFound", func(t *testing.T, s storage.Store) {
			err := s.CompleteElicitation(t.Context(), "nope", storage.ElicitationAccepted, []byte("x"), time.Now())
			wantErr(t, "CompleteElicitation", err, storage.ErrNotFound)
			wantNoElicitation(t, s, "nope")
		}},
		{"CompleteElicitation to a state that is not final is ErrInvalid", func(t *testing.T, s storage.Store) {
			e := elicitation("e1")
			createElicitation(t, s, e)
			for _, status := range []string{storage.ElicitationPending, "", "done"} {
				err := s.CompleteElicitation(t.Context(), "e1", status, nil, time.Now())
				wantErr(t, fmt.Sprintf("CompleteElicitation as %q", status), err, storage.ErrInvalid)
			}
			checkElicitation(t, e, getElicitation(t, s, "e1"))
		}},
		{"TakeElicitationResult hands the result out once and erases it", func(t *testing.T, s storage.Store) {
			e := elicitation("e1")
			createElicitation(t, s, e)
			at := time.Now()
			result := []byte(`{"access_token":"secret"}`)
			complete(t, s, "e1", storage.ElicitationAccepted, result, at)

			got, err := s.TakeElicitationResult(t.Context(), "e1")
			wantErr(t, "TakeElicitationResult", err, nil)
			e.Status, e.Result, e.CompletedAt, e.ResultTaken = storage.ElicitationAccepted, result, at, true
			checkElicitation(t, e, got)

			_, err = s.TakeElicitationResult(t.Context(), "e1")
			wantErr(t, "TakeElicitationResult again", err, storage.ErrInactive)
			// The elicitation stays, its result does not.
			e.Result = nil
			checkElicitation(t, e, getElicitation(t, s, "e1"))
		}},
		{"TakeElicitationResult of a declined or cancelled one", func(t *testing.T, s storage.Store) {
			for _, status := range []string{storage.ElicitationDeclined, storage.ElicitationCancelled} {
				e := elicitation(status)
				createElicitation(t, s, e)
				at := time.Now()
				complete(t, s, status, status, nil, at)
				got, err := s.TakeElicitationResult(t.Context(), status)
				wantErr(t, "TakeElicitationResult of "+status, err, nil)
				e.Status, e.CompletedAt, e.ResultTaken = status, at, true
				checkElicitation(t, e, got)
				_, err = s.TakeElicitationResult(t.Context(), status)
				wantErr(t, "TakeElicitationResult of "+status+" again", err, storage.ErrInactive)
			}
		}},
		{"TakeElicitationResult of a pending one is ErrInactive, of none ErrNotFound", func(t *testing.T, s storage.Store) {
			e := elicitation("e1")
			createElicitation(t, s, e)
			_, err := s.TakeElicitationResult(t.Context(), "e1")
			wantErr(t, "TakeElicitationResult of a pending one", err, storage.ErrInactive)
			checkElicitation(t, e, getElicitation(t, s, "e1"))
			// It can still complete, and then be taken.
			complete(t, s, "e1", storage.ElicitationAccepted, []byte("r"), time.Now())
			if got, err := s.TakeElicitationResult(t.Context(), "e1"); err != nil || string(got.Result) != "r" {
				t.Fatalf("TakeElicitationResult after completion = %v, %v", got, err)
			}

			expired := elicitation("expired")
			expired.CreatedAt, expired.ExpiresAt = time.Now().Add(-time.Hour), time.Now().Add(-time.Minute)
			createElicitation(t, s, expired)
			_, err = s.TakeElicitationResult(t.Context(), "expired")
			wantErr(t, "TakeElicitationResult of an expired pending one", err, storage.ErrInactive)

			_, err = s.TakeElicitationResult(t.Context(), "nope")
			wantErr(t, "TakeElicitationResult of none", err, storage.ErrNotFound)
		}},
		{"TakeElicitationResult after the expiry of a completed one", func(t *testing.T, s storage.Store) {
			// The MCP server polls for the result after the user finished the page, possibly
			// after the elicitation's expiry.
			e := elicitation("e1")
			e.CreatedAt, e.ExpiresAt = time.Now().Add(-time.Hour), time.Now().Add(-time.Minute)
			createElicitation(t, s, e)
			at := time.Now().Add(-2 * time.Minute)
			complete(t, s, "e1", storage.ElicitationAccepted, []byte("r"), at)
			got, err := s.TakeElicitationResult(t.Context(), "e1")
			wantErr(t, "TakeElicitationResult", err, nil)
			e.Status, e.Result, e.CompletedAt, e.ResultTaken = storage.ElicitationAccepted, []byte("r"), at, true
			checkElicitation(t, e, got)
		}},
		{"DeleteExpired removes elicitations a day after their expiry", func(t *testing.T, s storage.Store) {
			now := time.Now()
			mk := func(id string, exp time.Time, status string) {
				e := elicitation(id)
				e.CreatedAt, e.ExpiresAt = exp.Add(-10*time.Minute), exp
				createElicitation(t, s, e)
				if status != storage.ElicitationPending {
					complete(t, s, id, status, []byte("r"), exp.Add(-time.Minute))
				}
			}
			mk("old-pending", now.Add(-elicitationRetained-time.Hour), storage.ElicitationPending)
			mk("old-accepted", now.Add(-elicitationRetained-time.Minute), storage.ElicitationAccepted)
			mk("recent-accepted", now.Add(-elicitationRetained+time.Hour), storage.ElicitationAccepted)
			mk("recent-pending", now.Add(-time.Minute), storage.ElicitationPending)
			mk("live", now.Add(time.Hour), storage.ElicitationPending)

			n, err := s.DeleteExpired(t.Context(), now)
			wantErr(t, "DeleteExpired", err, nil)
			if n != 2 {
				t.Errorf("DeleteExpired = %d, want 2", n)
			}
			wantNoElicitation(t, s, "old-pending")
			wantNoElicitation(t, s, "old-accepted")
			for _, id := range []string{"recent-accepted", "recent-pending", "live"} {
				getElicitation(t, s, id)
			}
			// A day and a bit later, every one of them is gone.
			n, err = s.DeleteExpired(t.Context(), now.Add(elicitationRetained+2*time.Hour))
			wantErr(t, "DeleteExpired later", err, nil)
			if n != 3 {
				t.Errorf("DeleteExpired later = %d, want 3", n)
			}
		}},
		{"elicitations over the size limits are ErrInvalid and not written", func(t *testing.T, s storage.Store) {
			ok := elicitation("ok")
			ok.Request = bytes.Repeat([]byte("q"), maxElicitationReq)
			createElicitation(t, s, ok)
			checkElicitation(t, ok, getElicitation(t, s, "ok"))
			big := bytes.Repeat([]byte("r"), maxElicitationRes)
			complete(t, s, "ok", storage.ElicitationAccepted, big, time.Now())
			if got, err := s.TakeElicitationResult(t.Context(), "ok"); err != nil || !bytes.Equal(got.Result, big) {
				t.Fatalf("TakeElicitationResult of a result at the limit: %v", err)
			}

			bigReq := elicitation("big-request")
			bigReq.Request = bytes.Repeat([]byte("q"), maxElicitationReq+1)
			bigRes := elicitation("big-result")
			bigRes.Status, bigRes.Result = storage.ElicitationAccepted, bytes.Repeat([]byte("r"), maxElicitationRes+1)
			noID := elicitation("")
			noStatus := elicitation("no-status")
			noStatus.Status = ""
			noExpiry := elicitation("no-expiry")
			noExpiry.ExpiresAt = time.Time{}
			for _, e := range []storage.Elicitation{bigReq, bigRes, noID, noStatus, noExpiry} {
				wantErr(t, fmt.Sprintf("CreateElicitation(%q)", e.ID), s.CreateElicitation(t.Context(), e), storage.ErrInvalid)
				if e.ID != "" {
					wantNoElicitation(t, s, e.ID)
				}
			}

			e := elicitation("e1")
			createElicitation(t, s, e)
			err := s.CompleteElicitation(t.Context(), "e1", storage.ElicitationAccepted, bytes.Repeat([]byte("r"), maxElicitationRes+1), time.Now())
			wantErr(t, "CompleteElicitation with a result over the limit", err, storage.ErrInvalid)
			checkElicitation(t, e, getElicitation(t, s, "e1"))
		}},
		{"CompleteElicitation: exactly one of many wins", func(t *testing.T, s storage.Store) {
			createElicitation(t, s, elicitation("e1"))
			result := func(i int) []byte { return []byte(fmt.Sprintf(`{"racer":%d}`, i)) }
			errs := race(racers, func(i int) error {
				return s.CompleteElicitation(t.Context(), "e1", storage.ElicitationAccepted, result(i), time.Now())
			})
			w := wantOneWinner(t, errs, storage.ErrInactive)
			if got := getElicitation(t, s, "e1"); !bytes.Equal(got.Result, result(w)) {
				t.Errorf("stored result %s, but racer %d won", got.Result, w)
			}
		}},
		{"TakeElicitationResult: exactly one of many gets it", func(t *testing.T, s storage.Store) {
			createElicitation(t, s, elicitation("e1"))
			complete(t, s, "e1", storage.ElicitationAccepted, []byte("the result"), time.Now())
			got := make([]*storage.Elicitation, racers)
			errs := race(racers, func(i int) error {
				var err error
				got[i], err = s.TakeElicitationResult(t.Context(), "e1")
				return err
			})
			w := wantOneWinner(t, errs, storage.ErrInactive)
			if string(got[w].Result) != "the result" || !got[w].ResultTaken {
				t.Errorf("the winner got result %q, taken %v", got[w].Result, got[w].ResultTaken)
			}
			for i, e := range got {
				if i != w && e != nil {
					t.Errorf("racer %d lost but got %+v", i, e)
				}
			}
		}},
	}
}
