package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/mcp-authz/mcp-authz/storage"
)

func checkConsentKey(v *check, subject, clientID, resource string) {
	v.text("subject", subject, maxKey, true)
	v.text("client ID", clientID, maxURL, true)
	// A consent may be for no particular resource.
	v.text("resource", resource, maxURL, false)
}

// GetConsent returns the consent for (subject, client, resource).
func (s *Store) GetConsent(ctx context.Context, subject, clientID, resource string) (*storage.Consent, error) {
	var v check
	checkConsentKey(&v, subject, clientID, resource)
	if v.err != nil {
		return nil, badKey("get consent", v.err)
	}
	c := storage.Consent{Subject: subject, ClientID: clientID, Resource: resource}
	var scopes string
	var grantedAt int64
	err := s.readDB.QueryRowContext(ctx,
		`SELECT scopes, granted_at, client_fingerprint FROM consents WHERE subject = ? AND client_id = ? AND resource = ?`,
		subject, clientID, resource).Scan(&scopes, &grantedAt, &c.ClientFingerprint)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, fmt.Errorf("sqlite: get consent of %s for %s: %w", subject, clientID, storage.ErrNotFound)
	case err != nil:
		return nil, fmt.Errorf("sqlite: get consent: %w", err)
	}
	if c.Scopes, err = decodeList("scopes", scopes); err != nil {
		return nil, err
	}
	c.GrantedAt = decodeTime(grantedAt)
	return &c, nil
}

// SaveConsent inserts or replaces the consent for its key.
func (s *Store) SaveConsent(ctx context.Context, c storage.Consent) error {
	var v check
	checkConsentKey(&v, c.Subject, c.ClientID, c.Resource)
	scopes := v.list("scopes", c.Scopes, maxURL)
	grantedAt := v.time("granted at", c.GrantedAt)
	v.text("client fingerprint", c.ClientFingerprint, maxKey, false)
	if v.err != nil {
		return fmt.Errorf("sqlite: save consent: %w", v.err)
	}
	_, err := s.write(ctx, func(ctx context.Context, conn *sql.Conn, _ time.Time) (int64, error) {
		_, err := conn.ExecContext(ctx, `INSERT INTO consents (subject, client_id, resource, scopes, granted_at, client_fingerprint)
			VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (subject, client_id, resource) DO UPDATE SET scopes = excluded.scopes, granted_at = excluded.granted_at,
				client_fingerprint = excluded.client_fingerprint`,
			c.Subject, c.ClientID, c.Resource, scopes, grantedAt, c.ClientFingerprint)
		if err != nil {
			return 0, fmt.Errorf("sqlite: save consent: %w", err)
		}
		return 0, nil
	})
	return err
}

// DeleteClientConsents forgets every consent given to clientID.
func (s *Store) DeleteClientConsents(ctx context.Context, clientID string) (int64, error) {
	var v check
	v.text("client ID", clientID, maxURL, true)
	if v.err != nil {
		return 0, fmt.Errorf("sqlite: delete client consents: %w", v.err)
	}
	return s.write(ctx, func(ctx context.Context, conn *sql.Conn, _ time.Time) (int64, error) {
		res, err := conn.ExecContext(ctx, `DELETE FROM consents WHERE client_id = ?`, clientID)
		if err != nil {
			return 0, fmt.Errorf("sqlite: delete client consents: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return 0, fmt.Errorf("sqlite: delete client consents: %w", err)
		}
		return n, nil
	})
}
