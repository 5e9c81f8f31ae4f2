package oauth

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Resource is a protected resource (an MCP server) tokens can be issued for.
type Resource struct {
	// URI is the canonical URI: what clients send as "resource" and what tokens carry as "aud".
	URI                 string
	Name                string
	Scopes              []Scope
	DefaultScopes       []string
	AccessTokenLifetime time.Duration
}

// Scope is a scope a resource understands, with the sentence shown on the consent page.
type Scope struct {
	Name        string
	Description string
}

// HasScope reports whether the resource understands the scope.
func (r *Resource) HasScope(name string) bool {
	return slices.ContainsFunc(r.Scopes, func(s Scope) bool { return s.Name == name })
}

// Scope returns the scope's description entry, or one with the name alone.
func (r *Resource) Scope(name string) Scope {
	for _, s := range r.Scopes {
		if s.Name == name {
			return s
		}
	}
	return Scope{Name: name}
}

// OfflineAccess is the server's own scope for refresh tokens (not any resource's).
const OfflineAccess = "offline_access"

// Resources is the registry of protected resources.
type Resources struct {
	list        []*Resource
	byCanonical map[string]*Resource
}

// NewResources indexes resources by canonical URI.
func NewResources(list []Resource) (*Resources, error) {
	rs := &Resources{byCanonical: map[string]*Resource{}}
	for i := range list {
		r := list[i]
		key, err := canonicalResource(r.URI)
		if err != nil {
			return nil, fmt.Errorf("resource %q: %w", r.URI, err)
		}
		if _, dup := rs.byCanonical[key]; dup {
			return nil, fmt.Errorf("resource %q is declared twice", r.URI)
		}
		rs.list = append(rs.list, &r)
		rs.byCanonical[key] = &r
	}
	return rs, nil
}

// All returns the resources in configuration order.
func (rs *Resources) All() []*Resource { return rs.list }

// Lookup finds the resource a "resource" parameter names. The errors are invalid_target
// descriptions (RFC 8707 §2).
func (rs *Resources) Lookup(raw string) (*Resource, error) {
	key, err := canonicalResource(raw)
	if err != nil {
		return nil, err
	}
	r, ok := rs.byCanonical[key]
	if !ok {
		return nil, fmt.Errorf("the resource %q is not a resource this server issues tokens for", raw)
	}
	return r, nil
}

// canonicalResource implements the comparison rule of requirements §3: scheme and host compare
// case-insensitively and a default port is the same as none (RFC 3986 §6.2.2, §6.2.3); the path
// compares exactly, except that an empty path is "/". A trailing slash on a non-empty path is
// significant: "https://mcp.example.com/mcp/" is not "https://mcp.example.com/mcp", because the
// MCP server's Protected Resource Metadata publishes one exact URI and clients copy it.
func canonicalResource(raw string) (string, error) {
	if raw == "" {
		return "", fmt.Errorf("the resource parameter is empty")
	}
	if len(raw) > 2048 {
		return "", fmt.Errorf("the resource parameter is longer than 2048 characters")
	}
	if strings.Contains(raw, "#") {
		return "", fmt.Errorf("the resource %q has a fragment (RFC 8707 §2)", raw)
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Hostname() == "" || u.Opaque != "" {
		return "", fmt.Errorf("the resource %q is not an absolute URI (RFC 8707 §2)", raw)
	}
	if u.User != nil {
		return "", fmt.Errorf("the resource %q has user info", raw)
	}
	scheme := strings.ToLower(u.Scheme)
	host := strings.ToLower(u.Hostname())
	port := u.Port()
	if (scheme == "https" && port == "443") || (scheme == "http" && port == "80") {
		port = ""
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port != "" {
		host += ":" + port
	}
	path := u.EscapedPath()
	if path == "" {
		path = "/"
	}
	key := scheme + "://" + host + path
	if u.RawQuery != "" {
		key += "?" + u.RawQuery
	}
	return key, nil
}
