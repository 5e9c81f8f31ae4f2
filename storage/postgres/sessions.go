package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mcp-authz/mcp-authz/storage"
)

// Session IDs are what the cookie carries, so they never appear in an error.

// SaveSession inserts or replaces a session.
func (s *Store) SaveSession(ctx context.Context, bs storage.BrowserSession) error {
	var v check
	v.text("session ID", bs.ID, maxKey, true)
	v.bytes("session data", bs.Data, maxSession, false)
	exp := v.time("session expires at", bs.ExpiresAt)
	if v.err != nil {
		return fmt.Errorf("postgres: save session: %w", v.err)
	}
	_, err := s.exec(ctx, "save session", `INSERT INTO sessions (id, data, expires_at) VALUES ($1, $2, $3)
		ON CONFLICT (id) DO UPDATE SET data = excluded.data, expires_at = excluded.expires_at`,
		bs.ID, bs.Data, exp)
	return err
}

// GetSession returns a session whose expiry is still ahead; an expired one is ErrNotFound even
// before DeleteExpired removes it.
func (s *Store) GetSession(ctx context.Context, id string) (*storage.BrowserSession, error) {
	var v check
	v.text("session ID", id, maxKey, true)
	if v.err != nil {
		return nil, badKey("get session", v.err)
	}
	bs := storage.BrowserSession{ID: id}
	err := s.queryRow(ctx, "get session", `SELECT data, expires_at FROM sessions WHERE id = $1 AND expires_at > $2`,
		[]any{id, time.Now()}, &bs.Data, &bs.ExpiresAt)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, fmt.Errorf("postgres: get session: %w", storage.ErrNotFound)
	case err != nil:
		return nil, err
	}
	bs.ExpiresAt = decodeTime(bs.ExpiresAt)
	return &bs, nil
}

// DeleteSession removes a session if there is one.
func (s *Store) DeleteSession(ctx context.Context, id string) error {
	var v check
	v.text("session ID", id, maxKey, true)
	if v.err != nil {
		return fmt.Errorf("postgres: delete session: %w", v.err)
	}
	_, err := s.exec(ctx, "delete session", `DELETE FROM sessions WHERE id = $1`, id)
	return err
}
