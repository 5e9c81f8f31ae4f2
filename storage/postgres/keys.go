package postgres

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"

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
		return fmt.Errorf("postgres: create signing key: %w", v.err)
	}
	_, err := s.exec(ctx, "create signing key", `INSERT INTO signing_keys (id, algorithm, encrypted_private_key, created_at)
		VALUES ($1, $2, $3, $4)`, k.ID, k.Algorithm, k.EncryptedPrivateKey, createdAt)
	if isUnique(err) {
		return fmt.Errorf("postgres: create signing key %s: %w", k.ID, storage.ErrConflict)
	}
	return err
}

// ListSigningKeys returns every key, newest first (by creation time, then ID, so that the order
// is stable). The order is made here: ties on the time are ordered by the ID's bytes, as in
// storage/sqlite, not by the database's collation.
func (s *Store) ListSigningKeys(ctx context.Context) ([]storage.SigningKey, error) {
	var ks []storage.SigningKey
	err := s.read(ctx, "list signing keys", func(ctx context.Context, c *pgxpool.Conn) error {
		ks = ks[:0]
		rows, err := c.Query(ctx, `SELECT id, algorithm, encrypted_private_key, created_at FROM signing_keys`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var k storage.SigningKey
			if err := rows.Scan(&k.ID, &k.Algorithm, &k.EncryptedPrivateKey, &k.CreatedAt); err != nil {
				return err
			}
			k.CreatedAt = decodeTime(k.CreatedAt)
			ks = append(ks, k)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: list signing keys: %w", err)
	}
	slices.SortFunc(ks, func(a, b storage.SigningKey) int {
		return cmp.Or(b.CreatedAt.Compare(a.CreatedAt), strings.Compare(b.ID, a.ID))
	})
	return ks, nil
}

// DeleteSigningKey removes a key if there is one.
func (s *Store) DeleteSigningKey(ctx context.Context, id string) error {
	var v check
	v.text("key ID", id, maxKey, true)
	if v.err != nil {
		return fmt.Errorf("postgres: delete signing key: %w", v.err)
	}
	_, err := s.exec(ctx, "delete signing key", `DELETE FROM signing_keys WHERE id = $1`, id)
	return err
}
