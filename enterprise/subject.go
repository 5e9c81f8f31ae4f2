package enterprise

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/mcp-authz/mcp-authz/storage"
)

// SubjectPrefix starts every subject this package derives, so that it can never be mistaken
// for a local account's id.
const SubjectPrefix = "e_"

// Subject is the local subject of an IdP's user: "e_" and 27 characters of the base64url
// SHA-256 of the issuer, the tenant ("" for a single-tenant issuer) and sub, each
// length-prefixed so that no two triples hash the same input. The draft (§3.1) makes iss+sub
// unique for a single-tenant issuer and iss+tenant+sub for a multi-tenant one. The email is
// never part of it: an address can be reassigned, and an IdP can assert any address.
func Subject(issuer, tenant, sub string) string {
	h := sha256.New()
	var n [4]byte
	for _, s := range []string{issuer, tenant, sub} {
		binary.BigEndian.PutUint32(n[:], uint32(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	return SubjectPrefix + base64.RawURLEncoding.EncodeToString(h.Sum(nil))[:27]
}

// Users is what the exchanger needs of storage.Users.
type Users interface {
	GetUser(ctx context.Context, id string) (*storage.User, error)
	CreateUser(ctx context.Context, u storage.User) error
}

// provision makes sure the user record exists, creating it on first sight, and refuses a
// disabled one. The email and name are the assertion's at first sight; they are for display,
// never for linking to another account.
func (e *Exchanger) provision(ctx context.Context, subject string, c *claims) error {
	u, err := e.users.GetUser(ctx, subject)
	if errors.Is(err, storage.ErrNotFound) {
		err = e.users.CreateUser(ctx, storage.User{
			ID: subject, Username: subject,
			Email: bounded(c.Email, maxEmailLength), Name: bounded(c.Name, maxNameLength),
			CreatedAt: e.now().UTC().Truncate(time.Second),
		})
		switch {
		case err == nil:
			e.log.InfoContext(ctx, "enterprise user created", "sub", subject, "iss", c.Issuer)
			return nil
		case errors.Is(err, storage.ErrConflict):
			// A concurrent first sight created it (or a username clashes): read it back.
			u, err = e.users.GetUser(ctx, subject)
		}
	}
	if err != nil {
		return fmt.Errorf("enterprise: user %s: %w", subject, err)
	}
	if u.Disabled {
		return invalidGrant(ErrUserDisabled, "The user's account is disabled.")
	}
	return nil
}

// bounded drops a display value too long to be genuine rather than storing a cut one.
func bounded(s string, limit int) string {
	if len(s) > limit {
		return ""
	}
	return s
}
