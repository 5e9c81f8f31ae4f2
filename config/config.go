package config

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/mcp-authz/mcp-authz/internal/redirecturi"
)

// Config is the whole configuration. Zero values mean "use the default"; [Config.Validate] fills
// defaults in and refuses what cannot work.
type Config struct {
	// Issuer is this server's issuer identifier (RFC 8414 §2): https, or http on a loopback host.
	Issuer string `yaml:"issuer"`
	// Listen is the address the HTTP server binds.
	Listen string `yaml:"listen"`
	// DataDir holds the SQLite database and, in development, generated secrets.
	DataDir string `yaml:"data_dir"`

	Storage     Storage     `yaml:"storage"`
	SigningKeys SigningKeys `yaml:"signing_keys"`
	Secrets     Secrets     `yaml:"secrets"`
	Tokens      Tokens      `yaml:"tokens"`
	Login       Login       `yaml:"login"`
	Resources   []Resource  `yaml:"resources"`
	Clients     []Client    `yaml:"clients"`
	CIMD        CIMD        `yaml:"client_id_metadata_documents"`
	// DynamicRegistration is RFC 7591 registration for old clients (off by default).
	DynamicRegistration DynamicRegistration `yaml:"dynamic_registration"`
	Outbound            Outbound            `yaml:"outbound"`
	Log                 Log                 `yaml:"log"`
	// IdentityProviders are the enterprise IdPs trusted to issue ID-JAGs (enterprise-managed
	// authorization, requirements §7). With none, the jwt-bearer grant is not offered.
	IdentityProviders []IdentityProvider `yaml:"identity_providers"`
	// UpstreamProviders are OpenID Providers people sign in with in the browser (OpenID Connect
	// Core 1.0 §3.1, the authorization code flow with PKCE), each under the enterprise's policy.
	UpstreamProviders []UpstreamProvider `yaml:"upstream_providers"`
	// Elicitation configures the URL-mode elicitation pages (requirements §8): lifetimes and
	// the third-party OAuth providers users may connect accounts at.
	Elicitation Elicitation `yaml:"elicitation"`

	// Development marks the embedded default: a secret may be generated into DataDir and a demo
	// user is created. Never set by a file.
	Development bool `yaml:"-"`
}

// Storage selects the database.
type Storage struct {
	// Driver is "sqlite" (default) or "postgres".
	Driver string `yaml:"driver"`
	// SQLitePath defaults to DataDir/mcp-authz.db.
	SQLitePath string `yaml:"sqlite_path"`
	// SQLiteSynchronous is "full" (default: durable across power loss) or "normal" (durable
	// across process crashes only).
	SQLiteSynchronous string `yaml:"sqlite_synchronous"`
	// PostgresDSN is a libpq connection string or URL; MCP_AUTHZ_POSTGRES_DSN overrides it.
	PostgresDSN string `yaml:"postgres_dsn"`
	// PostgresSchema is the schema holding the tables (default: the connection's search_path).
	PostgresSchema string `yaml:"postgres_schema"`
	// PostgresMaxConns bounds this instance's connections (default: max(4, CPUs)).
	PostgresMaxConns int32 `yaml:"postgres_max_conns"`
	// Migrate is "auto" (default: migrate at start; concurrent starts migrate once) or
	// "manual" (refuse to start until "mcp-authz migrate" has run).
	Migrate string `yaml:"migrate"`
}

// SigningKeys tunes key rotation.
type SigningKeys struct {
	// ReloadInterval is how often an instance re-reads the keys, to pick up a rotation made by
	// the CLI or another instance, and prunes retired ones (default 1m).
	ReloadInterval Duration `yaml:"reload_interval"`
	// ActivationDelay is how long a new key is published before it signs. With several
	// instances it must be at least reload_interval, so that every instance publishes a key
	// before any signs with it (default: 0 with sqlite, reload_interval with postgres).
	ActivationDelay *Duration `yaml:"activation_delay"`
}

// Secrets come from the environment or a file, so that a config file can be committed.
type Secrets struct {
	// KeyFile names a file holding the server secret (at least 32 bytes). MCP_AUTHZ_SECRET
	// overrides it. The secret encrypts signing keys at rest and keys session cookies and
	// token HMACs; every instance sharing a database needs the same one.
	KeyFile string `yaml:"key_file"`
	// Key is the secret itself, resolved from KeyFile or MCP_AUTHZ_SECRET; never read from YAML.
	Key []byte `yaml:"-"`
}

// Tokens are lifetimes and refresh policy.
type Tokens struct {
	// AccessTokenLifetime is the default for resources that set none (default 10m).
	AccessTokenLifetime Duration `yaml:"access_token_lifetime"`
	// RefreshTokenLifetime (default 720h = 30 days).
	RefreshTokenLifetime Duration `yaml:"refresh_token_lifetime"`
	// AuthorizationCodeLifetime (default 60s; at most 10m per OAuth 2.1 §4.1.2).
	AuthorizationCodeLifetime Duration `yaml:"authorization_code_lifetime"`
	// RefreshGracePeriod lets a client that retries a refresh in flight present the just-rotated
	// refresh token again (default 10s; 0 turns it off).
	RefreshGracePeriod *Duration `yaml:"refresh_grace_period"`
	// RefreshTokens is "always" (default: every client allowed the refresh_token grant gets one,
	// SEP-2207) or "offline_access" (only when that scope was granted).
	RefreshTokens string `yaml:"refresh_tokens"`
}

// Login governs the browser side.
type Login struct {
	// SessionLifetime is how long a browser stays signed in (default 12h).
	SessionLifetime Duration `yaml:"session_lifetime"`
	// MaxFailures is how many failed logins an account, or an address, may have within
	// FailureWindow before further attempts are refused until the window passes (default 5 and 15m).
	MaxFailures   int      `yaml:"max_failures"`
	FailureWindow Duration `yaml:"failure_window"`
	// LocalAccounts offers the username and password form (default true); false leaves only
	// the upstream providers, and needs at least one.
	LocalAccounts *bool `yaml:"local_accounts"`
}

// LocalAccountsEnabled reports whether local accounts may sign in.
func (c *Config) LocalAccountsEnabled() bool {
	return c.Login.LocalAccounts == nil || *c.Login.LocalAccounts
}

// Resource is a protected MCP server.
type Resource struct {
	// URI is the canonical URI clients send as the resource parameter (RFC 8707) and the
	// audience of its tokens.
	URI  string `yaml:"uri"`
	Name string `yaml:"name"`
	// Scopes this resource understands.
	Scopes []Scope `yaml:"scopes"`
	// DefaultScopes are granted when a client asks for none.
	DefaultScopes []string `yaml:"default_scopes"`
	// AccessTokenLifetime overrides tokens.access_token_lifetime for this resource.
	AccessTokenLifetime Duration `yaml:"access_token_lifetime"`
	// ElicitationClients are the client_ids of this resource's own server: the confidential
	// clients that may create URL-mode elicitations for the users of its access tokens and
	// receive what the pages produce. Empty: this resource cannot use elicitation.
	ElicitationClients []string `yaml:"elicitation_clients"`
	// ElicitationCallback, when set, is an https URL to which a signed notice is posted when
	// one of this resource's elicitations completes.
	ElicitationCallback string `yaml:"elicitation_callback"`
}

// Elicitation configures URL-mode elicitation.
type Elicitation struct {
	// DefaultLifetime is how long an elicitation may be completed when its server asks for no
	// lifetime (default 10m); MaxLifetime bounds what a server may ask for (default 1h).
	DefaultLifetime Duration `yaml:"default_lifetime"`
	MaxLifetime     Duration `yaml:"max_lifetime"`
	// Providers are the third-party OAuth providers of the "connect" kind. Each must have
	// <issuer>/elicitation/callback registered as a redirect URI for its client_id.
	Providers []ConnectProvider `yaml:"providers"`
}

// ConnectProvider is a third-party OAuth 2 authorization server at which a user can connect an
// account for an MCP server (authorization code with PKCE, run by mcp-authz).
type ConnectProvider struct {
	// ID is the name an MCP server gives in a connect elicitation ([a-z0-9_-], unique).
	ID   string `yaml:"id"`
	Name string `yaml:"name"`
	// AuthorizationEndpoint and TokenEndpoint are https URLs.
	AuthorizationEndpoint string `yaml:"authorization_endpoint"`
	TokenEndpoint         string `yaml:"token_endpoint"`
	// RevocationEndpoint (https, optional) is the provider's RFC 7009 endpoint: disconnecting
	// an account revokes its tokens there too.
	RevocationEndpoint string `yaml:"revocation_endpoint"`
	// Issuer is the provider's issuer identifier (https). When set, the provider's answer must
	// carry it as iss (RFC 9207), which tells answers from different providers apart; set it for
	// providers that send iss (their metadata has authorization_response_iss_parameter_supported).
	Issuer   string `yaml:"issuer"`
	ClientID string `yaml:"client_id"`
	// ClientSecretFile or ClientSecretEnv (the name of an environment variable) hold the
	// client secret, so that a config file can be committed; none for a public client.
	ClientSecretFile string `yaml:"client_secret_file"`
	ClientSecretEnv  string `yaml:"client_secret_env"`
	// ClientSecret is resolved from the file or the environment; never read from YAML.
	ClientSecret string `yaml:"-"`
	// TokenEndpointAuthMethod is client_secret_basic (default with a secret),
	// client_secret_post, or none (default without one).
	TokenEndpointAuthMethod string `yaml:"token_endpoint_auth_method"`
	// Scopes are asked for at the provider.
	Scopes []string `yaml:"scopes"`
}

// Scope is a scope and the sentence the consent page shows for it.
type Scope struct {
	Name        string `yaml:"name"`
	Description string `yaml:"description"`
}

// Client is a pre-registered client.
type Client struct {
	ID           string   `yaml:"id"`
	Name         string   `yaml:"name"`
	RedirectURIs []string `yaml:"redirect_uris"`
	// SecretHash makes the client confidential: "sha256:" and the base64url SHA-256 of a
	// server-generated secret (mcp-authz clients new-secret prints both).
	SecretHash string `yaml:"secret_hash"`
	// GrantTypes default to authorization_code and refresh_token.
	GrantTypes []string `yaml:"grant_types"`
	// Resources limits the resources the client may ask for (default: all).
	Resources []string `yaml:"resources"`
	// TokenEndpointAuthMethod is none, client_secret_basic, client_secret_post or
	// private_key_jwt; by default it follows from secret_hash, jwks or jwks_uri.
	TokenEndpointAuthMethod string `yaml:"token_endpoint_auth_method"`
	// JWKS (inline) or JWKSURI hold the public keys of a private_key_jwt client (RFC 7523).
	JWKS    map[string]any `yaml:"jwks"`
	JWKSURI string         `yaml:"jwks_uri"`
	// Scopes limits what the client may ask for with client_credentials (default: all the
	// scopes of its resources).
	Scopes []string `yaml:"scopes"`
}

// CIMD is the trust policy for clients whose client_id is an https URL naming a Client ID Metadata
// Document (draft-ietf-oauth-client-id-metadata-document).
type CIMD struct {
	// Enabled switches URL client ids on (default true); the metadata flag
	// client_id_metadata_document_supported follows it.
	Enabled *bool `yaml:"enabled"`
	// AllowHosts, when not empty, is the only hosts whose documents are used; DenyHosts are
	// never used (deny wins). Patterns are exact hosts or "*.example.com".
	AllowHosts []string `yaml:"allow_hosts"`
	DenyHosts  []string `yaml:"deny_hosts"`
	// MinCacheTime and MaxCacheTime bound how long a document is cached, whatever its HTTP
	// caching headers say (defaults 5m and 24h; at most 24h).
	MinCacheTime Duration `yaml:"min_cache_time"`
	MaxCacheTime Duration `yaml:"max_cache_time"`
	// MaxDocumentBytes bounds a document (default 5120).
	MaxDocumentBytes int64 `yaml:"max_document_bytes"`
	// AllowClientCredentials lets a metadata-document client that authenticates with
	// private_key_jwt use the client_credentials grant (default false: anyone can publish a
	// document, so machine access by document is the operator's explicit choice).
	AllowClientCredentials bool `yaml:"allow_client_credentials"`
}

// DynamicRegistration configures RFC 7591 dynamic client registration. MCP 2026-07-28
// deprecates it for Client ID Metadata Documents; it is here for clients that predate them.
type DynamicRegistration struct {
	// Enabled serves /register and advertises registration_endpoint (default false).
	Enabled bool `yaml:"enabled"`
	// PerAddressPerHour is how many registrations one client address may make per hour
	// (default 10).
	PerAddressPerHour int `yaml:"per_address_per_hour"`
}

// CIMDEnabled reports whether URL client ids are resolved.
func (c *Config) CIMDEnabled() bool { return c.CIMD.Enabled == nil || *c.CIMD.Enabled }

// Outbound governs every request the server makes (metadata documents, JWKS), all through
// internal/safehttp, which never connects to loopback, private or other special-use addresses.
type Outbound struct {
	// Timeout bounds one fetch, connection to last byte (default 5s).
	Timeout Duration `yaml:"timeout"`
	// HostRate and HostBurst limit fetches per host (default 2 per second, bursts of 20).
	HostRate  float64 `yaml:"host_rate"`
	HostBurst int     `yaml:"host_burst"`
	// TestHosts are host:port pairs exempt from the address rules, so that tests and local
	// development can serve metadata documents from this machine. Never in production: every
	// entry is logged as a warning at start.
	TestHosts []string `yaml:"test_hosts"`
	// TestCAFile is a PEM file of root certificates trusted for the test hosts only.
	TestCAFile string `yaml:"test_ca_file"`
}

// IdentityProvider is an enterprise identity provider whose Identity Assertion JWT
// Authorization Grants (ID-JAGs) the token endpoint accepts, and the enterprise's policy for it.
// Every policy list is explicit: "*" alone means any; an empty list is an error.
type IdentityProvider struct {
	// Issuer is the IdP's issuer identifier, exactly as its ID-JAGs' iss.
	Issuer string `yaml:"issuer"`
	// JWKS (inline) or JWKSURI (https, fetched through the outbound client) hold its public keys.
	JWKS    map[string]any `yaml:"jwks"`
	JWKSURI string         `yaml:"jwks_uri"`
	// Clients are the client_ids it may grant access to ("*": any confidential client).
	Clients []string `yaml:"clients"`
	// Resources are the resource URIs it may grant access to ("*": all).
	Resources []string `yaml:"resources"`
	// Scopes are the scopes it may grant ("*": any the resource offers).
	Scopes []string `yaml:"scopes"`
	// RequireResource (default true) refuses an ID-JAG without a resource claim; false takes the
	// request's resource parameter, or the IdP's only resource.
	RequireResource *bool `yaml:"require_resource"`
	// MaxAssertionLifetime bounds an ID-JAG's exp minus iat (default 5m, at most 1h).
	MaxAssertionLifetime Duration `yaml:"max_assertion_lifetime"`
	// Algorithms are the accepted signature algorithms (default ES256, RS256, PS256).
	Algorithms []string `yaml:"algorithms"`
}

// UpstreamProvider is an OpenID Provider people sign in with (upstream login), and the
// enterprise's policy for the people it signs in. Register {issuer}/login/upstream/{id}/callback
// as the redirect URI at the provider.
type UpstreamProvider struct {
	// ID names the provider in our URLs and logs: 1 to 32 of a-z, 0-9 and "-".
	ID string `yaml:"id"`
	// Name is shown on the login page ("Continue with Name"). Default: the id.
	Name string `yaml:"name"`
	// Issuer is the provider's issuer identifier (https); discovery is read from
	// Issuer/.well-known/openid-configuration and must name this issuer exactly.
	Issuer string `yaml:"issuer"`
	// ClientID is our client_id at the provider.
	ClientID string `yaml:"client_id"`
	// ClientSecretEnv names an environment variable, ClientSecretFile a file, holding our client
	// secret; neither makes us a public client (PKCE only). Never inline: a config file gets
	// committed.
	ClientSecretEnv  string `yaml:"client_secret_env"`
	ClientSecretFile string `yaml:"client_secret_file"`
	// ClientSecret is resolved from ClientSecretEnv or ClientSecretFile; never read from YAML.
	ClientSecret string `yaml:"-"`
	// Scopes asked of the provider (default openid, email, profile; openid is always added).
	Scopes []string `yaml:"scopes"`
	// Claims name the ID token claims read (defaults sub, email, name, groups).
	Claims UpstreamClaims `yaml:"claims"`
	// AllowedEmailDomains, when not empty, admits only people whose email claim is in one of
	// these domains (exact, case-insensitive) and not marked email_verified: false.
	AllowedEmailDomains []string `yaml:"allowed_email_domains"`
	// Policy maps the people the provider signs in to what they may consent to; someone no
	// rule matches cannot sign in. At least one rule.
	Policy []UpstreamRule `yaml:"policy"`
}

// UpstreamClaims name the ID token claims used. A name that is not a claim and contains dots
// is a path into nested objects ("realm_access.roles").
type UpstreamClaims struct {
	// Subject is the stable identifier of the person at the provider (default sub; e.g. oid
	// for Microsoft Entra ID). With the issuer, it names the local account.
	Subject string `yaml:"subject"`
	Email   string `yaml:"email"`
	Name    string `yaml:"name"`
	// Groups is a string or an array of strings (default groups).
	Groups string `yaml:"groups"`
}

// UpstreamRule is one policy rule: the people it matches may consent to these resources and
// scopes. A rule with neither groups nor claim matches everyone the provider signs in; with
// both, a person must match both. What several matching rules allow adds up.
type UpstreamRule struct {
	// Groups: the person is in one of these groups (the claims.groups claim).
	Groups []string `yaml:"groups"`
	// Claim and Values: the named claim (a string or an array of strings) holds one of Values.
	Claim  string   `yaml:"claim"`
	Values []string `yaml:"values"`
	// Resources are resource URIs ("*": all); Scopes are scope names ("*": every scope of
	// those resources). Both required.
	Resources []string `yaml:"resources"`
	Scopes    []string `yaml:"scopes"`
}

// Log configures log/slog output.
type Log struct {
	Level  string `yaml:"level"`  // debug, info (default), warn, error
	Format string `yaml:"format"` // text (default) or json
}

// Duration reads "90s", "15m", "12h" in YAML.
type Duration time.Duration

func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration like 90s, 15m or 12h", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// D is the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// MaxFileSize bounds the configuration file: it is operator input, but still input.
const MaxFileSize = 1 << 20

// Load reads a YAML file (unknown keys are errors, so a typo cannot silently mean a default),
// applies the environment, and validates.
func Load(path string, env func(string) string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("config: %s is larger than %d bytes", path, MaxFileSize)
	}
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("config: %s: %w", path, err)
	}
	// Relative paths in a file are relative to the file, so the server can be started anywhere.
	base := filepath.Dir(path)
	if c.Secrets.KeyFile != "" && !filepath.IsAbs(c.Secrets.KeyFile) {
		c.Secrets.KeyFile = filepath.Join(base, c.Secrets.KeyFile)
	}
	if c.DataDir != "" && !filepath.IsAbs(c.DataDir) {
		c.DataDir = filepath.Join(base, c.DataDir)
	}
	if c.Outbound.TestCAFile != "" && !filepath.IsAbs(c.Outbound.TestCAFile) {
		c.Outbound.TestCAFile = filepath.Join(base, c.Outbound.TestCAFile)
	}
	for i := range c.UpstreamProviders {
		if f := c.UpstreamProviders[i].ClientSecretFile; f != "" && !filepath.IsAbs(f) {
			c.UpstreamProviders[i].ClientSecretFile = filepath.Join(base, f)
		}
	}
	if c.Storage.SQLitePath != "" && !filepath.IsAbs(c.Storage.SQLitePath) {
		c.Storage.SQLitePath = filepath.Join(base, c.Storage.SQLitePath)
	}
	for i := range c.Elicitation.Providers {
		if f := c.Elicitation.Providers[i].ClientSecretFile; f != "" && !filepath.IsAbs(f) {
			c.Elicitation.Providers[i].ClientSecretFile = filepath.Join(base, f)
		}
	}
	if err := c.ApplyEnv(env); err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// Default is the embedded development configuration used when no file is given.
func Default(env func(string) string) (*Config, error) {
	c := Config{
		Issuer:      "http://localhost:8080",
		Listen:      "127.0.0.1:8080",
		DataDir:     "mcp-authz-data",
		Development: true,
		Resources: []Resource{{
			URI:  "http://localhost:9090/mcp",
			Name: "Demo MCP server",
			Scopes: []Scope{
				{Name: "mcp:tools", Description: "Use the server's tools"},
				{Name: "mcp:admin", Description: "Use the server's administrative tools"},
			},
			DefaultScopes: []string{"mcp:tools"},
		}},
		Clients: []Client{{
			ID:   "demo-client",
			Name: "Demo client",
			RedirectURIs: []string{
				"http://127.0.0.1/callback", "http://localhost/callback", "http://[::1]/callback",
				// The MCP Inspector's callback (it listens on localhost:6274; any port matches).
				"http://localhost/oauth/callback",
			},
		}},
	}
	if err := c.ApplyEnv(env); err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// ApplyEnv overrides the configuration from MCP_AUTHZ_* variables.
func (c *Config) ApplyEnv(env func(string) string) error {
	set := func(name string, dst *string) {
		if v := env(name); v != "" {
			*dst = v
		}
	}
	set("MCP_AUTHZ_ISSUER", &c.Issuer)
	set("MCP_AUTHZ_LISTEN", &c.Listen)
	set("MCP_AUTHZ_DATA_DIR", &c.DataDir)
	set("MCP_AUTHZ_STORAGE_DRIVER", &c.Storage.Driver)
	set("MCP_AUTHZ_POSTGRES_DSN", &c.Storage.PostgresDSN)
	set("MCP_AUTHZ_LOG_LEVEL", &c.Log.Level)
	set("MCP_AUTHZ_LOG_FORMAT", &c.Log.Format)
	set("MCP_AUTHZ_SECRET_FILE", &c.Secrets.KeyFile)
	if v := env("MCP_AUTHZ_SECRET"); v != "" {
		c.Secrets.Key = []byte(v)
	}
	for i := range c.Elicitation.Providers {
		if p := &c.Elicitation.Providers[i]; p.ClientSecretEnv != "" {
			p.ClientSecret = env(p.ClientSecretEnv)
		}
	}
	for i := range c.UpstreamProviders {
		if p := &c.UpstreamProviders[i]; p.ClientSecretEnv != "" {
			p.ClientSecret = env(p.ClientSecretEnv)
		}
	}
	return nil
}

// MinSecretLen is the shortest server secret accepted.
const MinSecretLen = 32

// Validate fills in defaults and reports every problem it finds at once.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	if c.Issuer == "" {
		bad("issuer is required")
	} else if err := checkIssuer(c.Issuer); err != nil {
		bad("issuer: %v", err)
	}
	c.Issuer = strings.TrimSuffix(c.Issuer, "/")
	if c.Listen == "" {
		c.Listen = "127.0.0.1:8080"
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		bad("listen: %q is not HOST:PORT", c.Listen)
	}
	if c.DataDir == "" {
		c.DataDir = "mcp-authz-data"
	}

	switch c.Storage.Driver {
	case "", "sqlite":
		c.Storage.Driver = "sqlite"
		if c.Storage.SQLitePath == "" {
			c.Storage.SQLitePath = filepath.Join(c.DataDir, "mcp-authz.db")
		}
	case "postgres":
		if c.Storage.PostgresDSN == "" {
			bad("storage: driver postgres needs postgres_dsn or MCP_AUTHZ_POSTGRES_DSN")
		}
	default:
		bad("storage.driver: %q is neither sqlite nor postgres", c.Storage.Driver)
	}
	switch c.Storage.Migrate {
	case "":
		c.Storage.Migrate = "auto"
	case "auto", "manual":
	default:
		bad("storage.migrate: %q is neither auto nor manual", c.Storage.Migrate)
	}
	if c.Storage.PostgresMaxConns < 0 {
		bad("storage.postgres_max_conns: must not be negative")
	}
	defaultDuration(&c.SigningKeys.ReloadInterval, time.Minute)
	if c.SigningKeys.ActivationDelay == nil {
		d := Duration(0)
		if c.Storage.Driver == "postgres" {
			d = c.SigningKeys.ReloadInterval
		}
		c.SigningKeys.ActivationDelay = &d
	}
	switch c.Storage.SQLiteSynchronous {
	case "":
		c.Storage.SQLiteSynchronous = "full"
	case "full", "normal":
	default:
		bad("storage.sqlite_synchronous: %q is neither full nor normal", c.Storage.SQLiteSynchronous)
	}

	if c.Secrets.Key == nil && c.Secrets.KeyFile != "" {
		key, err := os.ReadFile(c.Secrets.KeyFile)
		if err != nil {
			bad("secrets.key_file: %v", err)
		}
		c.Secrets.Key = bytes.TrimSpace(key)
	}
	if c.Secrets.Key != nil && len(c.Secrets.Key) < MinSecretLen {
		bad("the server secret is %d bytes; it must be at least %d (try: openssl rand -base64 48)", len(c.Secrets.Key), MinSecretLen)
	}
	if c.Secrets.Key == nil && !c.Development {
		bad("no server secret: set MCP_AUTHZ_SECRET or secrets.key_file (try: openssl rand -base64 48 > secret)")
	}

	t := &c.Tokens
	defaultDuration(&t.AccessTokenLifetime, 10*time.Minute)
	defaultDuration(&t.RefreshTokenLifetime, 30*24*time.Hour)
	defaultDuration(&t.AuthorizationCodeLifetime, time.Minute)
	if t.AuthorizationCodeLifetime.D() > 10*time.Minute {
		bad("tokens.authorization_code_lifetime: at most 10m (OAuth 2.1 §4.1.2)")
	}
	if t.RefreshGracePeriod == nil {
		g := Duration(10 * time.Second)
		t.RefreshGracePeriod = &g
	} else if t.RefreshGracePeriod.D() < 0 || t.RefreshGracePeriod.D() > time.Minute {
		bad("tokens.refresh_grace_period: between 0 and 1m")
	}
	switch t.RefreshTokens {
	case "":
		t.RefreshTokens = "always"
	case "always", "offline_access":
	default:
		bad("tokens.refresh_tokens: %q is neither always nor offline_access", t.RefreshTokens)
	}

	l := &c.Login
	defaultDuration(&l.SessionLifetime, 12*time.Hour)
	defaultDuration(&l.FailureWindow, 15*time.Minute)
	if l.MaxFailures == 0 {
		l.MaxFailures = 5
	}

	if len(c.Resources) == 0 {
		bad("resources: declare at least one protected resource")
	}
	uris := map[string]bool{}
	for i := range c.Resources {
		r := &c.Resources[i]
		if err := CheckResourceURI(r.URI); err != nil {
			bad("resources[%d].uri: %v", i, err)
		}
		if uris[r.URI] {
			bad("resources[%d].uri: %q is declared twice", i, r.URI)
		}
		uris[r.URI] = true
		if r.Name == "" {
			r.Name = r.URI
		}
		names := map[string]bool{}
		for _, s := range r.Scopes {
			if !validScopeToken(s.Name) {
				bad("resources[%d]: scope %q is not a valid scope token (RFC 6749 §3.3)", i, s.Name)
			}
			if s.Name == "offline_access" {
				bad("resources[%d]: offline_access is the server's own scope, not a resource's", i)
			}
			names[s.Name] = true
		}
		for _, d := range r.DefaultScopes {
			if !names[d] {
				bad("resources[%d].default_scopes: %q is not one of its scopes", i, d)
			}
		}
		if r.AccessTokenLifetime.D() < 0 {
			bad("resources[%d].access_token_lifetime: negative", i)
		}
	}

	ids := map[string]bool{}
	for i := range c.Clients {
		cl := &c.Clients[i]
		if cl.ID == "" {
			bad("clients[%d]: id is required", i)
		}
		if strings.HasPrefix(cl.ID, "https://") || strings.HasPrefix(cl.ID, "http://") {
			bad("clients[%d]: a URL client_id is resolved as a metadata document, not pre-registered", i)
		}
		if ids[cl.ID] {
			bad("clients[%d]: id %q is declared twice", i, cl.ID)
		}
		ids[cl.ID] = true
		if cl.Name == "" {
			cl.Name = cl.ID
		}
		if len(cl.GrantTypes) == 0 {
			cl.GrantTypes = []string{"authorization_code", "refresh_token"}
		}
		for _, g := range cl.GrantTypes {
			if !slices.Contains([]string{"authorization_code", "refresh_token", "client_credentials", "urn:ietf:params:oauth:grant-type:jwt-bearer"}, g) {
				bad("clients[%d]: grant type %q is not supported", i, g)
			}
		}
		if slices.Contains(cl.GrantTypes, "authorization_code") && len(cl.RedirectURIs) == 0 {
			bad("clients[%d]: the authorization_code grant needs redirect_uris", i)
		}
		for _, u := range cl.RedirectURIs {
			if err := CheckRedirectURI(u); err != nil {
				bad("clients[%d].redirect_uris: %v", i, err)
			}
		}
		if cl.SecretHash != "" && !strings.HasPrefix(cl.SecretHash, "sha256:") {
			bad("clients[%d].secret_hash: expected sha256:… (mcp-authz clients new-secret prints one)", i)
		}
		hasKeys := cl.JWKS != nil || cl.JWKSURI != ""
		if cl.JWKS != nil && cl.JWKSURI != "" {
			bad("clients[%d]: jwks and jwks_uri are exclusive (RFC 7591 §2)", i)
		}
		if cl.JWKSURI != "" {
			if u, err := url.Parse(cl.JWKSURI); err != nil || u.Scheme != "https" || u.Host == "" {
				bad("clients[%d].jwks_uri: must be an https URL", i)
			}
		}
		switch m := cl.TokenEndpointAuthMethod; {
		case m == "" && cl.SecretHash != "":
			cl.TokenEndpointAuthMethod = "client_secret_basic"
		case m == "" && hasKeys:
			cl.TokenEndpointAuthMethod = "private_key_jwt"
		case m == "":
			cl.TokenEndpointAuthMethod = "none"
		case (m == "client_secret_basic" || m == "client_secret_post") && cl.SecretHash == "":
			bad("clients[%d]: %s needs secret_hash", i, m)
		case m == "private_key_jwt" && !hasKeys:
			bad("clients[%d]: private_key_jwt needs jwks or jwks_uri", i)
		case m == "none" && (cl.SecretHash != "" || hasKeys):
			bad("clients[%d]: a public client (none) has no secret or keys", i)
		case m != "none" && m != "client_secret_basic" && m != "client_secret_post" && m != "private_key_jwt":
			bad("clients[%d].token_endpoint_auth_method: %q is not supported", i, m)
		}
		if cl.SecretHash != "" && hasKeys {
			bad("clients[%d]: a client has a secret or keys, not both", i)
		}
		if slices.Contains(cl.GrantTypes, "client_credentials") && cl.TokenEndpointAuthMethod == "none" {
			bad("clients[%d]: client_credentials needs a confidential client (secret_hash, jwks or jwks_uri)", i)
		}
		for _, r := range cl.Resources {
			if !uris[r] {
				bad("clients[%d].resources: %q is not a declared resource", i, r)
			}
		}
	}

	issuers := map[string]bool{}
	for i, p := range c.IdentityProviders {
		if p.Issuer == "" {
			bad("identity_providers[%d]: issuer is required", i)
		} else if issuers[p.Issuer] {
			bad("identity_providers[%d]: issuer %q is declared twice", i, p.Issuer)
		}
		issuers[p.Issuer] = true
		if (p.JWKS == nil) == (p.JWKSURI == "") {
			bad("identity_providers[%d]: give exactly one of jwks and jwks_uri", i)
		}
		if p.JWKSURI != "" {
			if u, err := url.Parse(p.JWKSURI); err != nil || u.Scheme != "https" || u.Host == "" {
				bad("identity_providers[%d].jwks_uri: must be an https URL", i)
			}
		}
		if len(p.Clients) == 0 || len(p.Resources) == 0 || len(p.Scopes) == 0 {
			bad("identity_providers[%d]: clients, resources and scopes are required (\"*\" for any)", i)
		}
		for _, r := range p.Resources {
			if r != "*" && !uris[r] {
				bad("identity_providers[%d].resources: %q is not a declared resource", i, r)
			}
		}
		if d := p.MaxAssertionLifetime.D(); d < 0 || d > time.Hour {
			bad("identity_providers[%d].max_assertion_lifetime: between 0 and 1h", i)
		}
	}

	c.validateElicitation(bad)

	errs = append(errs, c.validateUpstream()...)

	if c.CIMD.MaxCacheTime.D() > 24*time.Hour {
		bad("client_id_metadata_documents.max_cache_time: at most 24h")
	}
	if c.CIMD.MinCacheTime.D() < 0 || (c.CIMD.MaxCacheTime != 0 && c.CIMD.MinCacheTime > c.CIMD.MaxCacheTime) {
		bad("client_id_metadata_documents: min_cache_time must be between 0 and max_cache_time")
	}
	if c.CIMD.MaxDocumentBytes < 0 || c.CIMD.MaxDocumentBytes > 1<<20 {
		bad("client_id_metadata_documents.max_document_bytes: between 0 and 1048576")
	}
	if c.DynamicRegistration.PerAddressPerHour < 0 {
		bad("dynamic_registration.per_address_per_hour: must not be negative")
	}
	if c.Outbound.Timeout.D() < 0 || c.Outbound.Timeout.D() > time.Minute {
		bad("outbound.timeout: between 0 and 1m")
	}
	if c.Outbound.HostRate < 0 || c.Outbound.HostBurst < 0 {
		bad("outbound: host_rate and host_burst must not be negative")
	}
	for _, h := range c.Outbound.TestHosts {
		if _, _, err := net.SplitHostPort(h); err != nil {
			bad("outbound.test_hosts: %q is not host:port", h)
		}
	}

	switch c.Log.Level {
	case "":
		c.Log.Level = "info"
	case "debug", "info", "warn", "error":
	default:
		bad("log.level: %q is not debug, info, warn or error", c.Log.Level)
	}
	switch c.Log.Format {
	case "":
		c.Log.Format = "text"
	case "text", "json":
	default:
		bad("log.format: %q is neither text nor json", c.Log.Format)
	}
	if len(errs) > 0 {
		return fmt.Errorf("config: %w", errors.Join(errs...))
	}
	return nil
}

// validateElicitation checks the elicitation settings of resources and the connect providers.
func (c *Config) validateElicitation(bad func(string, ...any)) {
	for i, r := range c.Resources {
		for _, id := range r.ElicitationClients {
			if id == "" {
				bad("resources[%d].elicitation_clients: empty client_id", i)
			}
		}
		if r.ElicitationCallback != "" {
			if u, err := url.Parse(r.ElicitationCallback); err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || u.Fragment != "" {
				bad("resources[%d].elicitation_callback: must be an https URL", i)
			}
			if len(r.ElicitationClients) == 0 {
				bad("resources[%d].elicitation_callback: needs elicitation_clients", i)
			}
		}
	}
	e := &c.Elicitation
	defaultDuration(&e.DefaultLifetime, 10*time.Minute)
	defaultDuration(&e.MaxLifetime, time.Hour)
	if e.DefaultLifetime.D() < time.Minute || e.DefaultLifetime > e.MaxLifetime || e.MaxLifetime.D() > 24*time.Hour {
		bad("elicitation: default_lifetime must be at least 1m and at most max_lifetime, max_lifetime at most 24h")
	}
	ids := map[string]bool{}
	for i := range e.Providers {
		p := &e.Providers[i]
		if p.ID == "" || strings.Trim(p.ID, "abcdefghijklmnopqrstuvwxyz0123456789_-") != "" || len(p.ID) > 64 {
			bad("elicitation.providers[%d].id: %q must be 1-64 of a-z, 0-9, _ and -", i, p.ID)
		}
		if ids[p.ID] {
			bad("elicitation.providers[%d].id: %q is declared twice", i, p.ID)
		}
		ids[p.ID] = true
		if p.Name == "" {
			p.Name = p.ID
		}
		for field, raw := range map[string]string{"authorization_endpoint": p.AuthorizationEndpoint, "token_endpoint": p.TokenEndpoint} {
			if u, err := url.Parse(raw); err != nil || u.Scheme != "https" || u.Host == "" || u.Fragment != "" || u.User != nil {
				bad("elicitation.providers[%d].%s: must be an https URL", i, field)
			}
		}
		if p.RevocationEndpoint != "" {
			if u, err := url.Parse(p.RevocationEndpoint); err != nil || u.Scheme != "https" || u.Host == "" || u.Fragment != "" || u.User != nil {
				bad("elicitation.providers[%d].revocation_endpoint: must be an https URL", i)
			}
		}
		if p.Issuer != "" {
			// RFC 8414 §2: an https URL without query or fragment.
			if u, err := url.Parse(p.Issuer); err != nil || u.Scheme != "https" || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
				bad("elicitation.providers[%d].issuer: %q must be an https URL without query or fragment", i, p.Issuer)
			}
		}
		if p.ClientID == "" {
			bad("elicitation.providers[%d].client_id is required", i)
		}
		if p.ClientSecret == "" && p.ClientSecretFile != "" {
			b, err := os.ReadFile(p.ClientSecretFile)
			if err != nil {
				bad("elicitation.providers[%d].client_secret_file: %v", i, err)
			}
			p.ClientSecret = string(bytes.TrimSpace(b))
		}
		if p.ClientSecretEnv != "" && p.ClientSecret == "" {
			bad("elicitation.providers[%d].client_secret_env: %s is not set", i, p.ClientSecretEnv)
		}
		switch m := p.TokenEndpointAuthMethod; {
		case m == "" && p.ClientSecret != "":
			p.TokenEndpointAuthMethod = "client_secret_basic"
		case m == "":
			p.TokenEndpointAuthMethod = "none"
		case (m == "client_secret_basic" || m == "client_secret_post") && p.ClientSecret == "":
			bad("elicitation.providers[%d]: %s needs a client secret", i, m)
		case m != "none" && m != "client_secret_basic" && m != "client_secret_post":
			bad("elicitation.providers[%d].token_endpoint_auth_method: %q is not supported", i, m)
		}
	}
}

// validateUpstream checks the upstream providers and their policies, and fills in defaults.
func (c *Config) validateUpstream() []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if !c.LocalAccountsEnabled() && len(c.UpstreamProviders) == 0 {
		bad("login.local_accounts: false needs at least one of upstream_providers, or nobody can sign in")
	}
	scopesOf := map[string][]string{}
	for _, r := range c.Resources {
		for _, s := range r.Scopes {
			scopesOf[r.URI] = append(scopesOf[r.URI], s.Name)
		}
	}
	ids := map[string]bool{}
	for i := range c.UpstreamProviders {
		p := &c.UpstreamProviders[i]
		if !validProviderID(p.ID) {
			bad("upstream_providers[%d].id: %q must be 1 to 32 of a-z, 0-9 and -", i, p.ID)
		} else if ids[p.ID] {
			bad("upstream_providers[%d].id: %q is declared twice", i, p.ID)
		}
		ids[p.ID] = true
		if p.Name == "" {
			p.Name = p.ID
		}
		// OpenID Connect Discovery 1.0 §3: the issuer is an https URL without query or fragment.
		if u, err := url.Parse(p.Issuer); err != nil || u.Scheme != "https" || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			bad("upstream_providers[%d].issuer: %q must be an https URL without query or fragment", i, p.Issuer)
		}
		if p.ClientID == "" {
			bad("upstream_providers[%d].client_id is required", i)
		}
		switch {
		case p.ClientSecretEnv != "" && p.ClientSecretFile != "":
			bad("upstream_providers[%d]: client_secret_env and client_secret_file are exclusive", i)
		case p.ClientSecretEnv != "" && p.ClientSecret == "":
			bad("upstream_providers[%d].client_secret_env: the environment variable %s is empty", i, p.ClientSecretEnv)
		case p.ClientSecretFile != "" && p.ClientSecret == "":
			secret, err := os.ReadFile(p.ClientSecretFile)
			if err != nil {
				bad("upstream_providers[%d].client_secret_file: %v", i, err)
			} else if p.ClientSecret = string(bytes.TrimSpace(secret)); p.ClientSecret == "" {
				bad("upstream_providers[%d].client_secret_file: %s is empty", i, p.ClientSecretFile)
			}
		}
		if len(p.Scopes) == 0 {
			p.Scopes = []string{"openid", "email", "profile"}
		} else if !slices.Contains(p.Scopes, "openid") {
			p.Scopes = append([]string{"openid"}, p.Scopes...)
		}
		for _, s := range p.Scopes {
			if !validScopeToken(s) {
				bad("upstream_providers[%d].scopes: %q is not a valid scope token", i, s)
			}
		}
		cl := &p.Claims
		for _, d := range []struct {
			v   *string
			def string
		}{{&cl.Subject, "sub"}, {&cl.Email, "email"}, {&cl.Name, "name"}, {&cl.Groups, "groups"}} {
			if *d.v == "" {
				*d.v = d.def
			}
		}
		for j, d := range p.AllowedEmailDomains {
			d = strings.ToLower(strings.TrimSpace(d))
			if d == "" || strings.ContainsAny(d, "@ *") {
				bad("upstream_providers[%d].allowed_email_domains: %q is not a domain", i, p.AllowedEmailDomains[j])
			}
			p.AllowedEmailDomains[j] = d
		}
		if len(p.Policy) == 0 {
			bad("upstream_providers[%d].policy: at least one rule is required (resources: [\"*\"], scopes: [\"*\"] for everything)", i)
		}
		for j, r := range p.Policy {
			where := fmt.Sprintf("upstream_providers[%d].policy[%d]", i, j)
			if (r.Claim == "") != (len(r.Values) == 0) {
				bad("%s: claim and values go together", where)
			}
			if len(r.Resources) == 0 || len(r.Scopes) == 0 {
				bad("%s: resources and scopes are required (\"*\" for all)", where)
			}
			var offered []string
			for _, uri := range r.Resources {
				switch {
				case uri == "*":
					for _, res := range c.Resources {
						offered = append(offered, scopesOf[res.URI]...)
					}
				case !slices.ContainsFunc(c.Resources, func(res Resource) bool { return res.URI == uri }):
					bad("%s.resources: %q is not a declared resource", where, uri)
				default:
					offered = append(offered, scopesOf[uri]...)
				}
			}
			for _, s := range r.Scopes {
				if s != "*" && !slices.Contains(offered, s) {
					bad("%s.scopes: %q is not a scope of the rule's resources", where, s)
				}
			}
		}
	}
	return errs
}

// validProviderID: the id goes into URL paths and log lines as it is.
func validProviderID(id string) bool {
	if id == "" || len(id) > 32 {
		return false
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}

func defaultDuration(d *Duration, v time.Duration) {
	if *d == 0 {
		*d = Duration(v)
	}
}

// checkIssuer applies RFC 8414 §2: https, no query or fragment; plain http only on loopback, so
// that development needs no certificate and production cannot be misconfigured into cleartext.
func checkIssuer(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("%q must not have a query, fragment or user info", s)
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !IsLoopbackHost(u.Hostname()) {
			return fmt.Errorf("%q: plain http is allowed only for a loopback issuer (localhost, 127.0.0.1, [::1])", s)
		}
	default:
		return fmt.Errorf("%q must be an https URL", s)
	}
	if u.Host == "" {
		return fmt.Errorf("%q has no host", s)
	}
	return nil
}

// IsLoopbackHost reports whether a URL host names this machine.
func IsLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// CheckResourceURI applies RFC 8707 §2: an absolute URI without a fragment. Query strings are
// discouraged by the RFC and refused here, so that canonical comparison stays simple.
func CheckResourceURI(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	if !u.IsAbs() || u.Host == "" {
		return fmt.Errorf("%q is not an absolute URI", s)
	}
	if u.Fragment != "" || strings.Contains(s, "#") {
		return fmt.Errorf("%q has a fragment", s)
	}
	if u.RawQuery != "" {
		return fmt.Errorf("%q has a query", s)
	}
	if u.Scheme != "https" && !(u.Scheme == "http" && IsLoopbackHost(u.Hostname())) {
		return fmt.Errorf("%q must be https (http only on loopback)", s)
	}
	return nil
}

// CheckRedirectURI applies the registration rules of internal/redirecturi (RFC 6749 §3.1.2,
// RFC 8252 §7): absolute, no fragment, http only on loopback, other schemes reverse-domain.
func CheckRedirectURI(s string) error { return redirecturi.Check(s) }

// validScopeToken is RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ).
func validScopeToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		if b < 0x21 || b == 0x22 || b == 0x5c || b > 0x7e {
			return false
		}
	}
	return true
}
