package oauth

import (
	"net/http"
	"slices"

	"github.com/ory/fosite"
)

// clientCredentials is the client credentials grant (RFC 6749 §4.4) as the MCP extension
// "oauth-client-credentials" profiles it: confidential clients only, the token audience-bound to
// a resource, scopes within what the client is allowed, no refresh token.
//
// It does not go through fosite: a machine grant is one client authentication, one signature and
// one durable write, and fosite's general request handling would cost several times that.
func (p *Provider) clientCredentials(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	client, jti, err := p.authenticateClient(ctx, r, r.PostForm)
	if err != nil {
		p.tokenError(w, r, nil, err)
		return
	}
	if client.IsPublic() {
		p.tokenError(w, r, nil, fosite.ErrUnauthorizedClient.WithHint("client_credentials is for confidential clients."))
		return
	}
	if !slices.Contains(client.GrantTypes, "client_credentials") {
		p.tokenError(w, r, nil, fosite.ErrUnauthorizedClient.WithHint("This client may not use the client_credentials grant."))
		return
	}
	audience, err := p.machineAudience(client, r.PostForm["resource"])
	if err != nil {
		p.tokenError(w, r, nil, err)
		return
	}
	allowed := func(s string) bool { return len(client.Scopes) == 0 || slices.Contains(client.Scopes, s) }
	scopes, err := machineScopes(r.PostForm.Get("scope"), audience, allowed)
	if err != nil {
		p.tokenError(w, r, nil, err)
		return
	}
	g := machineGrant{client: client, subject: client.ID, audience: audience, scopes: scopes}
	if jti != nil {
		g.changes = append(g.changes, *jti)
	}
	p.issue(ctx, w, r, g)
}
