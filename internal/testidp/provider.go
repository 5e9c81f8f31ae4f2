package testidp

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcp-authz/mcp-authz/internal/jwtverify"
)

// Token and grant type URNs (RFC 8693 §3, draft-ietf-oauth-identity-assertion-authz-grant §4.3).
const (
	GrantTypeTokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange"
	TokenTypeIDToken       = "urn:ietf:params:oauth:token-type:id_token"
	TokenTypeIDJAG         = "urn:ietf:params:oauth:token-type:id-jag"
	// TypIDJAG is the JOSE typ of an ID-JAG (§3.1).
	TypIDJAG = "oauth-id-jag+jwt"
)

// Options shape a Provider. The zero value is a plain-http provider with an ES256 key.
type Options struct {
	// TLS serves https with a certificate for 127.0.0.1 (see HTTPClient and CAFile).
	TLS bool
	// Algorithm of the signing keys: ES256 (default), RS256 or PS256.
	Algorithm string
	// IDTokenLifetime (default 10m) and IDJAGLifetime (default 5m).
	IDTokenLifetime time.Duration
	IDJAGLifetime   time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Client is a client registered at the provider.
type Client struct {
	ID string
	// Secret makes the client confidential (client_secret_basic or client_secret_post); empty
	// is a public client.
	Secret       string
	RedirectURIs []string
	// ResourceClientID is the client's client_id at the resource authorization server, the
	// ID-JAG's client_id claim (§3.1 lets it differ from the client_id here); default ID.
	ResourceClientID string
}

// User is someone the provider can sign in.
type User struct {
	Subject string
	Email   string
	Name    string
	// Tenant is the tenant claim of a multi-tenant issuer (empty: none).
	Tenant string
	// Claims are added to the ID token and the ID-JAG.
	Claims map[string]any
}

// Exchange is a token exchange the provider is about to answer. A policy set with
// SetExchangePolicy may change Claims (the ID-JAG's) or refuse.
type Exchange struct {
	ClientID string
	// IDToken are the subject token's claims.
	IDToken  map[string]any
	Audience string
	Resource string
	Scopes   []string
	Claims   map[string]any
}

// Provider is a running test OpenID Provider.
type Provider struct {
	srv    *httptest.Server
	issuer string
	opts   Options

	mu      sync.Mutex
	keys    []*Key // keys[0] signs; all are published
	clients map[string]Client
	users   []User
	current int // index into users of the user /authorize signs in; -1: nobody
	codes   map[string]*codeGrant
	policy  func(*Exchange) error
	idHook  func(claims map[string]any) string
	authErr url.Values // when set, /authorize answers with this error
	grants  []string
	served  map[string]int // requests per path
}

type codeGrant struct {
	client, redirect, challenge, nonce, scope string
	user                                      User
	expires                                   time.Time
}

// New starts a provider that stops when the test ends.
func New(t testing.TB, o Options) *Provider {
	t.Helper()
	if o.Algorithm == "" {
		o.Algorithm = "ES256"
	}
	if o.IDTokenLifetime == 0 {
		o.IDTokenLifetime = 10 * time.Minute
	}
	if o.IDJAGLifetime == 0 {
		o.IDJAGLifetime = 5 * time.Minute
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	key, err := NewKey(o.Algorithm)
	if err != nil {
		t.Fatal(err)
	}
	p := &Provider{opts: o, keys: []*Key{key}, clients: map[string]Client{}, current: -1, codes: map[string]*codeGrant{}, served: map[string]int{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", p.discovery)
	mux.HandleFunc("GET /.well-known/oauth-authorization-server", p.discovery)
	mux.HandleFunc("GET /jwks", p.jwks)
	mux.HandleFunc("GET /authorize", p.authorize)
	mux.HandleFunc("POST /token", p.token)
	p.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.served[r.URL.Path]++
		p.mu.Unlock()
		mux.ServeHTTP(w, r)
	}))
	p.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	if o.TLS {
		p.srv.StartTLS()
		p.issuer = "https://" + p.srv.Listener.Addr().String()
	} else {
		p.srv.Start()
		p.issuer = "http://" + p.srv.Listener.Addr().String()
	}
	t.Cleanup(p.srv.Close)
	return p
}

// Issuer is the provider's issuer identifier (its base URL).
func (p *Provider) Issuer() string { return p.issuer }

// Addr is "127.0.0.1:port", the form of safehttp's and config's test hosts.
func (p *Provider) Addr() string { return p.srv.Listener.Addr().String() }

// JWKSURI is where the key set is served.
func (p *Provider) JWKSURI() string { return p.issuer + "/jwks" }

// TokenEndpoint is the token endpoint's URL.
func (p *Provider) TokenEndpoint() string { return p.issuer + "/token" }

// HTTPClient is a client that trusts the provider's certificate (any client works without TLS).
func (p *Provider) HTTPClient() *http.Client { return p.srv.Client() }

// Certificate is the TLS certificate (nil without TLS).
func (p *Provider) Certificate() *x509.Certificate { return p.srv.Certificate() }

// CAFile writes the TLS certificate as PEM into a temporary file and returns its path, for
// config.Outbound.TestCAFile.
func (p *Provider) CAFile(t testing.TB) string {
	t.Helper()
	cert := p.Certificate()
	if cert == nil {
		t.Fatal("testidp: CAFile needs a TLS provider")
	}
	path := filepath.Join(t.TempDir(), "testidp-ca.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// Key is the key that signs now.
func (p *Provider) Key() *Key {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.keys[0]
}

// JWKS is the published key set.
func (p *Provider) JWKS() []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	return keySet(p.keys...)
}

// RotateKey adds a new key that signs from now on; the old keys stay published.
func (p *Provider) RotateKey() *Key {
	k, err := NewKey(p.opts.Algorithm)
	if err != nil {
		panic("testidp: " + err.Error())
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.keys = append([]*Key{k}, p.keys...)
	return k
}

// RetireOldKeys stops publishing every key but the current one.
func (p *Provider) RetireOldKeys() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.keys = p.keys[:1]
}

// AddClient registers (or replaces) a client.
func (p *Provider) AddClient(c Client) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clients[c.ID] = c
}

// AddUser registers (or replaces, by subject) a user a login_hint can name.
func (p *Provider) AddUser(u User) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.addUser(u)
}

func (p *Provider) addUser(u User) int {
	if i := slices.IndexFunc(p.users, func(v User) bool { return v.Subject == u.Subject }); i >= 0 {
		p.users[i] = u
		return i
	}
	p.users = append(p.users, u)
	return len(p.users) - 1
}

// SetUser registers u and makes it the user /authorize signs in without a login_hint.
func (p *Provider) SetUser(u User) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.current = p.addUser(u)
}

// SetExchangePolicy sets what decides a token exchange; nil accepts every valid one.
func (p *Provider) SetExchangePolicy(f func(*Exchange) error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.policy = f
}

// SetIDTokenHook makes /token send, for an authorization code, the ID token f returns from the
// claims it would have signed (f may change them, sign with another key, or forge anything);
// nil restores normal signing. For relying-party refusal tests: another audience, a wrong
// nonce, an expired token, an unknown key.
func (p *Provider) SetIDTokenHook(f func(claims map[string]any) string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.idHook = f
}

// SetAuthorizeError makes /authorize answer every request with this error (RFC 6749 §4.1.2.1,
// e.g. access_denied: the user said no); an empty code restores normal sign-in.
func (p *Provider) SetAuthorizeError(code, description string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.authErr = nil
	if code != "" {
		p.authErr = url.Values{"error": {code}}
		if description != "" {
			p.authErr.Set("error_description", description)
		}
	}
}

// Grants are the grant types of the token requests the provider answered successfully, in order.
func (p *Provider) Grants() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.grants)
}

// Served is how many requests for path the provider has received (e.g. "/jwks").
func (p *Provider) Served(path string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.served[path]
}

// IDToken mints an ID token for the user, issued to clientID, as /token would.
func (p *Provider) IDToken(clientID string, u User) string {
	return p.Key().Sign(map[string]any{"typ": "JWT"}, p.idTokenClaims(clientID, u, ""))
}

func (p *Provider) idTokenClaims(clientID string, u User, nonce string) map[string]any {
	now := p.opts.Now()
	c := map[string]any{
		"iss": p.issuer, "sub": u.Subject, "aud": clientID,
		"iat": now.Unix(), "exp": now.Add(p.opts.IDTokenLifetime).Unix(), "auth_time": now.Unix(),
	}
	for k, v := range u.Claims {
		c[k] = v
	}
	setIf(c, "email", u.Email)
	setIf(c, "name", u.Name)
	setIf(c, "tenant", u.Tenant)
	setIf(c, "nonce", nonce)
	return c
}

// IDJAGClaims are the claims of a well-formed ID-JAG for the user: issued by this provider to
// clientID (its client_id at the resource authorization server) for audience (that server's
// issuer), with resource and scope unless empty, living IDJAGLifetime from now.
func (p *Provider) IDJAGClaims(u User, clientID, audience, resource, scope string) map[string]any {
	now := p.opts.Now()
	c := map[string]any{
		"iss": p.issuer, "sub": u.Subject, "aud": audience, "client_id": clientID,
		"jti": rand.Text(), "iat": now.Unix(), "exp": now.Add(p.opts.IDJAGLifetime).Unix(),
	}
	for k, v := range u.Claims {
		c[k] = v
	}
	setIf(c, "resource", resource)
	setIf(c, "scope", scope)
	setIf(c, "email", u.Email)
	setIf(c, "name", u.Name)
	setIf(c, "tenant", u.Tenant)
	return c
}

// IDJAG signs claims as an ID-JAG (typ oauth-id-jag+jwt) with the current key. The claims are
// taken as they are: a test can send any, well-formed or not.
func (p *Provider) IDJAG(claims map[string]any) string {
	return p.Key().Sign(map[string]any{"typ": TypIDJAG}, claims)
}

func setIf(m map[string]any, k, v string) {
	if v != "" {
		m[k] = v
	}
}

func (p *Provider) discovery(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                         p.issuer,
		"authorization_endpoint":                         p.issuer + "/authorize",
		"token_endpoint":                                 p.issuer + "/token",
		"jwks_uri":                                       p.JWKSURI(),
		"response_types_supported":                       []string{"code"},
		"subject_types_supported":                        []string{"public"},
		"id_token_signing_alg_values_supported":          []string{p.opts.Algorithm},
		"code_challenge_methods_supported":               []string{"S256"},
		"grant_types_supported":                          []string{"authorization_code", GrantTypeTokenExchange},
		"token_endpoint_auth_methods_supported":          []string{"client_secret_basic", "client_secret_post", "none"},
		"scopes_supported":                               []string{"openid", "email", "profile"},
		"authorization_response_iss_parameter_supported": true,
	})
}

func (p *Provider) jwks(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(p.JWKS())
}

// authorize signs in the chosen user and redirects with a code at once.
func (p *Provider) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p.mu.Lock()
	defer p.mu.Unlock()
	c, ok := p.clients[q.Get("client_id")]
	if !ok || !slices.Contains(c.RedirectURIs, q.Get("redirect_uri")) {
		http.Error(w, "unknown client or redirect_uri", http.StatusBadRequest)
		return
	}
	back := func(params url.Values) {
		u, _ := url.Parse(q.Get("redirect_uri"))
		v := u.Query()
		for k, vals := range params {
			v[k] = vals
		}
		if s := q.Get("state"); s != "" {
			v.Set("state", s)
		}
		v.Set("iss", p.issuer)
		u.RawQuery = v.Encode()
		http.Redirect(w, r, u.String(), http.StatusFound)
	}
	if q.Get("response_type") != "code" {
		back(url.Values{"error": {"unsupported_response_type"}})
		return
	}
	if q.Get("code_challenge") == "" || q.Get("code_challenge_method") != "S256" {
		back(url.Values{"error": {"invalid_request"}, "error_description": {"PKCE with S256 is required."}})
		return
	}
	if p.authErr != nil {
		back(p.authErr)
		return
	}
	user := p.current
	if hint := q.Get("login_hint"); hint != "" {
		user = slices.IndexFunc(p.users, func(u User) bool { return u.Subject == hint || (u.Email != "" && u.Email == hint) })
	}
	if user < 0 {
		back(url.Values{"error": {"login_required"}})
		return
	}
	code := rand.Text()
	p.codes[code] = &codeGrant{
		client: c.ID, redirect: q.Get("redirect_uri"), challenge: q.Get("code_challenge"),
		nonce: q.Get("nonce"), scope: q.Get("scope"), user: p.users[user], expires: p.opts.Now().Add(time.Minute),
	}
	back(url.Values{"code": {code}})
}

// tokenError is an RFC 6749 §5.2 error.
type tokenError struct {
	status            int
	code, description string
}

func (e *tokenError) Error() string { return e.code + ": " + e.description }

func refuse(code, description string) *tokenError {
	status := http.StatusBadRequest
	if code == "invalid_client" {
		status = http.StatusUnauthorized
	}
	return &tokenError{status: status, code: code, description: description}
}

func (p *Provider) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request"})
		return
	}
	var resp map[string]any
	c, err := p.authenticate(r)
	if err == nil {
		switch gt := r.PostForm.Get("grant_type"); gt {
		case "authorization_code":
			resp, err = p.redeem(c, r.PostForm)
		case GrantTypeTokenExchange:
			resp, err = p.exchange(c, r.PostForm)
		default:
			err = refuse("unsupported_grant_type", "grant_type "+gt+" is not supported")
		}
	}
	var te *tokenError
	switch {
	case errors.As(err, &te):
		writeJSON(w, te.status, map[string]string{"error": te.code, "error_description": te.description})
	case err != nil:
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "server_error"})
	default:
		p.mu.Lock()
		p.grants = append(p.grants, r.PostForm.Get("grant_type"))
		p.mu.Unlock()
		writeJSON(w, http.StatusOK, resp)
	}
}

// authenticate applies RFC 6749 §2.3.1 (Basic or post) for confidential clients; a public
// client names itself with client_id.
func (p *Provider) authenticate(r *http.Request) (Client, error) {
	id, secret, basic := r.BasicAuth()
	if basic {
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
	} else {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	p.mu.Lock()
	c, ok := p.clients[id]
	p.mu.Unlock()
	if !ok {
		return Client{}, refuse("invalid_client", "unknown client")
	}
	if c.Secret != "" && subtle.ConstantTimeCompare([]byte(secret), []byte(c.Secret)) != 1 {
		return Client{}, refuse("invalid_client", "wrong client secret")
	}
	return c, nil
}

func (p *Provider) redeem(c Client, form url.Values) (map[string]any, error) {
	p.mu.Lock()
	g, ok := p.codes[form.Get("code")]
	delete(p.codes, form.Get("code"))
	p.mu.Unlock()
	if !ok || g.client != c.ID || p.opts.Now().After(g.expires) {
		return nil, refuse("invalid_grant", "unknown, used or expired code")
	}
	if form.Get("redirect_uri") != g.redirect {
		return nil, refuse("invalid_grant", "redirect_uri differs")
	}
	sum := sha256.Sum256([]byte(form.Get("code_verifier")))
	if base64.RawURLEncoding.EncodeToString(sum[:]) != g.challenge {
		return nil, refuse("invalid_grant", "PKCE verification failed")
	}
	claims := p.idTokenClaims(c.ID, g.user, g.nonce)
	p.mu.Lock()
	hook := p.idHook
	p.mu.Unlock()
	var idToken string
	if hook != nil {
		idToken = hook(claims)
	} else {
		idToken = p.Key().Sign(map[string]any{"typ": "JWT"}, claims)
	}
	return map[string]any{
		"access_token": rand.Text(), "token_type": "Bearer", "expires_in": int64(p.opts.IDTokenLifetime.Seconds()),
		"id_token": idToken, "scope": g.scope,
	}, nil
}

// exchange answers RFC 8693 token exchange for an ID-JAG (§4.3.2 processing rules, reduced to
// what tests need): the subject token is an ID token this provider issued to the authenticated
// client, and has not expired.
func (p *Provider) exchange(c Client, form url.Values) (map[string]any, error) {
	if form.Get("requested_token_type") != TokenTypeIDJAG {
		return nil, refuse("invalid_request", "requested_token_type must be "+TokenTypeIDJAG)
	}
	if form.Get("subject_token_type") != TokenTypeIDToken {
		return nil, refuse("invalid_request", "subject_token_type must be "+TokenTypeIDToken)
	}
	audience := form.Get("audience")
	if audience == "" {
		return nil, refuse("invalid_request", "audience is required")
	}
	idToken, err := p.verifyIDToken(form.Get("subject_token"), c.ID)
	if err != nil {
		return nil, refuse("invalid_grant", "subject_token: "+err.Error())
	}
	resourceClientID := c.ResourceClientID
	if resourceClientID == "" {
		resourceClientID = c.ID
	}
	now := p.opts.Now()
	claims := map[string]any{
		"iss": p.issuer, "sub": idToken["sub"], "aud": audience, "client_id": resourceClientID,
		"jti": rand.Text(), "iat": now.Unix(), "exp": now.Add(p.opts.IDJAGLifetime).Unix(),
	}
	for _, k := range []string{"email", "name", "tenant", "auth_time"} {
		if v, ok := idToken[k]; ok {
			claims[k] = v
		}
	}
	ex := &Exchange{
		ClientID: c.ID, IDToken: idToken, Audience: audience,
		Resource: form.Get("resource"), Scopes: strings.Fields(form.Get("scope")), Claims: claims,
	}
	setIf(claims, "resource", ex.Resource)
	setIf(claims, "scope", strings.Join(ex.Scopes, " "))
	p.mu.Lock()
	policy := p.policy
	p.mu.Unlock()
	if policy != nil {
		if err := policy(ex); err != nil {
			return nil, refuse("invalid_grant", err.Error())
		}
	}
	resp := map[string]any{
		"access_token": p.IDJAG(ex.Claims), "issued_token_type": TokenTypeIDJAG, "token_type": "N_A",
		"expires_in": int64(p.opts.IDJAGLifetime.Seconds()),
	}
	if s, ok := ex.Claims["scope"].(string); ok && s != "" {
		resp["scope"] = s
	}
	return resp, nil
}

// verifyIDToken checks an ID token this provider issued to clientID.
func (p *Provider) verifyIDToken(raw, clientID string) (map[string]any, error) {
	tok, err := jwtverify.Parse(raw)
	if err != nil {
		return nil, err
	}
	if err := tok.CheckAlgorithm([]string{p.opts.Algorithm}); err != nil {
		return nil, err
	}
	keys, err := jwtverify.ParseKeySet(p.JWKS())
	if err != nil {
		return nil, err
	}
	if err := tok.Verify(keys); err != nil {
		return nil, err
	}
	var claims map[string]any
	if err := json.Unmarshal(tok.Claims, &claims); err != nil {
		return nil, err
	}
	if claims["iss"] != p.issuer {
		return nil, errors.New("not issued by this provider")
	}
	if typ := strings.ToLower(tok.Header.Typ); typ != "" && typ != "jwt" {
		return nil, fmt.Errorf("typ %q is not an ID token's", tok.Header.Typ)
	}
	// §4.3.2: the ID token's audience is the client that authenticated.
	switch aud := claims["aud"].(type) {
	case string:
		if aud != clientID {
			return nil, errors.New("issued to another client")
		}
	case []any:
		if !slices.Contains(aud, any(clientID)) {
			return nil, errors.New("issued to another client")
		}
	default:
		return nil, errors.New("no aud")
	}
	exp, _ := claims["exp"].(float64)
	if !p.opts.Now().Before(time.Unix(int64(exp), 0)) {
		return nil, errors.New("expired")
	}
	return claims, nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
