package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mcp-authz/mcp-authz/storage"
)

// An elicitation's ID is the only thing in its page's URL, a bearer secret like a session ID, so
// it never appears in an error.
//
// Both transitions are compare-and-set in the database: of concurrent callers, on any number of
// instances, exactly one completes an elicitation and exactly one takes its result. Taking the
// result erases it from the database: it was handed out once and may be a secret;
// GetElicitation afterwards shows ResultTaken and no Result.

// elicitationColumns are the columns scanElicitation reads, in its order.
const elicitationColumns = `id, resource, subject, client_id, kind, request, status, result,
	created_at, expires_at, completed_at, result_taken`

func scanElicitation(row pgx.Row) (*storage.Elicitation, error) {
	var e storage.Elicitation
	err := row.Scan(&e.ID, &e.Resource, &e.Subject, &e.ClientID, &e.Kind, &e.Request, &e.Status, &e.Result,
		&e.CreatedAt, &e.ExpiresAt, &e.CompletedAt, &e.ResultTaken)
	if err != nil {
		return nil, err
	}
	e.CreatedAt, e.ExpiresAt, e.CompletedAt = decodeTime(e.CreatedAt), decodeTime(e.ExpiresAt), decodeTime(e.CompletedAt)
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
		return fmt.Errorf("postgres: create elicitation: %w", v.err)
	}
	_, err := s.exec(ctx, "create elicitation", `INSERT INTO elicitations (`+elicitationColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
		e.ID, e.Resource, e.Subject, e.ClientID, e.Kind, e.Request, e.Status, e.Result,
		createdAt, expiresAt, completedAt, e.ResultTaken)
	if isUnique(err) {
		return fmt.Errorf("postgres: create elicitation: %w", storage.ErrConflict)
	}
	return err
}

// GetElicitation returns one, expired or not; ErrNotFound if none.
func (s *Store) GetElicitation(ctx context.Context, id string) (*storage.Elicitation, error) {
	var v check
	checkElicitationID(&v, id)
	if v.err != nil {
		return nil, badKey("get elicitation", v.err)
	}
	var e *storage.Elicitation
	err := s.read(ctx, "get elicitation", func(ctx context.Context, c *pgxpool.Conn) error {
		var err error
		e, err = scanElicitation(c.QueryRow(ctx, `SELECT `+elicitationColumns+` FROM elicitations WHERE id = $1`, id))
		return err
	})
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, fmt.Errorf("postgres: get elicitation: %w", storage.ErrNotFound)
	case err != nil:
		return nil, fmt.Errorf("postgres: get elicitation: %w", err)
	}
	return e, nil
}

// completeSQL is CompleteElicitation's compare-and-set, and in the same statement (one snapshot,
// one round trip) whether the elicitation exists, to say why when nothing changed.
const completeSQL = `WITH done AS (
		UPDATE elicitations SET status = $1, result = $2, completed_at = $3
		WHERE id = $4 AND status = 'pending' AND expires_at > $3
		RETURNING 1
	)
	SELECT EXISTS (SELECT 1 FROM done), EXISTS (SELECT 1 FROM elicitations WHERE id = $4)`

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
		return fmt.Errorf("postgres: complete elicitation: %w", v.err)
	}
	var done, exists bool
	err := s.write(ctx, "complete elicitation", func(ctx context.Context, c *pgxpool.Conn) error {
		err := c.QueryRow(ctx, completeSQL, status, result, completedAt, id).Scan(&done, &exists)
		if err != nil {
			return fmt.Errorf("postgres: complete elicitation: %w", err)
		}
		return nil
	})
	switch {
	case err != nil:
		return err
	case done:
		return nil
	case exists:
		return fmt.Errorf("postgres: complete elicitation: not pending or expired: %w", storage.ErrInactive)
	}
	return fmt.Errorf("postgres: complete elicitation: %w", storage.ErrNotFound)
}

// TakeElicitationResult returns a completed elicitation with its result, marks the result taken
// and erases it from the database. ErrInactive if the elicitation is pending or its result was
// taken before; ErrNotFound if none.
//
// One transaction in one round trip: SELECT … FOR UPDATE locks the row and reads it as the last
// committed transaction left it (a concurrent taker waits here, then sees the result taken), and
// the UPDATE takes the result only if that row allows it.
func (s *Store) TakeElicitationResult(ctx context.Context, id string) (*storage.Elicitation, error) {
	var v check
	checkElicitationID(&v, id)
	if v.err != nil {
		return nil, badKey("take elicitation result", v.err)
	}
	var (
		e     *storage.Elicitation
		taken int64
	)
	err := s.write(ctx, "take elicitation result", func(ctx context.Context, c *pgxpool.Conn) error {
		b := &pgx.Batch{}
		b.Queue("BEGIN")
		b.Queue(`SELECT `+elicitationColumns+` FROM elicitations WHERE id = $1 FOR UPDATE`, id)
		b.Queue(`UPDATE elicitations SET result_taken = true, result = NULL
			WHERE id = $1 AND status <> 'pending' AND NOT result_taken`, id)
		b.Queue("COMMIT")
		br := c.SendBatch(ctx, b)
		err := func() error {
			if _, err := br.Exec(); err != nil {
				return err
			}
			var err error
			e, err = scanElicitation(br.QueryRow())
			if err != nil && !errors.Is(err, pgx.ErrNoRows) {
				return err
			}
			tag, err := br.Exec()
			if err != nil {
				return err
			}
			taken = tag.RowsAffected()
			_, err = br.Exec()
			return err
		}()
		if cerr := br.Close(); err == nil {
			err = cerr
		}
		if conn := c.Conn(); !conn.IsClosed() && conn.PgConn().TxStatus() != 'I' {
			_, _ = conn.Exec(ctx, "ROLLBACK")
		}
		if err != nil {
			return fmt.Errorf("postgres: take elicitation result: %w", err)
		}
		return nil
	})
	switch {
	case err != nil:
		return nil, err
	case e == nil:
		return nil, fmt.Errorf("postgres: take elicitation result: %w", storage.ErrNotFound)
	case taken != 1:
		return nil, fmt.Errorf("postgres: take elicitation result: %w", storage.ErrInactive)
	}
	e.ResultTaken = true
	return e, nil
}
