package oauth

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/ory/fosite"

	"github.com/mcp-authz/mcp-authz/cimd"
	"github.com/mcp-authz/mcp-authz/internal/jwtverify"
)

// Client is a client as the server sees it, whatever registered it. It implements fosite.Client.
// A Client is immutable once built: several requests share it.
type Client struct {
	ID           string
	Name         string
	RedirectURIs []string
	// SecretHash makes the client confidential; see [HashSecret].
	SecretHash []byte
	GrantTypes []string
	// Resources the client may ask for; its scopes are theirs plus offline_access.
	Resources []*Resource
	// AuthMethod is the token endpoint authentication method: "none" for public clients,
	// "client_secret_basic"/"client_secret_post" with a SecretHash, "private_key_jwt" with Keys.
	AuthMethod string
	// Keys verify the client's assertions (private_key_jwt): inline or from its jwks_uri.
	Keys jwtverify.KeySet
	// Scopes limits the scopes a machine client may ask for with client_credentials; empty
	// means every scope of its resources.
	Scopes []string
	// Host is set for a client whose id is a URL (a Client ID Metadata Document): the part of its
	// identity we can vouch for. HostTrusted marks a host on the operator's allow-list.
	Host        string
	HostTrusted bool
	// Fingerprint identifies the security-relevant content of a Client ID Metadata Document
	// (cimd.Client.Fingerprint); "" for other clients. Consent is remembered with it and
	// counts only while it is unchanged.
	Fingerprint string

	scopes []string
}

// ClientSource finds clients by id.
type ClientSource interface {
	// Client returns the client, or an error wrapping ErrUnknownClient.
	Client(ctx context.Context, id string) (*Client, error)
}

// ErrUnknownClient is wrapped by a ClientSource that does not know the id.
var ErrUnknownClient = errors.New("unknown client")

// StaticClients are the clients pre-registered in configuration.
type StaticClients map[string]*Client

// NewStaticClients prepares pre-registered clients; a client with no Resources may use them all.
func NewStaticClients(all *Resources, clients []*Client) StaticClients {
	m := StaticClients{}
	for _, c := range clients {
		if len(c.Resources) == 0 {
			c.Resources = all.All()
		}
		if c.AuthMethod == "" {
			c.AuthMethod = "none"
			if len(c.SecretHash) > 0 {
				c.AuthMethod = "client_secret_basic"
			}
		}
		c.prepare()
		m[c.ID] = c
	}
	return m
}

func (m StaticClients) Client(_ context.Context, id string) (*Client, error) {
	if c, ok := m[id]; ok {
		return c, nil
	}
	return nil, ErrUnknownClient
}

func (c *Client) prepare() {
	seen := map[string]bool{}
	c.scopes = nil
	for _, r := range c.Resources {
		for _, s := range r.Scopes {
			if !seen[s.Name] {
				seen[s.Name] = true
				c.scopes = append(c.scopes, s.Name)
			}
		}
	}
	c.scopes = append(c.scopes, OfflineAccess)
}

// MayUse reports whether the client may ask for the resource.
func (c *Client) MayUse(r *Resource) bool {
	for _, have := range c.Resources {
		if have == r {
			return true
		}
	}
	return false
}

// RedirectHost is the host the client's redirect URI points at, for the consent page.
func RedirectHost(redirectURI string) string {
	u, err := url.Parse(redirectURI)
	if err != nil {
		return ""
	}
	if u.Host == "" {
		return u.Scheme + ":" // a private-use scheme of a native app
	}
	return u.Host
}

// fosite.Client.
func (c *Client) GetID() string             { return c.ID }
func (c *Client) GetHashedSecret() []byte   { return c.SecretHash }
func (c *Client) GetRedirectURIs() []string { return c.RedirectURIs }
func (c *Client) GetGrantTypes() fosite.Arguments {
	return fosite.Arguments(c.GrantTypes)
}
func (c *Client) GetResponseTypes() fosite.Arguments { return fosite.Arguments{"code"} }
func (c *Client) GetScopes() fosite.Arguments        { return fosite.Arguments(c.scopes) }

// IsPublic is true only for clients registered as such: a client registered for
// private_key_jwt has no secret hash but is not public, and must never be let in on its
// client_id alone.
func (c *Client) IsPublic() bool { return c.AuthMethod == "none" }
func (c *Client) GetAudience() fosite.Arguments {
	aud := make(fosite.Arguments, len(c.Resources))
	for i, r := range c.Resources {
		aud[i] = r.URI
	}
	return aud
}

// withRedirectURI returns a copy of the client that also lists uri. It is how a loopback redirect
// on a port other than the registered one (RFC 8252 §7.3), which our matcher accepted, is shown
// to fosite, whose own matcher accepts any port only for IP literals, not "localhost".
func (c *Client) withRedirectURI(uri string) *Client {
	cp := *c
	cp.RedirectURIs = append(append([]string(nil), c.RedirectURIs...), uri)
	return &cp
}

// Clients resolves client ids: an https URL through Client ID Metadata Documents (package cimd),
// anything else from the pre-registered clients.
type Clients struct {
	static    StaticClients
	db        *dbClients     // nil: no database clients
	resolver  *cimd.Resolver // nil: URL client ids are refused
	resources *Resources
	opts      ClientsOptions

	// converted caches the Client built from each resolved document, keyed by client id and
	// rebuilt when the resolver hands out a new document. fosite asks for the client several
	// times per request; this keeps that to a map lookup.
	mu        sync.Mutex
	converted map[string]convertedClient
}

type convertedClient struct {
	doc    *cimd.Client
	client *Client
}

// maxConverted bounds the conversion cache; past it, the cache starts over (the resolver's own
// cache still holds the documents).
const maxConverted = 20_000

// ClientsOptions tune how metadata-document clients become clients.
type ClientsOptions struct {
	// FetchJWKS fetches a document's jwks_uri (through the safe outbound client).
	FetchJWKS jwtverify.Fetcher
	// CIMDClientCredentials lets private_key_jwt document clients use client_credentials.
	CIMDClientCredentials bool
	// Records, when set, holds clients registered in the database (CLI, dynamic registration).
	Records RecordStore
	// Now is the clock (tests).
	Now func() time.Time
}

// NewClients combines the pre-registered clients with a CIMD resolver (nil to refuse URL ids).
func NewClients(static StaticClients, resolver *cimd.Resolver, resources *Resources, opts ClientsOptions) *Clients {
	cs := &Clients{static: static, resolver: resolver, resources: resources, opts: opts, converted: map[string]convertedClient{}}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Records != nil {
		cs.db = &dbClients{records: opts.Records, resources: resources, fetchJWKS: opts.FetchJWKS,
			ttl: DBClientCacheTime, now: opts.Now, cache: map[string]cachedClient{}}
	}
	return cs
}

// MayUseClientCredentials reports whether any client may use the client_credentials grant.
func (cs *Clients) MayUseClientCredentials() bool {
	if cs.db != nil || (cs.opts.CIMDClientCredentials && cs.CIMDEnabled()) {
		return true
	}
	for _, c := range cs.static {
		if slices.Contains(c.GrantTypes, "client_credentials") {
			return true
		}
	}
	return false
}

// CIMDEnabled reports whether URL client ids are resolved.
func (cs *Clients) CIMDEnabled() bool { return cs.resolver != nil && cs.resolver.Enabled() }

// Client returns the client for id. For a URL id the error is the resolver's *cimd.Error, which
// names the rule that failed.
func (cs *Clients) Client(ctx context.Context, id string) (*Client, error) {
	if !cimd.IsURL(id) {
		if c, err := cs.static.Client(ctx, id); err == nil || cs.db == nil {
			return c, err
		}
		return cs.db.Client(ctx, id)
	}
	if cs.resolver == nil {
		return nil, ErrUnknownClient
	}
	doc, err := cs.resolver.Resolve(ctx, id)
	if err != nil {
		return nil, err
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if c, ok := cs.converted[id]; ok && c.doc == doc {
		return c.client, nil
	}
	c := &Client{
		ID:           doc.ID(),
		Name:         doc.Name(),
		RedirectURIs: doc.RedirectURIs(),
		GrantTypes:   doc.GrantTypes(),
		AuthMethod:   doc.TokenEndpointAuthMethod(),
		Resources:    cs.resources.All(),
		Host:         doc.Host(),
		HostTrusted:  doc.AllowListed(),
		Fingerprint:  doc.Fingerprint(),
	}
	if c.AuthMethod == "private_key_jwt" {
		switch {
		case len(doc.JWKS()) > 0:
			keys, err := jwtverify.NewStaticKeySet(doc.JWKS())
			if err != nil {
				return nil, &cimd.Error{ClientID: id, Rule: "keys_invalid", Detail: err.Error()}
			}
			c.Keys = keys
		case doc.JWKSURI() != "" && cs.opts.FetchJWKS != nil:
			c.Keys = jwtverify.NewRemoteKeySet(doc.JWKSURI(), cs.opts.FetchJWKS, 0, 0, nil)
		}
		if cs.opts.CIMDClientCredentials {
			c.GrantTypes = append(c.GrantTypes, "client_credentials")
		}
	}
	c.prepare()
	if len(cs.converted) >= maxConverted {
		clear(cs.converted)
	}
	cs.converted[id] = convertedClient{doc: doc, client: c}
	return c, nil
}
