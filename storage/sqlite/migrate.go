package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

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
		return nil, fmt.Errorf("sqlite: migrations: %w", err)
	}
	var ms []migration
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("sqlite: migration %s: name must start with a positive number and _", e.Name())
		}
		b, err := migrationFiles.ReadFile(path.Join("migrations", e.Name()))
		if err != nil {
			return nil, fmt.Errorf("sqlite: migration %s: %w", e.Name(), err)
		}
		ms = append(ms, migration{version: v, name: e.Name(), sql: string(b)})
	}
	slices.SortFunc(ms, func(a, b migration) int { return a.version - b.version })
	for i, m := range ms {
		if m.version != i+1 {
			return nil, fmt.Errorf("sqlite: migration %s: want version %d", m.name, i+1)
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

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// schemaVersion reads the applied version; 0 for a database never migrated.
func schemaVersion(ctx context.Context, q querier) (int, error) {
	var n int
	err := q.QueryRowContext(ctx,
		"SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'schema_version'").Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("sqlite: schema version: %w", err)
	}
	if n == 0 {
		return 0, nil
	}
	var v sql.NullInt64
	if err := q.QueryRowContext(ctx, "SELECT max(version) FROM schema_version").Scan(&v); err != nil {
		return 0, fmt.Errorf("sqlite: schema version: %w", err)
	}
	return int(v.Int64), nil
}

// SchemaVersion is the version of the database's schema (the number of the last migration
// applied).
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	return schemaVersion(ctx, s.readDB)
}

func tooNew(have, known int) error {
	return fmt.Errorf("sqlite: database schema version %d, this binary knows up to %d: %w",
		have, known, storage.ErrSchemaTooNew)
}

// checkSchema is Open's check under NoMigrate: the schema must be exactly current.
func checkSchema(ctx context.Context, c *sql.Conn) error {
	ms, err := migrations()
	if err != nil {
		return err
	}
	v, err := schemaVersion(ctx, c)
	if err != nil {
		return err
	}
	switch {
	case v > len(ms):
		return tooNew(v, len(ms))
	case v < len(ms):
		return fmt.Errorf("sqlite: database schema version %d, this binary needs %d (run \"mcp-authz migrate\"): %w",
			v, len(ms), ErrNotMigrated)
	}
	return nil
}

// migrate applies the missing migrations in one transaction: the schema moves from one version to
// the next whole, or not at all. BEGIN IMMEDIATE makes two processes migrating at once take turns.
func migrate(ctx context.Context, c *sql.Conn) (err error) {
	ms, err := migrations()
	if err != nil {
		return err
	}
	if _, err := c.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	defer func() {
		if err != nil {
			// Rolling back with a context that may have ended would leave the transaction open.
			_, _ = c.ExecContext(context.Background(), "ROLLBACK")
		}
	}()
	_, err = c.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (
		version    INTEGER NOT NULL PRIMARY KEY,
		applied_at INTEGER NOT NULL
	) STRICT`)
	if err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	v, err := schemaVersion(ctx, c)
	if err != nil {
		return err
	}
	if v > len(ms) {
		return tooNew(v, len(ms))
	}
	for _, m := range ms[v:] {
		if _, err := c.ExecContext(ctx, m.sql); err != nil {
			return fmt.Errorf("sqlite: migration %s: %w", m.name, err)
		}
		_, err := c.ExecContext(ctx, "INSERT INTO schema_version (version, applied_at) VALUES (?, ?)",
			m.version, encodeTime(time.Now()))
		if err != nil {
			return fmt.Errorf("sqlite: migration %s: %w", m.name, err)
		}
	}
	if _, err := c.ExecContext(ctx, "COMMIT"); err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	return nil
}
