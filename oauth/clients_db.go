package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mcp-authz/mcp-authz/internal/jwtverify"
	"github.com/mcp-authz/mcp-authz/internal/redirecturi"
	"github.com/mcp-authz/mcp-authz/storage"
)

// ClientRecord is a client registered in the database (storage kind "client"), by
// "mcp-authz clients add" or by dynamic registration. It is the JSON document of the record.
type ClientRecord struct {
	Name         string   `json:"name"`
	RedirectURIs []string `json:"redirect_uris,omitempty"`
	GrantTypes   []string `json:"grant_types"`
	// Resources limits the resources (URIs) the client may use; empty means all.
	Resources []string `json:"resources,omitempty"`
	// Scopes limits client_credentials scopes; empty means all of its resources'.
	Scopes     []string        `json:"scopes,omitempty"`
	AuthMethod string          `json:"token_endpoint_auth_method"`
	SecretHash string          `json:"secret_hash,omitempty"`
	JWKS       json.RawMessage `json:"jwks,omitempty"`
	JWKSURI    string          `json:"jwks_uri,omitempty"`
	// Dynamic marks a client registered through RFC 7591 dynamic registration.
	Dynamic bool `json:"dynamic,omitempty"`
}

// RecordStore is the part of storage the database clients need.
type RecordStore interface {
	GetRecord(ctx context.Context, kind, id string) (*storage.Record, error)
}

// dbClients reads clients from the database, caching each for a short time: fosite asks for
// the client several times per request, and the token endpoint must not pay a read each time.
// A change made by the CLI (or on another instance) is seen within the cache time.
type dbClients struct {
	records   RecordStore
	resources *Resources
	fetchJWKS jwtverify.Fetcher
	ttl       time.Duration
	now       func() time.Time

	mu    sync.Mutex
	cache map[string]cachedClient
}

type cachedClient struct {
	client *Client // nil: not in the database
	until  time.Time
}

// DBClientCacheTime is how long a database client is cached.
const DBClientCacheTime = 30 * time.Second

func (d *dbClients) Client(ctx context.Context, id string) (*Client, error) {
	now := d.now()
	d.mu.Lock()
	if c, ok := d.cache[id]; ok && now.Before(c.until) {
		d.mu.Unlock()
		if c.client == nil {
			return nil, ErrUnknownClient
		}
		return c.client, nil
	}
	d.mu.Unlock()

	rec, err := d.records.GetRecord(ctx, storage.KindClient, id)
	var c *Client
	switch {
	case errors.Is(err, storage.ErrNotFound):
	case err != nil:
		return nil, err
	default:
		if c, err = d.build(id, rec.Data); err != nil {
			return nil, err
		}
	}
	d.mu.Lock()
	if len(d.cache) >= maxConverted {
		clear(d.cache)
	}
	d.cache[id] = cachedClient{client: c, until: now.Add(d.ttl)}
	d.mu.Unlock()
	if c == nil {
		return nil, ErrUnknownClient
	}
	return c, nil
}

func (d *dbClients) build(id string, data []byte) (*Client, error) {
	var r ClientRecord
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("client %s: stored registration: %w", id, err)
	}
	c := &Client{
		ID: id, Name: r.Name, RedirectURIs: r.RedirectURIs, GrantTypes: r.GrantTypes,
		Scopes: r.Scopes, AuthMethod: r.AuthMethod, SecretHash: []byte(r.SecretHash),
	}
	if len(c.SecretHash) == 0 {
		c.SecretHash = nil
	}
	for _, uri := range r.Resources {
		res, err := d.resources.Lookup(uri)
		if err != nil {
			continue // a resource removed from the configuration since
		}
		c.Resources = append(c.Resources, res)
	}
	if len(r.Resources) == 0 {
		c.Resources = d.resources.All()
	}
	switch {
	case len(r.JWKS) > 0:
		keys, err := jwtverify.NewStaticKeySet(r.JWKS)
		if err != nil {
			return nil, fmt.Errorf("client %s: jwks: %w", id, err)
		}
		c.Keys = keys
	case r.JWKSURI != "":
		c.Keys = jwtverify.NewRemoteKeySet(r.JWKSURI, d.fetchJWKS, 0, 0, d.now)
	}
	c.prepare()
	return c, nil
}

// Validate checks a registration before it is stored: the rules that configuration clients
// get from config.Validate.
func (r *ClientRecord) Validate(resources *Resources) error {
	if r.Name == "" {
		return errors.New("a client needs a name")
	}
	for _, g := range r.GrantTypes {
		if g != "authorization_code" && g != "refresh_token" && g != "client_credentials" && g != GrantTypeJWTBearer {
			return fmt.Errorf("grant type %q is not supported", g)
		}
	}
	if len(r.GrantTypes) == 0 {
		return errors.New("a client needs at least one grant type")
	}
	if slices.Contains(r.GrantTypes, "authorization_code") && len(r.RedirectURIs) == 0 {
		return errors.New("the authorization_code grant needs redirect URIs")
	}
	for _, u := range r.RedirectURIs {
		if err := redirecturi.Check(u); err != nil {
			return err
		}
	}
	switch r.AuthMethod {
	case "none":
		if r.SecretHash != "" || len(r.JWKS) > 0 || r.JWKSURI != "" {
			return errors.New("a public client has no secret or keys")
		}
		if slices.Contains(r.GrantTypes, "client_credentials") {
			return errors.New("client_credentials needs a confidential client")
		}
	case "client_secret_basic", "client_secret_post":
		if r.SecretHash == "" {
			return errors.New("a secret client needs a secret hash")
		}
	case "private_key_jwt":
		if (len(r.JWKS) > 0) == (r.JWKSURI != "") {
			return errors.New("private_key_jwt needs exactly one of jwks and jwks_uri")
		}
		if len(r.JWKS) > 0 {
			if _, err := jwtverify.ParseKeySet(r.JWKS); err != nil {
				return err
			}
		}
		if r.JWKSURI != "" && !strings.HasPrefix(r.JWKSURI, "https://") {
			return errors.New("jwks_uri must be an https URL")
		}
	default:
		return fmt.Errorf("token_endpoint_auth_method %q is not supported", r.AuthMethod)
	}
	var allowed []*Resource
	for _, uri := range r.Resources {
		res, err := resources.Lookup(uri)
		if err != nil {
			return err
		}
		allowed = append(allowed, res)
	}
	if len(allowed) == 0 {
		allowed = resources.All()
	}
	for _, s := range r.Scopes {
		if !slices.ContainsFunc(allowed, func(res *Resource) bool { return res.HasScope(s) }) {
			return fmt.Errorf("scope %q is not offered by the client's resources", s)
		}
	}
	return nil
}
