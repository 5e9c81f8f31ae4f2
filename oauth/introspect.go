package oauth

import (
	"context"
	"net/http"
	"strings"

	"github.com/mcp-authz/mcp-authz/internal/httpx"
	"github.com/mcp-authz/mcp-authz/internal/tokenkey"
	"github.com/mcp-authz/mcp-authz/storage"
)

// maxTokenLength bounds a token we look up: ours are far shorter.
const maxTokenLength = 8 << 10

// introspection is an RFC 7662 §2.2 response.
type introspection struct {
	Active    bool     `json:"active"`
	Scope     string   `json:"scope,omitempty"`
	ClientID  string   `json:"client_id,omitempty"`
	Subject   string   `json:"sub,omitempty"`
	Audience  audience `json:"aud,omitempty"`
	Issuer    string   `json:"iss,omitempty"`
	Expiry    int64    `json:"exp,omitempty"`
	IssuedAt  int64    `json:"iat,omitempty"`
	TokenType string   `json:"token_type,omitempty"`
}

// handleIntrospect is RFC 7662 token introspection. Callers authenticate as confidential clients
// (§2.1: the endpoint MUST require authorization, so that it cannot be used to scan for tokens).
// Anything we cannot vouch for now (unknown, revoked, rotated, expired) is {"active": false}.
func (p *Provider) handleIntrospect(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		httpx.WriteOAuthError(w, r, http.StatusMethodNotAllowed, "invalid_request", "The introspection endpoint takes POST requests.")
		return
	}
	if err := httpx.ParseForm(w, r); err != nil {
		httpx.WriteOAuthError(w, r, 0, "invalid_request", err.Error())
		return
	}
	client, err := p.fosite.AuthenticateClient(ctx, r, r.PostForm)
	if err != nil {
		p.log.InfoContext(ctx, "introspect: client authentication failed", "error", err)
		httpx.WriteOAuthError(w, r, http.StatusUnauthorized, "invalid_client", "Client authentication failed.")
		return
	}
	if client.IsPublic() {
		httpx.WriteOAuthError(w, r, http.StatusUnauthorized, "invalid_client", "Introspection is for confidential clients (resource servers).")
		return
	}
	token := r.PostForm.Get("token")
	if token == "" {
		httpx.WriteOAuthError(w, r, 0, "invalid_request", "The token parameter is missing.")
		return
	}
	httpx.WriteJSON(w, http.StatusOK, p.introspect(ctx, token))
}

func (p *Provider) introspect(ctx context.Context, token string) introspection {
	if len(token) > maxTokenLength {
		return introspection{}
	}
	// Our access tokens are JWTs (three dot-separated parts), refresh tokens are fosite's HMAC
	// tokens (one dot), so the form of the token says where to look; token_type_hint is not
	// needed (RFC 7662 §2.1 lets a server ignore it).
	kind, signature, tokenType := storage.RefreshToken, p.refresh.RefreshTokenSignature(ctx, token), "refresh_token"
	if strings.Count(token, ".") == 2 {
		kind, signature, tokenType = storage.AccessToken, tokenkey.Of(token), "Bearer"
	}
	t, err := p.tokens.GetToken(ctx, kind, signature)
	if err != nil || !t.Active || !p.now().Before(t.ExpiresAt) {
		return introspection{}
	}
	if _, err := p.clients.Client(ctx, t.Request.ClientID); err != nil {
		return introspection{} // the client was removed
	}
	return introspection{
		Active:    true,
		Scope:     strings.Join(t.Request.GrantedScopes, " "),
		ClientID:  t.Request.ClientID,
		Subject:   t.Request.Subject,
		Audience:  t.Request.GrantedAudience,
		Issuer:    p.issuer,
		Expiry:    t.ExpiresAt.Unix(),
		IssuedAt:  t.Request.RequestedAt.Unix(),
		TokenType: tokenType,
	}
}
