package elicitation

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mcp-authz/mcp-authz/storage"
)

// Store is the part of storage elicitation uses: elicitations themselves, records for connected
// accounts, and the access tokens and users that creation requests name.
type Store interface {
	storage.Elicitations
	storage.Records
	GetToken(ctx context.Context, kind storage.TokenKind, signature string) (*storage.Token, error)
	GetUser(ctx context.Context, id string) (*storage.User, error)
}

// Browser is the browser session of the login and consent pages (package consent implements
// it): the pages are protected exactly as the consent page is, with the same session and CSRF
// token.
type Browser interface {
	// SignedInUser returns the user signed in in this browser, or nil.
	SignedInUser(r *http.Request) (*storage.User, error)
	// RedirectToLogin sends the browser to sign in, then back to returnTo (a path).
	RedirectToLogin(w http.ResponseWriter, r *http.Request, returnTo string)
	// FormToken returns the CSRF token for a form, saving the session.
	FormToken(w http.ResponseWriter, r *http.Request) (string, error)
	// CheckForm verifies a parsed form's origin and CSRF token.
	CheckForm(r *http.Request) error
}

// Signer signs the completion notices posted to a resource's callback URL with the server's
// current signing key, published in the JWKS (package keys implements it).
type Signer interface {
	SignJWT(payload []byte, typ string) (string, error)
}

// ClientAuthenticator authenticates the client of an API request (client_secret_basic,
// client_secret_post or private_key_jwt, as at the token endpoint; form holds the body's
// credentials) and returns its client_id. It refuses public clients: only a resource's own
// server, a confidential client, may use the API.
type ClientAuthenticator func(ctx context.Context, r *http.Request, form url.Values) (clientID string, err error)

// Resource is a protected resource whose server may use elicitation.
type Resource struct {
	// URI is the resource's canonical URI, the audience of its access tokens.
	URI string
	// Name is shown on the pages: the operator chose it, so the user may trust it.
	Name string
	// Clients are the client_ids of the resource's own server.
	Clients []string
	// Callback, if set, receives a signed notice when an elicitation completes (https).
	Callback string
}

// Provider is a third-party OAuth 2 authorization server for the connect kind.
type Provider struct {
	ID, Name                             string
	AuthorizationEndpoint, TokenEndpoint string
	// RevocationEndpoint, when set, is where disconnecting revokes the tokens (RFC 7009).
	RevocationEndpoint string
	// Issuer, when set, is what the provider's answer must carry as iss (RFC 9207).
	Issuer                 string
	ClientID, ClientSecret string
	AuthMethod             string // client_secret_basic, client_secret_post or none
	Scopes                 []string
}

// Options are what the service is built from.
type Options struct {
	// Issuer is the server's issuer URL: the pages and the API live under its path, and page
	// URLs are on its origin.
	Issuer string
	// Secret is the server secret; the key that encrypts secrets and tokens at rest is derived
	// from it.
	Secret             []byte
	Store              Store
	Browser            Browser
	AuthenticateClient ClientAuthenticator
	// Signer signs callbacks; required when a resource has a Callback.
	Signer Signer
	// HTTPClient makes every outbound request (callbacks, third-party token endpoints); it
	// must be the server's safe outbound client (internal/safehttp).
	HTTPClient *http.Client
	Resources  []Resource
	Providers  []Provider
	// DefaultLifetime (10m) applies when a server asks for none; MaxLifetime (1h) bounds what
	// it may ask for.
	DefaultLifetime time.Duration
	MaxLifetime     time.Duration
	Logger          *slog.Logger
	Now             func() time.Time
}

// Service serves the elicitation API and pages.
type Service struct {
	store     Store
	browser   Browser
	authn     ClientAuthenticator
	signer    Signer
	http      *http.Client
	sealer    *sealer
	issuer    string
	origin    string
	basePath  string
	secure    bool
	resources map[string]*Resource
	providers map[string]*Provider

	defaultLifetime time.Duration
	maxLifetime     time.Duration

	waiters  *notifier
	creates  *limiter // per client
	posts    *limiter // per client address, for the pages' forms
	refresh  keyedMutex
	log      *slog.Logger
	now      func() time.Time
	inflight sync.WaitGroup // callbacks being delivered
}

// New builds the service.
func New(o Options) (*Service, error) {
	u, err := url.Parse(o.Issuer)
	if err != nil || u.Host == "" {
		return nil, errors.New("elicitation: the issuer is not a URL")
	}
	if o.Store == nil || o.Browser == nil || o.AuthenticateClient == nil || len(o.Secret) < 32 {
		return nil, errors.New("elicitation: Store, Browser, AuthenticateClient and a secret of at least 32 bytes are required")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.HTTPClient == nil {
		return nil, errors.New("elicitation: HTTPClient (the safe outbound client) is required")
	}
	if o.DefaultLifetime <= 0 {
		o.DefaultLifetime = 10 * time.Minute
	}
	if o.MaxLifetime <= 0 {
		o.MaxLifetime = time.Hour
	}
	sl, err := newSealer(o.Secret)
	if err != nil {
		return nil, err
	}
	s := &Service{
		store:           o.Store,
		browser:         o.Browser,
		authn:           o.AuthenticateClient,
		signer:          o.Signer,
		http:            o.HTTPClient,
		sealer:          sl,
		issuer:          strings.TrimSuffix(o.Issuer, "/"),
		origin:          u.Scheme + "://" + u.Host,
		basePath:        strings.TrimSuffix(u.EscapedPath(), "/"),
		secure:          u.Scheme == "https",
		resources:       map[string]*Resource{},
		providers:       map[string]*Provider{},
		defaultLifetime: o.DefaultLifetime,
		maxLifetime:     o.MaxLifetime,
		waiters:         newNotifier(),
		// A server creates an elicitation when a tool call needs one: a few a second is
		// plenty, and the limit keeps one compromised server from filling the database.
		creates: newLimiter(5, 50, o.Now),
		// A person submits a form now and then; a script guessing at forms is slowed down.
		posts: newLimiter(1, 30, o.Now),
		log:   o.Logger,
		now:   o.Now,
	}
	for i := range o.Resources {
		r := o.Resources[i]
		if r.Callback != "" && o.Signer == nil {
			return nil, fmt.Errorf("elicitation: resource %s has a callback but there is no Signer", r.URI)
		}
		s.resources[r.URI] = &r
	}
	for i := range o.Providers {
		p := o.Providers[i]
		if p.ID == "" || p.AuthorizationEndpoint == "" || p.TokenEndpoint == "" || p.ClientID == "" {
			return nil, fmt.Errorf("elicitation: provider %q is incomplete", p.ID)
		}
		if p.Name == "" {
			p.Name = p.ID
		}
		s.providers[p.ID] = &p
	}
	return s, nil
}

// Paths of the API and the pages, under the issuer's path.
const (
	apiPath      = "/elicitations"
	pagePath     = "/elicitation/"
	callbackPath = "/elicitation/callback"
)

// ReturnPath is the path prefix (under the issuer's path) of the pages, the connected-accounts
// page included, to which the login page must be allowed to return (consent.Options.ReturnPaths).
const ReturnPath = pagePath

// Register mounts the API and the pages.
func (s *Service) Register(mux *http.ServeMux) {
	b := s.basePath
	mux.HandleFunc("POST "+b+apiPath, s.handleCreate)
	mux.HandleFunc("GET "+b+apiPath+"/{id}", s.handleRead)
	mux.HandleFunc("POST "+b+apiPath+"/{id}", s.handleRead)
	mux.HandleFunc("POST "+b+apiPath+"/{id}/cancel", s.handleCancel)
	mux.HandleFunc("POST "+b+apiPath+"/connections/token", s.handleConnectionToken)
	mux.HandleFunc("GET "+b+pagePath+"{id}", s.handlePage)
	mux.HandleFunc("POST "+b+pagePath+"{id}", s.handlePage)
	mux.HandleFunc("GET "+b+callbackPath, s.handleConnectCallback)
	mux.HandleFunc("GET "+b+connectionsPath, s.handleConnections)
	mux.HandleFunc("POST "+b+connectionsPath, s.handleConnections)
}

// Wait blocks until the callbacks being delivered are done (tests; a shutting-down server).
func (s *Service) Wait() { s.inflight.Wait() }

// pageURL is the absolute URL of an elicitation's page: our origin, our path, the id, nothing
// else (requirements §8: no credentials or personal data in the URL).
func (s *Service) pageURL(id string) string { return s.issuer + pagePath + id }

// resourceFor returns the resource whose server clientID is, among the audience of a token (and
// equal to want when the caller named one), or nil.
func (s *Service) resourceFor(clientID string, audience []string, want string) *Resource {
	for _, aud := range audience {
		r, ok := s.resources[aud]
		if !ok || (want != "" && aud != want) {
			continue
		}
		if slices.Contains(r.Clients, clientID) {
			return r
		}
	}
	return nil
}

// serves reports whether clientID is the server of the elicitation's resource.
func (s *Service) serves(clientID string, e *storage.Elicitation) bool {
	r, ok := s.resources[e.Resource]
	return ok && slices.Contains(r.Clients, clientID)
}

// newID returns an elicitation id: 256 random bits, base64url. It is the only thing in the
// page's URL and cannot be guessed; the page still requires its user's session.
func newID() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// validID rejects anything that newID could not have made before it reaches the database.
func validID(id string) bool {
	if len(id) != 43 {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(id)
	return err == nil
}

// ref is how logs name an elicitation: a hash prefix of its id, which correlates log lines
// without writing down the id that opens the page.
func ref(id string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:6])
}

// status is the status an elicitation has now: a pending one past its expiry is "expired".
func (s *Service) status(e *storage.Elicitation) string {
	if e.Status == storage.ElicitationPending && !s.now().Before(e.ExpiresAt) {
		return "expired"
	}
	return e.Status
}

// resultContext is the additional data of a sealed result: the result opens only as the
// result of this elicitation.
func resultContext(id string) string { return "elicitation result " + id }

// complete moves a pending elicitation to its final status, then wakes the servers waiting for
// it and posts the resource's callback. ErrInactive if it was completed (or expired) meanwhile.
func (s *Service) complete(ctx context.Context, e *storage.Elicitation, status string, result []byte) error {
	var sealed []byte
	if result != nil {
		sealed = s.sealer.seal(result, resultContext(e.ID))
	}
	if err := s.store.CompleteElicitation(ctx, e.ID, status, sealed, s.now()); err != nil {
		return err
	}
	s.log.InfoContext(ctx, "elicitation: completed", "ref", ref(e.ID), "status", status, "kind", e.Kind,
		"sub", e.Subject, "client_id", e.ClientID, "resource", e.Resource)
	s.waiters.notify(e.ID)
	if r := s.resources[e.Resource]; r != nil && r.Callback != "" && status != storage.ElicitationCancelled {
		s.postCallback(r, e.ID, status)
	}
	return nil
}
