package oauth

import (
	"context"
	"net/http"
	"net/url"
)

// AuthenticateClient authenticates the client of a request to an endpoint of this server that
// is not an OAuth endpoint (the elicitation API), exactly as the token, introspection and
// revocation endpoints do: client_secret_basic, client_secret_post, private_key_jwt (RFC 6749
// §2.3.1, RFC 7523 §2.2), or a public client naming itself. A client assertion's jti is
// recorded before it returns, so an assertion is accepted once. The caller decides whether a
// public client may go on (Client.IsPublic).
//
// The errors are fosite errors (invalid_client, invalid_request); the caller answers with its
// own, without their hints, which may name the client.
func (p *Provider) AuthenticateClient(ctx context.Context, r *http.Request, form url.Values) (*Client, error) {
	c, jti, err := p.authenticateClient(ctx, r, form)
	if err != nil {
		return nil, err
	}
	if jti != nil {
		if err := p.tokens.Apply(ctx, *jti); err != nil {
			return nil, replayError(err)
		}
	}
	return c, nil
}
