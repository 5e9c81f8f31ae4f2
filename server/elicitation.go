package server

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"

	"github.com/mcp-authz/mcp-authz/config"
	"github.com/mcp-authz/mcp-authz/consent"
	"github.com/mcp-authz/mcp-authz/elicitation"
	"github.com/mcp-authz/mcp-authz/internal/safehttp"
	"github.com/mcp-authz/mcp-authz/keys"
	"github.com/mcp-authz/mcp-authz/oauth"
	"github.com/mcp-authz/mcp-authz/storage"
)

// newElicitation builds the URL-mode elicitation API and pages.
func newElicitation(cfg *config.Config, store storage.Store, provider *oauth.Provider, browser *consent.Service,
	km *keys.Manager, outbound *safehttp.Client, log *slog.Logger) (*elicitation.Service, error) {
	var resources []elicitation.Resource
	for _, r := range cfg.Resources {
		resources = append(resources, elicitation.Resource{
			URI: r.URI, Name: r.Name, Clients: r.ElicitationClients, Callback: r.ElicitationCallback,
		})
	}
	var providers []elicitation.Provider
	for _, p := range cfg.Elicitation.Providers {
		providers = append(providers, elicitation.Provider{
			ID: p.ID, Name: p.Name, AuthorizationEndpoint: p.AuthorizationEndpoint, TokenEndpoint: p.TokenEndpoint, RevocationEndpoint: p.RevocationEndpoint, Issuer: p.Issuer,
			ClientID: p.ClientID, ClientSecret: p.ClientSecret, AuthMethod: p.TokenEndpointAuthMethod, Scopes: p.Scopes,
		})
	}
	return elicitation.New(elicitation.Options{
		Issuer:  cfg.Issuer,
		Secret:  cfg.Secrets.Key,
		Store:   store,
		Browser: browser,
		// An MCP server authenticates as at the token endpoint; only confidential clients are
		// servers.
		AuthenticateClient: func(ctx context.Context, r *http.Request, form url.Values) (string, error) {
			c, err := provider.AuthenticateClient(ctx, r, form)
			if err != nil {
				return "", err
			}
			if c.IsPublic() {
				return "", errors.New("a public client cannot use the elicitation API")
			}
			return c.ID, nil
		},
		Signer:          km,
		HTTPClient:      outbound.HTTPClient(),
		Resources:       resources,
		Providers:       providers,
		DefaultLifetime: cfg.Elicitation.DefaultLifetime.D(),
		MaxLifetime:     cfg.Elicitation.MaxLifetime.D(),
		Logger:          log.With("component", "elicitation"),
	})
}
