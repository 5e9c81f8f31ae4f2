package oauth

import (
	"maps"
	"slices"
	"time"

	"github.com/ory/fosite"
)

// Session is what fosite stores with every code and token of a grant.
type Session struct {
	Subject  string    `json:"sub"`
	Username string    `json:"usr,omitempty"`
	AuthTime time.Time `json:"auth_time,omitzero"`
	// ExpiresAt is fosite's per-token-type expiry.
	ExpiresAt map[fosite.TokenType]time.Time `json:"exp,omitempty"`

	// GrantResources and GrantScopes are what was consented to (or, for machine grants, allowed).
	// A refresh token stays bound to them (OAuth 2.1 §4.3.1); each access token is a subset.
	GrantResources []string `json:"grant_aud,omitempty"`
	GrantScopes    []string `json:"grant_scp,omitempty"`

	// TokenAudience and TokenScopes are what the access token being issued carries, chosen by
	// the token endpoint within the grant (RFC 8707 §2.2 lets a token request narrow).
	TokenAudience []string `json:"aud,omitempty"`
	TokenScopes   []string `json:"scp,omitempty"`
}

var _ fosite.Session = (*Session)(nil)

func (s *Session) SetExpiresAt(key fosite.TokenType, exp time.Time) {
	if s.ExpiresAt == nil {
		s.ExpiresAt = map[fosite.TokenType]time.Time{}
	}
	s.ExpiresAt[key] = exp
}

func (s *Session) GetExpiresAt(key fosite.TokenType) time.Time { return s.ExpiresAt[key] }
func (s *Session) GetUsername() string                         { return s.Username }
func (s *Session) GetSubject() string                          { return s.Subject }

func (s *Session) Clone() fosite.Session {
	if s == nil {
		return nil
	}
	cp := *s
	cp.ExpiresAt = maps.Clone(s.ExpiresAt)
	cp.GrantResources = slices.Clone(s.GrantResources)
	cp.GrantScopes = slices.Clone(s.GrantScopes)
	cp.TokenAudience = slices.Clone(s.TokenAudience)
	cp.TokenScopes = slices.Clone(s.TokenScopes)
	return &cp
}
