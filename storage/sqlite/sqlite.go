package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	sqlite3 "github.com/mattn/go-sqlite3"

	"github.com/mcp-authz/mcp-authz/storage"
)

var _ storage.Store = (*Store)(nil)

var (
	// ErrInvalidInput: a field is missing or over its size limit. Nothing was written. It wraps
	// [storage.ErrInvalid], so callers need not know the backend to test for it.
	ErrInvalidInput = fmt.Errorf("sqlite: invalid input: %w", storage.ErrInvalid)
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("sqlite: store closed")
	// ErrNotMigrated: Options.NoMigrate was set and the database's schema is older than this
	// binary's (or the database does not exist).
	ErrNotMigrated = errors.New("sqlite: database schema is not migrated")
)

// Synchronous is SQLite's synchronous setting: how hard a commit works to reach the disk.
type Synchronous string

const (
	// SynchronousFull fsyncs the write-ahead log on every commit: a write that returned survives a
	// power loss. The default.
	SynchronousFull Synchronous = "full"
	// SynchronousNormal fsyncs only at checkpoints: a write survives a crash of the process but
	// may be lost if the machine loses power.
	SynchronousNormal Synchronous = "normal"
)

// Options tune [Open]. The zero value is a sound default.
type Options struct {
	// BusyTimeout is how long a connection waits for a lock held by another process (a CLI
	// command, a backup) before failing. Default 5s.
	BusyTimeout time.Duration
	// Synchronous defaults to SynchronousFull. "" means the default.
	Synchronous Synchronous
	// MaxBatch is the most write requests committed together. Default 256.
	MaxBatch int
	// ReadConns is the size of the read connection pool. Default max(4, 2×GOMAXPROCS).
	ReadConns int
	// NoMigrate makes Open refuse a database whose schema is behind instead of migrating it, for
	// deployments that migrate explicitly ("mcp-authz migrate").
	NoMigrate bool
}

func (o Options) withDefaults() (Options, error) {
	if o.BusyTimeout <= 0 {
		o.BusyTimeout = 5 * time.Second
	}
	switch strings.ToLower(string(o.Synchronous)) {
	case "", string(SynchronousFull):
		o.Synchronous = SynchronousFull
	case string(SynchronousNormal):
		o.Synchronous = SynchronousNormal
	default:
		return o, fmt.Errorf("sqlite: synchronous %q: want %q or %q", o.Synchronous, SynchronousFull, SynchronousNormal)
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 256
	}
	if o.ReadConns <= 0 {
		o.ReadConns = max(4, 2*runtime.GOMAXPROCS(0))
	}
	return o, nil
}

// Store is a [storage.Store] in one SQLite file. Open it with [Open]; it is safe for concurrent
// use.
type Store struct {
	path    string
	readDB  *sql.DB
	writeDB *sql.DB
	// wconn is the only connection that writes; the writer goroutine owns it after Open.
	wconn *sql.Conn
	// cconn is the checkpointer's connection (see checkpoint.go).
	cconn *sql.Conn

	reqs       chan *writeReq
	maxBatch   int
	writerDone chan struct{}

	// The writer kicks the checkpointer after every checkpointEvery requests it commits, and
	// marks the log dirty after any.
	kick      chan struct{}
	sinceKick int
	dirty     atomic.Bool
	stopCkpt  chan struct{}
	ckptDone  chan struct{}

	// mu guards closed against the channel being closed while a caller sends on it.
	mu        sync.RWMutex
	closed    bool
	closeOnce sync.Once
	closeErr  error
}

// Open opens (creating if needed) the database at path, brings its schema up to date unless
// opts.NoMigrate, and starts the writer. The parent directory is created with mode 0700 and the
// database file with 0600: it holds password hashes and sessions.
func Open(ctx context.Context, path string, opts Options) (*Store, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "file:") {
		return nil, fmt.Errorf("sqlite: path %q: want a file path", path)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	if opts.NoMigrate {
		// Without migrations an absent file cannot become usable: say so rather than leave an
		// empty database behind.
		if _, err := os.Stat(abs); err != nil {
			return nil, fmt.Errorf("sqlite: open %s without migrating: %w (%w)", abs, ErrNotMigrated, err)
		}
	} else {
		if err := os.MkdirAll(filepath.Dir(abs), 0o700); err != nil {
			return nil, fmt.Errorf("sqlite: create directory: %w", err)
		}
		// SQLite would create the file with the umask's permissions; it gives the -wal and -shm
		// files the database file's mode, so creating it first protects all three.
		f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return nil, fmt.Errorf("sqlite: create database: %w", err)
		}
		if err := f.Close(); err != nil {
			return nil, fmt.Errorf("sqlite: create database: %w", err)
		}
	}

	s := &Store{
		path:       abs,
		maxBatch:   opts.MaxBatch,
		reqs:       make(chan *writeReq, opts.MaxBatch),
		writerDone: make(chan struct{}),
		kick:       make(chan struct{}, 1),
		stopCkpt:   make(chan struct{}),
		ckptDone:   make(chan struct{}),
	}
	// Two connections: the writer's and the checkpointer's. Neither is ever returned to the pool.
	s.writeDB = sql.OpenDB(connector{dsn: dsn(abs, opts, false)})
	s.writeDB.SetMaxOpenConns(2)
	s.writeDB.SetMaxIdleConns(2)
	s.writeDB.SetConnMaxLifetime(0)
	s.wconn, err = s.writeDB.Conn(ctx)
	if err != nil {
		s.writeDB.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", abs, err)
	}
	fail := func(err error) (*Store, error) {
		s.wconn.Close()
		if s.cconn != nil {
			s.cconn.Close()
		}
		s.writeDB.Close()
		return nil, err
	}
	var mode string
	if err := s.wconn.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return fail(fmt.Errorf("sqlite: open %s: %w", abs, err))
	}
	if !strings.EqualFold(mode, "wal") {
		// Without WAL, readers and the writer block each other; a filesystem that cannot do WAL
		// (some network filesystems) is not one to keep this database on.
		return fail(fmt.Errorf("sqlite: open %s: journal mode is %q, WAL is not available here", abs, mode))
	}
	// The checkpointer copies the WAL into the database file; the writer checkpoints only as a
	// safety net, if the WAL grows far beyond what the checkpointer lets it.
	if _, err := s.wconn.ExecContext(ctx, fmt.Sprintf("PRAGMA wal_autocheckpoint = %d", walSafetyPages)); err != nil {
		return fail(fmt.Errorf("sqlite: open %s: %w", abs, err))
	}
	// After a burst the WAL file would keep its largest size; this trims it back when it restarts.
	if _, err := s.wconn.ExecContext(ctx, fmt.Sprintf("PRAGMA journal_size_limit = %d", walSizeLimit)); err != nil {
		return fail(fmt.Errorf("sqlite: open %s: %w", abs, err))
	}
	if s.cconn, err = s.writeDB.Conn(ctx); err != nil {
		return fail(fmt.Errorf("sqlite: open %s: %w", abs, err))
	}
	if opts.NoMigrate {
		err = checkSchema(ctx, s.wconn)
	} else {
		err = migrate(ctx, s.wconn)
	}
	if err != nil {
		return fail(err)
	}

	s.readDB = sql.OpenDB(connector{dsn: dsn(abs, opts, true)})
	s.readDB.SetMaxOpenConns(opts.ReadConns)
	s.readDB.SetMaxIdleConns(opts.ReadConns)
	s.readDB.SetConnMaxLifetime(0)
	if err := s.readDB.PingContext(ctx); err != nil {
		s.readDB.Close()
		return fail(fmt.Errorf("sqlite: open %s: %w", abs, err))
	}

	go s.runWriter()
	go s.runCheckpointer()
	return s, nil
}

// dsn builds the go-sqlite3 URI. Readers are query-only so that a bug cannot make a second writer.
func dsn(path string, opts Options, readOnly bool) string {
	// In a file: URI, SQLite decodes %XX in the path; escape what would end the path early.
	p := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(filepath.ToSlash(path))
	q := url.Values{}
	q.Set("_busy_timeout", strconv.FormatInt(opts.BusyTimeout.Milliseconds(), 10))
	q.Set("_foreign_keys", "1")
	q.Set("_synchronous", strings.ToUpper(string(opts.Synchronous)))
	// database/sql serializes use of a connection, so SQLite's own per-connection mutex is waste.
	q.Set("_mutex", "no")
	// The same few statements run over and over; keep them prepared.
	q.Set("_stmt_cache_size", "32")
	if readOnly {
		q.Set("_query_only", "1")
	} else {
		q.Set("_journal_mode", "WAL")
	}
	return "file:" + p + "?" + q.Encode()
}

// connector opens connections through a private driver value, so that this package needs no
// global sql.Register name of its own.
type connector struct{ dsn string }

func (c connector) Connect(context.Context) (driver.Conn, error) {
	return (&sqlite3.SQLiteDriver{}).Open(c.dsn)
}

func (c connector) Driver() driver.Driver { return &sqlite3.SQLiteDriver{} }

// Path is the absolute path of the database file.
func (s *Store) Path() string { return s.path }

// Close finishes every write already queued, stops the writer and closes the database. Writes
// started after Close fail with ErrClosed. Close may be called more than once.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		close(s.reqs)
		s.mu.Unlock()
		<-s.writerDone
		close(s.stopCkpt)
		<-s.ckptDone
		// Closing the last connection checkpoints what is left and removes the WAL.
		s.closeErr = errors.Join(s.cconn.Close(), s.wconn.Close(), s.writeDB.Close(), s.readDB.Close())
		if s.closeErr != nil {
			s.closeErr = fmt.Errorf("sqlite: close: %w", s.closeErr)
		}
	})
	return s.closeErr
}
