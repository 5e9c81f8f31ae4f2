package postgres

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcp-authz/mcp-authz/storage"
)

func pendingElicitation(id string) storage.Elicitation {
	return storage.Elicitation{ID: id, Resource: "https://mcp.example", Subject: "u", ClientID: "c", Kind: "k",
		Status: storage.ElicitationPending, CreatedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour)}
}

// Elicitations complete once and hand their result out once across instances, not only within
// one: the database decides.
func TestElicitationsAcrossInstances(t *testing.T) {
	t.Parallel()
	dsn := testDSN(t)
	schema := freshSchema(t, dsn)
	stores := []*Store{openTest(t, dsn, Options{Schema: schema}), openTest(t, dsn, Options{Schema: schema})}
	ctx := t.Context()
	if err := stores[0].CreateElicitation(ctx, pendingElicitation("e1")); err != nil {
		t.Fatal(err)
	}
	const racers = 50
	race := func(fn func(i int, s *Store) error) (winner int) {
		errs := make([]error, racers)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range racers {
			wg.Go(func() {
				<-start
				errs[i] = fn(i, stores[i%2])
			})
		}
		close(start)
		wg.Wait()
		winner = -1
		for i, err := range errs {
			switch {
			case err == nil && winner >= 0:
				t.Errorf("racers %d and %d both won", winner, i)
			case err == nil:
				winner = i
			case !errors.Is(err, storage.ErrInactive):
				t.Errorf("racer %d: %v, want ErrInactive", i, err)
			}
		}
		if winner < 0 {
			t.Fatal("no racer won")
		}
		return winner
	}
	w := race(func(i int, s *Store) error {
		return s.CompleteElicitation(ctx, "e1", storage.ElicitationAccepted, []byte(fmt.Sprint(i)), time.Now())
	})
	var mu sync.Mutex
	var got []byte
	race(func(i int, s *Store) error {
		e, err := s.TakeElicitationResult(ctx, "e1")
		if err == nil {
			mu.Lock()
			got = e.Result
			mu.Unlock()
		}
		return err
	})
	if string(got) != fmt.Sprint(w) {
		t.Errorf("the taker got %q, the completer was %d", got, w)
	}
}

// TestTransitionsWaitForTheRowLock holds an elicitation's row in a transaction of the test's own
// that makes the same transition, so that CompleteElicitation or TakeElicitationResult must wait
// in the database; each must then see what the holder did: ErrInactive if the holder commits, and
// success if it rolls back.
func TestTransitionsWaitForTheRowLock(t *testing.T) {
	t.Parallel()
	dsn := testDSN(t)
	for _, tc := range []struct {
		op string
		// completed: the elicitation is completed before the holder starts.
		completed bool
		holder    string
		do        func(s *Store) error
	}{
		{"complete", false, "UPDATE %s.elicitations SET status = 'declined', completed_at = now() WHERE id = 'e1'",
			func(s *Store) error {
				return s.CompleteElicitation(t.Context(), "e1", storage.ElicitationAccepted, []byte("mine"), time.Now())
			}},
		{"take", true, "UPDATE %s.elicitations SET result_taken = true, result = NULL WHERE id = 'e1'",
			func(s *Store) error {
				e, err := s.TakeElicitationResult(t.Context(), "e1")
				if err == nil && (string(e.Result) != "secret" || !e.ResultTaken) {
					return fmt.Errorf("took %+v, want the result", e)
				}
				return err
			}},
	} {
		for _, holderCommits := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s, holder commits %v", tc.op, holderCommits), func(t *testing.T) {
				schema := freshSchema(t, dsn)
				app := "mcp-authz-" + schema
				s := openTest(t, withParam(t, dsn, "application_name", app), Options{Schema: schema})
				ctx := t.Context()
				if err := s.CreateElicitation(ctx, pendingElicitation("e1")); err != nil {
					t.Fatal(err)
				}
				if tc.completed {
					if err := s.CompleteElicitation(ctx, "e1", storage.ElicitationAccepted, []byte("secret"), time.Now()); err != nil {
						t.Fatal(err)
					}
				}
				holder := connect(t, dsn)
				tx, err := holder.Begin(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := tx.Exec(ctx, fmt.Sprintf(tc.holder, schema)); err != nil {
					t.Fatal(err)
				}
				done := make(chan error, 1)
				go func() { done <- tc.do(s) }()
				watch := connect(t, dsn)
				deadline := time.Now().Add(10 * time.Second)
				for {
					var waiting int
					err := watch.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
						WHERE application_name = $1 AND wait_event_type = 'Lock'`, app).Scan(&waiting)
					if err != nil {
						t.Fatal(err)
					}
					if waiting == 1 {
						break
					}
					if time.Now().After(deadline) {
						t.Fatalf("%s is not waiting on the lock", tc.op)
					}
					time.Sleep(10 * time.Millisecond)
				}
				if holderCommits {
					err = tx.Commit(ctx)
				} else {
					err = tx.Rollback(ctx)
				}
				if err != nil {
					t.Fatal(err)
				}
				err = <-done
				switch {
				case holderCommits && !errors.Is(err, storage.ErrInactive):
					t.Fatalf("%s after the holder committed: %v, want ErrInactive", tc.op, err)
				case !holderCommits && err != nil:
					t.Fatalf("%s after the holder rolled back: %v", tc.op, err)
				}
			})
		}
	}
}

func TestRecordAndElicitationLimits(t *testing.T) {
	t.Parallel()
	dsn := testDSN(t)
	s := openTest(t, dsn, Options{Schema: freshSchema(t, dsn)})
	ctx := t.Context()
	big := func(n int) string { return strings.Repeat("x", n) }
	writes := []struct {
		name string
		do   func() error
	}{
		{"record ID", func() error {
			return s.CreateRecord(ctx, storage.Record{Kind: storage.KindClient, ID: big(maxRecordID + 1)})
		}},
		{"record ID with NUL", func() error { return s.PutRecord(ctx, storage.Record{Kind: storage.KindClient, ID: "a\x00b"}) }},
		{"record kind", func() error { return s.PutRecord(ctx, storage.Record{Kind: big(maxKind + 1), ID: "c"}) }},
		{"record data", func() error {
			return s.PutRecord(ctx, storage.Record{Kind: storage.KindClient, ID: "c", Data: make([]byte, maxRecord+1)})
		}},
		{"list records without kind", func() error { _, err := s.ListRecords(ctx, ""); return err }},
		{"elicitation request", func() error {
			e := pendingElicitation("e")
			e.Request = make([]byte, maxElicitReq+1)
			return s.CreateElicitation(ctx, e)
		}},
		{"elicitation subject with invalid UTF-8", func() error {
			e := pendingElicitation("e")
			e.Subject = "\xff"
			return s.CreateElicitation(ctx, e)
		}},
		{"elicitation result", func() error {
			return s.CompleteElicitation(ctx, "e", storage.ElicitationAccepted, make([]byte, maxElicitRes+1), time.Now())
		}},
		{"elicitation completion without time", func() error {
			return s.CompleteElicitation(ctx, "e", storage.ElicitationAccepted, nil, time.Time{})
		}},
	}
	for _, w := range writes {
		err := w.do()
		if !errors.Is(err, ErrInvalidInput) || !errors.Is(err, storage.ErrInvalid) {
			t.Errorf("%s: got %v, want ErrInvalidInput and storage.ErrInvalid", w.name, err)
		}
	}
	lookups := []struct {
		name string
		do   func() error
	}{
		{"GetRecord", func() error { _, err := s.GetRecord(ctx, storage.KindClient, "a\x00b"); return err }},
		{"DeleteRecord", func() error { return s.DeleteRecord(ctx, "", "c") }},
		{"GetElicitation", func() error { _, err := s.GetElicitation(ctx, big(maxKey+1)); return err }},
		{"CompleteElicitation", func() error {
			return s.CompleteElicitation(ctx, "", storage.ElicitationAccepted, nil, time.Now())
		}},
		{"TakeElicitationResult", func() error { _, err := s.TakeElicitationResult(ctx, "\xff"); return err }},
	}
	for _, l := range lookups {
		err := l.do()
		if !errors.Is(err, storage.ErrNotFound) || !errors.Is(err, ErrInvalidInput) {
			t.Errorf("%s: got %v, want ErrNotFound and ErrInvalidInput", l.name, err)
		}
	}
}
