package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth/extauth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
	"golang.org/x/oauth2"

	"github.com/mcp-authz/mcp-authz/config"
	"github.com/mcp-authz/mcp-authz/enterprise"
	"github.com/mcp-authz/mcp-authz/examples/mcp-server/mcpserver"
	"github.com/mcp-authz/mcp-authz/internal/testidp"
	"github.com/mcp-authz/mcp-authz/oauth"
	"github.com/mcp-authz/mcp-authz/storage"
)

// The tests in this file are enterprise-managed authorization end to end: a user signs in at
// the enterprise IdP (internal/testidp), the client exchanges the ID token there for an ID-JAG
// (RFC 8693), and presents it to mcp-authz with the jwt-bearer grant (RFC 7523 §2.1), then
// calls the example MCP server with the access token.

const (
	entClient    = "enterprise-app" // confidential, client_secret_post (what the SDK's handler sends)
	entSecret    = "ent-secret-for-tests-0123456789abcdef012"
	entJWTClient = "enterprise-agent" // confidential, private_key_jwt
	idpSecret    = "idp-side-secret"
)

// startEnterprise is startServer with identity providers in the configuration.
func startEnterprise(t *testing.T, o options, idps []enterprise.IdP) *testServer {
	t.Helper()
	mutate := o.mutate
	o.mutate = func(c *config.Config) {
		if mutate != nil {
			mutate(c)
		}
		for _, p := range idps {
			ip := config.IdentityProvider{Issuer: p.Issuer, JWKSURI: p.JWKSURI, Clients: p.Clients, Resources: p.Resources, Scopes: p.Scopes}
			if p.JWKS != nil {
				_ = json.Unmarshal(p.JWKS, &ip.JWKS)
			}
			c.IdentityProviders = append(c.IdentityProviders, ip)
		}
	}
	return startServer(t, o)
}

// withEnterpriseClients registers the two confidential clients of these tests. The config
// allows no jwt-bearer grant type yet; client_credentials is the grant a confidential client
// without redirect URIs may be declared with (the jwt-bearer grant does not look at it).
func withEnterpriseClients(key machineKey, t *testing.T) func(*config.Config) {
	return func(c *config.Config) {
		c.Clients = append(c.Clients,
			config.Client{ID: entClient, Name: "Enterprise app", SecretHash: hashSecret(entSecret),
				TokenEndpointAuthMethod: "client_secret_post", GrantTypes: []string{"client_credentials"}},
			config.Client{ID: entJWTClient, Name: "Enterprise agent", JWKS: key.jwks(t), GrantTypes: []string{"client_credentials"}},
		)
	}
}

// idpLogin signs the IdP's current user in to clientID with the authorization code flow and
// PKCE, following the IdP's immediate redirect, and returns the token response (with id_token).
func idpLogin(ctx context.Context, idp *testidp.Provider, clientID, secret string) (*oauth2.Token, error) {
	conf := &oauth2.Config{
		ClientID: clientID, ClientSecret: secret, RedirectURL: "http://127.0.0.1:49152/idp-callback",
		Scopes:   []string{"openid", "email", "profile"},
		Endpoint: oauth2.Endpoint{AuthURL: idp.Issuer() + "/authorize", TokenURL: idp.TokenEndpoint()},
	}
	verifier := oauth2.GenerateVerifier()
	hc := idp.HTTPClient()
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := hc.Get(conf.AuthCodeURL(randomState(), oauth2.S256ChallengeOption(verifier)))
	if err != nil {
		return nil, err
	}
	resp.Body.Close()
	loc, err := resp.Location()
	if err != nil {
		return nil, err
	}
	code := loc.Query().Get("code")
	if code == "" {
		return nil, errors.New("IdP login: " + loc.RawQuery)
	}
	return conf.Exchange(context.WithValue(ctx, oauth2.HTTPClient, idp.HTTPClient()), code, oauth2.VerifierOption(verifier))
}

// grantRecorder notes the grant_type of each token request sent to one token endpoint.
type grantRecorder struct {
	next     http.RoundTripper
	endpoint string
	mu       sync.Mutex
	grants   []string
}

func (g *grantRecorder) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodPost && r.URL.String() == g.endpoint && r.Body != nil {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return nil, err
		}
		r.Body = io.NopCloser(strings.NewReader(string(body)))
		form, _ := url.ParseQuery(string(body))
		g.mu.Lock()
		g.grants = append(g.grants, form.Get("grant_type"))
		g.mu.Unlock()
	}
	return g.next.RoundTrip(r)
}

// TestEnterpriseMCPWithSDK is the whole flow with the official Go SDK's enterprise handler: its
// ID token fetcher signs in at the IdP, the handler exchanges the ID token for an ID-JAG there
// and the ID-JAG for an access token here, and the MCP session calls a tool with it. The IdP's
// keys come from its jwks_uri over TLS, fetched through the server's safe outbound client.
func TestEnterpriseMCPWithSDK(t *testing.T) {
	idp := testidp.New(t, testidp.Options{TLS: true})
	idp.AddClient(testidp.Client{ID: entClient, Secret: idpSecret, RedirectURIs: []string{"http://127.0.0.1:49152/idp-callback"}})
	idp.SetUser(testidp.User{Subject: "00u1pat", Email: "pat@acme.example", Name: "Pat Example"})

	mcpLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mcpURL := "http://" + mcpLn.Addr().String() + "/mcp"
	key := newMachineKey(t)
	ts := startEnterprise(t, options{mutate: func(c *config.Config) {
		r := c.Resources[0]
		r.URI, r.Name = mcpURL, "Example MCP server"
		c.Resources = append(c.Resources, r)
		withEnterpriseClients(key, t)(c)
		c.Outbound.TestHosts = []string{idp.Addr()}
		c.Outbound.TestCAFile = idp.CAFile(t)
	}}, []enterprise.IdP{{
		Issuer: idp.Issuer(), JWKSURI: idp.JWKSURI(),
		Clients: []string{entClient}, Resources: []string{mcpURL}, Scopes: []string{"mcp:tools"},
	}})
	h, err := mcpserver.New(mcpserver.Config{Resource: mcpURL, Issuer: ts.issuer})
	if err != nil {
		t.Fatal(err)
	}
	mcpSrv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = mcpSrv.Serve(mcpLn) }()
	t.Cleanup(func() { _ = mcpSrv.Close() })

	rec := &grantRecorder{next: idp.HTTPClient().Transport, endpoint: ts.issuer + "/token"}
	handler, err := extauth.NewEnterpriseHandler(&extauth.EnterpriseHandlerConfig{
		IdPIssuerURL:     idp.Issuer(),
		IdPCredentials:   &oauthex.ClientCredentials{ClientID: entClient, ClientSecretAuth: &oauthex.ClientSecretAuth{ClientSecret: idpSecret}},
		MCPAuthServerURL: ts.issuer,
		MCPResourceURI:   mcpURL,
		MCPCredentials:   &oauthex.ClientCredentials{ClientID: entClient, ClientSecretAuth: &oauthex.ClientSecretAuth{ClientSecret: entSecret}},
		MCPScopes:        []string{"mcp:tools"},
		IDTokenFetcher: func(ctx context.Context) (*oauth2.Token, error) {
			return idpLogin(ctx, idp, entClient, idpSecret)
		},
		HTTPClient: &http.Client{Transport: rec, Timeout: 10 * time.Second},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	session, err := mcp.NewClient(&mcp.Implementation{Name: "e2e-enterprise", Version: "0"}, nil).
		Connect(ctx, &mcp.StreamableClientTransport{Endpoint: mcpURL, OAuthHandler: handler}, nil)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer session.Close()
	res, err := session.CallTool(ctx, &mcp.CallToolParams{Name: "whoami"})
	if err != nil || res.IsError {
		t.Fatalf("whoami: %v %+v", err, res)
	}
	var id mcpserver.Identity
	raw, _ := json.Marshal(res.StructuredContent)
	if err := json.Unmarshal(raw, &id); err != nil {
		t.Fatal(err)
	}
	wantSub := enterprise.Subject(idp.Issuer(), "", "00u1pat")
	if id.Subject != wantSub || id.ClientID != entClient || !slices.Equal(id.Scopes, []string{"mcp:tools"}) {
		t.Errorf("whoami %+v, want subject %s client %s scopes [mcp:tools]", id, wantSub, entClient)
	}
	if got := idp.Grants(); !slices.Equal(got, []string{"authorization_code", testidp.GrantTypeTokenExchange}) {
		t.Errorf("IdP saw grants %v", got)
	}
	rec.mu.Lock()
	grants := slices.Clone(rec.grants)
	rec.mu.Unlock()
	if !slices.Equal(grants, []string{oauth.GrantTypeJWTBearer}) {
		t.Errorf("mcp-authz saw grants %v", grants)
	}
	// (d) The user record, created on first sight with the IdP's email.
	u, err := ts.store.GetUser(ctx, wantSub)
	if err != nil || u.Email != "pat@acme.example" || u.Name != "Pat Example" || u.PasswordHash != "" {
		t.Errorf("user record %+v %v", u, err)
	}
	if n := idp.Served("/jwks"); n != 1 {
		t.Errorf("the IdP's jwks_uri was fetched %d times, want once", n)
	}
}

// TestEnterpriseJWKSURINeverReachesInternalHosts: an IdP's jwks_uri is fetched through the
// safe outbound client, so one on a loopback address that is not an explicitly configured
// test host is never connected to, and the grant fails as the server's error, not the client's.
func TestEnterpriseJWKSURINeverReachesInternalHosts(t *testing.T) {
	idp := testidp.New(t, testidp.Options{TLS: true})
	key := newMachineKey(t)
	ts := startEnterprise(t, options{mutate: withEnterpriseClients(key, t)}, []enterprise.IdP{{
		Issuer: idp.Issuer(), JWKSURI: idp.JWKSURI(), Clients: []string{entClient}, Resources: []string{resourceURI}, Scopes: []string{"mcp:tools"},
	}})
	f := &entFixture{ts: ts}
	user := testidp.User{Subject: "s"}
	st, body := f.present(t, idp.IDJAG(idp.IDJAGClaims(user, entClient, ts.issuer, resourceURI, "mcp:tools")), nil)
	if st != 500 || body["error"] != "server_error" || body["access_token"] != nil {
		t.Errorf("got %d %v, want 500 server_error", st, body)
	}
	if n := idp.Served("/jwks"); n != 0 {
		t.Errorf("the loopback jwks_uri was fetched %d times", n)
	}
}

// entFixture is a server trusting two IdPs, and a third IdP it does not trust.
type entFixture struct {
	ts                *testServer
	idpA, idpB, rogue *testidp.Provider
	key               machineKey // the private_key_jwt client's
	user              testidp.User
}

func newEntFixture(t *testing.T) *entFixture {
	f := &entFixture{
		idpA: testidp.New(t, testidp.Options{}), idpB: testidp.New(t, testidp.Options{}), rogue: testidp.New(t, testidp.Options{}),
		key:  newMachineKey(t),
		user: testidp.User{Subject: "00u1pat", Email: "pat@acme.example", Name: "Pat"},
	}
	f.ts = startEnterprise(t, options{twoRes: true, mutate: withEnterpriseClients(f.key, t)}, []enterprise.IdP{
		{Issuer: f.idpA.Issuer(), JWKS: f.idpA.JWKS(), Clients: []string{entClient, entJWTClient, publicClient},
			Resources: []string{resourceURI}, Scopes: []string{"mcp:tools"}},
		{Issuer: f.idpB.Issuer(), JWKS: f.idpB.JWKS(), Clients: []string{enterprise.Any}, Resources: []string{enterprise.Any}, Scopes: []string{enterprise.Any}},
	})
	return f
}

// claims are a valid ID-JAG's claims from IdP A for the secret client.
func (f *entFixture) claims() map[string]any {
	return f.idpA.IDJAGClaims(f.user, entClient, f.ts.issuer, resourceURI, "mcp:tools")
}

// present sends an assertion with the jwt-bearer grant, the client authenticating with
// client_secret_post unless auth says otherwise.
func (f *entFixture) present(t *testing.T, assertion string, form url.Values) (int, map[string]any) {
	t.Helper()
	if form == nil {
		form = url.Values{}
	}
	form.Set("grant_type", oauth.GrantTypeJWTBearer)
	form.Set("assertion", assertion)
	if form.Get("client_id") == "" && form.Get("client_assertion") == "" {
		form.Set("client_id", entClient)
		form.Set("client_secret", entSecret)
	}
	st, body, hdr := f.ts.tokenRequest(t, form)
	if hdr.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control %q", hdr.Get("Cache-Control"))
	}
	return st, body
}

func withClaims(c map[string]any, kv ...any) map[string]any {
	out := map[string]any{}
	for k, v := range c {
		out[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(out, kv[i].(string))
		} else {
			out[kv[i].(string)] = kv[i+1]
		}
	}
	return out
}

func TestEnterpriseJWTBearer(t *testing.T) {
	f := newEntFixture(t)
	ctx := context.Background()

	t.Run("client secret", func(t *testing.T) {
		st, body := f.present(t, f.idpA.IDJAG(f.claims()), nil)
		if st != 200 {
			t.Fatalf("%d %v", st, body)
		}
		if _, has := body["refresh_token"]; has {
			t.Error("a refresh token for an ID-JAG (draft §4.4.3: SHOULD NOT)")
		}
		c := verifyAccessToken(t, f.ts, body["access_token"].(string))
		sub := enterprise.Subject(f.idpA.Issuer(), "", f.user.Subject)
		if c["sub"] != sub || c["aud"] != resourceURI || c["client_id"] != entClient || c["scope"] != "mcp:tools" || body["scope"] != "mcp:tools" {
			t.Errorf("claims %v, response %v", c, body)
		}
		if in := f.ts.introspect(t, body["access_token"].(string)); in["active"] != true || in["sub"] != sub {
			t.Errorf("introspection %v", in)
		}
		// (d) the user, created with the IdP's email.
		u, err := f.ts.store.GetUser(ctx, sub)
		if err != nil || u.Email != f.user.Email || u.Username != sub {
			t.Errorf("user %+v %v", u, err)
		}
	})

	t.Run("private_key_jwt", func(t *testing.T) {
		jag := f.idpA.IDJAG(f.idpA.IDJAGClaims(f.user, entJWTClient, f.ts.issuer, resourceURI, "mcp:tools mcp:admin"))
		st, body := f.present(t, jag, url.Values{
			"client_assertion_type": {oauth.ClientAssertionType},
			"client_assertion":      {f.key.assertion(t, assertionClaims(f.ts.issuer, entJWTClient))},
		})
		if st != 200 {
			t.Fatalf("%d %v", st, body)
		}
		// mcp:admin is in the ID-JAG but not in IdP A's policy: granted is the subset.
		if c := verifyAccessToken(t, f.ts, body["access_token"].(string)); c["client_id"] != entJWTClient || c["scope"] != "mcp:tools" {
			t.Errorf("claims %v", c)
		}
	})

	t.Run("tenant and an any-policy IdP", func(t *testing.T) {
		u := f.user
		u.Tenant = "acme"
		st, body := f.present(t, f.idpB.IDJAG(f.idpB.IDJAGClaims(u, entClient, f.ts.issuer, resource2URI, "files:read")), nil)
		if st != 200 {
			t.Fatalf("%d %v", st, body)
		}
		c := verifyAccessToken(t, f.ts, body["access_token"].(string))
		if c["aud"] != resource2URI || c["sub"] != enterprise.Subject(f.idpB.Issuer(), "acme", u.Subject) || c["scope"] != "files:read" {
			t.Errorf("claims %v", c)
		}
	})
}

// TestEnterpriseRefusals is requirements §7 check by check, against the real token endpoint.
func TestEnterpriseRefusals(t *testing.T) {
	f := newEntFixture(t)
	now := time.Now()
	a := f.idpA
	base := f.claims()
	typ := map[string]any{"typ": testidp.TypIDJAG}

	replayed := a.IDJAG(f.claims())
	if st, body := f.present(t, replayed, nil); st != 200 {
		t.Fatalf("first use of an ID-JAG: %d %v", st, body)
	}
	secretOnly := url.Values{"client_id": {entClient}, "client_secret": {entSecret}}

	cases := []struct {
		name      string
		assertion string
		form      url.Values
		status    int
		err       string
	}{
		{"bad signature", f.rogue.Key().Sign(typ, base), nil, 400, "invalid_grant"},
		{"alg none", testidp.Unsigned(map[string]any{"alg": "none", "typ": testidp.TypIDJAG}, base, []byte("sig")), nil, 400, "invalid_grant"},
		{"HS256 keyed with the IdP's public key", testidp.SignHMAC(a.Key().PublicJSON(), map[string]any{"typ": testidp.TypIDJAG, "kid": a.Key().ID}, base), nil, 400, "invalid_grant"},
		{"wrong typ (an ID token)", a.Key().Sign(map[string]any{"typ": "JWT"}, base), nil, 400, "invalid_grant"},
		{"an ID token as the assertion", a.IDToken(entClient, f.user), nil, 400, "invalid_grant"},
		{"wrong aud", a.IDJAG(withClaims(base, "aud", "https://other-as.example.com")), nil, 400, "invalid_grant"},
		{"aud of two", a.IDJAG(withClaims(base, "aud", []string{f.ts.issuer, "https://other-as.example.com"})), nil, 400, "invalid_grant"},
		{"expired", a.IDJAG(withClaims(base, "iat", now.Add(-6*time.Minute).Unix(), "exp", now.Add(-2*time.Minute).Unix())), nil, 400, "invalid_grant"},
		{"issued in the future", a.IDJAG(withClaims(base, "iat", now.Add(3*time.Minute).Unix(), "exp", now.Add(5*time.Minute).Unix())), nil, 400, "invalid_grant"},
		{"lifetime too long", a.IDJAG(withClaims(base, "exp", now.Add(time.Hour).Unix())), nil, 400, "invalid_grant"},
		{"no jti", a.IDJAG(withClaims(base, "jti", nil)), nil, 400, "invalid_grant"},
		{"client_id of another client", a.IDJAG(withClaims(base, "client_id", entJWTClient)), nil, 400, "invalid_grant"},
		{"untrusted issuer", f.rogue.IDJAG(f.rogue.IDJAGClaims(f.user, entClient, f.ts.issuer, resourceURI, "mcp:tools")), nil, 400, "invalid_grant"},
		{"trusted issuer, another trusted IdP's key", f.idpB.Key().Sign(typ, base), nil, 400, "invalid_grant"},
		{"trusted issuer, another IdP's key with its kid", f.idpB.Key().Sign(map[string]any{"typ": testidp.TypIDJAG, "kid": a.Key().ID}, base), nil, 400, "invalid_grant"},
		{"unknown resource", a.IDJAG(withClaims(base, "resource", "https://unknown.example.com/mcp")), nil, 400, "invalid_target"},
		{"resource beyond the IdP's policy", a.IDJAG(withClaims(base, "resource", resource2URI)), nil, 400, "invalid_target"},
		{"no resource", a.IDJAG(withClaims(base, "resource", nil)), nil, 400, "invalid_target"},
		{"resource parameter disagrees", a.IDJAG(base), url.Values{"resource": {resource2URI}}, 400, "invalid_target"},
		{"scope beyond policy", a.IDJAG(withClaims(base, "scope", "mcp:admin")), nil, 400, "invalid_scope"},
		{"requested scope beyond the ID-JAG", a.IDJAG(base), url.Values{"scope": {"mcp:admin"}}, 400, "invalid_scope"},
		{"a public client", a.IDJAG(withClaims(base, "client_id", publicClient)), url.Values{"client_id": {publicClient}}, 400, "unauthorized_client"},
		{"a client the IdP may not grant", a.IDJAG(withClaims(base, "client_id", confClient)), url.Values{"client_id": {confClient}, "client_secret": {confSecret}}, 400, "unauthorized_client"},
		{"wrong client secret", a.IDJAG(base), url.Values{"client_id": {entClient}, "client_secret": {"nope"}}, 401, "invalid_client"},
		{"garbage", "not.a.jwt", nil, 400, "invalid_grant"},
		{"no assertion", "", secretOnly, 400, "invalid_request"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st, body := f.present(t, c.assertion, c.form)
			if st != c.status || body["error"] != c.err || body["error_description"] == "" || body["access_token"] != nil {
				t.Errorf("got %d %v, want %d %s", st, body, c.status, c.err)
			}
		})
	}

	t.Run("replayed jti", func(t *testing.T) {
		st, body := f.present(t, replayed, nil)
		// The replay is refused in the same transaction as the token. oauth's replayError
		// still names it a client assertion (invalid_client, 401); once jwtBearer maps an
		// ID-JAG replay to invalid_grant (see the report), only that is accepted here.
		if body["access_token"] != nil || st != 400 || body["error"] != "invalid_grant" {
			t.Errorf("got %d %v", st, body)
		}
		if body["error"] == "invalid_client" {
			t.Log("an ID-JAG replay is still answered as a client-assertion replay (invalid_client)")
		}
	})

	t.Run("no user for refused assertions", func(t *testing.T) {
		users, err := f.ts.store.ListUsers(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range users {
			if strings.HasPrefix(u.ID, enterprise.SubjectPrefix) && u.ID != enterprise.Subject(a.Issuer(), "", f.user.Subject) {
				t.Errorf("a refused assertion created user %+v", u)
			}
		}
	})
}

// TestEnterpriseMetadata is (c): the grant and its profile are advertised when IdPs are
// trusted, and only then.
func TestEnterpriseMetadata(t *testing.T) {
	for _, trusted := range []bool{true, false} {
		var idps []enterprise.IdP
		if trusted {
			idp := testidp.New(t, testidp.Options{})
			idps = []enterprise.IdP{{Issuer: idp.Issuer(), JWKS: idp.JWKS(), Clients: []string{enterprise.Any}, Resources: []string{enterprise.Any}, Scopes: []string{enterprise.Any}}}
		}
		ts := startEnterprise(t, options{}, idps)
		for _, path := range []string{"/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"} {
			resp, err := http.Get(ts.issuer + path)
			if err != nil {
				t.Fatal(err)
			}
			var meta struct {
				GrantTypes []string `json:"grant_types_supported"`
				Profiles   []string `json:"authorization_grant_profiles_supported"`
			}
			err = json.NewDecoder(resp.Body).Decode(&meta)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			hasGrant := slices.Contains(meta.GrantTypes, "urn:ietf:params:oauth:grant-type:jwt-bearer")
			hasProfile := slices.Equal(meta.Profiles, []string{"urn:ietf:params:oauth:grant-profile:id-jag"})
			if hasGrant != trusted || hasProfile != trusted {
				t.Errorf("trusted IdPs %v, %s: grant_types_supported %v, authorization_grant_profiles_supported %v", trusted, path, meta.GrantTypes, meta.Profiles)
			}
		}
		if !trusted {
			st, body := (&entFixture{ts: ts}).present(t, "x.y.z", url.Values{"client_id": {confClient}, "client_secret": {confSecret}})
			if st != 400 || body["error"] != "unsupported_grant_type" {
				t.Errorf("jwt-bearer without trusted IdPs: %d %v", st, body)
			}
		}
	}
}

// TestEnterpriseIdPAddedWhileRunning: a server that trusted no IdP at start picks one up from
// the database (as "mcp-authz idps add" writes it) at its next reload: the metadata starts
// advertising the grant, and the grant works. Removing it withdraws both again.
func TestEnterpriseIdPAddedWhileRunning(t *testing.T) {
	key := newMachineKey(t)
	ts := startEnterprise(t, options{mutate: func(c *config.Config) {
		withEnterpriseClients(key, t)(c)
		c.SigningKeys.ReloadInterval = config.Duration(100 * time.Millisecond)
	}}, nil)
	f := &entFixture{ts: ts, idpA: testidp.New(t, testidp.Options{}), user: testidp.User{Subject: "00u9kim", Email: "kim@acme.example"}}
	advertised := func() bool {
		resp, err := http.Get(ts.issuer + "/.well-known/oauth-authorization-server")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var meta struct {
			GrantTypes []string `json:"grant_types_supported"`
			Profiles   []string `json:"authorization_grant_profiles_supported"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&meta); err != nil {
			t.Fatal(err)
		}
		grant := slices.Contains(meta.GrantTypes, oauth.GrantTypeJWTBearer)
		if profile := len(meta.Profiles) > 0; profile != grant {
			t.Fatalf("grant_types_supported %v but authorization_grant_profiles_supported %v", meta.GrantTypes, meta.Profiles)
		}
		return grant
	}
	waitFor := func(want bool) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for advertised() != want {
			if time.Now().After(deadline) {
				t.Fatalf("the metadata still says jwt-bearer %v, want %v", !want, want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	jag := func() string {
		return f.idpA.IDJAG(f.idpA.IDJAGClaims(f.user, entClient, ts.issuer, resourceURI, "mcp:tools"))
	}

	if advertised() {
		t.Fatal("jwt-bearer advertised with no IdP trusted")
	}
	if st, body := f.present(t, jag(), nil); st != http.StatusBadRequest || body["error"] != "unsupported_grant_type" {
		t.Fatalf("before the IdP was added: %d %v", st, body)
	}

	records := ts.store.(storage.Records)
	data, err := json.Marshal(enterprise.IdP{Issuer: f.idpA.Issuer(), JWKS: f.idpA.JWKS(), Clients: []string{entClient},
		Resources: []string{resourceURI}, Scopes: []string{"mcp:tools"}})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	if err := records.CreateRecord(context.Background(), storage.Record{Kind: storage.KindIdP, ID: f.idpA.Issuer(), Data: data, CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	waitFor(true)
	if st, body := f.present(t, jag(), nil); st != http.StatusOK {
		t.Fatalf("after the IdP was added: %d %v", st, body)
	}

	if err := records.DeleteRecord(context.Background(), storage.KindIdP, f.idpA.Issuer()); err != nil {
		t.Fatal(err)
	}
	waitFor(false)
	if st, body := f.present(t, jag(), nil); st != http.StatusBadRequest || body["error"] != "unsupported_grant_type" {
		t.Fatalf("after the IdP was removed: %d %v", st, body)
	}
}

// TestEnterpriseUserRecordOnce: a user seen again keeps one record; a disabled one is refused.
func TestEnterpriseUserRecordOnce(t *testing.T) {
	f := newEntFixture(t)
	ctx := context.Background()
	for range 2 {
		if st, body := f.present(t, f.idpA.IDJAG(f.claims()), nil); st != 200 {
			t.Fatalf("%d %v", st, body)
		}
	}
	sub := enterprise.Subject(f.idpA.Issuer(), "", f.user.Subject)
	u, err := f.ts.store.GetUser(ctx, sub)
	if err != nil {
		t.Fatal(err)
	}
	u.Disabled = true
	if err := f.ts.store.UpdateUser(ctx, *u); err != nil {
		t.Fatal(err)
	}
	if st, body := f.present(t, f.idpA.IDJAG(f.claims()), nil); st != 400 || body["error"] != "invalid_grant" {
		t.Errorf("disabled user: %d %v", st, body)
	}
}
