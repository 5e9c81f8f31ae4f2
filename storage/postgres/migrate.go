package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mcp-authz/mcp-authz/storage"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

type migration struct {
	version int
	name    string
	sql     string
}

// migrations returns the embedded migrations in order. File names are NNNN_description.sql,
// numbered from 1 without gaps.
func migrations() ([]migration, error) {
	entries, err := fs.ReadDir(migrationFiles, "migrations")
	if err != nil {
		return nil, fmt.Errorf("postgres: migrations: %w", err)
	}
	var ms []migration
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("postgres: migration %s: name must start with a positive number and _", e.Name())
		}
		b, err := migrationFiles.ReadFile(path.Join("migrations", e.Name()))
		if err != nil {
			return nil, fmt.Errorf("postgres: migration %s: %w", e.Name(), err)
		}
		ms = append(ms, migration{version: v, name: e.Name(), sql: string(b)})
	}
	slices.SortFunc(ms, func(a, b migration) int { return a.version - b.version })
	for i, m := range ms {
		if m.version != i+1 {
			return nil, fmt.Errorf("postgres: migration %s: want version %d", m.name, i+1)
		}
	}
	return ms, nil
}

// LatestSchemaVersion is the schema version this binary migrates to.
func LatestSchemaVersion() int {
	ms, err := migrations()
	if err != nil {
		return 0
	}
	return len(ms)
}

// querier is what schemaVersion needs of a connection or a transaction.
type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// schemaVersion reads the applied version; 0 for a schema never migrated (or absent).
// information_schema rather than to_regclass or pg_catalog: it is the portable way to ask.
func schemaVersion(ctx context.Context, q querier) (int, error) {
	var exists bool
	err := q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM information_schema.tables
		WHERE table_schema = current_schema() AND table_name = 'schema_version')`).Scan(&exists)
	if err != nil {
		return 0, fmt.Errorf("postgres: schema version: %w", err)
	}
	if !exists {
		return 0, nil
	}
	var v int
	if err := q.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM schema_version").Scan(&v); err != nil {
		return 0, fmt.Errorf("postgres: schema version: %w", err)
	}
	return v, nil
}

// SchemaVersion is the version of the database's schema (the number of the last migration
// applied).
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	err := s.read(ctx, "schema version", func(ctx context.Context, c *pgxpool.Conn) error {
		var err error
		v, err = schemaVersion(ctx, c)
		return err
	})
	return v, err
}

func tooNew(have, known int) error {
	return fmt.Errorf("postgres: database schema is version %d, this mcp-authz knows up to %d: upgrade mcp-authz: %w",
		have, known, storage.ErrSchemaTooNew)
}

// checkSchema is Open's check under NoMigrate: the schema must be exactly current.
func (s *Store) checkSchema(ctx context.Context) error {
	v, err := s.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	latest := LatestSchemaVersion()
	switch {
	case v > latest:
		return tooNew(v, latest)
	case v < latest:
		return fmt.Errorf("postgres: database schema is version %d, this mcp-authz needs %d (run \"mcp-authz migrate\"): %w",
			v, latest, ErrNotMigrated)
	}
	return nil
}

// migrateLockKey is the advisory lock that migrations of one schema take. It is derived from the
// schema's name so that deployments in separate schemas of one database do not wait for each
// other.
func migrateLockKey(schema string) int64 {
	h := fnv.New64a()
	h.Write([]byte("mcp-authz migrate\x00" + schema))
	return int64(h.Sum64())
}

// migrate applies the missing migrations in one transaction: the schema moves from one version to
// the next whole, or not at all (PostgreSQL's DDL is transactional).
//
// Several instances starting at once all call it. The transaction first takes an advisory lock
// (pg_advisory_xact_lock, released at commit or rollback), so they take turns: the first migrates,
// the others then find the schema current and do nothing. Without the lock two of them could both
// see version 0 and both run CREATE TABLE, and one would fail.
func (s *Store) migrate(ctx context.Context) error {
	ms, err := migrations()
	if err != nil {
		return err
	}
	var from int
	err = s.retry(ctx, "migrate", func() (err error) {
		from = 0
		tx, err := s.pool.Begin(ctx)
		if err != nil {
			return fmt.Errorf("postgres: migrate: %w", err)
		}
		defer func() {
			if err != nil {
				// Rolling back with a context that may have ended would leave the connection in
				// a transaction.
				_ = tx.Rollback(context.WithoutCancel(ctx))
			}
		}()
		schema := s.schema
		if schema == "" {
			var cur *string
			if err := tx.QueryRow(ctx, "SELECT current_schema()").Scan(&cur); err != nil {
				return fmt.Errorf("postgres: migrate: %w", err)
			}
			if cur == nil {
				return errors.New("postgres: migrate: no schema of the search_path exists: create one or set a schema")
			}
			schema = *cur
		}
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", migrateLockKey(schema)); err != nil {
			return fmt.Errorf("postgres: migrate: lock: %w", err)
		}
		if s.schema != "" {
			// CREATE SCHEMA IF NOT EXISTS would still need the privilege to create schemas, which
			// a deployment whose schema was made for it by a DBA need not have.
			var exists bool
			err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM information_schema.schemata WHERE schema_name = $1)",
				s.schema).Scan(&exists)
			if err != nil {
				return fmt.Errorf("postgres: migrate: %w", err)
			}
			if !exists {
				// The name is an identifier without quotes (Options.validate), so quoting it
				// changes nothing.
				if _, err := tx.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{s.schema}.Sanitize()); err != nil {
					return fmt.Errorf("postgres: migrate: create schema %s: %w", s.schema, err)
				}
			}
		}
		_, err = tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_version (
			version    integer     NOT NULL PRIMARY KEY,
			applied_at timestamptz NOT NULL
		)`)
		if err != nil {
			return fmt.Errorf("postgres: migrate: %w", err)
		}
		from, err = schemaVersion(ctx, tx)
		if err != nil {
			return err
		}
		if from > len(ms) {
			return tooNew(from, len(ms))
		}
		for _, m := range ms[from:] {
			if _, err := tx.Exec(ctx, m.sql); err != nil {
				return fmt.Errorf("postgres: migration %s: %w", m.name, err)
			}
			_, err := tx.Exec(ctx, "INSERT INTO schema_version (version, applied_at) VALUES ($1, now())", m.version)
			if err != nil {
				return fmt.Errorf("postgres: migration %s: %w", m.name, err)
			}
		}
		if err := tx.Commit(ctx); err != nil {
			return fmt.Errorf("postgres: migrate: commit: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, m := range ms[from:] {
		s.log.InfoContext(ctx, "postgres: applied migration", "schema", s.schema, "migration", m.name, "version", m.version)
	}
	return nil
}
