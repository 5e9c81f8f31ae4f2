package oauth

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/ory/fosite"
	fositeoauth2 "github.com/ory/fosite/handler/oauth2"

	"github.com/mcp-authz/mcp-authz/internal/tokenkey"
)

// Signer signs JWTs with the server's current key and publishes the public keys. The keys package
// implements it.
type Signer interface {
	// SignJWT signs an already-marshalled claims object as a compact JWS whose header carries
	// the key's kid and the given typ.
	SignJWT(payload []byte, typ string) (string, error)
	// JWKS is the JSON Web Key Set of every key whose tokens may still be valid.
	JWKS() []byte
}

// accessTokens issues RFC 9068 JWT access tokens. fosite stores a token under its "signature";
// ours is tokenkey's: the jti, then the SHA-256 of the whole JWT, so that a stored record can
// only be found with the exact token it was issued as (not with a token whose payload was
// altered around a genuine signature).
type accessTokens struct {
	issuer string
	signer Signer
	now    func() time.Time
}

var _ fositeoauth2.AccessTokenStrategy = (*accessTokens)(nil)

// accessClaims are RFC 9068 §2.2's claims.
type accessClaims struct {
	Issuer   string   `json:"iss"`
	Subject  string   `json:"sub"`
	Audience audience `json:"aud"`
	Expiry   int64    `json:"exp"`
	IssuedAt int64    `json:"iat"`
	ID       string   `json:"jti"`
	ClientID string   `json:"client_id"`
	Scope    string   `json:"scope,omitempty"`
	AuthTime int64    `json:"auth_time,omitempty"`
}

// audience marshals as a string when there is one (the usual case: one MCP server), else an array.
type audience []string

func (a audience) MarshalJSON() ([]byte, error) {
	if len(a) == 1 {
		return json.Marshal(a[0])
	}
	return json.Marshal([]string(a))
}

func (a *accessTokens) AccessTokenSignature(_ context.Context, token string) string {
	return tokenkey.Of(token)
}

func (a *accessTokens) GenerateAccessToken(_ context.Context, req fosite.Requester) (string, string, error) {
	sess, ok := req.GetSession().(*Session)
	if !ok {
		return "", "", fmt.Errorf("oauth: unexpected session type %T", req.GetSession())
	}
	if len(sess.TokenAudience) == 0 {
		// RFC 9068 §3: every access token names its audience; ours always a resource.
		return "", "", fmt.Errorf("oauth: access token without audience")
	}
	now := a.now()
	exp := sess.GetExpiresAt(fosite.AccessToken)
	if exp.IsZero() {
		return "", "", fmt.Errorf("oauth: access token without expiry")
	}
	claims := accessClaims{
		Issuer:   a.issuer,
		Subject:  sess.Subject,
		Audience: sess.TokenAudience,
		Expiry:   exp.Unix(),
		IssuedAt: now.Unix(),
		ID:       tokenkey.NewID(),
		ClientID: req.GetClient().GetID(),
		Scope:    strings.Join(sess.TokenScopes, " "),
	}
	if !sess.AuthTime.IsZero() {
		claims.AuthTime = sess.AuthTime.Unix()
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", "", err
	}
	token, err := a.signer.SignJWT(payload, "at+jwt")
	if err != nil {
		return "", "", fmt.Errorf("oauth: sign access token: %w", err)
	}
	return token, tokenkey.For(claims.ID, token), nil
}

// ValidateAccessToken is asked once the record was found by the token's hash, which proves the
// token is one we issued; what is left to check is its expiry.
func (a *accessTokens) ValidateAccessToken(_ context.Context, req fosite.Requester, _ string) error {
	if exp := req.GetSession().GetExpiresAt(fosite.AccessToken); !exp.IsZero() && !a.now().Before(exp) {
		return fosite.ErrTokenExpired.WithHint("The access token expired.")
	}
	return nil
}
