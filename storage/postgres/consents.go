package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

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
	err := s.queryRow(ctx, "get consent",
		`SELECT scopes, granted_at, client_fingerprint FROM consents WHERE subject = $1 AND client_id = $2 AND resource = $3`,
		[]any{subject, clientID, resource}, &c.Scopes, &c.GrantedAt, &c.ClientFingerprint)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, fmt.Errorf("postgres: get consent of %s for %s: %w", subject, clientID, storage.ErrNotFound)
	case err != nil:
		return nil, err
	}
	c.Scopes = decodeList(c.Scopes)
	c.GrantedAt = decodeTime(c.GrantedAt)
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
		return fmt.Errorf("postgres: save consent: %w", v.err)
	}
	_, err := s.exec(ctx, "save consent", `INSERT INTO consents (subject, client_id, resource, scopes, granted_at, client_fingerprint)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (subject, client_id, resource) DO UPDATE SET scopes = excluded.scopes, granted_at = excluded.granted_at,
			client_fingerprint = excluded.client_fingerprint`,
		c.Subject, c.ClientID, c.Resource, scopes, grantedAt, c.ClientFingerprint)
	return err
}

// DeleteClientConsents forgets every consent given to clientID.
func (s *Store) DeleteClientConsents(ctx context.Context, clientID string) (int64, error) {
	var v check
	v.text("client ID", clientID, maxURL, true)
	if v.err != nil {
		return 0, fmt.Errorf("postgres: delete client consents: %w", v.err)
	}
	return s.exec(ctx, "delete client consents", `DELETE FROM consents WHERE client_id = $1`, clientID)
}
