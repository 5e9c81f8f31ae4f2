package oauth

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/compose"
	fositeoauth2 "github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/handler/pkce"
	"golang.org/x/crypto/hkdf"
	"golang.org/x/time/rate"

	"github.com/mcp-authz/mcp-authz/storage"
)

// Options are what the provider is built from.
type Options struct {
	// Issuer is the issuer identifier; endpoints live under its path.
	Issuer string
	// Secret is the server secret; the HMAC key of codes and refresh tokens is derived from it.
	Secret    []byte
	Tokens    storage.Tokens
	Signer    Signer
	Resources *Resources
	Clients   ClientSource
	Consent   Consenter
	// CIMD advertises client_id_metadata_document_supported.
	CIMD bool
	// Exchanger, when set, accepts identity assertions (ID-JAG) with the jwt-bearer grant.
	Exchanger AssertionExchanger
	// TrustsIdPs reports whether any identity provider is trusted now: the set can change while
	// the server runs (mcp-authz idps add), and the grant is served and advertised only while it
	// is not empty. nil: whenever Exchanger is set.
	TrustsIdPs func() bool
	// Registration, when set, serves RFC 7591 dynamic registration (public clients only).
	Registration *Registration

	AuthorizationCodeLifetime time.Duration
	AccessTokenLifetime       time.Duration
	RefreshTokenLifetime      time.Duration
	RefreshGracePeriod        time.Duration
	// RefreshOnlyWithOfflineAccess issues refresh tokens only when offline_access was granted;
	// otherwise every client allowed the refresh_token grant gets one (SEP-2207).
	RefreshOnlyWithOfflineAccess bool

	Logger *slog.Logger
	// Now is the clock (tests); time.Now by default.
	Now func() time.Time
}

// Provider is the authorization server's protocol side.
type Provider struct {
	issuer    string
	basePath  string
	fosite    *fosite.Fosite
	store     *fositeStore
	tokens    storage.Tokens
	signer    Signer
	resources *Resources
	clients   ClientSource
	consent   Consenter
	refresh   fositeoauth2.RefreshTokenStrategy
	// accessLifetime is the default access-token lifetime.
	accessLifetime time.Duration
	exchanger      AssertionExchanger
	trustsIdPs     func() bool
	registrar      *registrar
	log            *slog.Logger
	now            func() time.Time
	// metadata is the server's metadata document; metadataIDJAG the same advertising the
	// jwt-bearer grant, served while identity providers are trusted.
	metadata, metadataIDJAG []byte
}

// New composes fosite with our storage adapter, token strategies and checks.
func New(o Options) (*Provider, error) {
	if o.Tokens == nil || o.Signer == nil || o.Resources == nil || o.Clients == nil || o.Consent == nil {
		return nil, errors.New("oauth: Tokens, Signer, Resources, Clients and Consent are required")
	}
	if len(o.Secret) < 32 {
		return nil, errors.New("oauth: the server secret must be at least 32 bytes")
	}
	iss, err := url.Parse(o.Issuer)
	if err != nil || iss.Host == "" {
		return nil, fmt.Errorf("oauth: issuer %q is not a URL", o.Issuer)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}

	refreshScopes := []string{} // empty, not nil: nil means fosite's default (offline scopes only)
	if o.RefreshOnlyWithOfflineAccess {
		refreshScopes = []string{OfflineAccess}
	}
	issuer := strings.TrimSuffix(o.Issuer, "/")
	cfg := &fosite.Config{
		AccessTokenLifespan:   o.AccessTokenLifetime,
		RefreshTokenLifespan:  o.RefreshTokenLifetime,
		AuthorizeCodeLifespan: o.AuthorizationCodeLifetime,
		GlobalSecret:          deriveKey(o.Secret, "mcp-authz token hmac v1"),
		TokenEntropy:          32,
		ScopeStrategy:         fosite.ExactScopeStrategy,
		// The audience fosite checks is the client's allowed resources; the resource checks of
		// RFC 8707 are ours (authorize.go, token.go).
		AudienceMatchingStrategy:       exactAudience,
		EnforcePKCE:                    true,
		EnablePKCEPlainChallengeMethod: false,
		RefreshTokenScopes:             refreshScopes,
		// fosite refuses a state shorter than this, and never accepts 0 as "no minimum"; an
		// absent state is replaced by a placeholder before fosite sees it (see authorize.go).
		MinParameterEntropy:        1,
		SendDebugMessagesToClients: false,
		ClientSecretsHasher:        secretHasher{},
		AccessTokenIssuer:          issuer,
		TokenURL:                   issuer + "/token",
		AllowedPromptValues:        []string{"login", "none", "consent", "select_account"},
	}

	store := &fositeStore{tokens: o.Tokens, clients: o.Clients, now: o.Now, refreshGrace: o.RefreshGracePeriod}
	hmacStrategy := compose.NewOAuth2HMACStrategy(cfg)
	access := &accessTokens{issuer: issuer, signer: o.Signer, now: o.Now}

	codeGrant := &fositeoauth2.AuthorizeExplicitGrantHandler{
		AccessTokenStrategy:    access,
		RefreshTokenStrategy:   hmacStrategy,
		AuthorizeCodeStrategy:  hmacStrategy,
		CoreStorage:            store,
		TokenRevocationStorage: store,
		Config:                 cfg,
	}
	refreshGrant := &fositeoauth2.RefreshTokenGrantHandler{
		AccessTokenStrategy:    access,
		RefreshTokenStrategy:   hmacStrategy,
		TokenRevocationStorage: store,
		Config:                 cfg,
	}
	pkceHandler := &pkce.Handler{AuthorizeCodeStrategy: hmacStrategy, Storage: store, Config: cfg}
	revocation := &fositeoauth2.TokenRevocationHandler{
		TokenRevocationStorage: store,
		RefreshTokenStrategy:   hmacStrategy,
		AccessTokenStrategy:    access,
	}
	cfg.AuthorizeEndpointHandlers = fosite.AuthorizeEndpointHandlers{codeGrant, pkceHandler}
	cfg.TokenEndpointHandlers = fosite.TokenEndpointHandlers{codeGrant, refreshGrant, pkceHandler}
	cfg.RevocationHandlers = fosite.RevocationHandlers{revocation}

	p := &Provider{
		issuer:         issuer,
		basePath:       strings.TrimSuffix(iss.EscapedPath(), "/"),
		fosite:         &fosite.Fosite{Store: store, Config: cfg},
		store:          store,
		tokens:         o.Tokens,
		signer:         o.Signer,
		resources:      o.Resources,
		clients:        o.Clients,
		consent:        o.Consent,
		refresh:        hmacStrategy,
		accessLifetime: o.AccessTokenLifetime,
		exchanger:      o.Exchanger,
		trustsIdPs:     o.TrustsIdPs,
		log:            o.Logger,
		now:            o.Now,
	}
	if r := o.Registration; r != nil {
		if r.Records == nil {
			return nil, errors.New("oauth: dynamic registration needs a record store")
		}
		if r.PerAddress <= 0 {
			r.PerAddress = 10
		}
		if r.MaxRedirectURIs <= 0 {
			r.MaxRedirectURIs = 10
		}
		p.registrar = &registrar{cfg: *r, now: o.Now, buckets: map[string]*rate.Limiter{}}
	}
	// Every endpoint authenticates clients the same way: ours (clientauth.go).
	cfg.ClientAuthenticationStrategy = p.fositeClientAuth
	if p.metadata, err = p.buildMetadata(o.CIMD, false); err != nil {
		return nil, err
	}
	if p.metadataIDJAG, err = p.buildMetadata(o.CIMD, true); err != nil {
		return nil, err
	}
	return p, nil
}

// Issuer is the issuer identifier.
func (p *Provider) Issuer() string { return p.issuer }

// Path returns the path of an endpoint under the issuer ("/token" → "/t1/token").
func (p *Provider) Path(endpoint string) string { return p.basePath + endpoint }

// Register mounts the protocol endpoints on mux.
func (p *Provider) Register(mux *http.ServeMux) {
	mux.HandleFunc(p.Path("/authorize"), p.handleAuthorize)
	mux.Handle(p.Path("/token"), allowCORS(http.HandlerFunc(p.handleToken)))
	mux.HandleFunc(p.Path("/introspect"), p.handleIntrospect)
	mux.Handle(p.Path("/revoke"), allowCORS(http.HandlerFunc(p.handleRevoke)))
	mux.HandleFunc(p.Path("/jwks.json"), p.handleJWKS)
	if p.registrar != nil {
		mux.Handle(p.Path("/register"), allowCORS(http.HandlerFunc(p.handleRegister)))
	}
	for _, path := range p.metadataPaths() {
		mux.HandleFunc(path, p.handleMetadata)
	}
}

// allowCORS lets browser-based MCP clients (the MCP Inspector, web apps) call an endpoint from
// any origin. It is safe where it is used: the token and revocation endpoints use no cookies or
// ambient credentials, so another origin gains nothing a plain HTTP client could not do.
func allowCORS(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", "*")
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			h.Set("Access-Control-Allow-Methods", "POST")
			h.Set("Access-Control-Allow-Headers", "Content-Type, Authorization")
			h.Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func exactAudience(haystack []string, needles []string) error {
	for _, n := range needles {
		found := false
		for _, h := range haystack {
			if h == n {
				found = true
				break
			}
		}
		if !found {
			return fosite.ErrInvalidRequest.WithHintf("The client may not ask for the audience %q.", n)
		}
	}
	return nil
}

// deriveKey derives a 32-byte key for one purpose from the server secret (RFC 5869), so that
// no two mechanisms share key material.
func deriveKey(secret []byte, purpose string) []byte {
	key := make([]byte, 32)
	if _, err := io.ReadFull(hkdf.New(sha256.New, secret, nil, []byte(purpose)), key); err != nil {
		panic(err) // only on a read past 255*32 bytes, impossible here
	}
	return key
}

// background is the context for work that must finish even if the client went away, such as
// revoking a grant after a detected code reuse.
func background(ctx context.Context) context.Context { return context.WithoutCancel(ctx) }
