package oauth

import (
	"net/http"

	"github.com/mcp-authz/mcp-authz/internal/httpx"
)

// handleRevoke is RFC 7009 token revocation, by fosite: the client authenticates (a public client
// by its client_id), may revoke only its own tokens, and revoking either token of a grant
// revokes the whole grant (§2.1 lets a server do so, and a leaked token is best treated so).
// An unknown token is answered 200 like a revoked one (§2.2).
func (p *Provider) handleRevoke(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		httpx.WriteOAuthError(w, r, http.StatusMethodNotAllowed, "invalid_request", "The revocation endpoint takes POST requests.")
		return
	}
	if err := httpx.ParseForm(w, r); err != nil {
		httpx.WriteOAuthError(w, r, 0, "invalid_request", err.Error())
		return
	}
	err := p.fosite.NewRevocationRequest(ctx, r)
	if err != nil {
		p.log.InfoContext(ctx, "revoke: refused", "error", err)
	}
	p.fosite.WriteRevocationResponse(ctx, w, err)
}
