package consent

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/mcp-authz/mcp-authz/enterprise"
	"github.com/mcp-authz/mcp-authz/storage"
)

// Identity links a person at an upstream OpenID Provider to a local user. It is kept as a
// storage.KindIdentity record with id IdentityID(Issuer, Subject); this package owns its JSON.
type Identity struct {
	Issuer  string `json:"issuer"`
	Subject string `json:"sub"`
	UserID  string `json:"user_id"`
	// Email is the provider's at the last sign-in (for display; never used to link).
	Email string `json:"email,omitempty"`
	// Provider is the configuration id the person last signed in through.
	Provider   string    `json:"provider,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
	LastSignIn time.Time `json:"last_sign_in"`
}

// IdentityID is the record id of an upstream identity: the base64url SHA-256 of the issuer and
// sub, each length-prefixed so that no two pairs hash the same input. OpenID Connect Core 1.0
// §2 makes iss and sub together the only stable identifier of a person.
func IdentityID(issuer, sub string) string {
	h := sha256.New()
	var n [4]byte
	for _, s := range []string{issuer, sub} {
		binary.BigEndian.PutUint32(n[:], uint32(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil))
}

// UserIdentities returns the upstream identities linked to a user, oldest first.
func UserIdentities(ctx context.Context, records storage.Records, userID string) ([]Identity, error) {
	recs, err := records.ListRecords(ctx, storage.KindIdentity)
	if err != nil {
		return nil, fmt.Errorf("identities: %w", err)
	}
	var out []Identity
	for _, r := range recs {
		var id Identity
		if err := json.Unmarshal(r.Data, &id); err != nil {
			return nil, fmt.Errorf("identity record %s: %w", r.ID, err)
		}
		if id.UserID == userID {
			out = append(out, id)
		}
	}
	slices.SortFunc(out, func(a, b Identity) int { return a.CreatedAt.Compare(b.CreatedAt) })
	return out, nil
}

// Display values longer than these are not genuine and are dropped rather than stored cut.
const (
	maxEmailLength = 320
	maxNameLength  = 256
	// maxSubjectLength is OpenID Connect Core 1.0 §2: sub is at most 255 ASCII characters.
	maxSubjectLength = 255
)

// person is who an ID token says signed in.
type person struct {
	subject, email, name string
	emailVerified        *bool
}

// errUserDisabled refuses a sign-in to a disabled account.
var errUserDisabled = errors.New("the account is disabled")

// linkUser returns the local user of an upstream identity, creating the user and the link on
// first sign-in. The user's id is the subject enterprise.Subject derives for the same issuer and
// sub, so that a person is one subject whether they sign in here in a browser or their client
// presents that IdP's ID-JAG. Nothing is ever linked by email: an address can be reassigned,
// and a provider can assert any address.
func (s *Service) linkUser(ctx context.Context, up *upstream, p person) (*storage.User, error) {
	now := s.now().UTC().Truncate(time.Second)
	recID := IdentityID(up.Issuer, p.subject)
	ident := Identity{Issuer: up.Issuer, Subject: p.subject, UserID: enterprise.Subject(up.Issuer, "", p.subject), CreatedAt: now}
	rec, err := s.records.GetRecord(ctx, storage.KindIdentity, recID)
	switch {
	case err == nil:
		if err := json.Unmarshal(rec.Data, &ident); err != nil {
			return nil, fmt.Errorf("identity record %s: %w", recID, err)
		}
	case !errors.Is(err, storage.ErrNotFound):
		return nil, fmt.Errorf("identity record %s: %w", recID, err)
	}

	user, err := s.store.GetUser(ctx, ident.UserID)
	if errors.Is(err, storage.ErrNotFound) {
		err = s.store.CreateUser(ctx, storage.User{
			ID: ident.UserID, Username: ident.UserID,
			Email: bounded(p.email, maxEmailLength), Name: bounded(p.name, maxNameLength), CreatedAt: now,
		})
		if err == nil || errors.Is(err, storage.ErrConflict) {
			// Created, or a concurrent first sign-in (or an ID-JAG) created it: read it back.
			s.log.InfoContext(ctx, "upstream: user created", "sub", ident.UserID, "provider", up.ID)
			user, err = s.store.GetUser(ctx, ident.UserID)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("user %s: %w", ident.UserID, err)
	}
	if user.Disabled {
		return nil, errUserDisabled
	}
	// The provider is the authority on a person's email and name: keep them current.
	if email, name := bounded(p.email, maxEmailLength), bounded(p.name, maxNameLength); (email != "" && email != user.Email) || (name != "" && name != user.Name) {
		if email != "" {
			user.Email = email
		}
		if name != "" {
			user.Name = name
		}
		if err := s.store.UpdateUser(ctx, *user); err != nil {
			return nil, fmt.Errorf("user %s: %w", user.ID, err)
		}
	}

	ident.Email, ident.Provider, ident.LastSignIn = bounded(p.email, maxEmailLength), up.ID, now
	data, err := json.Marshal(ident)
	if err != nil {
		return nil, err
	}
	if err := s.records.PutRecord(ctx, storage.Record{Kind: storage.KindIdentity, ID: recID, Data: data, CreatedAt: now, UpdatedAt: now}); err != nil {
		return nil, fmt.Errorf("identity record %s: %w", recID, err)
	}
	return user, nil
}

// bounded drops a display value too long to be genuine rather than storing a cut one.
func bounded(s string, limit int) string {
	if len(s) > limit {
		return ""
	}
	return s
}

// emailAllowed applies allowed_email_domains: the address's domain is one of them, and the
// provider did not say the address is unverified. An absent email_verified is accepted:
// several enterprise providers (Microsoft Entra ID among them) never send it, and only
// verified addresses of their own tenants.
func (p *UpstreamProvider) emailAllowed(who person) error {
	if len(p.AllowedEmailDomains) == 0 {
		return nil
	}
	at := strings.LastIndexByte(who.email, '@')
	if at < 0 {
		return errors.New("the provider sent no email address")
	}
	if who.emailVerified != nil && !*who.emailVerified {
		return errors.New("the provider says the email address is not verified")
	}
	domain := strings.ToLower(who.email[at+1:])
	if !slices.Contains(p.AllowedEmailDomains, domain) {
		return fmt.Errorf("the email domain %q is not allowed", domain)
	}
	return nil
}
