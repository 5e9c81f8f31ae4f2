package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/mcp-authz/mcp-authz/storage"
)

// CreateSigningKey inserts a key; ErrConflict if its ID exists.
func (s *Store) CreateSigningKey(ctx context.Context, k storage.SigningKey) error {
	var v check
	v.text("key ID", k.ID, maxKey, true)
	v.text("algorithm", k.Algorithm, maxKind, true)
	v.bytes("encrypted private key", k.EncryptedPrivateKey, maxKeyBlob, true)
	createdAt := v.time("created at", k.CreatedAt)
	if v.err != nil {
		return fmt.Errorf("sqlite: create signing key: %w", v.err)
	}
	_, err := s.write(ctx, func(ctx context.Context, c *sql.Conn, _ time.Time) (int64, error) {
		_, err := c.ExecContext(ctx, `INSERT INTO signing_keys (id, algorithm, encrypted_private_key, created_at)
			VALUES (?, ?, ?, ?)`, k.ID, k.Algorithm, k.EncryptedPrivateKey, createdAt)
		if isUnique(err) {
			return 0, fmt.Errorf("sqlite: create signing key %s: %w", k.ID, storage.ErrConflict)
		}
		if err != nil {
			return 0, fmt.Errorf("sqlite: create signing key: %w", err)
		}
		return 0, nil
	})
	return err
}

// ListSigningKeys returns every key, newest first (by creation time, then ID, so that the order
// is stable).
func (s *Store) ListSigningKeys(ctx context.Context) ([]storage.SigningKey, error) {
	rows, err := s.readDB.QueryContext(ctx,
		`SELECT id, algorithm, encrypted_private_key, created_at FROM signing_keys ORDER BY created_at DESC, id DESC`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list signing keys: %w", err)
	}
	defer rows.Close()
	var ks []storage.SigningKey
	for rows.Next() {
		var k storage.SigningKey
		var createdAt int64
		if err := rows.Scan(&k.ID, &k.Algorithm, &k.EncryptedPrivateKey, &createdAt); err != nil {
			return nil, fmt.Errorf("sqlite: list signing keys: %w", err)
		}
		k.CreatedAt = decodeTime(createdAt)
		ks = append(ks, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list signing keys: %w", err)
	}
	return ks, nil
}

// DeleteSigningKey removes a key if there is one.
func (s *Store) DeleteSigningKey(ctx context.Context, id string) error {
	var v check
	v.text("key ID", id, maxKey, true)
	if v.err != nil {
		return fmt.Errorf("sqlite: delete signing key: %w", v.err)
	}
	_, err := s.write(ctx, func(ctx context.Context, c *sql.Conn, _ time.Time) (int64, error) {
		if _, err := c.ExecContext(ctx, `DELETE FROM signing_keys WHERE id = ?`, id); err != nil {
			return 0, fmt.Errorf("sqlite: delete signing key: %w", err)
		}
		return 0, nil
	})
	return err
}
