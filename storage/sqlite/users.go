package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/mcp-authz/mcp-authz/storage"
)

func checkUser(u storage.User) (createdAt int64, err error) {
	var v check
	v.text("user ID", u.ID, maxKey, true)
	v.text("username", u.Username, maxUsername, true)
	v.text("password hash", u.PasswordHash, maxUserField, false)
	v.text("email", u.Email, maxUserField, false)
	v.text("name", u.Name, maxUserField, false)
	createdAt = v.time("created at", u.CreatedAt)
	return createdAt, v.err
}

// CreateUser inserts a user; ErrConflict if the ID is taken or the username is, in any ASCII case.
func (s *Store) CreateUser(ctx context.Context, u storage.User) error {
	createdAt, err := checkUser(u)
	if err != nil {
		return fmt.Errorf("sqlite: create user: %w", err)
	}
	_, err = s.write(ctx, func(ctx context.Context, c *sql.Conn, _ time.Time) (int64, error) {
		_, err := c.ExecContext(ctx, `INSERT INTO users (id, username, password_hash, email, name, created_at, disabled)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, u.ID, u.Username, u.PasswordHash, u.Email, u.Name, createdAt, u.Disabled)
		if isUnique(err) {
			return 0, fmt.Errorf("sqlite: create user %q (%s): %w", u.Username, u.ID, storage.ErrConflict)
		}
		if err != nil {
			return 0, fmt.Errorf("sqlite: create user: %w", err)
		}
		return 0, nil
	})
	return err
}

// UpdateUser replaces the password hash, email, name and disabled flag; the ID, username and
// creation time stay.
func (s *Store) UpdateUser(ctx context.Context, u storage.User) error {
	if _, err := checkUser(storage.User{ID: u.ID, Username: "-", PasswordHash: u.PasswordHash, Email: u.Email, Name: u.Name}); err != nil {
		return fmt.Errorf("sqlite: update user: %w", err)
	}
	_, err := s.write(ctx, func(ctx context.Context, c *sql.Conn, _ time.Time) (int64, error) {
		res, err := c.ExecContext(ctx, `UPDATE users SET password_hash = ?, email = ?, name = ?, disabled = ? WHERE id = ?`,
			u.PasswordHash, u.Email, u.Name, u.Disabled, u.ID)
		if err != nil {
			return 0, fmt.Errorf("sqlite: update user: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return 0, fmt.Errorf("sqlite: update user %s: %w", u.ID, storage.ErrNotFound)
		}
		return 0, nil
	})
	return err
}

const userColumns = `id, username, password_hash, email, name, created_at, disabled`

type scanner interface{ Scan(dest ...any) error }

func scanUser(row scanner) (*storage.User, error) {
	var u storage.User
	var createdAt int64
	if err := row.Scan(&u.ID, &u.Username, &u.PasswordHash, &u.Email, &u.Name, &createdAt, &u.Disabled); err != nil {
		return nil, err
	}
	u.CreatedAt = decodeTime(createdAt)
	return &u, nil
}

// GetUser returns a user by ID.
func (s *Store) GetUser(ctx context.Context, id string) (*storage.User, error) {
	var v check
	v.text("user ID", id, maxKey, true)
	if v.err != nil {
		return nil, badKey("get user", v.err)
	}
	u, err := scanUser(s.readDB.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE id = ?`, id))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, fmt.Errorf("sqlite: get user %s: %w", id, storage.ErrNotFound)
	case err != nil:
		return nil, fmt.Errorf("sqlite: get user: %w", err)
	}
	return u, nil
}

// GetUserByUsername returns the user whose username is exactly username (case included).
func (s *Store) GetUserByUsername(ctx context.Context, username string) (*storage.User, error) {
	var v check
	v.text("username", username, maxUsername, true)
	if v.err != nil {
		return nil, badKey("get user by username", v.err)
	}
	// The first comparison uses the case-insensitive unique index; the second makes the match
	// exact.
	u, err := scanUser(s.readDB.QueryRowContext(ctx,
		`SELECT `+userColumns+` FROM users WHERE username = ?1 COLLATE NOCASE AND username = ?1 COLLATE BINARY`, username))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, fmt.Errorf("sqlite: get user by username %q: %w", username, storage.ErrNotFound)
	case err != nil:
		return nil, fmt.Errorf("sqlite: get user by username: %w", err)
	}
	return u, nil
}

// ListUsers returns every user, ordered by username without regard to ASCII case.
func (s *Store) ListUsers(ctx context.Context) ([]storage.User, error) {
	rows, err := s.readDB.QueryContext(ctx, `SELECT `+userColumns+` FROM users ORDER BY username COLLATE NOCASE, username`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list users: %w", err)
	}
	defer rows.Close()
	var us []storage.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: list users: %w", err)
		}
		us = append(us, *u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list users: %w", err)
	}
	return us, nil
}
