package enterprise

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/mcp-authz/mcp-authz/internal/jwtverify"
)

// Any, in a policy list of an [IdP], allows every client, resource or scope.
const Any = "*"

// Defaults and bounds of an [IdP].
const (
	// DefaultMaxAssertionLifetime bounds exp-iat unless an IdP sets its own: ID-JAGs are made
	// for one token request, and IdPs issue them for minutes (the draft's example: 300 s).
	DefaultMaxAssertionLifetime = 5 * time.Minute
	// MaxAssertionLifetimeLimit is the longest MaxAssertionLifetime accepted: a used jti is
	// kept until the assertion expires.
	MaxAssertionLifetimeLimit = time.Hour
)

// DefaultAlgorithms are the signature algorithms an IdP may use unless configured otherwise:
// those enterprise IdPs sign ID tokens and ID-JAGs with.
func DefaultAlgorithms() []string { return []string{"ES256", "RS256", "PS256"} }

// IdP is a trusted identity provider and the enterprise's policy for it.
type IdP struct {
	// Issuer is the IdP's issuer identifier, compared exactly with the ID-JAG's iss.
	Issuer string `json:"issuer"`
	// JWKS is the IdP's JWK Set (RFC 7517 §5), inline; or JWKSURI is where to fetch it (https).
	// Exactly one of the two.
	JWKS    json.RawMessage `json:"jwks,omitempty"`
	JWKSURI string          `json:"jwks_uri,omitempty"`
	// Clients are the client_ids this IdP may grant access to; [Any] for every client.
	Clients []string `json:"clients"`
	// Resources are the resource URIs (of ours) it may grant access to; [Any] for all of ours.
	Resources []string `json:"resources"`
	// Scopes are the scopes it may grant, on any of its resources; [Any] for every scope the
	// resource offers. A scope is granted only if the resource offers it, whatever this says.
	Scopes []string `json:"scopes"`
	// ResourceOptional accepts an ID-JAG without a resource claim (the claim is optional in the
	// draft; requirements §7 require it by default). The resource is then the request's resource
	// parameter, or this IdP's only allowed resource.
	ResourceOptional bool `json:"resource_optional,omitempty"`
	// MaxAssertionLifetime bounds exp-iat (default [DefaultMaxAssertionLifetime], at most
	// [MaxAssertionLifetimeLimit]).
	MaxAssertionLifetime time.Duration `json:"max_assertion_lifetime,omitempty"`
	// Algorithms are the accepted signature algorithms (default [DefaultAlgorithms]); a subset
	// of jwtverify.DefaultAlgorithms.
	Algorithms []string `json:"algorithms,omitempty"`
}

// idp is an IdP ready for use.
type idp struct {
	issuer      string
	keys        jwtverify.KeySet
	anyClient   bool
	clients     map[string]bool
	anyResource bool
	resources   map[string]bool // canonical URIs
	only        string          // the one allowed resource, if exactly one is listed
	anyScope    bool
	scopes      map[string]bool
	optional    bool
	maxLifetime time.Duration
	algorithms  []string
}

// compile checks an IdP's configuration and resolves its resources with lookup.
func compile(c IdP, lookup func(string) (Resource, bool), fetch jwtverify.Fetcher, now func() time.Time) (*idp, error) {
	if err := checkIssuer(c.Issuer); err != nil {
		return nil, err
	}
	p := &idp{issuer: c.Issuer, optional: c.ResourceOptional, maxLifetime: c.MaxAssertionLifetime}

	switch {
	case len(c.JWKS) > 0 && c.JWKSURI != "":
		return nil, errors.New("jwks and jwks_uri are exclusive")
	case len(c.JWKS) > 0:
		keys, err := jwtverify.NewStaticKeySet(c.JWKS)
		if err != nil {
			return nil, fmt.Errorf("jwks: %w", err)
		}
		p.keys = keys
	case c.JWKSURI != "":
		u, err := url.Parse(c.JWKSURI)
		if err != nil || u.Scheme != "https" || u.Host == "" {
			return nil, fmt.Errorf("jwks_uri %q must be an https URL", c.JWKSURI)
		}
		if fetch == nil {
			return nil, errors.New("jwks_uri needs Options.Fetch")
		}
		p.keys = jwtverify.NewRemoteKeySet(c.JWKSURI, fetch, 0, 0, now)
	default:
		return nil, errors.New("jwks or jwks_uri is required")
	}

	var err error
	if p.anyClient, p.clients, err = policyList("clients", c.Clients); err != nil {
		return nil, err
	}
	if p.anyScope, p.scopes, err = policyList("scopes", c.Scopes); err != nil {
		return nil, err
	}
	var listed map[string]bool
	if p.anyResource, listed, err = policyList("resources", c.Resources); err != nil {
		return nil, err
	}
	p.resources = map[string]bool{}
	for uri := range listed {
		r, ok := lookup(uri)
		if !ok {
			return nil, fmt.Errorf("resources: %q is not a resource of this server", uri)
		}
		p.resources[r.URI] = true
		p.only = r.URI
	}
	if len(p.resources) != 1 || p.anyResource {
		p.only = ""
	}

	switch {
	case p.maxLifetime == 0:
		p.maxLifetime = DefaultMaxAssertionLifetime
	case p.maxLifetime < 0 || p.maxLifetime > MaxAssertionLifetimeLimit:
		return nil, fmt.Errorf("max_assertion_lifetime must be between 0 and %v", MaxAssertionLifetimeLimit)
	}

	p.algorithms = c.Algorithms
	if len(p.algorithms) == 0 {
		p.algorithms = DefaultAlgorithms()
	}
	for _, a := range p.algorithms {
		if !slices.Contains(jwtverify.DefaultAlgorithms(), a) {
			return nil, fmt.Errorf("algorithm %q is not supported (one of %s)", a, strings.Join(jwtverify.DefaultAlgorithms(), ", "))
		}
	}
	return p, nil
}

// policyList reads a policy list: explicit entries, or [Any] alone.
func policyList(name string, list []string) (anyOf bool, set map[string]bool, err error) {
	if len(list) == 0 {
		return false, nil, fmt.Errorf("%s: list what this identity provider may grant, or %q for any", name, Any)
	}
	set = map[string]bool{}
	for _, v := range list {
		switch {
		case v == Any:
			anyOf = true
		case v == "":
			return false, nil, fmt.Errorf("%s: empty entry", name)
		default:
			set[v] = true
		}
	}
	if anyOf && len(set) > 0 {
		return false, nil, fmt.Errorf("%s: %q stands alone", name, Any)
	}
	return anyOf, set, nil
}

// checkIssuer applies RFC 8414 §2 to an IdP's issuer: https, no query or fragment; plain http
// only on a loopback host (tests and local demos).
func checkIssuer(s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("issuer %q must be an https URL without query or fragment", s)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		host := u.Hostname()
		if ip := net.ParseIP(host); strings.EqualFold(host, "localhost") || (ip != nil && ip.IsLoopback()) {
			return nil
		}
	}
	return fmt.Errorf("issuer %q must be https (http only on a loopback host)", s)
}

func (p *idp) allowsClient(id string) bool { return p.anyClient || p.clients[id] }

func (p *idp) allowsResource(uri string) bool { return p.anyResource || p.resources[uri] }

func (p *idp) allowsScope(s string) bool { return p.anyScope || p.scopes[s] }
