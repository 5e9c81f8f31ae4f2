package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcp-authz/mcp-authz/storage"
	"github.com/mcp-authz/mcp-authz/storage/storagetest"
)

func openTest(t testing.TB, path string, opts Options) *Store {
	t.Helper()
	s, err := Open(context.Background(), path, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Store {
		return openTest(t, filepath.Join(t.TempDir(), "mcp-authz.db"), Options{})
	})
}

func BenchmarkStore(b *testing.B) {
	for _, sync := range []Synchronous{SynchronousFull, SynchronousNormal} {
		b.Run("sync="+string(sync), func(b *testing.B) {
			storagetest.RunBenchmarks(b, func(b *testing.B) storage.Store {
				return openTest(b, filepath.Join(b.TempDir(), "mcp-authz.db"), Options{Synchronous: sync})
			})
		})
	}
}

// rawDB opens the file directly, beside the store, to do what the store never would.
func rawDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	db := sql.OpenDB(connector{dsn: "file:" + path + "?_busy_timeout=5000"})
	t.Cleanup(func() { db.Close() })
	return db
}

func TestMigrateFromEmpty(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new", "dir")
	path := filepath.Join(dir, "db.sqlite")
	s := openTest(t, path, Options{})
	v, err := s.SchemaVersion(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if v != LatestSchemaVersion() || v < 1 {
		t.Fatalf("SchemaVersion = %d, want %d", v, LatestSchemaVersion())
	}
	var tables []string
	rows, err := s.readDB.QueryContext(t.Context(), "SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, n)
	}
	want := "consents elicitations jtis records schema_version sessions signing_keys tokens users"
	if got := strings.Join(tables, " "); got != want {
		t.Errorf("tables: %s, want %s", got, want)
	}

	// The data is private: the directory is the owner's, and so is the file (and with it the
	// -wal and -shm files, which SQLite creates with the database's mode).
	for p, mode := range map[string]os.FileMode{dir: 0o700, path: 0o600, path + "-wal": 0o600} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != mode {
			t.Errorf("%s: mode %v, want %v", p, got, mode)
		}
	}

	// Opening again migrates nothing and keeps the version.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, path, Options{NoMigrate: true})
	if v2, err := s.SchemaVersion(t.Context()); err != nil || v2 != v {
		t.Fatalf("SchemaVersion after reopen = %d, %v; want %d", v2, err, v)
	}
}

func TestReopenKeepsData(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	s := openTest(t, path, Options{})
	ctx := t.Context()
	tok := storage.Token{Kind: storage.RefreshToken, Signature: "sig", Active: true,
		Request:   storage.Request{ID: "r", ClientID: "c", GrantedScopes: []string{"a"}, Session: []byte("s")},
		ExpiresAt: time.Now().Add(time.Hour)}
	if err := s.Apply(ctx, storage.CreateToken{Token: tok}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateUser(ctx, storage.User{ID: "u1", Username: "alice", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Apply(ctx, storage.DeleteToken{Kind: tok.Kind, Signature: tok.Signature}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Apply after Close: %v, want ErrClosed", err)
	}

	s = openTest(t, path, Options{})
	got, err := s.GetToken(ctx, tok.Kind, tok.Signature)
	if err != nil {
		t.Fatal(err)
	}
	if got.Request.GrantedScopes[0] != "a" || string(got.Request.Session) != "s" || !got.Active {
		t.Errorf("token after reopen: %+v", got)
	}
	if _, err := s.GetUserByUsername(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
}

func TestCloseFinishesPendingWrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	s, err := Open(t.Context(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	const n = 200
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			errs[i] = s.Apply(context.Background(), storage.UseJTI{JTI: fmt.Sprint(i), ExpiresAt: time.Now().Add(time.Hour)})
		})
	}
	time.Sleep(time.Millisecond)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()

	// Every write either happened or was refused as closed; reopening tells which.
	s = openTest(t, path, Options{})
	var applied int
	for i, err := range errs {
		again := s.Apply(t.Context(), storage.UseJTI{JTI: fmt.Sprint(i), ExpiresAt: time.Now().Add(time.Hour)})
		switch {
		case err == nil:
			applied++
			if !errors.Is(again, storage.ErrConflict) {
				t.Errorf("write %d succeeded before Close but is not in the database (%v)", i, again)
			}
		case errors.Is(err, ErrClosed):
			if again != nil {
				t.Errorf("write %d refused before Close but is in the database (%v)", i, again)
			}
		default:
			t.Errorf("write %d: %v", i, err)
		}
	}
	t.Logf("%d of %d writes landed before Close", applied, n)
}

func TestSchemaTooNew(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	s := openTest(t, path, Options{})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	next := LatestSchemaVersion() + 1
	if _, err := rawDB(t, path).Exec("INSERT INTO schema_version (version, applied_at) VALUES (?, 0)", next); err != nil {
		t.Fatal(err)
	}
	for _, opts := range []Options{{}, {NoMigrate: true}} {
		_, err := Open(t.Context(), path, opts)
		if !errors.Is(err, storage.ErrSchemaTooNew) {
			t.Fatalf("Open(%+v): %v, want ErrSchemaTooNew", opts, err)
		}
		for _, v := range []int{next, LatestSchemaVersion()} {
			if !strings.Contains(err.Error(), fmt.Sprint(v)) {
				t.Errorf("error %q does not name version %d", err, v)
			}
		}
	}
}

func TestNoMigrate(t *testing.T) {
	dir := t.TempDir()
	absent := filepath.Join(dir, "absent.db")
	_, err := Open(t.Context(), absent, Options{NoMigrate: true})
	if !errors.Is(err, ErrNotMigrated) {
		t.Fatalf("Open of an absent file: %v, want ErrNotMigrated", err)
	}
	if _, err := os.Stat(absent); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Open without migrating created %s", absent)
	}

	empty := filepath.Join(dir, "empty.db")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Open(t.Context(), empty, Options{NoMigrate: true})
	if !errors.Is(err, ErrNotMigrated) {
		t.Fatalf("Open of an empty file: %v, want ErrNotMigrated", err)
	}
	want := fmt.Sprintf("version 0, this binary needs %d", LatestSchemaVersion())
	if !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "mcp-authz migrate") {
		t.Errorf("error %q should say %q and how to migrate", err, want)
	}

	// Migrated, the same file opens.
	s := openTest(t, empty, Options{})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	openTest(t, empty, Options{NoMigrate: true})
}

func TestOptions(t *testing.T) {
	for _, tc := range []struct {
		sync Synchronous
		want int
	}{{"", 2}, {SynchronousFull, 2}, {SynchronousNormal, 1}, {"FULL", 2}} {
		s := openTest(t, filepath.Join(t.TempDir(), "db"), Options{Synchronous: tc.sync})
		var journal string
		var synchronous, fk int
		_, err := s.write(t.Context(), func(ctx context.Context, c *sql.Conn, _ time.Time) (int64, error) {
			if err := c.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&journal); err != nil {
				return 0, err
			}
			if err := c.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&synchronous); err != nil {
				return 0, err
			}
			return 0, c.QueryRowContext(ctx, "PRAGMA foreign_keys").Scan(&fk)
		})
		if err != nil {
			t.Fatal(err)
		}
		if journal != "wal" || synchronous != tc.want || fk != 1 {
			t.Errorf("sync %q: journal_mode %s, synchronous %d, foreign_keys %d; want wal, %d, 1", tc.sync, journal, synchronous, fk, tc.want)
		}
		// Readers cannot write.
		if _, err := s.readDB.ExecContext(t.Context(), "DELETE FROM tokens"); err == nil {
			t.Error("a read connection could write")
		}
	}
	if _, err := Open(t.Context(), filepath.Join(t.TempDir(), "db"), Options{Synchronous: "off"}); err == nil {
		t.Error("Open with synchronous off succeeded")
	}
	for _, p := range []string{"", ":memory:", "file::memory:"} {
		if _, err := Open(t.Context(), p, Options{}); err == nil {
			t.Errorf("Open(%q) succeeded", p)
		}
	}
}

func TestAwkwardPath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a dir?with#odd%20chars", "db")
	s := openTest(t, path, Options{})
	if err := s.CreateUser(t.Context(), storage.User{ID: "u", Username: "u"}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("database not where asked: %v", err)
	}
}

func TestTimesAreUTC(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "db"), Options{})
	at := time.Date(2026, 1, 2, 3, 4, 5, 6789, time.FixedZone("X", -7*3600))
	tok := storage.Token{Kind: storage.AccessToken, Signature: "s", ExpiresAt: at, RotatedAt: at,
		Request: storage.Request{ID: "r", RequestedAt: at}}
	if err := s.Apply(t.Context(), storage.CreateToken{Token: tok}); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetToken(t.Context(), tok.Kind, tok.Signature)
	if err != nil {
		t.Fatal(err)
	}
	for name, g := range map[string]time.Time{"ExpiresAt": got.ExpiresAt, "RotatedAt": got.RotatedAt, "RequestedAt": got.Request.RequestedAt} {
		if g.Location() != time.UTC || !g.Equal(at.Truncate(time.Microsecond)) {
			t.Errorf("%s = %v, want %v in UTC", name, g, at.Truncate(time.Microsecond).UTC())
		}
	}
}

func TestSizeLimits(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "db"), Options{})
	ctx := t.Context()
	big := func(n int) string { return strings.Repeat("x", n) }
	tok := func(edit func(*storage.Token)) storage.Change {
		t := storage.Token{Kind: storage.AccessToken, Signature: "sig", Request: storage.Request{ID: "r"}}
		edit(&t)
		return storage.CreateToken{Token: t}
	}
	writes := []struct {
		name string
		do   func() error
	}{
		{"signature", func() error { return s.Apply(ctx, tok(func(t *storage.Token) { t.Signature = big(maxKey + 1) })) }},
		{"empty signature", func() error { return s.Apply(ctx, tok(func(t *storage.Token) { t.Signature = "" })) }},
		{"empty kind", func() error { return s.Apply(ctx, tok(func(t *storage.Token) { t.Kind = "" })) }},
		{"form", func() error { return s.Apply(ctx, tok(func(t *storage.Token) { t.Request.Form = big(maxForm + 1) })) }},
		{"session", func() error {
			return s.Apply(ctx, tok(func(t *storage.Token) { t.Request.Session = make([]byte, maxSession+1) }))
		}},
		{"scope count", func() error {
			return s.Apply(ctx, tok(func(t *storage.Token) { t.Request.GrantedScopes = make([]string, maxListItems+1) }))
		}},
		{"scope size", func() error {
			return s.Apply(ctx, tok(func(t *storage.Token) { t.Request.RequestedScopes = []string{big(maxURL + 1)} }))
		}},
		{"scope list size", func() error {
			return s.Apply(ctx, tok(func(t *storage.Token) {
				for range 20 {
					t.Request.GrantedAudience = append(t.Request.GrantedAudience, big(1000))
				}
			}))
		}},
		{"invalid UTF-8", func() error { return s.Apply(ctx, tok(func(t *storage.Token) { t.Request.Subject = "\xff" })) }},
		{"year", func() error {
			return s.Apply(ctx, tok(func(t *storage.Token) { t.ExpiresAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }))
		}},
		{"later change in Apply", func() error {
			return s.Apply(ctx, tok(func(*storage.Token) {}), storage.UseJTI{JTI: big(maxKey + 1)})
		}},
		{"nil change", func() error { return s.Apply(ctx, nil) }},
		{"negative grace", func() error {
			return s.Apply(ctx, storage.RotateRefreshToken{Signature: "sig", At: time.Now(), Grace: -1})
		}},
		{"rotation without time", func() error { return s.Apply(ctx, storage.RotateRefreshToken{Signature: "sig"}) }},
		{"username", func() error { return s.CreateUser(ctx, storage.User{ID: "u", Username: big(maxUsername + 1)}) }},
		{"no username", func() error { return s.CreateUser(ctx, storage.User{ID: "u"}) }},
		{"password hash", func() error {
			return s.CreateUser(ctx, storage.User{ID: "u", Username: "u", PasswordHash: big(maxUserField + 1)})
		}},
		{"update email", func() error { return s.UpdateUser(ctx, storage.User{ID: "u", Email: big(maxUserField + 1)}) }},
		{"consent scopes", func() error {
			return s.SaveConsent(ctx, storage.Consent{Subject: "u", ClientID: "c", Scopes: []string{big(maxURL + 1)}})
		}},
		{"consent client", func() error { return s.SaveConsent(ctx, storage.Consent{Subject: "u", ClientID: big(maxURL + 1)}) }},
		{"session data", func() error {
			return s.SaveSession(ctx, storage.BrowserSession{ID: "s", Data: make([]byte, maxSession+1)})
		}},
		{"session ID", func() error { return s.SaveSession(ctx, storage.BrowserSession{}) }},
		{"signing key", func() error {
			return s.CreateSigningKey(ctx, storage.SigningKey{ID: "k", Algorithm: "ES256", EncryptedPrivateKey: make([]byte, maxKeyBlob+1)})
		}},
		{"signing key without key", func() error { return s.CreateSigningKey(ctx, storage.SigningKey{ID: "k", Algorithm: "ES256"}) }},
		{"record ID", func() error {
			return s.CreateRecord(ctx, storage.Record{Kind: storage.KindClient, ID: big(maxRecordID + 1)})
		}},
		{"record kind", func() error { return s.PutRecord(ctx, storage.Record{Kind: big(maxKind + 1), ID: "c"}) }},
		{"record data", func() error {
			return s.PutRecord(ctx, storage.Record{Kind: storage.KindClient, ID: "c", Data: make([]byte, maxRecord+1)})
		}},
		{"list records without kind", func() error { _, err := s.ListRecords(ctx, ""); return err }},
		{"elicitation request", func() error {
			return s.CreateElicitation(ctx, storage.Elicitation{ID: "e", Resource: "r", Subject: "u", ClientID: "c", Kind: "k",
				Status: storage.ElicitationPending, ExpiresAt: time.Now(), Request: make([]byte, maxElicitReq+1)})
		}},
		{"elicitation subject", func() error {
			return s.CreateElicitation(ctx, storage.Elicitation{ID: "e", Resource: "r", ClientID: "c", Kind: "k",
				Status: storage.ElicitationPending, ExpiresAt: time.Now()})
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
		if !errors.Is(err, ErrInvalidInput) {
			t.Errorf("%s: got %v, want ErrInvalidInput", w.name, err)
		}
		// Callers that know no backend test for the storage sentinel.
		if !errors.Is(err, storage.ErrInvalid) {
			t.Errorf("%s: got %v, want storage.ErrInvalid", w.name, err)
		}
	}
	// Nothing of it was written.
	if _, err := s.GetToken(ctx, storage.AccessToken, "sig"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("a refused token was written: %v", err)
	}
	if us, _ := s.ListUsers(ctx); len(us) != 0 {
		t.Errorf("a refused user was written")
	}

	// At the limit is fine.
	ok := storage.Token{Kind: storage.AccessToken, Signature: big(maxKey), Request: storage.Request{
		ID: "r", Form: big(maxForm), Session: make([]byte, maxSession), GrantedScopes: make([]string, maxListItems)}}
	if err := s.Apply(ctx, storage.CreateToken{Token: ok}); err != nil {
		t.Fatalf("token at the limits: %v", err)
	}

	// A lookup by a key that could never have been stored is simply not found: a login with an
	// absurd username is a failed login, not a server error.
	lookups := []struct {
		name string
		do   func() error
	}{
		{"GetToken", func() error { _, err := s.GetToken(ctx, storage.AccessToken, big(maxKey+1)); return err }},
		{"GetUser", func() error { _, err := s.GetUser(ctx, ""); return err }},
		{"GetUserByUsername", func() error { _, err := s.GetUserByUsername(ctx, big(10000)); return err }},
		{"GetConsent", func() error { _, err := s.GetConsent(ctx, "u", big(maxURL+1), ""); return err }},
		{"GetSession", func() error { _, err := s.GetSession(ctx, big(maxKey+1)); return err }},
		{"GetRecord", func() error { _, err := s.GetRecord(ctx, storage.KindClient, big(maxRecordID+1)); return err }},
		{"DeleteRecord", func() error { return s.DeleteRecord(ctx, "", "c") }},
		{"GetElicitation", func() error { _, err := s.GetElicitation(ctx, big(maxKey+1)); return err }},
		{"CompleteElicitation", func() error {
			return s.CompleteElicitation(ctx, "", storage.ElicitationAccepted, nil, time.Now())
		}},
		{"TakeElicitationResult", func() error { _, err := s.TakeElicitationResult(ctx, big(maxKey+1)); return err }},
	}
	for _, l := range lookups {
		err := l.do()
		if !errors.Is(err, storage.ErrNotFound) || !errors.Is(err, ErrInvalidInput) {
			t.Errorf("%s: got %v, want ErrNotFound and ErrInvalidInput", l.name, err)
		}
	}
}

func TestErrorsDoNotLeakSessionIDs(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "db"), Options{})
	const id = "secret-cookie-value"
	_, err := s.GetSession(t.Context(), id)
	if err == nil || strings.Contains(err.Error(), id) {
		t.Fatalf("GetSession error %q", err)
	}
}

func TestErrorsDoNotLeakElicitationIDs(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "db"), Options{})
	ctx := t.Context()
	const id = "secret-elicitation-id"
	e := storage.Elicitation{ID: id, Resource: "r", Subject: "u", ClientID: "c", Kind: "k",
		Status: storage.ElicitationPending, ExpiresAt: time.Now().Add(time.Hour)}
	if err := s.CreateElicitation(ctx, e); err != nil {
		t.Fatal(err)
	}
	_, errTake := s.TakeElicitationResult(ctx, id)
	_, errGet := s.GetElicitation(ctx, id+"x")
	for name, err := range map[string]error{
		"CreateElicitation again":  s.CreateElicitation(ctx, e),
		"TakeElicitationResult":    errTake,
		"GetElicitation":           errGet,
		"CompleteElicitation":      s.CompleteElicitation(ctx, id, "bogus", nil, time.Now()),
		"CompleteElicitation late": s.CompleteElicitation(ctx, id, storage.ElicitationAccepted, nil, time.Now().Add(2*time.Hour)),
	} {
		if err == nil || strings.Contains(err.Error(), id) {
			t.Errorf("%s: error %v", name, err)
		}
	}
}

// blockWriter occupies the writer until the returned function is called, so that a test can line
// up requests in the queue.
func blockWriter(t *testing.T, s *Store) (release func()) {
	t.Helper()
	started, unblock := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		_, err := s.write(context.Background(), func(context.Context, *sql.Conn, time.Time) (int64, error) {
			close(started)
			<-unblock
			return 0, nil
		})
		done <- err
	}()
	<-started
	return func() {
		close(unblock)
		if err := <-done; err != nil {
			t.Errorf("blocking write: %v", err)
		}
	}
}

// waitQueued waits until n requests wait in the writer's queue.
func waitQueued(t *testing.T, s *Store, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for len(s.reqs) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d requests queued, want %d", len(s.reqs), n)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestBatchKeepsOutcomesApart(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "db"), Options{})
	ctx := t.Context()
	mk := func(sig string) storage.Change {
		return storage.CreateToken{Token: storage.Token{Kind: storage.AuthorizationCode, Signature: sig, Active: true, Request: storage.Request{ID: sig}}}
	}
	if err := s.Apply(ctx, mk("used")); err != nil {
		t.Fatal(err)
	}
	release := blockWriter(t, s)
	// These will be one batch: successes and failures interleaved, each failure after a write of
	// its own that must be undone.
	changes := [][]storage.Change{
		{mk("a")},
		{mk("b"), mk("used")}, // conflict: b must not survive
		{mk("c"), storage.DeactivateToken{Kind: storage.AuthorizationCode, Signature: "used"}},
		{mk("d"), storage.DeactivateToken{Kind: storage.AuthorizationCode, Signature: "used"}}, // inactive by then
		{mk("e")},
	}
	errs := make([]error, len(changes))
	var wg sync.WaitGroup
	for i, ch := range changes {
		waitQueued(t, s, i)
		wg.Go(func() { errs[i] = s.Apply(ctx, ch...) })
	}
	waitQueued(t, s, len(changes))
	release()
	wg.Wait()
	want := []error{nil, storage.ErrConflict, nil, storage.ErrInactive, nil}
	for i := range changes {
		if (want[i] == nil) != (errs[i] == nil) || !errors.Is(errs[i], want[i]) {
			t.Errorf("request %d: got %v, want %v", i, errs[i], want[i])
		}
	}
	for sig, present := range map[string]bool{"a": true, "b": false, "c": true, "d": false, "e": true} {
		_, err := s.GetToken(ctx, storage.AuthorizationCode, sig)
		if present != (err == nil) {
			t.Errorf("token %s: present %v, err %v", sig, present, err)
		}
	}
}

// The writer may run a request twice (again in a savepoint when another request of its batch
// fails); an elicitation's transitions must still happen once and report the committed outcome.
func TestElicitationTransitionsInABatch(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "db"), Options{})
	ctx := t.Context()
	for _, id := range []string{"e1", "e2"} {
		err := s.CreateElicitation(ctx, storage.Elicitation{ID: id, Resource: "r", Subject: "u", ClientID: "c", Kind: "k",
			Status: storage.ElicitationPending, ExpiresAt: time.Now().Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Apply(ctx, storage.UseJTI{JTI: "used", ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	release := blockWriter(t, s)
	var taken [2]*storage.Elicitation
	reqs := []func() error{
		func() error {
			return s.CompleteElicitation(ctx, "e1", storage.ElicitationAccepted, []byte("r1"), time.Now())
		},
		func() error { var err error; taken[0], err = s.TakeElicitationResult(ctx, "e1"); return err },
		func() error { return s.CompleteElicitation(ctx, "e2", storage.ElicitationDeclined, nil, time.Now()) },
		// fails, so the writer runs the batch again, each request in a savepoint
		func() error { return s.Apply(ctx, storage.UseJTI{JTI: "used", ExpiresAt: time.Now().Add(time.Hour)}) },
		func() error { var err error; taken[1], err = s.TakeElicitationResult(ctx, "e1"); return err },
		func() error { return s.CompleteElicitation(ctx, "e2", storage.ElicitationAccepted, nil, time.Now()) },
	}
	errs := make([]error, len(reqs))
	var wg sync.WaitGroup
	for i, req := range reqs {
		waitQueued(t, s, i)
		wg.Go(func() { errs[i] = req() })
	}
	waitQueued(t, s, len(reqs))
	release()
	wg.Wait()
	want := []error{nil, nil, nil, storage.ErrConflict, storage.ErrInactive, storage.ErrInactive}
	for i := range reqs {
		if (want[i] == nil) != (errs[i] == nil) || !errors.Is(errs[i], want[i]) {
			t.Errorf("request %d: got %v, want %v", i, errs[i], want[i])
		}
	}
	if taken[0] == nil || string(taken[0].Result) != "r1" || taken[1] != nil {
		t.Errorf("taken: %+v, %+v; want the first with r1, the second nothing", taken[0], taken[1])
	}
	for id, status := range map[string]string{"e1": storage.ElicitationAccepted, "e2": storage.ElicitationDeclined} {
		e, err := s.GetElicitation(ctx, id)
		if err != nil || e.Status != status || e.ResultTaken != (id == "e1") || len(e.Result) != 0 {
			t.Errorf("%s: %+v, %v; want %s", id, e, err, status)
		}
	}
}

func TestCancelWhileQueued(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "db"), Options{})
	release := blockWriter(t, s)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- s.Apply(ctx, storage.UseJTI{JTI: "j", ExpiresAt: time.Now().Add(time.Hour)})
	}()
	waitQueued(t, s, 1)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Apply: %v", err)
	}
	release()
	// It was skipped: the jti is still free.
	if err := s.Apply(t.Context(), storage.UseJTI{JTI: "j", ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
		t.Fatalf("jti of a cancelled request was recorded: %v", err)
	}
}

func TestCancelAfterTakenWaitsForOutcome(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "db"), Options{})
	ctx, cancel := context.WithCancel(t.Context())
	started, unblock := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		_, err := s.write(ctx, func(ctx context.Context, c *sql.Conn, _ time.Time) (int64, error) {
			close(started)
			<-unblock
			_, err := c.ExecContext(ctx, "INSERT INTO jtis (jti, expires_at) VALUES ('j', ?)", time.Now().Add(time.Hour).UnixMicro())
			return 0, err
		})
		done <- err
	}()
	<-started
	cancel()
	close(unblock)
	// The caller's context ended, but the write was under way: it is applied and reported as such.
	if err := <-done; err != nil {
		t.Fatalf("write taken before cancel: %v", err)
	}
	if err := s.Apply(t.Context(), storage.UseJTI{JTI: "j", ExpiresAt: time.Now().Add(time.Hour)}); !errors.Is(err, storage.ErrConflict) {
		t.Fatalf("write taken before cancel was not applied: %v", err)
	}
}

func TestUsernameLookupUsesIndex(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "db"), Options{})
	rows, err := s.readDB.QueryContext(t.Context(), `EXPLAIN QUERY PLAN SELECT `+userColumns+
		` FROM users WHERE username = ?1 COLLATE NOCASE AND username = ?1 COLLATE BINARY`, "alice")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, notused int
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if p := strings.Join(plan, "; "); !strings.Contains(p, "users_username") {
		t.Errorf("query plan %q does not use the username index", p)
	}
}

func TestCheckpointerCopiesTheLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	s := openTest(t, path, Options{})
	before, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	// Enough requests to kick the checkpointer, from enough goroutines to be quick.
	var wg sync.WaitGroup
	for g := range 20 {
		wg.Go(func() {
			for i := range checkpointEvery / 20 {
				tok := storage.Token{Kind: storage.AccessToken, Signature: fmt.Sprintf("%d-%d", g, i),
					Request: storage.Request{ID: "r", Session: make([]byte, 1000)}}
				if err := s.Apply(t.Context(), storage.CreateToken{Token: tok}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	// The pages reach the database file while the store is open: the checkpointer did it, since
	// the writer's own threshold is far away.
	deadline := time.Now().Add(10 * time.Second)
	for {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() > before.Size()+checkpointEvery*1000 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("database file %d bytes after %d token writes (%d before): no checkpoint", fi.Size(), checkpointEvery, before.Size())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
