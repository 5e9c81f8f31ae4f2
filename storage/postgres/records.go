package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mcp-authz/mcp-authz/storage"
)

// Records never expire: DeleteExpired leaves them alone. Their data is kept as the bytes given;
// storage does not parse it.

func checkRecordKey(v *check, kind, id string) {
	v.text("record kind", kind, maxKind, true)
	v.text("record ID", id, maxRecordID, true)
}

// checkRecord validates r and returns its times.
func checkRecord(r storage.Record) (createdAt, updatedAt time.Time, err error) {
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
		return fmt.Errorf("postgres: create record: %w", err)
	}
	_, err = s.exec(ctx, "create record", `INSERT INTO records (kind, id, data, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5)`, r.Kind, r.ID, r.Data, createdAt, updatedAt)
	if isUnique(err) {
		return fmt.Errorf("postgres: create record %s/%s: %w", r.Kind, r.ID, storage.ErrConflict)
	}
	return err
}

// PutRecord inserts or replaces a record. A replaced record keeps its CreatedAt; its data and
// UpdatedAt are r's.
func (s *Store) PutRecord(ctx context.Context, r storage.Record) error {
	createdAt, updatedAt, err := checkRecord(r)
	if err != nil {
		return fmt.Errorf("postgres: put record: %w", err)
	}
	_, err = s.exec(ctx, "put record", `INSERT INTO records (kind, id, data, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (kind, id) DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at`,
		r.Kind, r.ID, r.Data, createdAt, updatedAt)
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
	err := s.queryRow(ctx, "get record", `SELECT data, created_at, updated_at FROM records WHERE kind = $1 AND id = $2`,
		[]any{kind, id}, &r.Data, &r.CreatedAt, &r.UpdatedAt)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, fmt.Errorf("postgres: get record %s/%s: %w", kind, id, storage.ErrNotFound)
	case err != nil:
		return nil, err
	}
	r.CreatedAt, r.UpdatedAt = decodeTime(r.CreatedAt), decodeTime(r.UpdatedAt)
	return &r, nil
}

// ListRecords returns every record of a kind, ordered by id byte by byte. The order is made here,
// not by ORDER BY, whose text order depends on the database's collation.
func (s *Store) ListRecords(ctx context.Context, kind string) ([]storage.Record, error) {
	var v check
	v.text("record kind", kind, maxKind, true)
	if v.err != nil {
		return nil, fmt.Errorf("postgres: list records: %w", v.err)
	}
	var rs []storage.Record
	err := s.read(ctx, "list records", func(ctx context.Context, c *pgxpool.Conn) error {
		rs = rs[:0]
		rows, err := c.Query(ctx, `SELECT id, data, created_at, updated_at FROM records WHERE kind = $1`, kind)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			r := storage.Record{Kind: kind}
			if err := rows.Scan(&r.ID, &r.Data, &r.CreatedAt, &r.UpdatedAt); err != nil {
				return err
			}
			r.CreatedAt, r.UpdatedAt = decodeTime(r.CreatedAt), decodeTime(r.UpdatedAt)
			rs = append(rs, r)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: list records: %w", err)
	}
	slices.SortFunc(rs, func(a, b storage.Record) int { return strings.Compare(a.ID, b.ID) })
	return rs, nil
}

// DeleteRecord removes a record; ErrNotFound if there was none.
func (s *Store) DeleteRecord(ctx context.Context, kind, id string) error {
	var v check
	checkRecordKey(&v, kind, id)
	if v.err != nil {
		return badKey("delete record", v.err)
	}
	n, err := s.exec(ctx, "delete record", `DELETE FROM records WHERE kind = $1 AND id = $2`, kind, id)
	if err == nil && n == 0 {
		err = fmt.Errorf("postgres: delete record %s/%s: %w", kind, id, storage.ErrNotFound)
	}
	return err
}
