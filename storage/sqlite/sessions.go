package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

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
		return fmt.Errorf("sqlite: save session: %w", v.err)
	}
	_, err := s.write(ctx, func(ctx context.Context, c *sql.Conn, _ time.Time) (int64, error) {
		_, err := c.ExecContext(ctx, `INSERT INTO sessions (id, data, expires_at) VALUES (?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET data = excluded.data, expires_at = excluded.expires_at`,
			bs.ID, bs.Data, exp)
		if err != nil {
			return 0, fmt.Errorf("sqlite: save session: %w", err)
		}
		return 0, nil
	})
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
	var exp int64
	err := s.readDB.QueryRowContext(ctx, `SELECT data, expires_at FROM sessions WHERE id = ? AND expires_at > ?`,
		id, time.Now().UnixMicro()).Scan(&bs.Data, &exp)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, fmt.Errorf("sqlite: get session: %w", storage.ErrNotFound)
	case err != nil:
		return nil, fmt.Errorf("sqlite: get session: %w", err)
	}
	bs.ExpiresAt = decodeTime(exp)
	return &bs, nil
}

// DeleteSession removes a session if there is one.
func (s *Store) DeleteSession(ctx context.Context, id string) error {
	var v check
	v.text("session ID", id, maxKey, true)
	if v.err != nil {
		return fmt.Errorf("sqlite: delete session: %w", v.err)
	}
	_, err := s.write(ctx, func(ctx context.Context, c *sql.Conn, _ time.Time) (int64, error) {
		if _, err := c.ExecContext(ctx, `DELETE FROM sessions WHERE id = ?`, id); err != nil {
			return 0, fmt.Errorf("sqlite: delete session: %w", err)
		}
		return 0, nil
	})
	return err
}
