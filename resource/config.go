package resource

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Defaults for the zero values of [Config].
const (
	DefaultLeeway             = 30 * time.Second
	DefaultCacheSize          = 10_000
	DefaultKeyRefreshInterval = 10 * time.Second
	DefaultHTTPTimeout        = 10 * time.Second
)

// Config describes the protected resource and the authorization server it trusts.
type Config struct {
	// Resource is the resource identifier: exactly the URI clients use to reach the MCP server,
	// e.g. "https://mcp.example.com/mcp" (RFC 9728 §1.2, RFC 8707). Tokens must carry it in
	// aud. It has no query and no fragment; a trailing slash is significant.
	Resource string

	// Issuer is the authorization server's issuer identifier. Tokens must carry it in iss,
	// character for character (RFC 9068 §4); its RFC 8414 metadata names the JWKS and the
	// introspection endpoint.
	Issuer string

	// AuthorizationServers is published in the Protected Resource Metadata; it defaults to
	// Issuer alone and must contain it.
	AuthorizationServers []string

	// ScopesSupported, ResourceName and ResourceDocumentation are published in the Protected
	// Resource Metadata (RFC 9728 §2). All optional.
	ScopesSupported       []string
	ResourceName          string
	ResourceDocumentation string

	// JWKSURL, when set, is used instead of the jwks_uri in the issuer's metadata.
	JWKSURL string

	// Algorithms lists the JWS algorithms accepted; the default is ES256. ES384, ES512,
	// RS256, RS384, RS512, PS256, PS384 and PS512 may be added. "none" and the HMAC
	// algorithms are refused: a resource server holds no shared secret with the
	// authorization server, so an HS* token can only be a forgery (RFC 8725 §2.1, §3.1).
	Algorithms []string

	// Leeway is the clock skew tolerated on exp, nbf and iat. Zero means [DefaultLeeway];
	// a negative value means none.
	Leeway time.Duration

	// CacheSize bounds how many validated tokens are remembered (rounded up to a multiple of
	// 16, the cache's shards). Zero means [DefaultCacheSize]; a negative value switches the
	// cache off.
	CacheSize int

	// KeyRefreshInterval is the least time between two fetches of the JWKS, however many
	// tokens with unknown key ids arrive. Zero means [DefaultKeyRefreshInterval].
	KeyRefreshInterval time.Duration

	// Introspection, when set, checks every token at the authorization server's RFC 7662
	// introspection endpoint instead of verifying it locally, so that a revoked token stops
	// working at once. Tokens need not be JWTs in this mode.
	Introspection *Introspection

	// HTTPClient makes every request to the authorization server. The default has a
	// [DefaultHTTPTimeout] timeout.
	HTTPClient *http.Client

	// AllowHTTP permits http:// URLs for the resource, the issuer and the JWKS. Loopback
	// hosts (localhost, 127.0.0.0/8, ::1) are always allowed; anything else over plain HTTP
	// lets a network attacker swap the keys, so this is for development only.
	AllowHTTP bool

	// Logger receives failures to reach the authorization server and key refreshes.
	// The default discards them.
	Logger *slog.Logger

	// Now is the clock; the default is [time.Now].
	Now func() time.Time
}

// Introspection configures RFC 7662 token introspection.
type Introspection struct {
	// Endpoint defaults to the introspection_endpoint in the issuer's metadata.
	Endpoint string

	// ClientID and ClientSecret authenticate this resource server to the introspection
	// endpoint with client_secret_basic (RFC 7662 §2.1, RFC 6749 §2.3.1).
	ClientID     string
	ClientSecret string

	// CacheFor is how long a positive answer is reused; never beyond the token's exp. Zero
	// means every request asks the authorization server, which is what makes revocation
	// immediate; a few seconds trades that for latency.
	CacheFor time.Duration
}

// Verifier validates access tokens for one protected resource and serves its metadata.
// It is safe for concurrent use; make one per resource and keep it.
type Verifier struct {
	resourceID  string   // Config.Resource as given
	resource    *url.URL // and parsed
	originLen   int      // length of scheme://host in resourceID
	issuer      string
	algorithms  map[string]*algorithm
	leeway      time.Duration
	now         func() time.Time
	client      *http.Client
	log         *slog.Logger
	allowHTTP   bool
	cache       *tokenCache
	headers     headerCache
	discovery   *discovery
	keys        *keySet       // nil in introspection mode
	introspect  *introspector // nil in JWT mode
	metadataURL string
	metadata    []byte // the Protected Resource Metadata document, encoded once
}

// New checks cfg and returns a Verifier. It does no I/O: the authorization server's metadata
// and keys are fetched when the first token arrives.
func New(cfg Config) (*Verifier, error) {
	res, err := checkURL("Resource", cfg.Resource, cfg.AllowHTTP)
	if err != nil {
		return nil, err
	}
	if _, err := checkURL("Issuer", cfg.Issuer, cfg.AllowHTTP); err != nil {
		return nil, err
	}
	servers := cfg.AuthorizationServers
	if len(servers) == 0 {
		servers = []string{cfg.Issuer}
	}
	if !slices.Contains(servers, cfg.Issuer) {
		return nil, fmt.Errorf("resource: AuthorizationServers must contain Issuer %q", cfg.Issuer)
	}
	if cfg.JWKSURL != "" {
		if _, err := checkFetchURL("JWKSURL", cfg.JWKSURL, cfg.AllowHTTP); err != nil {
			return nil, err
		}
	}
	algs, err := algorithmsNamed(cfg.Algorithms)
	if err != nil {
		return nil, err
	}

	v := &Verifier{
		resourceID: cfg.Resource,
		resource:   res,
		originLen:  originLen(cfg.Resource),
		issuer:     cfg.Issuer,
		algorithms: algs,
		leeway:     cfg.Leeway,
		now:        cfg.Now,
		client:     cfg.HTTPClient,
		log:        cfg.Logger,
		allowHTTP:  cfg.AllowHTTP,
	}
	switch {
	case v.leeway == 0:
		v.leeway = DefaultLeeway
	case v.leeway < 0:
		v.leeway = 0
	}
	if v.now == nil {
		v.now = time.Now
	}
	if v.client == nil {
		v.client = &http.Client{Timeout: DefaultHTTPTimeout}
	}
	if v.log == nil {
		v.log = slog.New(slog.DiscardHandler)
	}
	switch size := cfg.CacheSize; {
	case size == 0:
		v.cache = newTokenCache(DefaultCacheSize)
	case size > 0:
		v.cache = newTokenCache(size)
	}
	refresh := cfg.KeyRefreshInterval
	if refresh <= 0 {
		refresh = DefaultKeyRefreshInterval
	}

	v.discovery = &discovery{v: v, retryAfter: refresh}
	if in := cfg.Introspection; in != nil {
		if in.ClientID == "" || in.ClientSecret == "" {
			return nil, errors.New("resource: Introspection needs ClientID and ClientSecret")
		}
		if in.Endpoint != "" {
			if _, err := checkFetchURL("Introspection.Endpoint", in.Endpoint, cfg.AllowHTTP); err != nil {
				return nil, err
			}
		}
		v.introspect = &introspector{v: v, cfg: *in}
	} else {
		v.keys = &keySet{v: v, jwksURL: cfg.JWKSURL, minInterval: refresh}
	}

	v.metadataURL = metadataURL(res)
	v.metadata, err = json.Marshal(protectedResourceMetadata{
		Resource:               cfg.Resource,
		AuthorizationServers:   servers,
		ScopesSupported:        cfg.ScopesSupported,
		BearerMethodsSupported: []string{"header"},
		ResourceName:           cfg.ResourceName,
		ResourceDocumentation:  cfg.ResourceDocumentation,
	})
	if err != nil {
		return nil, fmt.Errorf("resource: encoding metadata: %w", err)
	}
	return v, nil
}

// checkURL accepts an identifier URL: one that [checkFetchURL] accepts, without query or
// fragment (RFC 9728 §1.2, RFC 8414 §2).
func checkURL(field, raw string, allowHTTP bool) (*url.URL, error) {
	u, err := checkFetchURL(field, raw, allowHTTP)
	if err != nil {
		return nil, err
	}
	if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(raw, "#") {
		return nil, fmt.Errorf("resource: %s %q must have no query or fragment", field, raw)
	}
	return u, nil
}

// checkFetchURL accepts an absolute https URL without user info; http only for loopback hosts
// or when allowHTTP is set.
func checkFetchURL(field, raw string, allowHTTP bool) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("resource: %s: %w", field, err)
	}
	switch {
	case u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
		return nil, fmt.Errorf("resource: %s %q is not an absolute http(s) URL", field, raw)
	case u.Scheme == "http" && !allowHTTP && !isLoopback(u.Hostname()):
		return nil, fmt.Errorf("resource: %s %q must use https (or set AllowHTTP for development)", field, raw)
	case u.User != nil:
		return nil, fmt.Errorf("resource: %s %q must have no user info", field, raw)
	}
	return u, nil
}

// originLen is the length of the scheme://host[:port] that begins the absolute URL u.
func originLen(u string) int {
	start := strings.Index(u, "://") + len("://")
	if slash := strings.IndexByte(u[start:], '/'); slash >= 0 {
		return start + slash
	}
	return len(u)
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
