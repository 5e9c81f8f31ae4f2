package consent

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/mcp-authz/mcp-authz/enterprise"
	"github.com/mcp-authz/mcp-authz/internal/safehttp"
	"github.com/mcp-authz/mcp-authz/internal/testidp"
	"github.com/mcp-authz/mcp-authz/oauth"
	"github.com/mcp-authz/mcp-authz/storage"
	"github.com/mcp-authz/mcp-authz/storage/sqlite"
)

const (
	rigClientID = "mcp-authz-at-corp"
	rigSecret   = "corp-client-secret-0123456789"
	rigReturn   = "/authorize?client_id=demo&state=xyz"
)

// rig is the consent service with an upstream provider "corp" (a TLS test IdP) and a provider
// "down" nobody listens for, on a test server, with a clock the test moves.
type rig struct {
	t     *testing.T
	idp   *testidp.Provider
	store *sqlite.Store
	svc   *Service
	srv   *httptest.Server
	base  string

	mu  sync.Mutex
	now time.Time
}

type rigOptions struct {
	policy   []PolicyRule
	domains  []string
	noLocal  bool
	resource *oauth.Resource
}

func newRig(t *testing.T, o rigOptions) *rig {
	t.Helper()
	r := &rig{t: t, idp: testidp.New(t, testidp.Options{TLS: true}), now: time.Now()}
	ctx := context.Background()
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	r.store = store

	down, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	downAddr := down.Addr().String()
	down.Close()
	pool := x509.NewCertPool()
	pool.AddCert(r.idp.Certificate())
	outbound, err := safehttp.NewClient(safehttp.Config{
		TestHosts: []string{r.idp.Addr(), downAddr}, TestRootCAs: pool, MaxBodyBytes: 256 << 10, Timeout: 2 * time.Second,
		HostRate: rate.Inf,
	})
	if err != nil {
		t.Fatal(err)
	}

	r.srv = httptest.NewUnstartedServer(nil)
	r.base = "http://" + r.srv.Listener.Addr().String()
	if o.policy == nil {
		o.policy = []PolicyRule{{Resources: []string{"*"}, Scopes: []string{"*"}}}
	}
	claims := UpstreamClaims{Subject: "sub", Email: "email", Name: "name", Groups: "groups"}
	r.svc, err = New(Options{
		Store: store, Issuer: r.base, Secret: []byte(strings.Repeat("k", 32)),
		Upstream: Upstream{
			Providers: []UpstreamProvider{
				{ID: "corp", Name: "Corp", Issuer: r.idp.Issuer(), ClientID: rigClientID, ClientSecret: rigSecret,
					Scopes: []string{"openid", "email"}, Claims: claims, AllowedEmailDomains: o.domains, Policy: o.policy},
				{ID: "down", Name: "Down", Issuer: "https://" + downAddr, ClientID: "x", Claims: claims, Policy: o.policy},
			},
			HTTPClient: outbound.HTTPClient(),
			Records:    store,
		},
		NoLocalAccounts: o.noLocal,
		Logger:          testLogger(),
		Now:             r.clock,
	})
	if err != nil {
		t.Fatal(err)
	}
	r.idp.AddClient(testidp.Client{ID: rigClientID, Secret: rigSecret, RedirectURIs: []string{r.base + "/login/upstream/corp/callback"}})

	res := o.resource
	if res == nil {
		res = &oauth.Resource{URI: "https://mcp.example.com/mcp", Name: "MCP", Scopes: []oauth.Scope{{Name: "mcp:tools"}, {Name: "mcp:admin"}}}
	}
	mux := http.NewServeMux()
	r.svc.Register(mux)
	// /whoami says who is signed in; /authorize asks Decide about a request for both scopes of
	// the resource and answers the decision as JSON when there is one.
	mux.HandleFunc("/whoami", func(w http.ResponseWriter, req *http.Request) {
		u, err := r.svc.SignedInUser(req)
		if err != nil || u == nil {
			http.Error(w, "nobody", http.StatusUnauthorized)
			return
		}
		_, _ = io.WriteString(w, u.ID)
	})
	mux.HandleFunc("/authorize", func(w http.ResponseWriter, req *http.Request) {
		creq := &oauth.ConsentRequest{
			Client: &oauth.Client{ID: "demo", Name: "Demo"}, RedirectURI: "http://127.0.0.1/cb",
			Resources: []*oauth.Resource{res}, Scopes: map[*oauth.Resource][]string{res: {"mcp:tools", "mcp:admin"}},
			Query: req.URL.RawQuery, Path: "/authorize", Prompt: strings.Fields(req.URL.Query().Get("prompt")),
		}
		d, ok := r.svc.Decide(w, req, creq)
		if !ok {
			return
		}
		out := map[string]any{"sub": d.Subject, "denied": d.Denied}
		if d.Scopes != nil {
			out["scopes"] = d.Scopes[res]
		}
		_ = json.NewEncoder(w).Encode(out)
	})
	r.srv.Config.Handler = mux
	r.srv.Start()
	t.Cleanup(r.srv.Close)
	return r
}

func testLogger() *slog.Logger {
	if os.Getenv("CONSENT_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

func (r *rig) clock() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.now
}

func (r *rig) advance(d time.Duration) {
	r.mu.Lock()
	r.now = r.now.Add(d)
	r.mu.Unlock()
}

// browser is a cookie jar that shows every hop and trusts the test IdP's certificate.
type browser struct {
	t *testing.T
	c *http.Client
}

func (r *rig) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: r.t, c: &http.Client{
		Jar: jar, Transport: r.idp.HTTPClient().Transport, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

type hop struct {
	status   int
	location string
	body     string
}

func (b *browser) get(u string) hop {
	b.t.Helper()
	resp, err := b.c.Get(u)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return hop{status: resp.StatusCode, location: resp.Header.Get("Location"), body: string(body)}
}

func abs(base, loc string) string {
	if strings.HasPrefix(loc, "/") {
		return base + loc
	}
	return loc
}

// start clicks "Continue with Corp" and lets the IdP answer; it returns the callback URL the
// IdP redirected the browser to (not yet followed).
func (r *rig) start(b *browser, provider string) string {
	r.t.Helper()
	h := b.get(r.base + "/login/upstream/" + provider + "?" + url.Values{"return": {rigReturn}}.Encode())
	if h.status != http.StatusSeeOther || !strings.HasPrefix(h.location, r.idp.Issuer()+"/authorize?") {
		r.t.Fatalf("start: %d %q %s", h.status, h.location, h.body)
	}
	q, _ := url.Parse(h.location)
	for _, p := range []string{"state", "nonce", "code_challenge"} {
		if q.Query().Get(p) == "" {
			r.t.Fatalf("the authorization request has no %s: %s", p, h.location)
		}
	}
	if q.Query().Get("code_challenge_method") != "S256" || q.Query().Get("redirect_uri") != r.base+"/login/upstream/corp/callback" {
		r.t.Fatalf("authorization request %s", h.location)
	}
	h = b.get(h.location)
	if h.status != http.StatusFound || !strings.HasPrefix(h.location, r.base+"/login/upstream/corp/callback?") {
		r.t.Fatalf("IdP: %d %q %s", h.status, h.location, h.body)
	}
	return h.location
}

func (r *rig) signedIn(b *browser) string {
	h := b.get(r.base + "/whoami")
	if h.status != http.StatusOK {
		return ""
	}
	return h.body
}

func TestUpstreamSignIn(t *testing.T) {
	r := newRig(t, rigOptions{domains: []string{"example.com"}})
	ada := testidp.User{Subject: "00u-ada", Email: "ada@Example.com", Name: "Ada"}
	r.idp.SetUser(ada)
	b := r.browser()

	login := b.get(r.base + "/login?" + url.Values{"return": {rigReturn}}.Encode())
	wantLink := `href="/login/upstream/corp?return=` + url.QueryEscape(rigReturn) + `"`
	if login.status != 200 || !strings.Contains(login.body, "Continue with Corp") || !strings.Contains(login.body, strings.ReplaceAll(wantLink, "&", "&amp;")) || !strings.Contains(login.body, `name="password"`) {
		t.Fatalf("login page: %d %s", login.status, login.body)
	}

	h := b.get(r.start(b, "corp"))
	if h.status != http.StatusSeeOther || h.location != rigReturn {
		t.Fatalf("callback: %d %q %s", h.status, h.location, h.body)
	}
	want := enterprise.Subject(r.idp.Issuer(), "", "00u-ada")
	if got := r.signedIn(b); got != want {
		t.Fatalf("signed in as %q, want %q", got, want)
	}
	ctx := context.Background()
	u, err := r.store.GetUser(ctx, want)
	if err != nil || u.Email != "ada@Example.com" || u.Name != "Ada" || u.PasswordHash != "" {
		t.Fatalf("user %+v %v", u, err)
	}
	ids, err := UserIdentities(ctx, r.store, want)
	if err != nil || len(ids) != 1 || ids[0].Issuer != r.idp.Issuer() || ids[0].Subject != "00u-ada" || ids[0].Provider != "corp" {
		t.Fatalf("identities %+v %v", ids, err)
	}
	if _, err := r.store.GetRecord(ctx, storage.KindIdentity, IdentityID(r.idp.Issuer(), "00u-ada")); err != nil {
		t.Fatalf("identity record: %v", err)
	}

	// Signing in again in another browser is the same user; the provider's new email is kept.
	ada.Email = "ada.l@example.com"
	r.idp.SetUser(ada)
	b2 := r.browser()
	b2.get(r.start(b2, "corp"))
	if got := r.signedIn(b2); got != want {
		t.Fatalf("second sign-in as %q", got)
	}
	if u, _ := r.store.GetUser(ctx, want); u.Email != "ada.l@example.com" {
		t.Errorf("email not updated: %+v", u)
	}
	if ids, _ := UserIdentities(ctx, r.store, want); len(ids) != 1 || ids[0].Email != "ada.l@example.com" {
		t.Errorf("identities after the second sign-in: %+v", ids)
	}

	// The consent page offers what the policy allows (everything here).
	h = b.get(r.base + "/authorize")
	if h.status != 200 || !strings.Contains(h.body, "mcp:tools") || !strings.Contains(h.body, "mcp:admin") || !strings.Contains(h.body, "ada.l@example.com") {
		t.Fatalf("consent page: %d %s", h.status, h.body)
	}
}

// TestUpstreamRefusals: every way the provider's answer can be wrong ends on a page (never a
// redirect), says why, and signs nobody in.
func TestUpstreamRefusals(t *testing.T) {
	r := newRig(t, rigOptions{domains: []string{"example.com"}, policy: []PolicyRule{
		{Groups: []string{"staff"}, Resources: []string{"*"}, Scopes: []string{"mcp:tools"}},
	}})
	staff := testidp.User{Subject: "u1", Email: "u1@example.com", Claims: map[string]any{"groups": []string{"staff"}}}
	signWith := func(k *testidp.Key, header map[string]any, change func(map[string]any)) func(map[string]any) string {
		return func(c map[string]any) string {
			if change != nil {
				change(c)
			}
			if k == nil {
				k = r.idp.Key()
			}
			return k.Sign(header, c)
		}
	}
	otherKey, _ := testidp.NewKey("ES256")
	cases := []struct {
		name     string
		user     *testidp.User
		hook     func(map[string]any) string
		authErr  string
		callback func(b *browser, cb string) string // changes the callback URL, or replays
		status   int
		text     string
	}{
		{name: "wrong nonce", hook: signWith(nil, nil, func(c map[string]any) { c["nonce"] = "another" }), status: 502, text: "could not be verified"},
		{name: "no nonce", hook: signWith(nil, nil, func(c map[string]any) { delete(c, "nonce") }), status: 502, text: "could not be verified"},
		{name: "another audience", hook: signWith(nil, nil, func(c map[string]any) { c["aud"] = "someone-else" }), status: 502, text: "could not be verified"},
		{name: "two audiences, no azp", hook: signWith(nil, nil, func(c map[string]any) { c["aud"] = []string{rigClientID, "someone-else"} }), status: 502, text: "could not be verified"},
		{name: "azp of another client", hook: signWith(nil, nil, func(c map[string]any) { c["azp"] = "someone-else" }), status: 502, text: "could not be verified"},
		{name: "expired", hook: signWith(nil, nil, func(c map[string]any) { c["exp"] = time.Now().Add(-time.Minute).Unix() }), status: 502, text: "could not be verified"},
		{name: "issued in the future", hook: signWith(nil, nil, func(c map[string]any) { c["iat"] = time.Now().Add(time.Hour).Unix() }), status: 502, text: "could not be verified"},
		{name: "another issuer", hook: signWith(nil, nil, func(c map[string]any) { c["iss"] = "https://evil.example" }), status: 502, text: "could not be verified"},
		{name: "unknown key", hook: signWith(otherKey, nil, nil), status: 502, text: "could not be verified"},
		{name: "unknown key with the provider's kid", hook: signWith(otherKey, map[string]any{"kid": r.idp.Key().ID}, nil), status: 502, text: "could not be verified"},
		{name: "alg none", hook: func(c map[string]any) string {
			return testidp.Unsigned(map[string]any{"alg": "none"}, c, nil)
		}, status: 502, text: "could not be verified"},
		{name: "HMAC keyed with the public key", hook: func(c map[string]any) string {
			return testidp.SignHMAC(r.idp.Key().PublicJSON(), map[string]any{"kid": r.idp.Key().ID}, c)
		}, status: 502, text: "could not be verified"},
		{name: "no sub", hook: signWith(nil, nil, func(c map[string]any) { delete(c, "sub") }), status: 502, text: "could not be verified"},
		{name: "access denied at the provider", authErr: "access_denied", status: 403, text: "Sign-in was cancelled"},
		{name: "other provider error", authErr: "temporarily_unavailable", status: 403, text: "could not sign you in"},
		{name: "email domain not allowed", user: &testidp.User{Subject: "u2", Email: "u2@evil.example", Claims: map[string]any{"groups": "staff"}}, status: 403, text: "not one this server accepts"},
		{name: "email not verified", user: &testidp.User{Subject: "u3", Email: "u3@example.com", Claims: map[string]any{"groups": "staff", "email_verified": false}}, status: 403, text: "not one this server accepts"},
		{name: "outside every rule", user: &testidp.User{Subject: "u4", Email: "u4@example.com", Claims: map[string]any{"groups": []string{"contractors"}}}, status: 403, text: "hasn&#39;t given you access"},
		{name: "unknown state", callback: func(_ *browser, cb string) string { return setParam(cb, "state", "forged") }, status: 400, text: "already used, has expired"},
		{name: "no state", callback: func(_ *browser, cb string) string { return setParam(cb, "state", "") }, status: 400, text: "already used, has expired"},
		{name: "state of another browser", callback: func(_ *browser, cb string) string {
			other := r.browser()
			other.get(r.base + "/whoami") // a session of its own
			h := other.get(cb)
			if h.status != 400 {
				t.Errorf("another browser with this browser's callback: %d", h.status)
			}
			return cb // the first browser may still use it
		}, status: 303},
		{name: "replayed callback", callback: func(b *browser, cb string) string {
			if h := b.get(cb); h.status != http.StatusSeeOther {
				t.Errorf("first use: %d %s", h.status, h.body)
			}
			return cb
		}, status: 400, text: "already used, has expired"},
		{name: "iss of another provider", callback: func(_ *browser, cb string) string { return setParam(cb, "iss", "https://evil.example") }, status: 400, text: "did not come from Corp"},
		{name: "no iss though the provider sends it", callback: func(_ *browser, cb string) string { return setParam(cb, "iss", "") }, status: 400, text: "did not come from Corp"},
		{name: "answer at another provider's redirect URI", callback: func(_ *browser, cb string) string {
			return strings.Replace(cb, "/login/upstream/corp/callback", "/login/upstream/down/callback", 1)
		}, status: 400, text: "different sign-in provider"},
		{name: "code refused by the provider", callback: func(_ *browser, cb string) string { return setParam(cb, "code", "forged") }, status: 502, text: "refused to complete"},
		{name: "expired flow", callback: func(_ *browser, cb string) string { r.advance(flowLifetime + time.Second); return cb }, status: 400, text: "took too long"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			u := staff
			if c.user != nil {
				u = *c.user
			}
			r.idp.SetUser(u)
			r.idp.SetIDTokenHook(c.hook)
			r.idp.SetAuthorizeError(c.authErr, "")
			defer r.idp.SetIDTokenHook(nil)
			defer r.idp.SetAuthorizeError("", "")
			b := r.browser()
			cb := r.start(b, "corp")
			if c.callback != nil {
				cb = c.callback(b, cb)
			}
			h := b.get(cb)
			if h.status != c.status {
				t.Fatalf("status %d, want %d: %s", h.status, c.status, h.body)
			}
			if c.status == http.StatusSeeOther {
				return
			}
			if h.location != "" || !strings.Contains(h.body, c.text) {
				t.Errorf("page (location %q) does not say %q: %s", h.location, c.text, h.body)
			}
			if who := r.signedIn(b); who != "" && c.name != "replayed callback" {
				t.Errorf("signed in as %s", who)
			}
		})
	}
}

func setParam(raw, k, v string) string {
	u, _ := url.Parse(raw)
	q := u.Query()
	if v == "" {
		q.Del(k)
	} else {
		q.Set(k, v)
	}
	u.RawQuery = q.Encode()
	return u.String()
}

func TestUpstreamUnreachable(t *testing.T) {
	r := newRig(t, rigOptions{})
	b := r.browser()
	for i := 0; i < 2; i++ { // the second attempt is answered from the remembered failure
		h := b.get(r.base + "/login/upstream/down?" + url.Values{"return": {rigReturn}}.Encode())
		if h.status != http.StatusBadGateway || !strings.Contains(h.body, "Can&#39;t reach Down") || h.location != "" ||
			!strings.Contains(h.body, "Back to sign-in") {
			t.Fatalf("attempt %d: %d %s", i, h.status, h.body)
		}
	}
	if h := b.get(r.base + "/login/upstream/nope"); h.status != http.StatusNotFound {
		t.Errorf("unknown provider: %d", h.status)
	}
}

// TestUpstreamPolicyInDecide: the consent page offers only what the rules allow; someone whose
// rules allow none of the request is refused with a page; the decision carries the allowed
// scopes whatever was consented to before.
func TestUpstreamPolicyInDecide(t *testing.T) {
	r := newRig(t, rigOptions{policy: []PolicyRule{
		{Groups: []string{"staff"}, Resources: []string{"https://mcp.example.com/mcp"}, Scopes: []string{"mcp:tools"}},
		{Groups: []string{"admins"}, Resources: []string{"*"}, Scopes: []string{"*"}},
		{Claim: "department", Values: []string{"audit"}, Resources: []string{"*"}, Scopes: []string{"mcp:admin"}},
	}})
	signIn := func(claims map[string]any) *browser {
		r.idp.SetUser(testidp.User{Subject: rand8(), Email: "x@example.com", Claims: claims})
		b := r.browser()
		b.get(r.start(b, "corp"))
		return b
	}

	staff := signIn(map[string]any{"groups": []string{"staff", "other"}})
	h := staff.get(r.base + "/authorize")
	if h.status != 200 || !strings.Contains(h.body, "mcp:tools") || strings.Contains(h.body, "mcp:admin") || !strings.Contains(h.body, "x@example.com") {
		t.Fatalf("staff consent page: %d %s", h.status, h.body)
	}
	// Consent remembered for more than the policy allows does not widen the decision.
	sub := r.signedIn(staff)
	if err := r.store.SaveConsent(context.Background(), storage.Consent{Subject: sub, ClientID: "demo", Resource: "https://mcp.example.com/mcp", Scopes: []string{"mcp:tools", "mcp:admin"}, GrantedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	h = staff.get(r.base + "/authorize")
	var d struct{ Scopes []string }
	if err := json.Unmarshal([]byte(h.body), &d); err != nil || !slices.Equal(d.Scopes, []string{"mcp:tools"}) {
		t.Fatalf("staff decision: %d %s", h.status, h.body)
	}

	admin := signIn(map[string]any{"groups": "admins"})
	if h := admin.get(r.base + "/authorize"); h.status != 200 || !strings.Contains(h.body, "mcp:tools") || !strings.Contains(h.body, "mcp:admin") {
		t.Fatalf("admin consent page: %d %s", h.status, h.body)
	}
	auditor := signIn(map[string]any{"department": "audit"})
	if h := auditor.get(r.base + "/authorize"); h.status != 200 || strings.Contains(h.body, "mcp:tools") || !strings.Contains(h.body, "mcp:admin") {
		t.Fatalf("auditor consent page: %d %s", h.status, h.body)
	}
}

// TestUpstreamPolicyRefusesRequest: a person whose rules allow nothing of what a client asks
// gets a page, and with prompt=none a decision that allows none of what was asked (the
// authorize endpoint then answers access_denied).
func TestUpstreamPolicyRefusesRequest(t *testing.T) {
	res := &oauth.Resource{URI: "https://mcp.example.com/mcp", Name: "MCP", Scopes: []oauth.Scope{{Name: "mcp:tools"}, {Name: "mcp:admin"}, {Name: "mcp:read"}}}
	r := newRig(t, rigOptions{resource: res, policy: []PolicyRule{
		{Groups: []string{"readers"}, Resources: []string{"*"}, Scopes: []string{"mcp:read"}},
	}})
	r.idp.SetUser(testidp.User{Subject: "reader", Claims: map[string]any{"groups": []string{"readers"}}})
	b := r.browser()
	b.get(r.start(b, "corp"))
	h := b.get(r.base + "/authorize")
	if h.status != http.StatusForbidden || !strings.Contains(h.body, "doesn&#39;t allow this") || strings.Contains(h.body, `name="decision"`) {
		t.Fatalf("refusal page: %d %s", h.status, h.body)
	}
	h = b.get(r.base + "/authorize?prompt=none")
	var d struct {
		Sub    string
		Scopes []string
	}
	if err := json.Unmarshal([]byte(h.body), &d); err != nil || d.Sub == "" || !slices.Equal(d.Scopes, []string{"mcp:read"}) {
		t.Fatalf("prompt=none decision: %d %s", h.status, h.body)
	}
}

func TestLocalAccountsOff(t *testing.T) {
	r := newRig(t, rigOptions{noLocal: true})
	b := r.browser()
	h := b.get(r.base + "/login")
	if h.status != 200 || strings.Contains(h.body, `name="password"`) || !strings.Contains(h.body, "Continue with Corp") {
		t.Fatalf("login page: %s", h.body)
	}
	// A local user exists, but password sign-in is refused.
	hash, _ := HashPassword("password-123")
	if err := r.store.CreateUser(context.Background(), storage.User{ID: "u_local", Username: "local", PasswordHash: hash, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	csrf := between(h.body, `name="csrf_token" value="`, `"`)
	resp, err := b.c.PostForm(r.base+"/login", url.Values{"csrf_token": {csrf}, "username": {"local"}, "password": {"password-123"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || r.signedIn(b) != "" {
		t.Errorf("password sign-in with local accounts off: %d", resp.StatusCode)
	}
}

func between(s, from, to string) string {
	_, after, _ := strings.Cut(s, from)
	v, _, _ := strings.Cut(after, to)
	return v
}

func rand8() string { return randomToken()[:8] }

func TestPolicyEvaluation(t *testing.T) {
	a := &oauth.Resource{URI: "https://a.example/mcp", Scopes: []oauth.Scope{{Name: "read"}, {Name: "write"}}}
	b := &oauth.Resource{URI: "https://b.example/mcp", Scopes: []oauth.Scope{{Name: "read"}, {Name: "admin"}}}
	p := &UpstreamProvider{Claims: UpstreamClaims{Groups: "realm_access.roles"}, Policy: []PolicyRule{
		{Groups: []string{"readers"}, Resources: []string{"*"}, Scopes: []string{"read"}},
		{Groups: []string{"writers"}, Claim: "https://corp.example/dept", Values: []string{"eng"}, Resources: []string{a.URI}, Scopes: []string{"*"}},
		{Claim: "tier", Values: []string{"gold"}, Resources: []string{b.URI}, Scopes: []string{"admin"}},
	}}
	idToken := map[string]any{
		"realm_access":              map[string]any{"roles": []any{"writers", "readers", "unrelated", 7}},
		"https://corp.example/dept": "eng",
		"tier":                      "silver",
	}
	claims := p.policyClaims(idToken)
	if !slices.Equal(claims["realm_access.roles"], []string{"readers", "writers"}) && !slices.Equal(claims["realm_access.roles"], []string{"writers", "readers"}) {
		t.Errorf("kept groups %v", claims)
	}
	if _, ok := claims["tier"]; ok || len(claims["https://corp.example/dept"]) != 1 {
		t.Errorf("kept claims %v (only values some rule names are kept)", claims)
	}
	// The claims survive the session round trip.
	claims = decodePolicyClaims(encodePolicyClaims(claims))
	got := p.allowed(claims, []*oauth.Resource{a, b})
	if !slices.Equal(got[a], []string{"read", "write"}) || !slices.Equal(got[b], []string{"read"}) {
		t.Errorf("allowed %v", got)
	}
	if !p.matchesAny(claims) || p.matchesAny(map[string][]string{"tier": {"bronze"}}) {
		t.Error("matchesAny")
	}
	// The writers rule needs both its group and its claim.
	noDept := p.allowed(map[string][]string{"realm_access.roles": {"writers"}}, []*oauth.Resource{a})
	if len(noDept[a]) != 0 {
		t.Errorf("writers without dept: %v", noDept)
	}
	req := &oauth.ConsentRequest{Resources: []*oauth.Resource{a, b}, Scopes: map[*oauth.Resource][]string{a: {"write"}, b: {"admin"}}}
	n := narrowRequest(req, got)
	if len(n.Resources) != 1 || n.Resources[0] != a || !slices.Equal(n.Scopes[a], []string{"write"}) || len(req.Resources) != 2 {
		t.Errorf("narrowed %+v (original %+v)", n, req)
	}
	if claimBool(map[string]any{"v": "true"}, "v") == nil || claimBool(map[string]any{"v": 1}, "v") != nil {
		t.Error("claimBool")
	}
}

func TestIdentityID(t *testing.T) {
	if IdentityID("https://a", "bc") == IdentityID("https://ab", "c") {
		t.Error("issuer and sub are not separated")
	}
	if IdentityID("https://a", "b") != IdentityID("https://a", "b") {
		t.Error("not stable")
	}
}
