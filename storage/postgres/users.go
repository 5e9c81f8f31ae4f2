package postgres

import (
	"cmp"
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

func checkUser(u storage.User) (createdAt time.Time, err error) {
	var v check
	v.text("user ID", u.ID, maxKey, true)
	v.text("username", u.Username, maxUsername, true)
	v.text("password hash", u.PasswordHash, maxUserField, false)
	v.text("email", u.Email, maxUserField, false)
	v.text("name", u.Name, maxUserField, false)
	createdAt = v.time("created at", u.CreatedAt)
	return createdAt, v.err
}

// usernameKey folds A-Z to a-z and leaves every other byte alone: the same folding as SQLite's
// NOCASE, so that both backends agree on which usernames collide. The users_username_key unique
// index on it is what makes the check hold across instances.
func usernameKey(username string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'A' && r <= 'Z' {
			return r + ('a' - 'A')
		}
		return r
	}, username)
}

// CreateUser inserts a user; ErrConflict if the ID is taken or the username is, in any ASCII case.
func (s *Store) CreateUser(ctx context.Context, u storage.User) error {
	createdAt, err := checkUser(u)
	if err != nil {
		return fmt.Errorf("postgres: create user: %w", err)
	}
	_, err = s.exec(ctx, "create user", `INSERT INTO users
		(id, username, username_key, password_hash, email, name, created_at, disabled)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		u.ID, u.Username, usernameKey(u.Username), u.PasswordHash, u.Email, u.Name, createdAt, u.Disabled)
	if isUnique(err) {
		return fmt.Errorf("postgres: create user %q (%s): %w", u.Username, u.ID, storage.ErrConflict)
	}
	return err
}

// UpdateUser replaces the password hash, email, name and disabled flag; the ID, username and
// creation time stay.
func (s *Store) UpdateUser(ctx context.Context, u storage.User) error {
	if _, err := checkUser(storage.User{ID: u.ID, Username: "-", PasswordHash: u.PasswordHash, Email: u.Email, Name: u.Name}); err != nil {
		return fmt.Errorf("postgres: update user: %w", err)
	}
	n, err := s.exec(ctx, "update user",
		`UPDATE users SET password_hash = $1, email = $2, name = $3, disabled = $4 WHERE id = $5`,
		u.PasswordHash, u.Email, u.Name, u.Disabled, u.ID)
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("postgres: update user %s: %w", u.ID, storage.ErrNotFound)
	}
	return nil
}

const userColumns = `id, username, password_hash, email, name, created_at, disabled`

func scanUser(row pgx.Row) (*storage.User, error) {
	var u storage.User
	if err := row.Scan(&u.ID, &u.Username, &u.PasswordHash, &u.Email, &u.Name, &u.CreatedAt, &u.Disabled); err != nil {
		return nil, err
	}
	u.CreatedAt = decodeTime(u.CreatedAt)
	return &u, nil
}

// getUser runs a query for at most one user; ErrNotFound if there is none.
func (s *Store) getUser(ctx context.Context, what, sql string, args ...any) (*storage.User, error) {
	var u *storage.User
	err := s.read(ctx, what, func(ctx context.Context, c *pgxpool.Conn) error {
		var err error
		u, err = scanUser(c.QueryRow(ctx, sql, args...))
		return err
	})
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, fmt.Errorf("postgres: %s: %w", what, storage.ErrNotFound)
	case err != nil:
		return nil, fmt.Errorf("postgres: %s: %w", what, err)
	}
	return u, nil
}

// GetUser returns a user by ID.
func (s *Store) GetUser(ctx context.Context, id string) (*storage.User, error) {
	var v check
	v.text("user ID", id, maxKey, true)
	if v.err != nil {
		return nil, badKey("get user", v.err)
	}
	return s.getUser(ctx, "get user "+id, `SELECT `+userColumns+` FROM users WHERE id = $1`, id)
}

// GetUserByUsername returns the user whose username is exactly username (case included).
func (s *Store) GetUserByUsername(ctx context.Context, username string) (*storage.User, error) {
	var v check
	v.text("username", username, maxUsername, true)
	if v.err != nil {
		return nil, badKey("get user by username", v.err)
	}
	// The first comparison uses the unique index; the second makes the match exact.
	return s.getUser(ctx, fmt.Sprintf("get user by username %q", username),
		`SELECT `+userColumns+` FROM users WHERE username_key = $1 AND username = $2`,
		usernameKey(username), username)
}

// ListUsers returns every user, ordered by username without regard to ASCII case (then exactly).
// The order is made here rather than by ORDER BY, whose text order depends on the database's
// collation: this way it is the byte order storage/sqlite gives, on any database.
func (s *Store) ListUsers(ctx context.Context) ([]storage.User, error) {
	var us []storage.User
	err := s.read(ctx, "list users", func(ctx context.Context, c *pgxpool.Conn) error {
		us = us[:0]
		rows, err := c.Query(ctx, `SELECT `+userColumns+` FROM users`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			u, err := scanUser(rows)
			if err != nil {
				return err
			}
			us = append(us, *u)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: list users: %w", err)
	}
	slices.SortFunc(us, func(a, b storage.User) int {
		return cmp.Or(strings.Compare(usernameKey(a.Username), usernameKey(b.Username)), strings.Compare(a.Username, b.Username))
	})
	return us, nil
}
