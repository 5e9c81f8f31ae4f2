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

// stmt is one Change, validated and encoded before Apply touches the database.
type stmt struct {
	what string // for errors: what the change was doing
	sql  string
	args []any
}

// Apply runs every change in one transaction, in order; the first change that fails undoes them
// all.
//
// The whole transaction is one pgx batch: BEGIN, a statement per change, COMMIT, sent together
// and answered together, one round trip (see runTx). Concurrent calls are committed together,
// several to a transaction (see writer.go).
//
// Several instances agree because the database decides: every conditional change is one UPDATE
// or INSERT … ON CONFLICT whose WHERE clause PostgreSQL re-checks on the newest row version after
// waiting for the row lock of a concurrent transaction. Of many transactions redeeming one code,
// exactly one finds it active.
func (s *Store) Apply(ctx context.Context, changes ...storage.Change) error {
	if len(changes) == 0 {
		return nil
	}
	stmts := make([]stmt, len(changes))
	for i, ch := range changes {
		st, err := compile(ch)
		if err != nil {
			return fmt.Errorf("postgres: apply change %d: %w", i, err)
		}
		stmts[i] = st
	}
	return s.enqueue(ctx, stmts)
}

// applyOne runs one Apply's statements as a transaction of their own, again if it loses a
// conflict, and returns the error of the change that failed.
func (s *Store) applyOne(ctx context.Context, stmts []stmt) error {
	return s.retry(ctx, "apply", func() error {
		c, err := s.acquire(ctx, "apply")
		if err != nil {
			return err
		}
		defer c.Release()
		failed, err := runTx(ctx, c, stmts)
		switch {
		case err == nil:
			return nil
		case failed < 0:
			return fmt.Errorf("postgres: apply: %w", err)
		}
		if r := refusal(err); r != nil {
			return fmt.Errorf("postgres: %s: %w", stmts[failed].what, r)
		}
		return fmt.Errorf("postgres: %s: %w", stmts[failed].what, err)
	})
}

// runTx runs stmts as one transaction in one round trip: BEGIN, the statements and COMMIT are
// pipelined in one pgx batch and answered together.
//
// That works because a change that finds nothing to do (a token already used, a jti already
// seen) does not merely affect no rows: it makes its statement fail (see the change_refused table
// in migrations/0001_init.sql). The server then skips the rest of the batch, COMMIT included, and
// the transaction is rolled back here. failed is the index of the statement that failed, and err
// its error, whose constraint name says why; failed is -1 if BEGIN, COMMIT or the connection
// failed.
func runTx(ctx context.Context, c *pgxpool.Conn, stmts []stmt) (failed int, err error) {
	b := &pgx.Batch{QueuedQueries: make([]*pgx.QueuedQuery, 0, len(stmts)+2)}
	b.Queue("BEGIN")
	for _, st := range stmts {
		b.Queue(st.sql, st.args...)
	}
	b.Queue("COMMIT")
	br := c.SendBatch(ctx, b)
	failed, err = func() (int, error) {
		if _, err := br.Exec(); err != nil {
			return -1, err
		}
		for i := range stmts {
			if _, err := br.Exec(); err != nil {
				return i, err
			}
		}
		if _, err := br.Exec(); err != nil {
			return -1, err
		}
		return -1, nil
	}()
	if cerr := br.Close(); err == nil && cerr != nil {
		failed, err = -1, cerr
	}
	if conn := c.Conn(); !conn.IsClosed() && conn.PgConn().TxStatus() != 'I' {
		// A statement failed, so the server skipped the COMMIT and the transaction is aborted.
		// If the rollback fails too, the pool discards the connection when it is released.
		if _, rerr := conn.Exec(ctx, "ROLLBACK"); rerr != nil && err == nil {
			failed, err = -1, rerr
		}
	}
	return failed, err
}

func compile(ch storage.Change) (stmt, error) {
	switch ch := deref(ch).(type) {
	case storage.CreateToken:
		return createToken(ch.Token)
	case storage.DeleteToken:
		return deleteToken(ch)
	case storage.DeactivateToken:
		return deactivateToken(ch)
	case storage.RotateRefreshToken:
		return rotateRefreshToken(ch)
	case storage.RevokeRequest:
		return revokeRequest(ch)
	case storage.UseJTI:
		return useJTI(ch)
	default:
		return stmt{}, fmt.Errorf("unknown change %T: %w", ch, ErrInvalidInput)
	}
}

// deref accepts a pointer to a change as the change itself: the Change methods have value
// receivers, so pointers satisfy the interface too.
func deref(ch storage.Change) storage.Change {
	switch p := ch.(type) {
	case *storage.CreateToken:
		if p != nil {
			return *p
		}
	case *storage.DeleteToken:
		if p != nil {
			return *p
		}
	case *storage.DeactivateToken:
		if p != nil {
			return *p
		}
	case *storage.RotateRefreshToken:
		if p != nil {
			return *p
		}
	case *storage.RevokeRequest:
		if p != nil {
			return *p
		}
	case *storage.UseJTI:
		if p != nil {
			return *p
		}
	}
	return ch
}

const insertToken = `INSERT INTO tokens (kind, signature, request_id, client_id, subject, requested_at,
	requested_scopes, granted_scopes, requested_audience, granted_audience, form, session,
	expires_at, active, rotated_at)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`

func createToken(t storage.Token) (stmt, error) {
	var v check
	v.text("token kind", string(t.Kind), maxKind, true)
	v.text("token signature", t.Signature, maxKey, true)
	r := t.Request
	v.text("request ID", r.ID, maxKey, false)
	v.text("client ID", r.ClientID, maxURL, false)
	v.text("subject", r.Subject, maxKey, false)
	requestedAt := v.time("requested at", r.RequestedAt)
	reqScopes := v.list("requested scopes", r.RequestedScopes, maxURL)
	grantScopes := v.list("granted scopes", r.GrantedScopes, maxURL)
	reqAud := v.list("requested audience", r.RequestedAudience, maxURL)
	grantAud := v.list("granted audience", r.GrantedAudience, maxURL)
	v.text("form", r.Form, maxForm, false)
	v.bytes("session", r.Session, maxSession, false)
	expiresAt := v.time("expires at", t.ExpiresAt)
	rotatedAt := v.time("rotated at", t.RotatedAt)
	if v.err != nil {
		return stmt{}, v.err
	}
	return stmt{
		what: fmt.Sprintf("create %s %s", t.Kind, t.Signature),
		sql:  insertToken,
		args: []any{string(t.Kind), t.Signature, r.ID, r.ClientID, r.Subject, requestedAt,
			reqScopes, grantScopes, reqAud, grantAud, r.Form, r.Session, expiresAt, t.Active, rotatedAt},
	}, nil
}

func checkTokenKey(kind storage.TokenKind, signature string) error {
	var v check
	v.text("token kind", string(kind), maxKind, true)
	v.text("token signature", signature, maxKey, true)
	return v.err
}

func deleteToken(ch storage.DeleteToken) (stmt, error) {
	if err := checkTokenKey(ch.Kind, ch.Signature); err != nil {
		return stmt{}, err
	}
	return stmt{
		what: fmt.Sprintf("delete %s", ch.Kind),
		sql:  "DELETE FROM tokens WHERE kind = $1 AND signature = $2",
		args: []any{string(ch.Kind), ch.Signature},
	}, nil
}

// deactivateSQL marks an active token inactive. When no row matches, the reason goes into
// change_refused, whose constraints refuse it and so abort the transaction (see Apply). The
// EXISTS sees the statement's snapshot, from before the UPDATE: a token that another transaction
// deactivated meanwhile still exists there, and is reported inactive.
const deactivateSQL = `WITH done AS (
		UPDATE tokens SET active = false
		WHERE kind = $1 AND signature = $2 AND active
		RETURNING 1
	)
	INSERT INTO change_refused (reason)
	SELECT CASE WHEN EXISTS (SELECT 1 FROM tokens WHERE kind = $1 AND signature = $2)
		THEN 'inactive' ELSE 'not_found' END
	WHERE NOT EXISTS (SELECT 1 FROM done)`

func deactivateToken(ch storage.DeactivateToken) (stmt, error) {
	if err := checkTokenKey(ch.Kind, ch.Signature); err != nil {
		return stmt{}, err
	}
	return stmt{
		what: fmt.Sprintf("deactivate %s %s", ch.Kind, ch.Signature),
		sql:  deactivateSQL,
		args: []any{string(ch.Kind), ch.Signature},
	}, nil
}

// rotateSQL marks a refresh token rotated. It matches an active token, or one first rotated less
// than Grace before At ($3 is Grace > 0, $4 is At − Grace). rotated_at = $5, the zero time, marks a
// token that was never rotated, or whose grant was revoked: those get no grace. With Grace 0 an
// inactive token never matches, even if another instance's clock put its rotation after At.
// Refusal as in deactivateSQL.
const rotateSQL = `WITH done AS (
		UPDATE tokens
		SET active = false, rotated_at = CASE WHEN rotated_at = $5 THEN $1 ELSE rotated_at END
		WHERE kind = 'refresh_token' AND signature = $2
		AND (active OR ($3 AND rotated_at <> $5 AND rotated_at > $4))
		RETURNING 1
	)
	INSERT INTO change_refused (reason)
	SELECT CASE WHEN EXISTS (SELECT 1 FROM tokens WHERE kind = 'refresh_token' AND signature = $2)
		THEN 'inactive' ELSE 'not_found' END
	WHERE NOT EXISTS (SELECT 1 FROM done)`

func rotateRefreshToken(ch storage.RotateRefreshToken) (stmt, error) {
	var v check
	v.text("token signature", ch.Signature, maxKey, true)
	at := v.time("rotated at", ch.At)
	if ch.At.IsZero() {
		v.fail("rotated at", "required")
	}
	if ch.Grace < 0 {
		v.fail("grace", "negative")
	}
	if v.err != nil {
		return stmt{}, v.err
	}
	return stmt{
		what: fmt.Sprintf("rotate %s %s", storage.RefreshToken, ch.Signature),
		sql:  rotateSQL,
		args: []any{at, ch.Signature, ch.Grace > 0, at.Add(-ch.Grace), time.Time{}},
	}, nil
}

func revokeRequest(ch storage.RevokeRequest) (stmt, error) {
	var v check
	v.text("token kind", string(ch.Kind), maxKind, true)
	v.text("request ID", ch.RequestID, maxKey, true)
	if v.err != nil {
		return stmt{}, v.err
	}
	// rotated_at is cleared too: a refresh token rotated just before its grant was revoked must
	// not be brought back by the grace window.
	return stmt{
		what: fmt.Sprintf("revoke %s", ch.Kind),
		sql: `UPDATE tokens SET active = false, rotated_at = $3
			WHERE request_id = $1 AND kind = $2 AND (active OR rotated_at <> $3)`,
		args: []any{ch.RequestID, string(ch.Kind), time.Time{}},
	}, nil
}

// useJTISQL records a jti. A jti whose record has expired may be used again: the upsert replaces
// the record then and only then, so that no row comes back when the jti is still live, and the
// refusal aborts the transaction as in deactivateSQL. Of concurrent inserts of one new jti,
// PostgreSQL lets one insert and sends the others to the ON CONFLICT branch once it commits.
const useJTISQL = `WITH done AS (
		INSERT INTO jtis (jti, expires_at) VALUES ($1, $2)
		ON CONFLICT (jti) DO UPDATE SET expires_at = excluded.expires_at WHERE jtis.expires_at <= $3
		RETURNING 1
	)
	INSERT INTO change_refused (reason)
	SELECT 'jti_in_use' WHERE NOT EXISTS (SELECT 1 FROM done)`

func useJTI(ch storage.UseJTI) (stmt, error) {
	var v check
	v.text("jti", ch.JTI, maxKey, true)
	exp := v.time("jti expires at", ch.ExpiresAt)
	if v.err != nil {
		return stmt{}, v.err
	}
	// "Now" is this instance's clock, as for every other expiry check: the caller computed
	// ExpiresAt with it too.
	return stmt{
		what: fmt.Sprintf("use jti %q", ch.JTI),
		sql:  useJTISQL,
		args: []any{ch.JTI, exp, time.Now()},
	}, nil
}

const selectToken = `SELECT request_id, client_id, subject, requested_at, requested_scopes,
	granted_scopes, requested_audience, granted_audience, form, session, expires_at, active, rotated_at
	FROM tokens WHERE kind = $1 AND signature = $2`

// GetToken returns the token, active or not, expired or not.
func (s *Store) GetToken(ctx context.Context, kind storage.TokenKind, signature string) (*storage.Token, error) {
	if err := checkTokenKey(kind, signature); err != nil {
		return nil, badKey("get token", err)
	}
	t := storage.Token{Kind: kind, Signature: signature}
	r := &t.Request
	err := s.lookup(ctx, "get "+string(kind), selectToken, []any{string(kind), signature},
		&r.ID, &r.ClientID, &r.Subject, &r.RequestedAt, &r.RequestedScopes, &r.GrantedScopes,
		&r.RequestedAudience, &r.GrantedAudience, &r.Form, &r.Session, &t.ExpiresAt, &t.Active, &t.RotatedAt)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, fmt.Errorf("postgres: get %s %s: %w", kind, signature, storage.ErrNotFound)
	case err != nil:
		return nil, err
	}
	r.RequestedAt = decodeTime(r.RequestedAt)
	t.ExpiresAt = decodeTime(t.ExpiresAt)
	t.RotatedAt = decodeTime(t.RotatedAt)
	r.RequestedScopes = decodeList(r.RequestedScopes)
	r.GrantedScopes = decodeList(r.GrantedScopes)
	r.RequestedAudience = decodeList(r.RequestedAudience)
	r.GrantedAudience = decodeList(r.GrantedAudience)
	return &t, nil
}
