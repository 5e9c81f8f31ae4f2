package resource

import (
	"context"
	"encoding/json"
	"slices"
	"time"
)

// Token is a validated access token: who it speaks for, which client holds it and what it
// allows. A Token may be shared between requests (it is cached), so treat it as read-only.
type Token struct {
	Issuer   string    // iss
	Subject  string    // sub: the user, or the client itself for client_credentials (RFC 9068 §2.2)
	ClientID string    // client_id: the OAuth client the token was issued to
	Scopes   []string  // scope, split on spaces
	Audience []string  // aud; always contains this resource
	Expiry   time.Time // exp
	IssuedAt time.Time // iat; zero when introspection did not report it
	ID       string    // jti; empty when introspection did not report it

	// Claims is the JSON object the fields above were read from: the JWT payload, or the
	// introspection response in introspection mode. Decode it for claims this type does not
	// carry.
	Claims json.RawMessage
}

// HasScope reports whether the token grants scope.
func (t *Token) HasScope(scope string) bool {
	return t != nil && slices.Contains(t.Scopes, scope)
}

// Require returns nil if the token grants every one of scopes, an error wrapping
// [ErrInsufficientScope] if it does not, and [ErrNoToken] if t is nil, so that the result of
// [TokenFrom] can be checked directly and handed to [Verifier.ChallengeFor].
func (t *Token) Require(scopes ...string) error {
	if t == nil {
		return ErrNoToken
	}
	for _, s := range scopes {
		if !t.HasScope(s) {
			return &scopeError{granted: t.Scopes, required: scopes}
		}
	}
	return nil
}

type tokenKey struct{}

// TokenFrom returns the token that [Verifier.Protect] validated for this request.
func TokenFrom(ctx context.Context) (*Token, bool) {
	t, ok := ctx.Value(tokenKey{}).(*Token)
	return t, ok && t != nil
}

// ContextWithToken returns a copy of ctx carrying tok, as [Verifier.Protect] does. Use it to
// test handlers that call [TokenFrom].
func ContextWithToken(ctx context.Context, tok *Token) context.Context {
	return context.WithValue(ctx, tokenKey{}, tok)
}
