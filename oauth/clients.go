package oauth

import (
	"context"
	"errors"
	"net/url"

	"github.com/ory/fosite"
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
	// Host is set for a client whose id is a URL (a Client ID Metadata Document): the part of its
	// identity we can vouch for.
	Host string

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
func (c *Client) IsPublic() bool                     { return len(c.SecretHash) == 0 }
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
