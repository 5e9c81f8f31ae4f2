package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/mcp-authz/mcp-authz/storage"
)

// An elicitation's ID is the only thing in its page's URL, a bearer secret like a session ID, so
// it never appears in an error.
//
// Both transitions are compare-and-set inside one write request, and the writer is the only
// writer, so that of concurrent callers exactly one completes an elicitation and exactly one takes
// its result. Taking the result erases it from the database: it was handed out once and may be a
// secret; GetElicitation afterwards shows ResultTaken and no Result.

// elicitationColumns are the columns scanElicitation reads, in its order.
const elicitationColumns = `id, resource, subject, client_id, kind, request, status, result,
	created_at, expires_at, completed_at, result_taken`

type rowScanner interface{ Scan(dest ...any) error }

func scanElicitation(row rowScanner) (*storage.Elicitation, error) {
	var e storage.Elicitation
	var createdAt, expiresAt, completedAt int64
	err := row.Scan(&e.ID, &e.Resource, &e.Subject, &e.ClientID, &e.Kind, &e.Request, &e.Status, &e.Result,
		&createdAt, &expiresAt, &completedAt, &e.ResultTaken)
	if err != nil {
		return nil, err
	}
	e.CreatedAt, e.ExpiresAt, e.CompletedAt = decodeTime(createdAt), decodeTime(expiresAt), decodeTime(completedAt)
	return &e, nil
}

func checkElicitationID(v *check, id string) {
	v.text("elicitation ID", id, maxKey, true)
}

// CreateElicitation inserts one; ErrConflict if the ID exists. Its status must be one of the
// four states (normally pending) and it must have an expiry.
func (s *Store) CreateElicitation(ctx context.Context, e storage.Elicitation) error {
	var v check
	checkElicitationID(&v, e.ID)
	v.text("elicitation resource", e.Resource, maxURL, true)
	v.text("elicitation subject", e.Subject, maxKey, true)
	v.text("elicitation client ID", e.ClientID, maxURL, true)
	v.text("elicitation kind", e.Kind, maxKind, true)
	v.bytes("elicitation request", e.Request, maxElicitReq, false)
	v.oneOf("elicitation status", e.Status, storage.ElicitationPending, storage.ElicitationAccepted,
		storage.ElicitationDeclined, storage.ElicitationCancelled)
	v.bytes("elicitation result", e.Result, maxElicitRes, false)
	createdAt := v.time("elicitation created at", e.CreatedAt)
	expiresAt := v.instant("elicitation expires at", e.ExpiresAt)
	completedAt := v.time("elicitation completed at", e.CompletedAt)
	if v.err != nil {
		return fmt.Errorf("sqlite: create elicitation: %w", v.err)
	}
	_, err := s.write(ctx, func(ctx context.Context, c *sql.Conn, _ time.Time) (int64, error) {
		_, err := c.ExecContext(ctx, `INSERT INTO elicitations (`+elicitationColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			e.ID, e.Resource, e.Subject, e.ClientID, e.Kind, e.Request, e.Status, e.Result,
			createdAt, expiresAt, completedAt, e.ResultTaken)
		if isUnique(err) {
			return 0, fmt.Errorf("sqlite: create elicitation: %w", storage.ErrConflict)
		}
		if err != nil {
			return 0, fmt.Errorf("sqlite: create elicitation: %w", err)
		}
		return 0, nil
	})
	return err
}

// GetElicitation returns one, expired or not; ErrNotFound if none.
func (s *Store) GetElicitation(ctx context.Context, id string) (*storage.Elicitation, error) {
	var v check
	checkElicitationID(&v, id)
	if v.err != nil {
		return nil, badKey("get elicitation", v.err)
	}
	e, err := scanElicitation(s.readDB.QueryRowContext(ctx,
		`SELECT `+elicitationColumns+` FROM elicitations WHERE id = ?`, id))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, fmt.Errorf("sqlite: get elicitation: %w", storage.ErrNotFound)
	case err != nil:
		return nil, fmt.Errorf("sqlite: get elicitation: %w", err)
	}
	return e, nil
}

// elicitationExists reports whether there is an elicitation with that ID, for a transition that
// changed nothing to say why.
func elicitationExists(ctx context.Context, c *sql.Conn, id string) (bool, error) {
	var one int
	err := c.QueryRowContext(ctx, `SELECT 1 FROM elicitations WHERE id = ?`, id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// CompleteElicitation moves a pending elicitation whose expiry is after at to status (accepted,
// declined or cancelled) with result. ErrInactive if it is not pending or has expired;
// ErrNotFound if none.
func (s *Store) CompleteElicitation(ctx context.Context, id, status string, result []byte, at time.Time) error {
	var v check
	checkElicitationID(&v, id)
	if v.err != nil {
		return badKey("complete elicitation", v.err)
	}
	v.oneOf("elicitation status", status, storage.ElicitationAccepted, storage.ElicitationDeclined,
		storage.ElicitationCancelled)
	v.bytes("elicitation result", result, maxElicitRes, false)
	completedAt := v.instant("elicitation completed at", at)
	if v.err != nil {
		return fmt.Errorf("sqlite: complete elicitation: %w", v.err)
	}
	// The refusal is the outcome, not the write's error: nothing was written, and an error inside
	// the write would make the writer redo its whole batch. The last run of the function is the
	// one committed.
	var refused error
	_, err := s.write(ctx, func(ctx context.Context, c *sql.Conn, _ time.Time) (int64, error) {
		refused = nil
		res, err := c.ExecContext(ctx, `UPDATE elicitations SET status = ?, result = ?, completed_at = ?
			WHERE id = ? AND status = ? AND expires_at > ?`,
			status, result, completedAt, id, storage.ElicitationPending, completedAt)
		if err != nil {
			return 0, fmt.Errorf("sqlite: complete elicitation: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return 0, fmt.Errorf("sqlite: complete elicitation: %w", err)
		}
		if n == 0 {
			exists, err := elicitationExists(ctx, c, id)
			switch {
			case err != nil:
				return 0, fmt.Errorf("sqlite: complete elicitation: %w", err)
			case exists:
				refused = fmt.Errorf("sqlite: complete elicitation: not pending or expired: %w", storage.ErrInactive)
			default:
				refused = fmt.Errorf("sqlite: complete elicitation: %w", storage.ErrNotFound)
			}
		}
		return n, nil
	})
	if err != nil {
		return err
	}
	return refused
}

// TakeElicitationResult returns a completed elicitation with its result, marks the result taken
// and erases it from the database. ErrInactive if the elicitation is pending or its result was
// taken before; ErrNotFound if none.
func (s *Store) TakeElicitationResult(ctx context.Context, id string) (*storage.Elicitation, error) {
	var v check
	checkElicitationID(&v, id)
	if v.err != nil {
		return nil, badKey("take elicitation result", v.err)
	}
	var (
		taken   *storage.Elicitation
		refused error
	)
	_, err := s.write(ctx, func(ctx context.Context, c *sql.Conn, _ time.Time) (int64, error) {
		taken, refused = nil, nil
		// Read and update in one write request: no other write comes between them.
		e, err := scanElicitation(c.QueryRowContext(ctx,
			`SELECT `+elicitationColumns+` FROM elicitations WHERE id = ?`, id))
		switch {
		case errors.Is(err, sql.ErrNoRows):
			refused = fmt.Errorf("sqlite: take elicitation result: %w", storage.ErrNotFound)
			return 0, nil
		case err != nil:
			return 0, fmt.Errorf("sqlite: take elicitation result: %w", err)
		case e.Status == storage.ElicitationPending || e.ResultTaken:
			refused = fmt.Errorf("sqlite: take elicitation result: %w", storage.ErrInactive)
			return 0, nil
		}
		res, err := c.ExecContext(ctx, `UPDATE elicitations SET result_taken = 1, result = NULL
			WHERE id = ? AND status <> ? AND result_taken = 0`, id, storage.ElicitationPending)
		if err != nil {
			return 0, fmt.Errorf("sqlite: take elicitation result: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			// Cannot happen while this is the only writer; refuse rather than hand out twice.
			return 0, fmt.Errorf("sqlite: take elicitation result: updated %d rows (%v)", n, err)
		}
		e.ResultTaken = true
		taken = e
		return 1, nil
	})
	if err != nil {
		return nil, err
	}
	if refused != nil {
		return nil, refused
	}
	return taken, nil
}
