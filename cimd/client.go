package cimd

import (
	"encoding/json"
	"slices"
	"time"

	"github.com/mcp-authz/mcp-authz/internal/redirecturi"
)

// Client is a client described by a valid Client ID Metadata Document. It never changes once
// [Resolver.Resolve] has returned it: the resolver hands the same *Client to every caller
// until the cache entry expires, so its fields are unexported and the accessors that return
// slices return copies.
type Client struct {
	id            string
	name          string
	host          string
	redirectURIs  []string
	grantTypes    []string
	responseTypes []string
	authMethod    string
	jwks          json.RawMessage
	jwksURI       string
	clientURI     string
	logoURI       string
	tosURI        string
	policyURI     string
	scope         string
	fingerprint   string
	allowListed   bool
	fetchedAt     time.Time
	expires       time.Time
}

// ID is the client_id: the URL of the document, exactly as the document states it.
func (c *Client) ID() string { return c.id }

// Name is the self-asserted client_name. Show it next to [Client.Host], never instead of it.
func (c *Client) Name() string { return c.name }

// Host is the client_id URL's host, in lower case, with the port if the URL had one. It is the
// only part of a CIMD client that is not self-asserted, so the consent page shows it
// prominently (MCP authorization, CIMD §6).
func (c *Client) Host() string { return c.host }

// AllowListed reports whether Host is on the operator's allow-list, for a badge on the consent
// page. It is false whenever the allow-list is empty.
func (c *Client) AllowListed() bool { return c.allowListed }

// RedirectURIs returns a copy of the registered redirect URIs.
func (c *Client) RedirectURIs() []string { return slices.Clone(c.redirectURIs) }

// MatchRedirectURI reports whether requested matches a registered redirect URI exactly, or, for
// an http URI on a loopback host, except for the port (see internal/redirecturi).
func (c *Client) MatchRedirectURI(requested string) bool {
	return redirecturi.Match(c.redirectURIs, requested)
}

// GrantTypes returns the grant types the client may use: those it declared (RFC 7591 §2 default
// ["authorization_code"]) less those this server does not allow a CIMD client. It always
// contains "authorization_code" unless the client is a private_key_jwt client that declared
// only the jwt-bearer grant.
func (c *Client) GrantTypes() []string { return slices.Clone(c.grantTypes) }

// ResponseTypes is always ["code"].
func (c *Client) ResponseTypes() []string { return slices.Clone(c.responseTypes) }

// TokenEndpointAuthMethod is "none" (a public client) or "private_key_jwt".
func (c *Client) TokenEndpointAuthMethod() string { return c.authMethod }

// Public reports whether the client authenticates with nothing at the token endpoint.
func (c *Client) Public() bool { return c.authMethod == "none" }

// JWKS returns a copy of the client's inline key set as JSON, or nil. It is not the bytes of
// the document: it holds only the keys that passed validation (public, well formed, RSA of at
// least 2048 bits, usable for signatures), re-encoded, so any JWK library can read it.
func (c *Client) JWKS() json.RawMessage { return slices.Clone(c.jwks) }

// JWKSURI is the client's jwks_uri, or "". It has passed the URL rules; fetch it only through
// internal/safehttp, which applies the address rules (CIMD-01 §6.5).
func (c *Client) JWKSURI() string { return c.jwksURI }

// ClientURI, LogoURI, TOSURI and PolicyURI are https URLs or "". They are self-asserted: the
// consent page must not present them as vouched for.
func (c *Client) ClientURI() string { return c.clientURI }

// LogoURI: see ClientURI.
func (c *Client) LogoURI() string { return c.logoURI }

// TOSURI: see ClientURI.
func (c *Client) TOSURI() string { return c.tosURI }

// PolicyURI: see ClientURI.
func (c *Client) PolicyURI() string { return c.policyURI }

// Scope is the document's space-separated scope value, or "".
func (c *Client) Scope() string { return c.scope }

// Fingerprint identifies the security-relevant content of the document: its redirect URIs, its
// keys (by RFC 7638 thumbprint) or jwks_uri, and its authentication method. Store it with a
// consent and compare it when the consent is used: unlike [Config.OnChange] it survives cache
// evictions and restarts (CIMD-01 §6.3: a changed document MAY require fresh consent).
func (c *Client) Fingerprint() string { return c.fingerprint }

// FetchedAt is when the document was fetched.
func (c *Client) FetchedAt() time.Time { return c.fetchedAt }

// Expires is when the cached document stops being used.
func (c *Client) Expires() time.Time { return c.expires }
