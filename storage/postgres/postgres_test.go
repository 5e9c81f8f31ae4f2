package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/mcp-authz/mcp-authz/storage"
	"github.com/mcp-authz/mcp-authz/storage/storagetest"
)

// dsnEnv names the database the tests use, e.g.
// postgres://postgres@127.0.0.1:5432/test?sslmode=disable. Each test works in a schema of its own,
// created for it and dropped after it, so tests run in parallel and leave nothing behind.
const dsnEnv = "MCP_AUTHZ_TEST_POSTGRES_DSN"

func testDSN(tb testing.TB) string {
	tb.Helper()
	dsn := os.Getenv(dsnEnv)
	if dsn == "" {
		// In CI the PostgreSQL run must happen: a missing DSN is a failure there, not a skip.
		if os.Getenv("CI") != "" {
			tb.Fatal(dsnEnv + " not set in CI: the PostgreSQL conformance suite must run there")
		}
		tb.Skip(dsnEnv + " not set: PostgreSQL conformance not run")
	}
	return dsn
}

// connect opens a plain connection for a test's own SQL: making, inspecting and dropping schemas,
// holding locks the store must wait for.
func connect(tb testing.TB, dsn string) *pgx.Conn {
	tb.Helper()
	c, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		tb.Fatalf("connect: %v", err)
	}
	tb.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// freshSchema returns the name of a schema no other test uses, and drops it with everything in it
// when tb ends. It does not create the schema: Open does, when migrating.
func freshSchema(tb testing.TB, dsn string) string {
	tb.Helper()
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		tb.Fatal(err)
	}
	name := "test_" + hex.EncodeToString(b)
	// Registered before any store of the test is opened, so that it runs after they are closed.
	tb.Cleanup(func() {
		ctx := context.Background()
		c, err := pgx.Connect(ctx, dsn)
		if err != nil {
			tb.Errorf("drop schema %s: %v", name, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP SCHEMA IF EXISTS "+name+" CASCADE"); err != nil {
			tb.Errorf("drop schema %s: %v", name, err)
		}
	})
	return name
}

// openTest opens a store and closes it when tb ends. Unless the test asks for more, the pool has
// 4 connections, whatever the machine's CPU count: tests run in parallel, beside other packages'
// PostgreSQL tests, and must stay well inside the server's max_connections.
func openTest(tb testing.TB, dsn string, opts Options) *Store {
	tb.Helper()
	if opts.MaxConns == 0 {
		opts.MaxConns = 4
	}
	s, err := Open(context.Background(), dsn, opts)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
	})
	return s
}

// withParam adds a connection parameter to a DSN in either of its forms.
func withParam(tb testing.TB, dsn, key, value string) string {
	tb.Helper()
	if !strings.Contains(dsn, "://") {
		return dsn + " " + key + "=" + value
	}
	u, err := url.Parse(dsn)
	if err != nil {
		tb.Fatal(err)
	}
	q := u.Query()
	q.Set(key, value)
	u.RawQuery = q.Encode()
	return u.String()
}

func TestConformance(t *testing.T) {
	t.Parallel()
	dsn := testDSN(t)
	storagetest.Run(t, func(t *testing.T) storage.Store {
		s := openTest(t, dsn, Options{Schema: freshSchema(t, dsn)})
		if strings.Contains(t.Name(), "/Concurrency/") {
			// The concurrency cases prove something only if the racers reach the database on
			// connections of their own, where the database, not the pool, picks the winner.
			// (Registered after Close, so it runs before.)
			t.Cleanup(func() {
				if n := s.pool.Stat().NewConnsCount(); n < 2 {
					t.Errorf("the racers shared %d connection", n)
				}
			})
		}
		return s
	})
}

func BenchmarkStore(b *testing.B) {
	dsn := testDSN(b)
	// The pool Open gives by default (pgx's: the number of CPUs, at least 4), or the size
	// MCP_AUTHZ_BENCH_POSTGRES_CONNS sets, for sizing experiments.
	conns := int32(max(4, runtime.NumCPU()))
	if v := os.Getenv("MCP_AUTHZ_BENCH_POSTGRES_CONNS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			b.Fatalf("MCP_AUTHZ_BENCH_POSTGRES_CONNS=%q: want a positive number", v)
		}
		conns = int32(n)
	}
	storagetest.RunBenchmarks(b, func(b *testing.B) storage.Store {
		return openTest(b, dsn, Options{Schema: freshSchema(b, dsn), MaxConns: conns})
	})
}

func TestMigrateFromEmpty(t *testing.T) {
	t.Parallel()
	dsn := testDSN(t)
	schema := freshSchema(t, dsn)
	s := openTest(t, dsn, Options{Schema: schema})
	v, err := s.SchemaVersion(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if v != LatestSchemaVersion() || v < 1 {
		t.Fatalf("SchemaVersion = %d, want %d", v, LatestSchemaVersion())
	}
	rows, err := connect(t, dsn).Query(t.Context(),
		"SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name", schema)
	if err != nil {
		t.Fatal(err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	want := "change_refused consents elicitations jtis records schema_version sessions signing_keys tokens users"
	if got := strings.Join(tables, " "); got != want {
		t.Errorf("tables: %s, want %s", got, want)
	}

	// Opening again migrates nothing and keeps the version, with or without NoMigrate.
	for _, opts := range []Options{{Schema: schema}, {Schema: schema, NoMigrate: true}} {
		s := openTest(t, dsn, opts)
		if v2, err := s.SchemaVersion(t.Context()); err != nil || v2 != v {
			t.Fatalf("SchemaVersion after reopen (%+v) = %d, %v; want %d", opts, v2, err, v)
		}
	}
}

func TestMigrateIntoSearchPath(t *testing.T) {
	t.Parallel()
	dsn := testDSN(t)
	// Without Options.Schema the tables go into the search_path's schema, here one that exists
	// already (as public would).
	schema := freshSchema(t, dsn)
	if _, err := connect(t, dsn).Exec(t.Context(), "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	s := openTest(t, withParam(t, dsn, "search_path", schema), Options{})
	if err := s.CreateUser(t.Context(), storage.User{ID: "u", Username: "u"}); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := connect(t, dsn).QueryRow(t.Context(), "SELECT count(*) FROM "+schema+".users").Scan(&n); err != nil || n != 1 {
		t.Fatalf("users in %s: %d, %v; want 1", schema, n, err)
	}

	// A search_path that names no existing schema leaves nowhere to migrate to.
	_, err := Open(t.Context(), withParam(t, dsn, "search_path", freshSchema(t, dsn)), Options{})
	if err == nil || !strings.Contains(err.Error(), "search_path") {
		t.Fatalf("Open with a search_path of no existing schema: %v", err)
	}
}

// TestConcurrentOpen starts several instances on one new schema at once: the advisory lock must
// make exactly one of them migrate, and none fail.
func TestConcurrentOpen(t *testing.T) {
	t.Parallel()
	dsn := testDSN(t)
	schema := freshSchema(t, dsn)
	var applied atomic.Int32
	log := slog.New(countHandler{msg: "postgres: applied migration", n: &applied})
	const instances = 5
	stores := make([]*Store, instances)
	errs := make([]error, instances)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range instances {
		wg.Go(func() {
			<-start
			stores[i], errs[i] = Open(t.Context(), dsn, Options{Schema: schema, Logger: log, MaxConns: 4})
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("instance %d: %v", i, err)
			continue
		}
		t.Cleanup(func() { stores[i].Close() })
	}
	if got, want := int(applied.Load()), LatestSchemaVersion(); got != want {
		t.Errorf("%d migrations applied in all, want %d (each once)", got, want)
	}
	var n int
	if err := connect(t, dsn).QueryRow(t.Context(), "SELECT count(*) FROM "+schema+".schema_version").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != LatestSchemaVersion() {
		t.Errorf("schema_version has %d rows, want %d", n, LatestSchemaVersion())
	}
}

// countHandler counts log records with one message.
type countHandler struct {
	msg string
	n   *atomic.Int32
}

func (countHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h countHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Message == h.msg {
		h.n.Add(1)
	}
	return nil
}
func (h countHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h countHandler) WithGroup(string) slog.Handler      { return h }

func TestSchemaTooNew(t *testing.T) {
	t.Parallel()
	dsn := testDSN(t)
	schema := freshSchema(t, dsn)
	openTest(t, dsn, Options{Schema: schema}).Close()
	next := LatestSchemaVersion() + 2
	_, err := connect(t, dsn).Exec(t.Context(),
		"INSERT INTO "+schema+".schema_version (version, applied_at) VALUES ($1, now())", next)
	if err != nil {
		t.Fatal(err)
	}
	for _, opts := range []Options{{Schema: schema}, {Schema: schema, NoMigrate: true}} {
		_, err := Open(t.Context(), dsn, opts)
		if !errors.Is(err, storage.ErrSchemaTooNew) {
			t.Fatalf("Open(%+v): %v, want ErrSchemaTooNew", opts, err)
		}
		want := fmt.Sprintf("database schema is version %d, this mcp-authz knows up to %d: upgrade mcp-authz", next, LatestSchemaVersion())
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

func TestNoMigrate(t *testing.T) {
	t.Parallel()
	dsn := testDSN(t)
	schema := freshSchema(t, dsn)
	_, err := Open(t.Context(), dsn, Options{Schema: schema, NoMigrate: true})
	if !errors.Is(err, ErrNotMigrated) {
		t.Fatalf("Open of an absent schema: %v, want ErrNotMigrated", err)
	}
	want := fmt.Sprintf("version 0, this mcp-authz needs %d", LatestSchemaVersion())
	if !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "mcp-authz migrate") {
		t.Errorf("error %q should say %q and how to migrate", err, want)
	}
	var exists bool
	err = connect(t, dsn).QueryRow(t.Context(),
		"SELECT EXISTS (SELECT 1 FROM information_schema.schemata WHERE schema_name = $1)", schema).Scan(&exists)
	if err != nil || exists {
		t.Fatalf("Open without migrating created schema %s (%v)", schema, err)
	}

	// An empty schema is behind too.
	if _, err := connect(t, dsn).Exec(t.Context(), "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(t.Context(), dsn, Options{Schema: schema, NoMigrate: true}); !errors.Is(err, ErrNotMigrated) {
		t.Fatalf("Open of an empty schema: %v, want ErrNotMigrated", err)
	}

	// Migrated, it opens.
	openTest(t, dsn, Options{Schema: schema}).Close()
	openTest(t, dsn, Options{Schema: schema, NoMigrate: true})
}

// TestTwoInstances runs two stores (two pools, as two instances would have) on one schema: each
// sees what the other wrote, and the database, not either process, decides who wins a race.
func TestTwoInstances(t *testing.T) {
	t.Parallel()
	dsn := testDSN(t)
	schema := freshSchema(t, dsn)
	a := openTest(t, dsn, Options{Schema: schema})
	b := openTest(t, dsn, Options{Schema: schema})
	ctx := t.Context()

	code := storage.Token{Kind: storage.AuthorizationCode, Signature: "code", Active: true,
		Request: storage.Request{ID: "r", ClientID: "c"}, ExpiresAt: time.Now().Add(time.Minute)}
	if err := a.Apply(ctx, storage.CreateToken{Token: code}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.GetToken(ctx, code.Kind, code.Signature); err != nil {
		t.Fatalf("b does not see a's token: %v", err)
	}
	if err := b.CreateUser(ctx, storage.User{ID: "u1", Username: "alice"}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.GetUserByUsername(ctx, "alice"); err != nil {
		t.Fatalf("a does not see b's user: %v", err)
	}
	if err := a.CreateUser(ctx, storage.User{ID: "u2", Username: "ALICE"}); !errors.Is(err, storage.ErrConflict) {
		t.Fatalf("a's user with b's username: %v, want ErrConflict", err)
	}

	// Many redemptions of one code through both instances: one wins.
	const racers = 40
	errs := make([]error, racers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range racers {
		s := []*Store{a, b}[i%2]
		wg.Go(func() {
			<-start
			errs[i] = s.Apply(ctx,
				storage.DeactivateToken{Kind: storage.AuthorizationCode, Signature: "code"},
				storage.CreateToken{Token: storage.Token{Kind: storage.AccessToken, Signature: fmt.Sprint("access-", i),
					Request: storage.Request{ID: "r"}, Active: true}})
		})
	}
	close(start)
	wg.Wait()
	winners := 0
	for i, err := range errs {
		switch {
		case err == nil:
			winners++
		case !errors.Is(err, storage.ErrInactive):
			t.Errorf("racer %d: %v, want ErrInactive", i, err)
		}
	}
	if winners != 1 {
		t.Errorf("%d racers won, want 1", winners)
	}
	var tokens int
	if err := connect(t, dsn).QueryRow(ctx, "SELECT count(*) FROM "+schema+".tokens WHERE kind = 'access_token'").Scan(&tokens); err != nil || tokens != 1 {
		t.Errorf("%d access tokens stored (%v), want 1", tokens, err)
	}
}

// waitForLockWaits waits until n connections of the application app wait for a lock in the
// database.
func waitForLockWaits(t *testing.T, c *pgx.Conn, app string, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var waiting int
		err := c.QueryRow(t.Context(), `SELECT count(*) FROM pg_stat_activity
			WHERE application_name = $1 AND wait_event_type = 'Lock'`, app).Scan(&waiting)
		if err != nil {
			t.Fatal(err)
		}
		if waiting == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d connections waiting on a lock, want %d", waiting, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestRaceWaitsInTheDatabase holds a code's row lock in a transaction of the test's own, so that
// the racers' transactions must reach the database and wait there, and then lets the database
// pick the outcome: one winner if the holder rolls back, none if it commits.
func TestRaceWaitsInTheDatabase(t *testing.T) {
	t.Parallel()
	dsn := testDSN(t)
	for _, holderCommits := range []bool{false, true} {
		t.Run(fmt.Sprintf("holder commits %v", holderCommits), func(t *testing.T) {
			schema := freshSchema(t, dsn)
			app := "mcp-authz-" + schema
			const racers = 8
			s := openTest(t, withParam(t, dsn, "application_name", app), Options{Schema: schema, MaxConns: racers})
			ctx := t.Context()
			code := storage.Token{Kind: storage.AuthorizationCode, Signature: "code", Active: true, Request: storage.Request{ID: "r"}}
			if err := s.Apply(ctx, storage.CreateToken{Token: code}); err != nil {
				t.Fatal(err)
			}
			holder := connect(t, dsn)
			tx, err := holder.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tx.Exec(ctx, "UPDATE "+schema+".tokens SET active = false WHERE signature = 'code'"); err != nil {
				t.Fatal(err)
			}

			errs := make([]error, racers)
			var wg sync.WaitGroup
			for i := range racers {
				wg.Go(func() {
					errs[i] = s.Apply(ctx,
						storage.DeactivateToken{Kind: storage.AuthorizationCode, Signature: "code"},
						storage.CreateToken{Token: storage.Token{Kind: storage.AccessToken, Signature: fmt.Sprint("access-", i), Request: storage.Request{ID: "r"}}})
				})
			}
			// Every writer is in the database, blocked on the holder's row lock, with the
			// racers its batch holds; the other racers wait in the queue.
			waitForLockWaits(t, connect(t, dsn), app, min(racers, s.nWriters))
			if holderCommits {
				err = tx.Commit(ctx)
			} else {
				err = tx.Rollback(ctx)
			}
			if err != nil {
				t.Fatal(err)
			}
			wg.Wait()
			winners := 0
			for i, err := range errs {
				switch {
				case err == nil:
					winners++
				case !errors.Is(err, storage.ErrInactive):
					t.Errorf("racer %d: %v, want ErrInactive", i, err)
				}
			}
			want := 1
			if holderCommits {
				want = 0
			}
			if winners != want {
				t.Errorf("%d winners, want %d", winners, want)
			}
		})
	}
}

// TestBatchKeepsOutcomesApart lines up requests behind busy writers, so that they are committed
// in batches, half of them failing: each must get its own outcome, as if applied alone.
func TestBatchKeepsOutcomesApart(t *testing.T) {
	t.Parallel()
	dsn := testDSN(t)
	schema := freshSchema(t, dsn)
	app := "mcp-authz-" + schema
	var fallbacks atomic.Int32
	log := slog.New(countHandler{msg: "postgres: a batch failed, applying its requests one by one", n: &fallbacks})
	s := openTest(t, withParam(t, dsn, "application_name", app), Options{Schema: schema, Logger: log})
	ctx := t.Context()
	tok := func(sig, req string) storage.Token {
		return storage.Token{Kind: storage.AccessToken, Signature: sig, Active: true, Request: storage.Request{ID: req}}
	}
	const n = 20
	for i := range s.nWriters {
		if err := s.Apply(ctx, storage.CreateToken{Token: tok(fmt.Sprint("block-", i), "block")}); err != nil {
			t.Fatal(err)
		}
	}
	for i := 1; i < n; i += 2 {
		if err := s.Apply(ctx, storage.CreateToken{Token: tok(fmt.Sprint("t", i), "old")}); err != nil {
			t.Fatal(err)
		}
	}

	// Occupy every writer: each deletes a token whose row the test holds locked.
	holder := connect(t, dsn)
	tx, err := holder.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.Background())
	if _, err := tx.Exec(ctx, "SELECT 1 FROM "+schema+".tokens WHERE request_id = 'block' FOR UPDATE"); err != nil {
		t.Fatal(err)
	}
	var blocked sync.WaitGroup
	watch := connect(t, dsn)
	for i := range s.nWriters {
		blocked.Go(func() {
			if err := s.Apply(ctx, storage.DeleteToken{Kind: storage.AccessToken, Signature: fmt.Sprint("block-", i)}); err != nil {
				t.Errorf("blocked delete: %v", err)
			}
		})
		waitForLockWaits(t, watch, app, i+1)
	}

	// Queue the requests: even ones succeed, odd ones run into a taken signature.
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			errs[i] = s.Apply(ctx,
				storage.CreateToken{Token: tok(fmt.Sprint("side-", i), "new")},
				storage.CreateToken{Token: tok(fmt.Sprint("t", i), "new")})
		})
	}
	for len(s.reqs) < n {
		time.Sleep(time.Millisecond)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	blocked.Wait()

	for i, err := range errs {
		side := fmt.Sprint("side-", i)
		_, serr := s.GetToken(ctx, storage.AccessToken, side)
		got, terr := s.GetToken(ctx, storage.AccessToken, fmt.Sprint("t", i))
		if terr != nil {
			t.Fatalf("token t%d: %v", i, terr)
		}
		if i%2 == 0 {
			if err != nil || serr != nil || got.Request.ID != "new" {
				t.Errorf("request %d: %v; side token %v; token of request %s", i, err, serr, got.Request.ID)
			}
		} else {
			if !errors.Is(err, storage.ErrConflict) || !errors.Is(serr, storage.ErrNotFound) || got.Request.ID != "old" {
				t.Errorf("request %d: %v, want ErrConflict; side token %v, want none; token of request %s, want old", i, err, serr, got.Request.ID)
			}
		}
	}
	if fallbacks.Load() == 0 {
		t.Error("no batch failed: the requests were not committed together")
	}
}

// TestDeadlockIsRetried makes an Apply the victim of a deadlock with a transaction of the test's
// own: the Apply holds token x and waits for y, which the test holds, and the test then asks for x.
// PostgreSQL aborts the transaction that waited first, the Apply's; Apply must run it again and
// succeed once the test has let go.
// TestDeadlockIsRetried makes the store's Apply one side of a deadlock and checks that, aborted
// by PostgreSQL, it is run again and succeeds.
//
// PostgreSQL looks for a deadlock once per wait, deadlock_timeout (1s) after the wait began, and
// aborts the backend that looked. Apply waits first, so it normally looks, finds the cycle and is
// the one aborted; but on a loaded machine the test's second UPDATE can arrive after Apply has
// looked and found none, and then the test's own transaction is the one aborted. That round
// proves nothing, so the test plays it again with fresh rows.
func TestDeadlockIsRetried(t *testing.T) {
	t.Parallel()
	dsn := testDSN(t)
	schema := freshSchema(t, dsn)
	app := "mcp-authz-" + schema
	var retries atomic.Int32
	log := slog.New(countHandler{msg: "postgres: transaction lost a conflict, retrying", n: &retries})
	s := openTest(t, withParam(t, dsn, "application_name", app), Options{Schema: schema, Logger: log})
	ctx := t.Context()
	other := connect(t, dsn)
	observer := connect(t, dsn)

	const rounds = 5
	for round := range rounds {
		x, y := fmt.Sprintf("x%d", round), fmt.Sprintf("y%d", round)
		for _, sig := range []string{x, y} {
			tok := storage.Token{Kind: storage.AccessToken, Signature: sig, Active: true, Request: storage.Request{ID: sig}}
			if err := s.Apply(ctx, storage.CreateToken{Token: tok}); err != nil {
				t.Fatal(err)
			}
		}
		tx, err := other.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(ctx, "UPDATE "+schema+".tokens SET active = true WHERE signature = $1", y); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() {
			done <- s.Apply(ctx,
				storage.DeactivateToken{Kind: storage.AccessToken, Signature: x},
				storage.DeactivateToken{Kind: storage.AccessToken, Signature: y})
		}()
		waitForLockWaits(t, observer, app, 1)
		// This waits for x until PostgreSQL (after deadlock_timeout) aborts one side.
		_, err = tx.Exec(ctx, "UPDATE "+schema+".tokens SET active = true WHERE signature = $1", x)
		var pgErr *pgconn.PgError
		victim := errors.As(err, &pgErr) && pgErr.Code == sqlstateDeadlockDetected
		if err != nil && !victim {
			t.Fatal(err)
		}
		if err := tx.Rollback(ctx); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatalf("Apply after a deadlock: %v", err)
		}
		for _, sig := range []string{x, y} {
			tok, err := s.GetToken(ctx, storage.AccessToken, sig)
			if err != nil || tok.Active {
				t.Errorf("token %s after Apply: %+v, %v; want inactive", sig, tok, err)
			}
		}
		if victim {
			t.Logf("round %d: PostgreSQL aborted the test's transaction, not Apply; again", round)
			continue
		}
		if retries.Load() == 0 {
			t.Error("Apply was not retried")
		}
		return
	}
	t.Fatalf("in %d rounds PostgreSQL never chose Apply as the deadlock's victim", rounds)
}

func TestRetryIsBounded(t *testing.T) {
	s := &Store{log: slog.New(slog.DiscardHandler)}
	serialization := &pgconn.PgError{Code: sqlstateSerializationFailure}
	calls := 0
	err := s.retry(t.Context(), "op", func() error {
		calls++
		if calls < 3 {
			return fmt.Errorf("wrapped: %w", serialization)
		}
		return nil
	})
	if err != nil || calls != 3 {
		t.Fatalf("retry = %v after %d calls, want success after 3", err, calls)
	}

	calls = 0
	err = s.retry(t.Context(), "op", func() error { calls++; return serialization })
	if !errors.Is(err, serialization) || calls != maxAttempts {
		t.Fatalf("retry = %v after %d calls, want the serialization failure after %d", err, calls, maxAttempts)
	}

	calls = 0
	other := &pgconn.PgError{Code: sqlstateUniqueViolation}
	if err := s.retry(t.Context(), "op", func() error { calls++; return other }); !errors.Is(err, other) || calls != 1 {
		t.Fatalf("retry of a unique violation = %v after %d calls, want it once", err, calls)
	}
}

func TestTimesAreUTC(t *testing.T) {
	t.Parallel()
	dsn := testDSN(t)
	s := openTest(t, dsn, Options{Schema: freshSchema(t, dsn)})
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
	// The zero time reads back as the zero time, not as year 1 in some zone.
	if err := s.Apply(t.Context(), storage.CreateToken{Token: storage.Token{Kind: storage.AccessToken, Signature: "z"}}); err != nil {
		t.Fatal(err)
	}
	z, err := s.GetToken(t.Context(), storage.AccessToken, "z")
	if err != nil {
		t.Fatal(err)
	}
	if z.ExpiresAt != (time.Time{}) || z.RotatedAt != (time.Time{}) || z.Request.RequestedAt != (time.Time{}) {
		t.Errorf("zero times read back as %v, %v, %v", z.ExpiresAt, z.RotatedAt, z.Request.RequestedAt)
	}
}

func TestSizeLimits(t *testing.T) {
	t.Parallel()
	dsn := testDSN(t)
	s := openTest(t, dsn, Options{Schema: freshSchema(t, dsn)})
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
		{"NUL", func() error { return s.Apply(ctx, tok(func(t *storage.Token) { t.Request.Form = "a\x00b" })) }},
		{"NUL in a scope", func() error {
			return s.Apply(ctx, tok(func(t *storage.Token) { t.Request.GrantedScopes = []string{"a\x00"} }))
		}},
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
	}
	for _, w := range writes {
		if err := w.do(); !errors.Is(err, ErrInvalidInput) || !errors.Is(err, storage.ErrInvalid) {
			t.Errorf("%s: got %v, want ErrInvalidInput and storage.ErrInvalid", w.name, err)
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
	got, err := s.GetToken(ctx, ok.Kind, ok.Signature)
	if err != nil || len(got.Request.GrantedScopes) != maxListItems || len(got.Request.Session) != maxSession {
		t.Fatalf("token at the limits read back: %v", err)
	}

	// A lookup by a key that could never have been stored is simply not found: a login with an
	// absurd username is a failed login, not a server error.
	lookups := []struct {
		name string
		do   func() error
	}{
		{"GetToken", func() error { _, err := s.GetToken(ctx, storage.AccessToken, big(maxKey+1)); return err }},
		{"GetToken with NUL", func() error { _, err := s.GetToken(ctx, storage.AccessToken, "a\x00"); return err }},
		{"GetUser", func() error { _, err := s.GetUser(ctx, ""); return err }},
		{"GetUserByUsername", func() error { _, err := s.GetUserByUsername(ctx, big(10000)); return err }},
		{"GetUserByUsername with invalid UTF-8", func() error { _, err := s.GetUserByUsername(ctx, "\xc3"); return err }},
		{"GetConsent", func() error { _, err := s.GetConsent(ctx, "u", big(maxURL+1), ""); return err }},
		{"GetSession", func() error { _, err := s.GetSession(ctx, big(maxKey+1)); return err }},
	}
	for _, l := range lookups {
		err := l.do()
		if !errors.Is(err, storage.ErrNotFound) || !errors.Is(err, ErrInvalidInput) {
			t.Errorf("%s: got %v, want ErrNotFound and ErrInvalidInput", l.name, err)
		}
	}
}

// TestErrorsDoNotLeakBearerIDs: session and elicitation IDs are bearer secrets (a cookie, a
// page's URL) and never appear in an error.
func TestErrorsDoNotLeakBearerIDs(t *testing.T) {
	t.Parallel()
	dsn := testDSN(t)
	s := openTest(t, dsn, Options{Schema: freshSchema(t, dsn)})
	ctx := t.Context()
	const id = "secret-bearer-value"
	e := storage.Elicitation{ID: id, Resource: "r", Subject: "u", ClientID: "c", Kind: "k",
		Status: storage.ElicitationPending, ExpiresAt: time.Now().Add(time.Minute)}
	if err := s.CreateElicitation(ctx, e); err != nil {
		t.Fatal(err)
	}
	for name, err := range map[string]error{
		"GetSession":                 func() error { _, err := s.GetSession(ctx, id); return err }(),
		"CreateElicitation again":    s.CreateElicitation(ctx, e),
		"GetElicitation":             func() error { _, err := s.GetElicitation(ctx, id+"x"); return err }(),
		"CompleteElicitation":        s.CompleteElicitation(ctx, id+"x", storage.ElicitationAccepted, nil, time.Now()),
		"TakeElicitationResult":      func() error { _, err := s.TakeElicitationResult(ctx, id); return err }(),
		"TakeElicitationResult none": func() error { _, err := s.TakeElicitationResult(ctx, id+"x"); return err }(),
	} {
		if err == nil || strings.Contains(err.Error(), id) {
			t.Errorf("%s error %q", name, err)
		}
	}
}

func TestOptions(t *testing.T) {
	t.Parallel()
	dsn := testDSN(t)
	s := openTest(t, dsn, Options{Schema: freshSchema(t, dsn), MaxConns: 3})
	if got := s.pool.Config().MaxConns; got != 3 {
		t.Errorf("MaxConns = %d, want 3", got)
	}
	var app string
	if err := s.pool.QueryRow(t.Context(), "SELECT current_setting('application_name')").Scan(&app); err != nil || app != "mcp-authz" {
		t.Errorf("application_name = %q, %v; want mcp-authz", app, err)
	}

	for _, schema := range []string{"Upper", "1st", "a-b", "a b", `a"b`, strings.Repeat("a", 64), "ü"} {
		if _, err := Open(t.Context(), dsn, Options{Schema: schema}); err == nil {
			t.Errorf("Open with schema %q succeeded", schema)
		}
	}
	if _, err := Open(t.Context(), dsn, Options{MaxConns: -1}); err == nil {
		t.Error("Open with MaxConns -1 succeeded")
	}

	// A DSN that cannot be parsed or reached is an error that does not show the password.
	for _, bad := range []string{"postgres://u:hunter2@127.0.0.1:1/db?sslmode=disable&connect_timeout=2", "postgres://u:hunter2@[::1"} {
		_, err := Open(t.Context(), bad, Options{})
		if err == nil || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("Open(%q): %v", bad, err)
		}
	}
}

func TestClose(t *testing.T) {
	t.Parallel()
	dsn := testDSN(t)
	s, err := Open(t.Context(), dsn, Options{Schema: freshSchema(t, dsn)})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	// Writes under way when Close is called finish first.
	const n = 50
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			errs[i] = s.Apply(ctx, storage.CreateToken{Token: storage.Token{Kind: storage.AccessToken, Signature: fmt.Sprint(i), Request: storage.Request{ID: "r"}}})
		})
	}
	time.Sleep(time.Millisecond)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	applied := 0
	for i, err := range errs {
		switch {
		case err == nil:
			applied++
		case !errors.Is(err, ErrClosed):
			t.Errorf("write %d: %v, want nil or ErrClosed", i, err)
		}
	}
	t.Logf("%d of %d writes landed before Close", applied, n)
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := s.Apply(ctx, storage.DeleteToken{Kind: storage.AccessToken, Signature: "0"}); !errors.Is(err, ErrClosed) {
		t.Errorf("Apply after Close: %v, want ErrClosed", err)
	}
	if _, err := s.GetToken(ctx, storage.AccessToken, "0"); !errors.Is(err, ErrClosed) {
		t.Errorf("GetToken after Close: %v, want ErrClosed", err)
	}
}

// TestCancelledCallerGetsTheOutcome: once a write is under way, the caller's cancellation does not
// interrupt it, so that an error means it was not applied.
func TestCancelledCallerGetsTheOutcome(t *testing.T) {
	t.Parallel()
	dsn := testDSN(t)
	schema := freshSchema(t, dsn)
	app := "mcp-authz-" + schema
	s := openTest(t, withParam(t, dsn, "application_name", app), Options{Schema: schema})
	code := storage.Token{Kind: storage.AuthorizationCode, Signature: "code", Active: true, Request: storage.Request{ID: "r"}}
	if err := s.Apply(t.Context(), storage.CreateToken{Token: code}); err != nil {
		t.Fatal(err)
	}
	holder := connect(t, dsn)
	tx, err := holder.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.Background())
	if _, err := tx.Exec(t.Context(), "SELECT 1 FROM "+schema+".tokens WHERE signature = 'code' FOR UPDATE"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- s.Apply(ctx, storage.DeactivateToken{Kind: storage.AuthorizationCode, Signature: "code"})
	}()
	waitForLockWaits(t, connect(t, dsn), app, 1)
	cancel()
	time.Sleep(50 * time.Millisecond)
	if err := tx.Rollback(t.Context()); err != nil {
		t.Fatal(err)
	}
	err = <-done
	tok, gerr := s.GetToken(t.Context(), code.Kind, code.Signature)
	if gerr != nil {
		t.Fatal(gerr)
	}
	if (err == nil) == tok.Active {
		t.Fatalf("Apply returned %v but the code is active=%v", err, tok.Active)
	}
	if err != nil {
		t.Fatalf("Apply whose caller left while it waited in the database: %v, want it to finish", err)
	}
}

// TestListOrdersBytewise: the order of ListUsers and ListSigningKeys does not depend on the
// database's collation.
func TestListOrdersBytewise(t *testing.T) {
	t.Parallel()
	dsn := testDSN(t)
	s := openTest(t, dsn, Options{Schema: freshSchema(t, dsn)})
	names := []string{"b", "_x", "A", "a-b", "ab", "Zed", "é"}
	for i, n := range names {
		if err := s.CreateUser(t.Context(), storage.User{ID: fmt.Sprint(i), Username: n}); err != nil {
			t.Fatal(err)
		}
	}
	us, err := s.ListUsers(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, u := range us {
		got = append(got, u.Username)
	}
	// SQLite's NOCASE order: ASCII letters folded to lower case, then bytes.
	want := []string{"_x", "A", "a-b", "ab", "b", "Zed", "é"}
	if !slices.Equal(got, want) {
		t.Errorf("ListUsers order %q, want %q", got, want)
	}
}
