package resource

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
)

// Challenge is the answer to a request that cannot proceed: a status, and for 400, 401 and 403
// the WWW-Authenticate challenge of RFC 6750 §3 carrying resource_metadata (RFC 9728 §5.1)
// so that the client can find the authorization server.
type Challenge struct {
	Status int // 400, 401, 403, or 503 when the authorization server could not be reached

	// Code is the RFC 6750 §3.1 error code: "invalid_request", "invalid_token",
	// "insufficient_scope", or empty when the request carried no token.
	Code        string
	Description string   // error_description; for people, not programs
	Scope       []string // the scopes the client should ask for (see Verifier.ChallengeFor)

	ResourceMetadata string // the Protected Resource Metadata URL
}

// ChallengeFor returns the answer to err, an error from [Verifier.Verify], [BearerToken] or
// [Token.Require], for a request that needs scopes; nil if err is nil. It lets a handler check
// a scope the route could not know, such as a single tool's:
//
//	tok, _ := resource.TokenFrom(r.Context())
//	if err := tok.Require("files:write"); err != nil {
//		rs.ChallengeFor(err, "files:write").ServeHTTP(w, r)
//		return
//	}
//
// The scope of an insufficient_scope challenge is the token's scopes together with the ones
// needed. An MCP client asks for exactly the challenged scopes on step-up, so a challenge
// naming only the missing ones would buy the new scope by losing the old: the client would
// then fail on the tools it could use before. The MCP authorization specification
// (2025-11-25, "Scope Challenge Handling") recommends this union.
func (v *Verifier) ChallengeFor(err error, scopes ...string) *Challenge {
	if err == nil {
		return nil
	}
	c := &Challenge{ResourceMetadata: v.metadataURL, Scope: scopes}
	var (
		scopeErr   *scopeError
		requestErr *requestError
		tokenErr   *tokenError
	)
	switch {
	case errors.As(err, &scopeErr):
		c.Status, c.Code = http.StatusForbidden, "insufficient_scope"
		c.Scope = union(scopeErr.granted, scopeErr.required, scopes)
		c.Description = "the token lacks a scope this request needs"
	case errors.Is(err, ErrInsufficientScope):
		c.Status, c.Code = http.StatusForbidden, "insufficient_scope"
		c.Description = "the token lacks a scope this request needs"
	case errors.Is(err, ErrNoToken):
		// RFC 6750 §3.1: no error code when the client sent no credentials.
		c.Status = http.StatusUnauthorized
	case errors.As(err, &requestErr):
		c.Status, c.Code, c.Description = http.StatusBadRequest, "invalid_request", requestErr.reason
	case errors.Is(err, ErrUnavailable):
		c.Status, c.Description = http.StatusServiceUnavailable, "the token cannot be checked now; try again later"
	case errors.As(err, &tokenErr):
		c.Status, c.Code, c.Description = http.StatusUnauthorized, "invalid_token", tokenErr.reason
	default:
		c.Status, c.Code, c.Description = http.StatusUnauthorized, "invalid_token", "the access token is invalid"
	}
	return c
}

// union returns the distinct scopes of all sets, in order of first appearance.
func union(sets ...[]string) []string {
	var out []string
	for _, set := range sets {
		for _, s := range set {
			if !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
	}
	return out
}

// Header returns the WWW-Authenticate value, e.g.
//
//	Bearer error="invalid_token", error_description="token expired", resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp", scope="files:read"
//
// Values are quoted strings (RFC 9110 §5.6.4): '"' and '\' are escaped, and bytes outside
// printable ASCII, which RFC 6750 §3 does not allow, are dropped.
func (c *Challenge) Header() string {
	var b strings.Builder
	b.WriteString("Bearer")
	sep := " "
	param := func(name, value string) {
		if value == "" {
			return
		}
		b.WriteString(sep)
		sep = ", "
		b.WriteString(name)
		b.WriteString(`="`)
		for i := 0; i < len(value); i++ {
			switch ch := value[i]; {
			case ch == '"' || ch == '\\':
				b.WriteByte('\\')
				b.WriteByte(ch)
			case ch >= 0x20 && ch < 0x7f:
				b.WriteByte(ch)
			}
		}
		b.WriteByte('"')
	}
	param("error", c.Code)
	param("error_description", c.Description)
	param("resource_metadata", c.ResourceMetadata)
	param("scope", strings.Join(c.Scope, " "))
	return b.String()
}

// ServeHTTP writes the challenge: the status, WWW-Authenticate (except for 503), and a small
// JSON body with the error and its description.
func (c *Challenge) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	h := w.Header()
	if c.Status != http.StatusServiceUnavailable {
		h.Set("WWW-Authenticate", c.Header())
	}
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	desc := c.Description
	if desc == "" {
		desc = http.StatusText(c.Status)
	}
	body, _ := json.Marshal(struct {
		Error       string `json:"error,omitempty"`
		Description string `json:"error_description"`
		Scope       string `json:"scope,omitempty"`
	}{c.Code, desc, strings.Join(c.Scope, " ")})
	w.WriteHeader(c.Status)
	w.Write(body)
}

// BearerToken returns the bearer token in r's Authorization header (RFC 6750 §2.1), the only
// place this package takes one from: tokens in the query or the body are ignored, as the MCP
// authorization specification requires. It returns [ErrNoToken] when there is no header or it
// names another scheme, and an error wrapping [ErrInvalidRequest] when the header is
// malformed.
func BearerToken(r *http.Request) (string, error) {
	values := r.Header.Values("Authorization")
	switch len(values) {
	case 0:
		return "", ErrNoToken
	case 1:
	default:
		return "", &requestError{"more than one Authorization header"}
	}
	scheme, token, _ := strings.Cut(values[0], " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", ErrNoToken
	}
	token = strings.Trim(token, " ")
	if token == "" {
		return "", &requestError{"empty bearer token"}
	}
	if !isB64Token(token) {
		return "", &requestError{"malformed bearer token"}
	}
	return token, nil
}

// isB64Token reports whether s matches b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" /
// "+" / "/" ) *"=" (RFC 6750 §2.1). Every request pays for this scan, so the character class
// is two 64-bit masks rather than a chain of comparisons.
func isB64Token(s string) bool {
	const (
		low  = 1<<'+' | 1<<'-' | 1<<'.' | 1<<'/' | (1<<10-1)<<'0'                    // 0x00–0x3f
		high = (1<<26-1)<<('A'-64) | 1<<('_'-64) | (1<<26-1)<<('a'-64) | 1<<('~'-64) // 0x40–0x7f
	)
	i := 0
	for ; i < len(s); i++ {
		ch := s[i]
		mask := uint64(low)
		if ch >= 64 {
			mask = high
		}
		if ch >= 128 || mask>>(ch&63)&1 == 0 {
			break
		}
	}
	if i == 0 {
		return false
	}
	for ; i < len(s); i++ {
		if s[i] != '=' {
			return false
		}
	}
	return true
}
