package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/mcp-authz/mcp-authz/storage"
)

// op is one Change, validated and encoded in the caller's goroutine (so that the writer spends its
// time on SQL only), ready to run inside the writer's transaction.
type op func(ctx context.Context, c *sql.Conn, now time.Time) error

// Apply runs every change in one transaction, in order; the first error undoes them all.
func (s *Store) Apply(ctx context.Context, changes ...storage.Change) error {
	if len(changes) == 0 {
		return nil
	}
	ops := make([]op, len(changes))
	for i, ch := range changes {
		o, err := compile(ch)
		if err != nil {
			return fmt.Errorf("sqlite: apply change %d: %w", i, err)
		}
		ops[i] = o
	}
	_, err := s.write(ctx, func(ctx context.Context, c *sql.Conn, now time.Time) (int64, error) {
		for _, o := range ops {
			if err := o(ctx, c, now); err != nil {
				return 0, err
			}
		}
		return 0, nil
	})
	return err
}

func compile(ch storage.Change) (op, error) {
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
		return nil, fmt.Errorf("unknown change %T: %w", ch, ErrInvalidInput)
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
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

func createToken(t storage.Token) (op, error) {
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
		return nil, v.err
	}
	args := []any{string(t.Kind), t.Signature, r.ID, r.ClientID, r.Subject, requestedAt,
		reqScopes, grantScopes, reqAud, grantAud, r.Form, r.Session, expiresAt, t.Active, rotatedAt}
	return func(ctx context.Context, c *sql.Conn, _ time.Time) error {
		if _, err := c.ExecContext(ctx, insertToken, args...); err != nil {
			if isUnique(err) {
				return fmt.Errorf("sqlite: create %s %s: %w", t.Kind, t.Signature, storage.ErrConflict)
			}
			return fmt.Errorf("sqlite: create %s: %w", t.Kind, err)
		}
		return nil
	}, nil
}

func checkTokenKey(kind storage.TokenKind, signature string) error {
	var v check
	v.text("token kind", string(kind), maxKind, true)
	v.text("token signature", signature, maxKey, true)
	return v.err
}

func deleteToken(ch storage.DeleteToken) (op, error) {
	if err := checkTokenKey(ch.Kind, ch.Signature); err != nil {
		return nil, err
	}
	return func(ctx context.Context, c *sql.Conn, _ time.Time) error {
		_, err := c.ExecContext(ctx, "DELETE FROM tokens WHERE kind = ? AND signature = ?", string(ch.Kind), ch.Signature)
		if err != nil {
			return fmt.Errorf("sqlite: delete %s: %w", ch.Kind, err)
		}
		return nil
	}, nil
}

// whyNoRow tells, after an UPDATE that matched no row, whether the token is missing or merely
// inactive. It runs inside the writer's transaction, so nothing changed in between.
func whyNoRow(ctx context.Context, c *sql.Conn, verb string, kind storage.TokenKind, signature string) error {
	var one int
	err := c.QueryRowContext(ctx, "SELECT 1 FROM tokens WHERE kind = ? AND signature = ?", string(kind), signature).Scan(&one)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("sqlite: %s %s %s: %w", verb, kind, signature, storage.ErrNotFound)
	case err != nil:
		return fmt.Errorf("sqlite: %s %s: %w", verb, kind, err)
	}
	return fmt.Errorf("sqlite: %s %s %s: %w", verb, kind, signature, storage.ErrInactive)
}

func deactivateToken(ch storage.DeactivateToken) (op, error) {
	if err := checkTokenKey(ch.Kind, ch.Signature); err != nil {
		return nil, err
	}
	return func(ctx context.Context, c *sql.Conn, _ time.Time) error {
		res, err := c.ExecContext(ctx, "UPDATE tokens SET active = 0 WHERE kind = ? AND signature = ? AND active = 1",
			string(ch.Kind), ch.Signature)
		if err != nil {
			return fmt.Errorf("sqlite: deactivate %s: %w", ch.Kind, err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return whyNoRow(ctx, c, "deactivate", ch.Kind, ch.Signature)
		}
		return nil
	}, nil
}

// rotateSQL marks a refresh token rotated. It matches an active token, or one first rotated less
// than Grace before At. rotated_at = 0 marks a token that was never rotated, or whose grant was
// revoked: those get no grace. With Grace 0 an inactive token never matches, even if another
// instance's clock put its rotation after At.
const rotateSQL = `UPDATE tokens
	SET active = 0, rotated_at = CASE WHEN rotated_at = 0 THEN ?1 ELSE rotated_at END
	WHERE kind = 'refresh_token' AND signature = ?2
	AND (active = 1 OR (?3 > 0 AND rotated_at <> 0 AND rotated_at > ?4))`

func rotateRefreshToken(ch storage.RotateRefreshToken) (op, error) {
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
		return nil, v.err
	}
	graceStart := encodeTime(ch.At.Add(-ch.Grace))
	return func(ctx context.Context, c *sql.Conn, _ time.Time) error {
		res, err := c.ExecContext(ctx, rotateSQL, at, ch.Signature, int64(ch.Grace), graceStart)
		if err != nil {
			return fmt.Errorf("sqlite: rotate refresh token: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return whyNoRow(ctx, c, "rotate", storage.RefreshToken, ch.Signature)
		}
		return nil
	}, nil
}

func revokeRequest(ch storage.RevokeRequest) (op, error) {
	var v check
	v.text("token kind", string(ch.Kind), maxKind, true)
	v.text("request ID", ch.RequestID, maxKey, true)
	if v.err != nil {
		return nil, v.err
	}
	return func(ctx context.Context, c *sql.Conn, _ time.Time) error {
		// rotated_at is cleared too: a refresh token rotated just before its grant was revoked
		// must not be brought back by the grace window.
		_, err := c.ExecContext(ctx, `UPDATE tokens SET active = 0, rotated_at = 0
			WHERE request_id = ? AND kind = ? AND (active = 1 OR rotated_at <> 0)`, ch.RequestID, string(ch.Kind))
		if err != nil {
			return fmt.Errorf("sqlite: revoke %s: %w", ch.Kind, err)
		}
		return nil
	}, nil
}

func useJTI(ch storage.UseJTI) (op, error) {
	var v check
	v.text("jti", ch.JTI, maxKey, true)
	exp := v.time("jti expires at", ch.ExpiresAt)
	if v.err != nil {
		return nil, v.err
	}
	return func(ctx context.Context, c *sql.Conn, now time.Time) error {
		// A jti whose record has expired may be used again; the upsert replaces it then and only
		// then, so no row changes when the jti is still live.
		res, err := c.ExecContext(ctx, `INSERT INTO jtis (jti, expires_at) VALUES (?1, ?2)
			ON CONFLICT (jti) DO UPDATE SET expires_at = excluded.expires_at WHERE jtis.expires_at <= ?3`,
			ch.JTI, exp, now.UnixMicro())
		if err != nil {
			return fmt.Errorf("sqlite: use jti: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return fmt.Errorf("sqlite: use jti %q: %w", ch.JTI, storage.ErrConflict)
		}
		return nil
	}, nil
}

const selectToken = `SELECT request_id, client_id, subject, requested_at, requested_scopes,
	granted_scopes, requested_audience, granted_audience, form, session, expires_at, active, rotated_at
	FROM tokens WHERE kind = ? AND signature = ?`

// GetToken returns the token, active or not, expired or not.
func (s *Store) GetToken(ctx context.Context, kind storage.TokenKind, signature string) (*storage.Token, error) {
	if err := checkTokenKey(kind, signature); err != nil {
		return nil, badKey("get token", err)
	}
	t := storage.Token{Kind: kind, Signature: signature}
	r := &t.Request
	var requestedAt, expiresAt, rotatedAt int64
	var reqScopes, grantScopes, reqAud, grantAud string
	err := s.readDB.QueryRowContext(ctx, selectToken, string(kind), signature).Scan(
		&r.ID, &r.ClientID, &r.Subject, &requestedAt, &reqScopes, &grantScopes, &reqAud, &grantAud,
		&r.Form, &r.Session, &expiresAt, &t.Active, &rotatedAt)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, fmt.Errorf("sqlite: get %s %s: %w", kind, signature, storage.ErrNotFound)
	case err != nil:
		return nil, fmt.Errorf("sqlite: get %s: %w", kind, err)
	}
	r.RequestedAt = decodeTime(requestedAt)
	t.ExpiresAt = decodeTime(expiresAt)
	t.RotatedAt = decodeTime(rotatedAt)
	for _, l := range []struct {
		field string
		src   string
		dst   *[]string
	}{
		{"requested scopes", reqScopes, &r.RequestedScopes},
		{"granted scopes", grantScopes, &r.GrantedScopes},
		{"requested audience", reqAud, &r.RequestedAudience},
		{"granted audience", grantAud, &r.GrantedAudience},
	} {
		if *l.dst, err = decodeList(l.field, l.src); err != nil {
			return nil, err
		}
	}
	return &t, nil
}
