package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/mcp-authz/mcp-authz/storage"
)

// Records never expire: DeleteExpired leaves them alone. Their data is kept as the bytes given;
// storage does not parse it.

func checkRecordKey(v *check, kind, id string) {
	v.text("record kind", kind, maxKind, true)
	v.text("record ID", id, maxRecordID, true)
}

// checkRecord validates r and returns its times encoded.
func checkRecord(r storage.Record) (createdAt, updatedAt int64, err error) {
	var v check
	checkRecordKey(&v, r.Kind, r.ID)
	v.bytes("record data", r.Data, maxRecord, false)
	createdAt = v.time("record created at", r.CreatedAt)
	updatedAt = v.time("record updated at", r.UpdatedAt)
	return createdAt, updatedAt, v.err
}

// CreateRecord inserts a record; ErrConflict if (kind, id) exists.
func (s *Store) CreateRecord(ctx context.Context, r storage.Record) error {
	createdAt, updatedAt, err := checkRecord(r)
	if err != nil {
		return fmt.Errorf("sqlite: create record: %w", err)
	}
	_, err = s.write(ctx, func(ctx context.Context, c *sql.Conn, _ time.Time) (int64, error) {
		_, err := c.ExecContext(ctx, `INSERT INTO records (kind, id, data, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?)`, r.Kind, r.ID, r.Data, createdAt, updatedAt)
		if isUnique(err) {
			return 0, fmt.Errorf("sqlite: create record %s/%s: %w", r.Kind, r.ID, storage.ErrConflict)
		}
		if err != nil {
			return 0, fmt.Errorf("sqlite: create record: %w", err)
		}
		return 0, nil
	})
	return err
}

// PutRecord inserts or replaces a record. A replaced record keeps its CreatedAt; its data and
// UpdatedAt are r's.
func (s *Store) PutRecord(ctx context.Context, r storage.Record) error {
	createdAt, updatedAt, err := checkRecord(r)
	if err != nil {
		return fmt.Errorf("sqlite: put record: %w", err)
	}
	_, err = s.write(ctx, func(ctx context.Context, c *sql.Conn, _ time.Time) (int64, error) {
		_, err := c.ExecContext(ctx, `INSERT INTO records (kind, id, data, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (kind, id) DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at`,
			r.Kind, r.ID, r.Data, createdAt, updatedAt)
		if err != nil {
			return 0, fmt.Errorf("sqlite: put record: %w", err)
		}
		return 0, nil
	})
	return err
}

// GetRecord returns a record; ErrNotFound if none.
func (s *Store) GetRecord(ctx context.Context, kind, id string) (*storage.Record, error) {
	var v check
	checkRecordKey(&v, kind, id)
	if v.err != nil {
		return nil, badKey("get record", v.err)
	}
	r := storage.Record{Kind: kind, ID: id}
	var createdAt, updatedAt int64
	err := s.readDB.QueryRowContext(ctx,
		`SELECT data, created_at, updated_at FROM records WHERE kind = ? AND id = ?`,
		kind, id).Scan(&r.Data, &createdAt, &updatedAt)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, fmt.Errorf("sqlite: get record %s/%s: %w", kind, id, storage.ErrNotFound)
	case err != nil:
		return nil, fmt.Errorf("sqlite: get record: %w", err)
	}
	r.CreatedAt, r.UpdatedAt = decodeTime(createdAt), decodeTime(updatedAt)
	return &r, nil
}

// ListRecords returns every record of a kind, ordered by id byte by byte (as Go compares
// strings: SQLite's default BINARY collation).
func (s *Store) ListRecords(ctx context.Context, kind string) ([]storage.Record, error) {
	var v check
	v.text("record kind", kind, maxKind, true)
	if v.err != nil {
		return nil, fmt.Errorf("sqlite: list records: %w", v.err)
	}
	rows, err := s.readDB.QueryContext(ctx,
		`SELECT id, data, created_at, updated_at FROM records WHERE kind = ? ORDER BY id`, kind)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list records: %w", err)
	}
	defer rows.Close()
	var rs []storage.Record
	for rows.Next() {
		r := storage.Record{Kind: kind}
		var createdAt, updatedAt int64
		if err := rows.Scan(&r.ID, &r.Data, &createdAt, &updatedAt); err != nil {
			return nil, fmt.Errorf("sqlite: list records: %w", err)
		}
		r.CreatedAt, r.UpdatedAt = decodeTime(createdAt), decodeTime(updatedAt)
		rs = append(rs, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list records: %w", err)
	}
	return rs, nil
}

// DeleteRecord removes a record; ErrNotFound if there was none.
func (s *Store) DeleteRecord(ctx context.Context, kind, id string) error {
	var v check
	checkRecordKey(&v, kind, id)
	if v.err != nil {
		return badKey("delete record", v.err)
	}
	// A missing record is reported here rather than as the write's error: nothing was written,
	// and an error inside the write would make the writer redo its whole batch.
	n, err := s.write(ctx, func(ctx context.Context, c *sql.Conn, _ time.Time) (int64, error) {
		res, err := c.ExecContext(ctx, `DELETE FROM records WHERE kind = ? AND id = ?`, kind, id)
		if err != nil {
			return 0, fmt.Errorf("sqlite: delete record: %w", err)
		}
		return res.RowsAffected()
	})
	if err == nil && n == 0 {
		err = fmt.Errorf("sqlite: delete record %s/%s: %w", kind, id, storage.ErrNotFound)
	}
	return err
}
