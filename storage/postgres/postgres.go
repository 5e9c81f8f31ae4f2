package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mcp-authz/mcp-authz/storage"
)

var (
	_ storage.Store        = (*Store)(nil)
	_ storage.Records      = (*Store)(nil)
	_ storage.Elicitations = (*Store)(nil)
)

var (
	// ErrInvalidInput: a field is missing, over its size limit, or holds what PostgreSQL's text
	// cannot (invalid UTF-8, NUL). Nothing was written. It wraps [storage.ErrInvalid], so callers
	// need not know the backend to test for it.
	ErrInvalidInput = fmt.Errorf("postgres: invalid input: %w", storage.ErrInvalid)
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("postgres: store closed")
	// ErrNotMigrated: Options.NoMigrate was set and the database's schema is older than this
	// binary's (or there is none).
	ErrNotMigrated = errors.New("postgres: database schema is not migrated")
)

const (
	// maxAttempts bounds how often a transaction that lost a conflict (see retryable) is run.
	// PostgreSQL itself rarely needs a second attempt; a distributed engine under contention may
	// need several.
	maxAttempts = 10
	// retryBase and retryMax bound the randomized pause before the next attempt.
	retryBase = 2 * time.Millisecond
	retryMax  = 200 * time.Millisecond
	// writeTimeout bounds a write once it is under way, whatever its caller's context (see
	// Store.write), and a batch of lookups, which serves many callers.
	writeTimeout = 30 * time.Second
)

// Options tune [Open]. The zero value is a sound default.
type Options struct {
	// MaxConns is the most connections this instance opens to the database. Default: the DSN's
	// pool_max_conns if it has one, else pgx's default, the number of CPUs but at least 4.
	//
	// Every instance has a pool of its own, so the database sees up to instances × MaxConns
	// connections, which must stay below its max_connections with room to spare for
	// administration, migrations and rolling restarts (old and new instances overlap). A quarter
	// of the pool (at least two connections) commits Apply calls in batches and a quarter (at
	// least one) sends GetToken lookups in batches, so few connections carry many token
	// requests; more connections than the database has CPU cores buy little.
	MaxConns int32
	// Schema is the PostgreSQL schema that holds mcp-authz's tables; it is created when migrating
	// if it does not exist. It must be a lower-case SQL identifier (a-z, 0-9, _). Default: the
	// first schema of the connection's search_path (normally public). Several deployments can
	// share one database with a schema each.
	Schema string
	// NoMigrate makes Open refuse a database whose schema is behind instead of migrating it, for
	// deployments that migrate explicitly ("mcp-authz migrate") before rolling out.
	NoMigrate bool
	// Logger receives a message per migration applied and per transaction retried. Default: none.
	Logger *slog.Logger
}

func (o Options) validate() error {
	if o.MaxConns < 0 {
		return fmt.Errorf("postgres: max conns %d: want at least 1", o.MaxConns)
	}
	if o.Schema != "" && !isIdentifier(o.Schema) {
		return fmt.Errorf("postgres: schema %q: want a lower-case identifier of at most 63 bytes (a-z, 0-9, _, not starting with a digit)", o.Schema)
	}
	return nil
}

// isIdentifier reports whether s is an SQL identifier that needs no quoting. Allowing nothing else
// keeps the schema name the same whether it is quoted or not, in SQL and in search_path.
func isIdentifier(s string) bool {
	if s == "" || len(s) > 63 {
		return false
	}
	for i := range len(s) {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c == '_':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// Store is a [storage.Store] in a PostgreSQL database. Open it with [Open]; it is safe for
// concurrent use, and any number of Stores, in one process or many, may share one database.
type Store struct {
	pool   *pgxpool.Pool
	schema string // Options.Schema; "" for the search_path's
	log    *slog.Logger

	// reqs is the queue of Apply requests; the writer goroutines take them (see writer.go).
	reqs     chan *applyReq
	nWriters int
	writers  sync.WaitGroup
	// lookups is the queue of GetToken lookups; the reader goroutines take them (see reader.go).
	lookups chan *readReq
	readers sync.WaitGroup

	// closed is set by Close; mu keeps the queue from being closed while a caller sends on it.
	mu        sync.RWMutex
	closed    atomic.Bool
	closeOnce sync.Once
}

// Open connects to the database named by dsn (a postgres:// URL or a key=value string, as libpq
// takes), brings its schema up to date unless opts.NoMigrate, and returns a Store with a pool of
// connections. It fails with an error wrapping [storage.ErrSchemaTooNew] if a newer mcp-authz has
// migrated the database, and with [ErrNotMigrated] if opts.NoMigrate is set and the schema is
// behind.
//
// The DSN may set pgx's pool and connection parameters (pool_max_conns, sslmode, …). Behind a
// connection pooler in transaction mode, such as PgBouncer, add
// default_query_exec_mode=cache_describe: the default mode keeps prepared statements on the server
// connection, which such a pooler hands to other clients.
func Open(ctx context.Context, dsn string, opts Options) (*Store, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx's parse errors hide the password.
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	if opts.Schema != "" {
		// Sent at connection start-up: no round trip of its own, and no statement runs before it.
		cfg.ConnConfig.RuntimeParams["search_path"] = opts.Schema
	}
	if _, set := cfg.ConnConfig.RuntimeParams["application_name"]; !set {
		// So that a DBA can tell mcp-authz's connections apart in pg_stat_activity.
		cfg.ConnConfig.RuntimeParams["application_name"] = "mcp-authz"
	}
	where := fmt.Sprintf("%s:%d/%s", cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database)

	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: open %s: %w", where, err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: connect to %s: %w", where, err)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Store{pool: pool, schema: opts.Schema, log: log, reqs: make(chan *applyReq, maxBatch),
		lookups: make(chan *readReq, maxBatch)}
	if opts.NoMigrate {
		err = s.checkSchema(ctx)
	} else {
		err = s.migrate(ctx)
	}
	if err != nil {
		pool.Close()
		return nil, err
	}
	n := writerCount(cfg.MaxConns)
	s.nWriters = n
	s.writers.Add(n)
	for range n {
		go s.runWriter()
	}
	n = readerCount(cfg.MaxConns)
	s.readers.Add(n)
	for range n {
		go s.runReader()
	}
	return s, nil
}

// writerCount is how many writer goroutines commit Apply requests (see writer.go): at least two,
// so that one batch is being sent while another waits for its commit, and few enough that batches
// form and that other queries always find a connection.
func writerCount(maxConns int32) int {
	return max(2, int(maxConns)/4)
}

// readerCount is how many reader goroutines send GetToken lookups (see reader.go).
func readerCount(maxConns int32) int {
	return max(1, int(maxConns)/4)
}

// Close waits for the operations under way to finish and closes every connection. Operations
// started after Close fail with ErrClosed. Close may be called more than once.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed.Store(true)
		close(s.reqs)
		close(s.lookups)
		s.mu.Unlock()
		s.writers.Wait()
		s.readers.Wait()
		s.pool.Close()
	})
	return nil
}

// retry runs fn until it succeeds, fails for a reason other than a lost conflict (see retryable),
// or has run maxAttempts times. Between attempts it waits a random pause that grows with each
// attempt, so that the transactions that collided do not collide again in step; ctx ends the
// waiting.
func (s *Store) retry(ctx context.Context, what string, fn func() error) error {
	for attempt := 1; ; attempt++ {
		err := fn()
		if err == nil || !retryable(err) {
			return err
		}
		if attempt == maxAttempts {
			return fmt.Errorf("postgres: %s: gave up after %d attempts: %w", what, attempt, err)
		}
		pause := rand.N(min(retryMax, retryBase<<(attempt-1))) + time.Millisecond
		s.log.DebugContext(ctx, "postgres: transaction lost a conflict, retrying",
			"op", what, "attempt", attempt, "pause", pause, "err", err)
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("postgres: %s: %w (after %w)", what, ctx.Err(), err)
		case <-t.C:
		}
	}
}

// write runs fn, a write, on a connection of its own, again if it loses a conflict. A write whose
// error is returned was not applied (but see the package documentation on lost connections).
//
// The caller's context governs the wait for a connection and the pauses between attempts. Once a
// connection is in hand the attempt runs to its end whatever happens to the caller's context:
// interrupting it would leave the caller unsure whether it committed. writeTimeout still bounds it,
// so that a database that stops answering cannot hold a caller forever.
func (s *Store) write(ctx context.Context, what string, fn func(ctx context.Context, c *pgxpool.Conn) error) error {
	if s.closed.Load() {
		return ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("postgres: %s: %w", what, err)
	}
	return s.retry(ctx, what, func() error {
		c, err := s.acquire(ctx, what)
		if err != nil {
			return err
		}
		defer c.Release()
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), writeTimeout)
		defer cancel()
		return fn(wctx, c)
	})
}

// read runs fn, a read, again if it loses a conflict (which only a distributed engine reports for
// a read).
func (s *Store) read(ctx context.Context, what string, fn func(ctx context.Context, c *pgxpool.Conn) error) error {
	if s.closed.Load() {
		return ErrClosed
	}
	return s.retry(ctx, what, func() error {
		c, err := s.acquire(ctx, what)
		if err != nil {
			return err
		}
		defer c.Release()
		return fn(ctx, c)
	})
}

func (s *Store) acquire(ctx context.Context, what string) (*pgxpool.Conn, error) {
	c, err := s.pool.Acquire(ctx)
	if err != nil {
		if s.closed.Load() {
			return nil, ErrClosed
		}
		return nil, fmt.Errorf("postgres: %s: %w", what, err)
	}
	return c, nil
}

// exec runs one statement as a write and returns the number of rows it affected.
func (s *Store) exec(ctx context.Context, what, sql string, args ...any) (int64, error) {
	var n int64
	err := s.write(ctx, what, func(ctx context.Context, c *pgxpool.Conn) error {
		tag, err := c.Exec(ctx, sql, args...)
		if err != nil {
			return fmt.Errorf("postgres: %s: %w", what, err)
		}
		n = tag.RowsAffected()
		return nil
	})
	return n, err
}

// queryRow runs a one-row query as a read and scans its row into dest. pgx.ErrNoRows is returned
// unwrapped for the caller to turn into ErrNotFound.
func (s *Store) queryRow(ctx context.Context, what, sql string, args []any, dest ...any) error {
	return s.read(ctx, what, func(ctx context.Context, c *pgxpool.Conn) error {
		err := c.QueryRow(ctx, sql, args...).Scan(dest...)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("postgres: %s: %w", what, err)
		}
		return err
	})
}
