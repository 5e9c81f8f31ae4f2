package enterprise

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcp-authz/mcp-authz/internal/testidp"
	"github.com/mcp-authz/mcp-authz/storage"
)

const (
	ourIssuer   = "https://as.example.com"
	mcpURI      = "https://mcp.example.com/mcp"
	filesURI    = "https://files.example.com/mcp"
	issuerA     = "https://idp-a.example.com"
	issuerB     = "https://idp-b.example.com"
	issuerOpt   = "https://idp-opt.example.com"
	app         = "app"
	otherClient = "other"
)

// memUsers is storage.Users in memory.
type memUsers struct {
	mu      sync.Mutex
	users   map[string]storage.User
	creates atomic.Int64
	// conflict makes the next CreateUser fail with ErrConflict after storing the user, as a
	// concurrent first sight would.
	conflict bool
}

func newMemUsers() *memUsers { return &memUsers{users: map[string]storage.User{}} }

func (m *memUsers) GetUser(_ context.Context, id string) (*storage.User, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	u, ok := m.users[id]
	if !ok {
		return nil, fmt.Errorf("user %s: %w", id, storage.ErrNotFound)
	}
	return &u, nil
}

func (m *memUsers) CreateUser(_ context.Context, u storage.User) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.creates.Add(1)
	if _, ok := m.users[u.ID]; ok {
		return storage.ErrConflict
	}
	m.users[u.ID] = u
	if m.conflict {
		m.conflict = false
		return storage.ErrConflict
	}
	return nil
}

// lookup is the resource registry of the tests; it canonicalizes the host's case, as the oauth
// package does.
func lookup(uri string) (Resource, bool) {
	for _, r := range []Resource{
		{URI: mcpURI, Scopes: []string{"mcp:tools", "mcp:admin"}},
		{URI: filesURI, Scopes: []string{"files:read"}},
	} {
		if strings.EqualFold(uri, r.URI) {
			return r, true
		}
	}
	return Resource{}, false
}

// fixture is an exchanger with two trusted IdPs (A, B), an IdP whose resource is optional, and
// the keys of an untrusted one.
type fixture struct {
	ex                   *Exchanger
	users                *memUsers
	keyA, keyB, keyOther *testidp.Key
	now                  time.Time
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	f := &fixture{users: newMemUsers(), now: time.Unix(1_800_000_000, 0)}
	var err error
	for _, k := range []**testidp.Key{&f.keyA, &f.keyB, &f.keyOther} {
		if *k, err = testidp.NewKey("ES256"); err != nil {
			t.Fatal(err)
		}
	}
	f.ex, err = New([]IdP{
		{Issuer: issuerA, JWKS: f.keyA.JWKS(), Clients: []string{app}, Resources: []string{mcpURI}, Scopes: []string{"mcp:tools"}},
		{Issuer: issuerB, JWKS: f.keyB.JWKS(), Clients: []string{Any}, Resources: []string{Any}, Scopes: []string{Any}},
		{Issuer: issuerOpt, JWKS: f.keyA.JWKS(), Clients: []string{app}, Resources: []string{mcpURI}, Scopes: []string{"mcp:tools"}, ResourceOptional: true},
	}, Options{Issuer: ourIssuer, Resource: lookup, Users: f.users, Now: func() time.Time { return f.now }, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// claims are a valid ID-JAG's claims from IdP A for app.
func (f *fixture) claims() map[string]any {
	return map[string]any{
		"iss": issuerA, "sub": "U019488227", "aud": ourIssuer, "client_id": app, "jti": "9e43f81b64a33f20116179",
		"iat": f.now.Unix(), "exp": f.now.Add(5 * time.Minute).Unix(),
		"resource": mcpURI, "scope": "mcp:tools", "email": "pat@acme.example", "name": "Pat",
	}
}

func (f *fixture) sign(claims map[string]any) string {
	return f.keyA.Sign(map[string]any{"typ": testidp.TypIDJAG}, claims)
}

func with(c map[string]any, kv ...any) map[string]any {
	c = maps.Clone(c)
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(c, kv[i].(string))
		} else {
			c[kv[i].(string)] = kv[i+1]
		}
	}
	return c
}

func TestExchangeAccepts(t *testing.T) {
	f := newFixture(t)
	base := f.claims()
	cases := []struct {
		name      string
		assertion string
		req       Request
		resource  string
		scopes    []string
	}{
		{"the draft's shape", f.sign(base), Request{}, mcpURI, []string{"mcp:tools"}},
		{"typ with application/ and another case", f.keyA.Sign(map[string]any{"typ": "application/OAUTH-ID-JAG+JWT"}, base), Request{}, mcpURI, []string{"mcp:tools"}},
		{"aud as a one-element array", f.sign(with(base, "aud", []string{ourIssuer})), Request{}, mcpURI, []string{"mcp:tools"}},
		{"aud with a trailing slash", f.sign(with(base, "aud", ourIssuer+"/")), Request{}, mcpURI, []string{"mcp:tools"}},
		{"no kid: every key of the issuer is tried", f.keyA.Sign(map[string]any{"typ": testidp.TypIDJAG, "kid": nil}, base), Request{}, mcpURI, []string{"mcp:tools"}},
		{"expired within the skew", f.sign(with(base, "iat", f.now.Add(-5*time.Minute).Unix(), "exp", f.now.Add(-10*time.Second).Unix())), Request{}, mcpURI, []string{"mcp:tools"}},
		{"issued slightly in the future", f.sign(with(base, "iat", f.now.Add(20*time.Second).Unix())), Request{}, mcpURI, []string{"mcp:tools"}},
		{"fractional times", f.sign(with(base, "iat", float64(f.now.Unix())+0.5, "exp", float64(f.now.Unix())+60.25)), Request{}, mcpURI, []string{"mcp:tools"}},
		{"scopes beyond policy are dropped", f.sign(with(base, "scope", "openid mcp:admin mcp:tools")), Request{}, mcpURI, []string{"mcp:tools"}},
		{"requested scope within", f.sign(base), Request{Scope: "mcp:tools mcp:admin"}, mcpURI, []string{"mcp:tools"}},
		{"request resource agrees (case of host)", f.sign(base), Request{Resources: []string{"https://MCP.example.com/mcp"}}, mcpURI, []string{"mcp:tools"}},
		{"resource array, one chosen", f.sign(with(base, "resource", []string{filesURI, mcpURI})), Request{Resources: []string{mcpURI}}, mcpURI, []string{"mcp:tools"}},
		{"resource array of one", f.sign(with(base, "resource", []string{mcpURI})), Request{}, mcpURI, []string{"mcp:tools"}},
		{"any-policy IdP", f.keyB.Sign(map[string]any{"typ": testidp.TypIDJAG}, with(base, "iss", issuerB, "resource", filesURI, "scope", "files:read mcp:tools")), Request{}, filesURI, []string{"files:read"}},
		{"optional resource from the request", f.sign(with(base, "iss", issuerOpt, "resource", nil)), Request{Resources: []string{mcpURI}}, mcpURI, []string{"mcp:tools"}},
		{"optional resource: the IdP's only one", f.sign(with(base, "iss", issuerOpt, "resource", nil)), Request{}, mcpURI, []string{"mcp:tools"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.req.ClientID == "" {
				c.req.ClientID = app
			}
			c.req.Assertion = c.assertion
			g, err := f.ex.Exchange(context.Background(), c.req)
			if err != nil {
				t.Fatal(err)
			}
			if g.Resource != c.resource || !slices.Equal(g.Scopes, c.scopes) {
				t.Errorf("grant %+v, want resource %s scopes %v", g, c.resource, c.scopes)
			}
			if !strings.HasPrefix(g.Subject, SubjectPrefix) || len(g.Subject) != 29 {
				t.Errorf("subject %q", g.Subject)
			}
			if len(g.Changes) != 1 {
				t.Fatalf("changes %v", g.Changes)
			}
			j, ok := g.Changes[0].(storage.UseJTI)
			if !ok || !strings.HasPrefix(j.JTI, "idjag:") || j.ExpiresAt.Before(f.now) {
				t.Errorf("jti change %+v", g.Changes[0])
			}
		})
	}
}

func TestExchangeGrantDetails(t *testing.T) {
	f := newFixture(t)
	c := f.claims()
	g, err := f.ex.Exchange(context.Background(), Request{ClientID: app, Assertion: f.sign(c)})
	if err != nil {
		t.Fatal(err)
	}
	if g.Subject != Subject(issuerA, "", "U019488227") {
		t.Errorf("subject %s", g.Subject)
	}
	want := storage.UseJTI{JTI: jtiKey(issuerA, "9e43f81b64a33f20116179"), ExpiresAt: f.now.Add(5*time.Minute + DefaultClockSkew)}
	if got := g.Changes[0].(storage.UseJTI); got.JTI != want.JTI || !got.ExpiresAt.Equal(want.ExpiresAt) {
		t.Errorf("jti change %+v, want %+v", got, want)
	}
	u, err := f.users.GetUser(context.Background(), g.Subject)
	if err != nil || u.Email != "pat@acme.example" || u.Name != "Pat" || u.Username != g.Subject {
		t.Fatalf("user %+v %v", u, err)
	}

	// A tenant makes another subject; the same triple always the same one.
	g2, err := f.ex.Exchange(context.Background(), Request{ClientID: app, Assertion: f.sign(with(c, "tenant", "acme", "jti", "2"))})
	if err != nil || g2.Subject == g.Subject || g2.Subject != Subject(issuerA, "acme", "U019488227") {
		t.Errorf("tenant subject %s (%v)", g2.Subject, err)
	}
	// Second sight: no new record.
	n := f.users.creates.Load()
	if _, err := f.ex.Exchange(context.Background(), Request{ClientID: app, Assertion: f.sign(with(c, "jti", "3"))}); err != nil || f.users.creates.Load() != n {
		t.Errorf("second sight: %v, creates %d → %d", err, n, f.users.creates.Load())
	}
	// Two IdPs' jtis never collide; the same jti of one IdP always keys the same.
	if jtiKey(issuerA, "x") == jtiKey(issuerB, "x") || jtiKey(issuerA, "x") != jtiKey(issuerA, "x") {
		t.Error("jti keys")
	}
	// Unambiguous hashing: moving a character between fields changes the subject.
	if Subject("a", "bc", "d") == Subject("a", "b", "cd") {
		t.Error("subject hashing is ambiguous")
	}
}

func TestExchangeUserProvisioning(t *testing.T) {
	f := newFixture(t)
	// A concurrent first sight: CreateUser reports a conflict, the record is there.
	f.users.conflict = true
	if _, err := f.ex.Exchange(context.Background(), Request{ClientID: app, Assertion: f.sign(f.claims())}); err != nil {
		t.Fatalf("conflict on first sight: %v", err)
	}
	// A disabled record stops the grant.
	sub := Subject(issuerA, "", "U019488227")
	f.users.mu.Lock()
	u := f.users.users[sub]
	u.Disabled = true
	f.users.users[sub] = u
	f.users.mu.Unlock()
	_, err := f.ex.Exchange(context.Background(), Request{ClientID: app, Assertion: f.sign(with(f.claims(), "jti", "again"))})
	if !errors.Is(err, ErrUserDisabled) {
		t.Errorf("disabled user: %v", err)
	}
	// An overlong email is dropped, not stored cut.
	_, err = f.ex.Exchange(context.Background(), Request{ClientID: app, Assertion: f.sign(with(f.claims(), "sub", "long", "email", strings.Repeat("a", 400)+"@x.example"))})
	if err != nil {
		t.Fatal(err)
	}
	if u, _ := f.users.GetUser(context.Background(), Subject(issuerA, "", "long")); u == nil || u.Email != "" {
		t.Errorf("overlong email stored: %+v", u)
	}
}

func TestExchangeRefuses(t *testing.T) {
	f := newFixture(t)
	base := f.claims()
	rsa, err := testidp.NewKey("RS256")
	if err != nil {
		t.Fatal(err)
	}
	typ := map[string]any{"typ": testidp.TypIDJAG}
	cases := []struct {
		name      string
		assertion string
		req       Request
		code      string
		reason    error
	}{
		{"garbage", "not.a.jwt", Request{}, CodeInvalidGrant, ErrMalformed},
		{"empty", "", Request{}, CodeInvalidGrant, ErrMalformed},
		{"oversized", strings.Repeat("a", 20<<10), Request{}, CodeInvalidGrant, ErrMalformed},
		{"typ JWT (an ID token)", f.keyA.Sign(map[string]any{"typ": "JWT"}, base), Request{}, CodeInvalidGrant, ErrType},
		{"no typ", f.keyA.Sign(nil, base), Request{}, CodeInvalidGrant, ErrType},
		{"typ at+jwt", f.keyA.Sign(map[string]any{"typ": "at+jwt"}, base), Request{}, CodeInvalidGrant, ErrType},
		{"alg none", testidp.Unsigned(map[string]any{"alg": "none", "typ": testidp.TypIDJAG}, base, []byte("x")), Request{}, CodeInvalidGrant, ErrAlgorithm},
		{"HS256 keyed with the public key", testidp.SignHMAC(f.keyA.PublicJSON(), map[string]any{"typ": testidp.TypIDJAG, "kid": f.keyA.ID}, base), Request{}, CodeInvalidGrant, ErrAlgorithm},
		{"EdDSA not on the IdP's list", f.keyA.Sign(map[string]any{"typ": testidp.TypIDJAG, "alg": "EdDSA"}, base), Request{}, CodeInvalidGrant, ErrAlgorithm},
		{"bad signature", f.keyOther.Sign(typ, base), Request{}, CodeInvalidGrant, ErrSignature},
		{"another key with the IdP's kid", f.keyOther.Sign(map[string]any{"typ": testidp.TypIDJAG, "kid": f.keyA.ID}, base), Request{}, CodeInvalidGrant, ErrSignature},
		{"RS256 by a key not in the set", rsa.Sign(typ, base), Request{}, CodeInvalidGrant, ErrSignature},
		{"tampered claims", tamper(f.sign(base), with(base, "sub", "admin")), Request{}, CodeInvalidGrant, ErrSignature},
		{"untrusted issuer", f.keyOther.Sign(typ, with(base, "iss", "https://evil.example.com")), Request{}, CodeInvalidGrant, ErrUntrustedIssuer},
		{"issuer differs by a slash", f.sign(with(base, "iss", issuerA+"/")), Request{}, CodeInvalidGrant, ErrUntrustedIssuer},
		{"trusted issuer, another trusted IdP's key", f.keyB.Sign(typ, base), Request{}, CodeInvalidGrant, ErrSignature},
		{"trusted issuer, another IdP's key and kid", f.keyB.Sign(map[string]any{"typ": testidp.TypIDJAG, "kid": f.keyA.ID}, base), Request{}, CodeInvalidGrant, ErrSignature},
		{"wrong aud", f.sign(with(base, "aud", "https://other-as.example.com")), Request{}, CodeInvalidGrant, ErrAudience},
		{"aud of two", f.sign(with(base, "aud", []string{ourIssuer, "https://other-as.example.com"})), Request{}, CodeInvalidGrant, ErrAudience},
		{"no aud", f.sign(with(base, "aud", nil)), Request{}, CodeInvalidGrant, ErrAudience},
		{"aud is the token endpoint", f.sign(with(base, "aud", ourIssuer+"/token")), Request{}, CodeInvalidGrant, ErrAudience},
		{"expired", f.sign(with(base, "iat", f.now.Add(-5*time.Minute).Unix(), "exp", f.now.Add(-31*time.Second).Unix())), Request{}, CodeInvalidGrant, ErrExpired},
		{"no exp", f.sign(with(base, "exp", nil)), Request{}, CodeInvalidGrant, ErrMissingClaim},
		{"no iat", f.sign(with(base, "iat", nil)), Request{}, CodeInvalidGrant, ErrMissingClaim},
		{"issued in the future", f.sign(with(base, "iat", f.now.Add(2*time.Minute).Unix(), "exp", f.now.Add(4*time.Minute).Unix())), Request{}, CodeInvalidGrant, ErrNotYetValid},
		{"nbf in the future", f.sign(with(base, "nbf", f.now.Add(2*time.Minute).Unix())), Request{}, CodeInvalidGrant, ErrNotYetValid},
		{"lifetime too long", f.sign(with(base, "exp", f.now.Add(10*time.Minute).Unix())), Request{}, CodeInvalidGrant, ErrLifetime},
		{"exp before iat", f.sign(with(base, "iat", f.now.Unix(), "exp", f.now.Add(-time.Second).Unix())), Request{}, CodeInvalidGrant, ErrLifetime},
		{"exp a string", f.sign(with(base, "exp", "tomorrow")), Request{}, CodeInvalidGrant, ErrMalformed},
		{"exp beyond year 9999", f.sign(with(base, "exp", 1e20)), Request{}, CodeInvalidGrant, ErrMalformed},
		{"exp negative", f.sign(with(base, "exp", -1)), Request{}, CodeInvalidGrant, ErrMalformed},
		{"aud a number", f.sign(with(base, "aud", 7)), Request{}, CodeInvalidGrant, ErrMalformed},
		{"scope an array", f.sign(with(base, "scope", []string{"mcp:tools"})), Request{}, CodeInvalidGrant, ErrMalformed},
		{"no jti", f.sign(with(base, "jti", nil)), Request{}, CodeInvalidGrant, ErrMissingClaim},
		{"no sub", f.sign(with(base, "sub", nil)), Request{}, CodeInvalidGrant, ErrMissingClaim},
		{"no client_id", f.sign(with(base, "client_id", nil)), Request{}, CodeInvalidGrant, ErrMissingClaim},
		{"jti too long", f.sign(with(base, "jti", strings.Repeat("j", 600))), Request{}, CodeInvalidGrant, ErrMalformed},
		{"client_id of another client", f.sign(with(base, "client_id", otherClient)), Request{}, CodeInvalidGrant, ErrClientMismatch},
		{"client the IdP may not grant", f.sign(with(base, "client_id", otherClient)), Request{ClientID: otherClient}, CodeUnauthorizedClient, ErrClientNotAllowed},
		{"no resource", f.sign(with(base, "resource", nil)), Request{}, CodeInvalidTarget, ErrResource},
		{"no resource, even with the parameter", f.sign(with(base, "resource", nil)), Request{Resources: []string{mcpURI}}, CodeInvalidTarget, ErrResource},
		{"unknown resource", f.sign(with(base, "resource", "https://unknown.example.com/mcp")), Request{}, CodeInvalidTarget, ErrResource},
		{"resource beyond policy", f.sign(with(base, "resource", filesURI)), Request{}, CodeInvalidTarget, ErrResource},
		{"request resource differs", f.sign(base), Request{Resources: []string{filesURI}}, CodeInvalidTarget, ErrResource},
		{"request resource unknown", f.sign(base), Request{Resources: []string{"https://unknown.example.com/mcp"}}, CodeInvalidTarget, ErrResource},
		{"two request resources", f.sign(base), Request{Resources: []string{mcpURI, mcpURI}}, CodeInvalidTarget, ErrResource},
		{"resource array, none chosen", f.sign(with(base, "resource", []string{filesURI, mcpURI})), Request{}, CodeInvalidTarget, ErrResource},
		{"no resource from an any-resource IdP", f.keyB.Sign(typ, with(base, "iss", issuerB, "resource", nil)), Request{}, CodeInvalidTarget, ErrResource},
		{"no scope", f.sign(with(base, "scope", nil)), Request{}, CodeInvalidScope, ErrScope},
		{"scope beyond policy", f.sign(with(base, "scope", "mcp:admin")), Request{}, CodeInvalidScope, ErrScope},
		{"requested scope beyond the assertion", f.sign(base), Request{Scope: "mcp:admin"}, CodeInvalidScope, ErrScope},
		{"scope the resource does not offer", f.keyB.Sign(typ, with(base, "iss", issuerB, "scope", "files:read")), Request{}, CodeInvalidScope, ErrScope},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.req.ClientID == "" {
				c.req.ClientID = app
			}
			c.req.Assertion = c.assertion
			g, err := f.ex.Exchange(context.Background(), c.req)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("got %+v, %v; want %s", g, err, c.code)
			}
			if e.Code != c.code || !errors.Is(err, c.reason) || e.Description == "" || e.ErrorCode() != c.code || e.ErrorDescription() != e.Description {
				t.Errorf("got %s (%v) %q, want %s (%v)", e.Code, e.Reason, e.Description, c.code, c.reason)
			}
			// Descriptions never list policy.
			for _, secret := range []string{issuerB, issuerOpt, filesURI + " ", "mcp:tools"} {
				if strings.Contains(e.Description, secret) {
					t.Errorf("description %q leaks %q", e.Description, secret)
				}
			}
		})
	}
	if n := len(f.users.users); n != 0 {
		t.Errorf("%d users created by refused assertions", n)
	}
}

// tamper replaces the claims of a signed token, keeping its header and signature.
func tamper(raw string, claims map[string]any) string {
	parts := strings.Split(raw, ".")
	b, _ := json.Marshal(claims)
	parts[1] = base64.RawURLEncoding.EncodeToString(b)
	return strings.Join(parts, ".")
}

func TestNewRefusesBadConfiguration(t *testing.T) {
	k, _ := testidp.NewKey("ES256")
	good := IdP{Issuer: issuerA, JWKS: k.JWKS(), Clients: []string{app}, Resources: []string{mcpURI}, Scopes: []string{"mcp:tools"}}
	opts := Options{Issuer: ourIssuer, Resource: lookup, Users: newMemUsers()}
	if _, err := New([]IdP{good}, opts); err != nil {
		t.Fatal(err)
	}
	cases := map[string]func(*IdP){
		"no clients":              func(p *IdP) { p.Clients = nil },
		"no resources":            func(p *IdP) { p.Resources = nil },
		"no scopes":               func(p *IdP) { p.Scopes = nil },
		"any beside others":       func(p *IdP) { p.Clients = []string{Any, app} },
		"empty entry":             func(p *IdP) { p.Scopes = []string{""} },
		"unknown resource":        func(p *IdP) { p.Resources = []string{"https://x.example.com/mcp"} },
		"no keys":                 func(p *IdP) { p.JWKS = nil },
		"both keys":               func(p *IdP) { p.JWKSURI = "https://idp-a.example.com/jwks" },
		"jwks_uri without fetch":  func(p *IdP) { p.JWKS, p.JWKSURI = nil, "https://idp-a.example.com/jwks" },
		"jwks_uri over http":      func(p *IdP) { p.JWKS, p.JWKSURI = nil, "http://idp-a.example.com/jwks" },
		"jwks without keys":       func(p *IdP) { p.JWKS = []byte(`{"keys":[]}`) },
		"private jwks":            func(p *IdP) { p.JWKS = []byte(`{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}`) },
		"http issuer":             func(p *IdP) { p.Issuer = "http://idp.example.com" },
		"issuer with a query":     func(p *IdP) { p.Issuer = issuerA + "?x=1" },
		"HS256":                   func(p *IdP) { p.Algorithms = []string{"HS256"} },
		"none":                    func(p *IdP) { p.Algorithms = []string{"none"} },
		"lifetime beyond an hour": func(p *IdP) { p.MaxAssertionLifetime = 2 * time.Hour },
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			p := good
			mutate(&p)
			if _, err := New([]IdP{p}, opts); err == nil {
				t.Error("accepted")
			}
		})
	}
	if _, err := New([]IdP{good, good}, opts); err == nil {
		t.Error("a duplicate issuer was accepted")
	}
	if _, err := New(nil, Options{Issuer: ourIssuer, Resource: lookup}); err == nil {
		t.Error("no Users accepted")
	}
	if _, err := New(nil, Options{Issuer: ourIssuer, Resource: lookup, Users: newMemUsers(), ClockSkew: 2 * time.Minute}); err == nil {
		t.Error("a clock skew of 2m accepted")
	}
	loopback := good
	loopback.Issuer = "http://127.0.0.1:8443"
	if _, err := New([]IdP{loopback}, opts); err != nil {
		t.Errorf("loopback http issuer: %v", err)
	}
}

// TestJWKSURI: an IdP's keys come from its jwks_uri, once, and again when the IdP rotates to a
// key we have not seen (at a bounded rate).
func TestJWKSURI(t *testing.T) {
	k1, _ := testidp.NewKey("ES256")
	k2, _ := testidp.NewKey("ES256")
	var fetches atomic.Int64
	var current atomic.Pointer[[]byte]
	set := k1.JWKS()
	current.Store(&set)
	now := time.Unix(1_800_000_000, 0)
	ex, err := New([]IdP{{Issuer: issuerA, JWKSURI: "https://idp-a.example.com/jwks", Clients: []string{app}, Resources: []string{mcpURI}, Scopes: []string{"mcp:tools"}}},
		Options{Issuer: ourIssuer, Resource: lookup, Users: newMemUsers(), Now: func() time.Time { return now },
			Fetch: func(_ context.Context, url string) ([]byte, error) {
				if url != "https://idp-a.example.com/jwks" {
					return nil, fmt.Errorf("fetched %s", url)
				}
				fetches.Add(1)
				return *current.Load(), nil
			}})
	if err != nil {
		t.Fatal(err)
	}
	claims := map[string]any{"iss": issuerA, "sub": "s", "aud": ourIssuer, "client_id": app, "jti": "1",
		"iat": now.Unix(), "exp": now.Add(time.Minute).Unix(), "resource": mcpURI, "scope": "mcp:tools"}
	typ := map[string]any{"typ": testidp.TypIDJAG}
	for i := range 3 {
		if _, err := ex.Exchange(context.Background(), Request{ClientID: app, Assertion: k1.Sign(typ, with(claims, "jti", fmt.Sprint(i)))}); err != nil {
			t.Fatal(err)
		}
	}
	if fetches.Load() != 1 {
		t.Errorf("%d fetches for one key set", fetches.Load())
	}
	// Rotation: k2 is unknown, a refetch finds it.
	both := []byte(`{"keys":[` + strings.TrimSuffix(strings.TrimPrefix(string(k1.JWKS()), `{"keys":[`), `]}`) + "," +
		strings.TrimSuffix(strings.TrimPrefix(string(k2.JWKS()), `{"keys":[`), `]}`) + `]}`)
	if !json.Valid(both) {
		t.Fatal("bad test key set")
	}
	current.Store(&both)
	now = now.Add(time.Minute)
	claims = with(claims, "iat", now.Unix(), "exp", now.Add(time.Minute).Unix())
	if _, err := ex.Exchange(context.Background(), Request{ClientID: app, Assertion: k2.Sign(typ, with(claims, "jti", "k2"))}); err != nil {
		t.Fatalf("rotated key: %v", err)
	}
	// Made-up kids do not make us hammer the IdP.
	before := fetches.Load()
	for i := range 5 {
		_, err := ex.Exchange(context.Background(), Request{ClientID: app, Assertion: k1.Sign(map[string]any{"typ": testidp.TypIDJAG, "kid": fmt.Sprint("x", i)}, claims)})
		if !errors.Is(err, ErrSignature) {
			t.Errorf("unknown kid: %v", err)
		}
	}
	if fetches.Load() != before {
		t.Errorf("unknown kids caused %d fetches within the refetch interval", fetches.Load()-before)
	}
}

// TestKeysUnavailableIsAServerError: an IdP whose keys cannot be fetched is our problem to
// report, not the client's assertion's fault.
func TestKeysUnavailableIsAServerError(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	k, _ := testidp.NewKey("ES256")
	ex, err := New([]IdP{{Issuer: issuerA, JWKSURI: "https://idp-a.example.com/jwks", Clients: []string{app}, Resources: []string{mcpURI}, Scopes: []string{"mcp:tools"}}},
		Options{Issuer: ourIssuer, Resource: lookup, Users: newMemUsers(), Now: func() time.Time { return now },
			Fetch: func(context.Context, string) ([]byte, error) { return nil, errors.New("connection refused") }})
	if err != nil {
		t.Fatal(err)
	}
	_, err = ex.Exchange(context.Background(), Request{ClientID: app, Assertion: k.Sign(map[string]any{"typ": testidp.TypIDJAG},
		map[string]any{"iss": issuerA, "aud": ourIssuer})})
	var e *Error
	if err == nil || errors.As(err, &e) {
		t.Errorf("got %v, want a server error", err)
	}
}

// BenchmarkExchange is the check of one ID-JAG with an inline ES256 key set and a known user:
// what the token endpoint spends on the assertion, besides client authentication and issuing.
func BenchmarkExchange(b *testing.B) {
	f := newFixture(b)
	req := Request{ClientID: app, Assertion: f.sign(f.claims())}
	if _, err := f.ex.Exchange(context.Background(), req); err != nil {
		b.Fatal(err)
	}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := f.ex.Exchange(context.Background(), req); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := f.ex.Exchange(context.Background(), req); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
