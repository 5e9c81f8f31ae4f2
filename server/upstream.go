package server

import (
	"fmt"
	"log/slog"

	"github.com/mcp-authz/mcp-authz/config"
	"github.com/mcp-authz/mcp-authz/consent"
	"github.com/mcp-authz/mcp-authz/internal/safehttp"
	"github.com/mcp-authz/mcp-authz/oauth"
	"github.com/mcp-authz/mcp-authz/storage"
)

// upstreamMaxBody bounds each response from an upstream OpenID Provider. Discovery documents
// (Keycloak's is over 5 KiB), key sets (Microsoft's) and token responses whose ID token lists
// many groups outgrow the outbound client's default for metadata documents.
const upstreamMaxBody = 256 << 10

// upstreamHostRate and upstreamHostBurst limit requests to one upstream provider.
const (
	upstreamHostRate  = 100
	upstreamHostBurst = 200
)

// UpstreamLogin converts the configuration's upstream OpenID Providers for the consent package:
// their policies with resource URIs in the server's canonical form, and the safe outbound
// client every request to them goes through.
func UpstreamLogin(cfg *config.Config, resources *oauth.Resources, store storage.Store, log *slog.Logger) (consent.Upstream, error) {
	if len(cfg.UpstreamProviders) == 0 {
		return consent.Upstream{}, nil
	}
	var up consent.Upstream
	for _, p := range cfg.UpstreamProviders {
		cp := consent.UpstreamProvider{
			ID: p.ID, Name: p.Name, Issuer: p.Issuer,
			ClientID: p.ClientID, ClientSecret: p.ClientSecret, Scopes: p.Scopes,
			Claims: consent.UpstreamClaims{
				Subject: p.Claims.Subject, Email: p.Claims.Email, Name: p.Claims.Name, Groups: p.Claims.Groups,
			},
			AllowedEmailDomains: p.AllowedEmailDomains,
		}
		for i, r := range p.Policy {
			rule := consent.PolicyRule{Groups: r.Groups, Claim: r.Claim, Values: r.Values, Scopes: r.Scopes}
			for _, uri := range r.Resources {
				if uri != "*" {
					res, err := resources.Lookup(uri)
					if err != nil {
						return consent.Upstream{}, fmt.Errorf("upstream provider %s: policy[%d]: %w", p.ID, i, err)
					}
					uri = res.URI
				}
				rule.Resources = append(rule.Resources, uri)
			}
			cp.Policy = append(cp.Policy, rule)
		}
		up.Providers = append(up.Providers, cp)
		log.Info("offering sign-in through an upstream provider", "provider", p.ID, "issuer", p.Issuer, "rules", len(p.Policy))
	}
	up.Records = store // identity links are storage.KindIdentity records
	client, err := upstreamOutbound(cfg, log)
	if err != nil {
		return consent.Upstream{}, err
	}
	up.HTTPClient = client.HTTPClient()
	return up, nil
}

// upstreamOutbound is the outbound client for upstream providers: the configuration's outbound
// rules (addresses, test hosts, timeout), with a body limit and per-host rate fit for them.
func upstreamOutbound(cfg *config.Config, log *slog.Logger) (*safehttp.Client, error) {
	sc, err := outboundConfig(cfg, log.With("component", "upstream"))
	if err != nil {
		return nil, err
	}
	sc.MaxBodyBytes = upstreamMaxBody
	// Every person's sign-in is a token request to the same host: the per-host limit that
	// keeps attacker-chosen metadata URLs from turning us into a flood would throttle logins
	// here. These hosts are the operator's; the limit stays, well above sign-in rates.
	sc.HostRate, sc.HostBurst = upstreamHostRate, upstreamHostBurst
	return safehttp.NewClient(sc)
}
