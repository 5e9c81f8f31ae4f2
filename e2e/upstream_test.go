package e2e

import (
	"context"
	"html"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/mcp-authz/mcp-authz/config"
	"github.com/mcp-authz/mcp-authz/consent"
	"github.com/mcp-authz/mcp-authz/enterprise"
	"github.com/mcp-authz/mcp-authz/internal/testidp"
	"github.com/mcp-authz/mcp-authz/storage"
)

const (
	upClient = "mcp-authz"
	upSecret = "upstream-client-secret-0123456789abcdef"
)

// upFixture is a server whose only sign-in is the test IdP (over TLS, trusted as an outbound
// test host), under a group policy: mcp-users may use mcp:tools, mcp-admins everything.
type upFixture struct {
	ts  *testServer
	idp *testidp.Provider
}

func startUpstream(t *testing.T, extra func(*config.Config)) *upFixture {
	t.Helper()
	idp := testidp.New(t, testidp.Options{TLS: true})
	off := false
	ts := startServer(t, options{mutate: func(c *config.Config) {
		c.Outbound.TestHosts = append(c.Outbound.TestHosts, idp.Addr())
		c.Outbound.TestCAFile = idp.CAFile(t)
		c.Login.LocalAccounts = &off
		c.UpstreamProviders = []config.UpstreamProvider{{
			ID: "corp", Name: "Corp SSO", Issuer: idp.Issuer(), ClientID: upClient, ClientSecret: upSecret,
			Scopes: []string{"openid", "email", "profile", "groups"},
			Policy: []config.UpstreamRule{
				{Groups: []string{"mcp-users"}, Resources: []string{resourceURI}, Scopes: []string{"mcp:tools"}},
				{Groups: []string{"mcp-admins"}, Resources: []string{"*"}, Scopes: []string{"*"}},
			},
		}}
		// The redirect URI to register at the provider, as the README says.
		idp.AddClient(testidp.Client{ID: upClient, Secret: upSecret, RedirectURIs: []string{c.Issuer + "/login/upstream/corp/callback"}})
		if extra != nil {
			extra(c)
		}
	}})
	return &upFixture{ts: ts, idp: idp}
}

func (f *upFixture) user(sub string, groups ...string) testidp.User {
	u := testidp.User{Subject: sub, Email: sub + "@corp.example", Name: strings.ToUpper(sub[:1]) + sub[1:], Claims: map[string]any{"groups": groups}}
	f.idp.SetUser(u)
	return u
}

// subject is the local subject of the IdP's user.
func (f *upFixture) subject(sub string) string { return enterprise.Subject(f.idp.Issuer(), "", sub) }

// browser is a cookie-jar browser that also trusts the IdP's certificate.
func (f *upFixture) browser(t *testing.T) *browser {
	b := newBrowser(t)
	b.client.Transport = f.idp.HTTPClient().Transport
	return b
}

var providerLink = regexp.MustCompile(`href="(/login/upstream/corp[^"]*)"`)

// upOutcome is where an upstream authorization ended.
type upOutcome struct {
	outcome
	loginPage string // the sign-in page as shown
	idpVisits int    // redirects followed to the IdP
}

// authorize follows an authorization request like a person whose organization signs them in:
// on the sign-in page they click the provider's button, the IdP (already signed in) sends them
// back, and on the consent page they answer decision. It stops at the first redirect that leaves
// both our server and the IdP, or on any other page.
func (f *upFixture) authorize(t *testing.T, b *browser, authURL, decision string) upOutcome {
	t.Helper()
	var out upOutcome
	next := authURL
	for i := 0; i < 15; i++ {
		resp, body := b.get(next)
		out.last = &b.pages[len(b.pages)-1]
		switch {
		case resp.StatusCode == http.StatusSeeOther || resp.StatusCode == http.StatusFound:
			loc, err := resp.Request.URL.Parse(resp.Header.Get("Location"))
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case strings.HasPrefix(loc.String(), f.idp.Issuer()+"/"):
				out.idpVisits++
			case !strings.HasPrefix(loc.String(), f.ts.issuer):
				out.redirect = loc
				return out
			}
			next = loc.String()
		case resp.StatusCode == http.StatusOK && strings.Contains(body, "Continue with Corp SSO"):
			out.loginPage = body
			m := providerLink.FindStringSubmatch(body)
			if m == nil {
				t.Fatalf("no provider link on the sign-in page: %s", body)
			}
			next = f.ts.issuer + html.UnescapeString(m[1])
		case resp.StatusCode == http.StatusOK && strings.Contains(body, `name="decision"`):
			out.consentShown, out.consentHTML = true, body
			if decision == "" {
				return out
			}
			form := formValues(t, body)
			form.Set("decision", decision)
			r2, _ := b.post(f.ts.issuer+"/authorize", form)
			out.last = &b.pages[len(b.pages)-1]
			if r2.StatusCode != http.StatusSeeOther {
				return out
			}
			loc, _ := r2.Location()
			out.redirect = loc
			return out
		default:
			return out // one of our pages: an error, a refusal
		}
	}
	t.Fatal("too many hops")
	return out
}

// flow runs an authorization for scope to the end and returns the token response (nil when the
// flow ends elsewhere) and the outcome.
func (f *upFixture) flow(t *testing.T, b *browser, scope string) (*oauth2.Token, upOutcome) {
	t.Helper()
	conf := f.ts.oauthConfig(redirectURI, strings.Fields(scope)...)
	verifier, _ := pkce()
	state := randomState()
	out := f.authorize(t, b, conf.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("resource", resourceURI)), "allow")
	if out.redirect == nil {
		return nil, out
	}
	q := out.redirect.Query()
	if q.Get("state") != state || q.Get("code") == "" {
		t.Fatalf("authorization response %v", q)
	}
	tok, err := conf.Exchange(context.Background(), q.Get("code"), oauth2.VerifierOption(verifier), oauth2.SetAuthURLParam("resource", resourceURI))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	return tok, out
}

// TestUpstreamLoginMCPFlow is a whole MCP authorization where the person signs in at their
// organization's OpenID Provider: the browser goes from the client's authorization request to
// our sign-in page, to the IdP, back to our callback, to consent, and to the client with a code
// the client redeems with PKCE for a token bound to the resource, whose subject is the
// upstream identity's.
func TestUpstreamLoginMCPFlow(t *testing.T) {
	f := startUpstream(t, nil)
	f.user("ada", "mcp-users")
	b := f.browser(t)
	tok, out := f.flow(t, b, "mcp:tools")
	if tok == nil {
		t.Fatalf("no code; last page %d: %.400s", out.last.status, out.last.body)
	}
	if strings.Contains(out.loginPage, `name="password"`) || out.idpVisits != 1 || !out.consentShown {
		t.Errorf("login page with a password form (local_accounts off), or %d IdP visits, consent shown %v", out.idpVisits, out.consentShown)
	}
	if !strings.Contains(out.consentHTML, "ada@corp.example") {
		t.Errorf("the consent page does not name the upstream user: %.600s", out.consentHTML)
	}
	claims := verifyAccessToken(t, f.ts, tok.AccessToken)
	if claims["sub"] != f.subject("ada") || claims["aud"] != resourceURI || claims["scope"] != "mcp:tools" || claims["client_id"] != publicClient {
		t.Errorf("access token claims %v", claims)
	}

	// The upstream identity is linked to a local user created on first sign-in.
	ctx := context.Background()
	u, err := f.ts.store.GetUser(ctx, f.subject("ada"))
	if err != nil || u.Email != "ada@corp.example" || u.Name != "Ada" || u.PasswordHash != "" {
		t.Fatalf("user %+v %v", u, err)
	}
	ids, err := consent.UserIdentities(ctx, f.ts.store, u.ID)
	if err != nil || len(ids) != 1 || ids[0].Issuer != f.idp.Issuer() || ids[0].Subject != "ada" || ids[0].Provider != "corp" {
		t.Errorf("identities %+v %v", ids, err)
	}

	// Signed in now: a second authorization needs neither the IdP nor the consent page.
	tok2, out2 := f.flow(t, b, "mcp:tools")
	if tok2 == nil || out2.idpVisits != 0 || out2.consentShown {
		t.Errorf("second authorization: token %v, %d IdP visits, consent shown %v", tok2 != nil, out2.idpVisits, out2.consentShown)
	}
	// Discovery and the key set were fetched once, through the outbound client.
	if d, k := f.idp.Served("/.well-known/openid-configuration"), f.idp.Served("/jwks"); d != 1 || k != 1 {
		t.Errorf("discovery fetched %d times, JWKS %d times; want once each", d, k)
	}

	// The password form is refused as well as hidden.
	resp, body := newBrowser(t).post(f.ts.issuer+"/login", url.Values{"username": {alice}, "password": {alicePass}})
	if resp.StatusCode == http.StatusSeeOther || strings.Contains(body, "signed in") {
		t.Errorf("password sign-in with local_accounts off: %d", resp.StatusCode)
	}
}

// TestUpstreamGroupPolicy: the organization's groups decide what a person may grant; the
// consent page offers only that, the token carries only that, a refresh cannot widen it, and
// remembered consent does not either. A person outside every rule cannot sign in.
func TestUpstreamGroupPolicy(t *testing.T) {
	f := startUpstream(t, nil)

	// mcp-users asks for both scopes: offered and granted mcp:tools only.
	f.user("bob", "mcp-users", "unrelated")
	b := f.browser(t)
	tok, out := f.flow(t, b, "mcp:tools mcp:admin")
	if tok == nil {
		t.Fatalf("no token; last page %d: %.400s", out.last.status, out.last.body)
	}
	if !strings.Contains(out.consentHTML, "mcp:tools") || strings.Contains(out.consentHTML, "mcp:admin") {
		t.Errorf("the consent page offers more than the policy allows: %.800s", out.consentHTML)
	}
	if got := tok.Extra("scope"); got != "mcp:tools" {
		t.Errorf("token response scope %v, want mcp:tools", got)
	}
	if claims := verifyAccessToken(t, f.ts, tok.AccessToken); claims["scope"] != "mcp:tools" {
		t.Errorf("access token scope %v", claims["scope"])
	}
	st, body, _ := f.ts.tokenRequest(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}, "client_id": {publicClient}, "scope": {"mcp:tools mcp:admin"}})
	if st == http.StatusOK {
		t.Errorf("a refresh widened the grant: %v", body)
	}

	// Asking only for what the policy withholds ends on a page, not at the client.
	_, out = f.flow(t, b, "mcp:admin")
	if out.redirect != nil || out.last.status != http.StatusForbidden || !strings.Contains(out.last.body, "doesn&#39;t allow this") {
		t.Errorf("mcp:admin for mcp-users: redirect %v, page %d %.300s", out.redirect, out.last.status, out.last.body)
	}

	// Consent remembered for more than the policy allows grants no more than the policy.
	f.user("carol", "mcp-users")
	if err := f.ts.store.SaveConsent(context.Background(), storage.Consent{
		Subject: f.subject("carol"), ClientID: publicClient, Resource: resourceURI, Scopes: []string{"mcp:tools", "mcp:admin"}, GrantedAt: time.Now(),
	}); err != nil {
		t.Fatal(err)
	}
	tok, out = f.flow(t, f.browser(t), "mcp:tools mcp:admin")
	if tok == nil || out.consentShown || tok.Extra("scope") != "mcp:tools" {
		t.Errorf("remembered wider consent: token %v, consent shown %v", tok != nil && tok.Extra("scope") != nil, out.consentShown)
	}

	// mcp-admins get both.
	f.user("dana", "mcp-admins")
	tok, out = f.flow(t, f.browser(t), "mcp:tools mcp:admin")
	if tok == nil || tok.Extra("scope") != "mcp:tools mcp:admin" {
		t.Errorf("admin: token %v, last page %d", tok, out.last.status)
	}

	// Outside every rule: refused at sign-in, with a page, and nobody is signed in.
	f.user("eve", "contractors")
	b = f.browser(t)
	_, out = f.flow(t, b, "mcp:tools")
	if out.redirect != nil || out.last.status != http.StatusForbidden || !strings.Contains(out.last.body, "hasn&#39;t given you access") {
		t.Errorf("outside every rule: redirect %v, page %d %.300s", out.redirect, out.last.status, out.last.body)
	}
	if _, err := f.ts.store.GetUser(context.Background(), f.subject("eve")); err == nil {
		t.Error("a user was created for someone outside every rule")
	}
}

// upCallback walks an authorization to the IdP's answer and returns the callback URL it
// redirected the browser to, not yet followed.
func (f *upFixture) upCallback(t *testing.T, b *browser) string {
	t.Helper()
	conf := f.ts.oauthConfig(redirectURI, "mcp:tools")
	_, challenge := pkce()
	next := conf.AuthCodeURL(randomState(), oauth2.SetAuthURLParam("code_challenge", challenge),
		oauth2.SetAuthURLParam("code_challenge_method", "S256"), oauth2.SetAuthURLParam("resource", resourceURI))
	for i := 0; i < 6; i++ {
		resp, body := b.get(next)
		switch {
		case resp.StatusCode == http.StatusOK:
			m := providerLink.FindStringSubmatch(body)
			if m == nil {
				t.Fatalf("expected the sign-in page: %d %.300s", resp.StatusCode, body)
			}
			next = f.ts.issuer + html.UnescapeString(m[1])
		case resp.StatusCode == http.StatusSeeOther || resp.StatusCode == http.StatusFound:
			loc, _ := resp.Request.URL.Parse(resp.Header.Get("Location"))
			if strings.HasPrefix(loc.String(), f.ts.issuer+"/login/upstream/corp/callback") {
				return loc.String()
			}
			next = loc.String()
		default:
			t.Fatalf("unexpected %d: %.300s", resp.StatusCode, body)
		}
	}
	t.Fatal("the IdP never answered")
	return ""
}

// signedIn reports whether the browser has a session: an authorization request goes to the
// consent page rather than to the sign-in page.
func (f *upFixture) signedIn(t *testing.T, b *browser) bool {
	t.Helper()
	_, challenge := pkce()
	resp, _ := b.get(f.ts.authURL(map[string]string{
		"client_id": publicClient, "redirect_uri": redirectURI, "response_type": "code", "code_challenge": challenge,
		"code_challenge_method": "S256", "resource": resourceURI, "scope": "mcp:tools", "prompt": "none",
	}))
	loc, _ := resp.Location()
	return loc != nil && loc.Query().Get("error") != "login_required"
}

// TestUpstreamLoginRefusals: a replayed or mismatched state, an ID token with a wrong nonce,
// for another audience, expired, or signed by an unknown key, a refusal at the IdP, and an IdP
// that cannot be reached each end on a page that says so, never a redirect or a loop, and sign
// nobody in.
func TestUpstreamLoginRefusals(t *testing.T) {
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := dead.Addr().String()
	dead.Close()
	f := startUpstream(t, func(c *config.Config) {
		c.Outbound.TestHosts = append(c.Outbound.TestHosts, deadAddr)
		c.UpstreamProviders = append(c.UpstreamProviders, config.UpstreamProvider{
			ID: "down", Name: "Down SSO", Issuer: "https://" + deadAddr, ClientID: "x", Scopes: []string{"openid"},
			Claims: c.UpstreamProviders[0].Claims, Policy: c.UpstreamProviders[0].Policy,
		})
	})
	f.user("frank", "mcp-users")
	rogue, _ := testidp.NewKey("ES256")
	sign := func(change func(map[string]any)) func(map[string]any) string {
		return func(c map[string]any) string {
			change(c)
			return f.idp.Key().Sign(map[string]any{"typ": "JWT"}, c)
		}
	}
	cases := []struct {
		name    string
		hook    func(map[string]any) string
		authErr string
		change  func(b *browser, callback string) string
		status  int
		text    string
	}{
		{name: "replayed state", change: func(b *browser, cb string) string {
			if resp, _ := b.get(cb); resp.StatusCode != http.StatusSeeOther {
				t.Errorf("first use of the callback: %d", resp.StatusCode)
			}
			return cb
		}, status: 400, text: "already used"},
		{name: "mismatched state", change: func(_ *browser, cb string) string {
			u, _ := url.Parse(cb)
			q := u.Query()
			q.Set("state", randomState())
			u.RawQuery = q.Encode()
			return u.String()
		}, status: 400, text: "already used"},
		{name: "state of another browser", change: func(_ *browser, cb string) string {
			other := f.browser(t)
			if resp, body := other.get(cb); resp.StatusCode != 400 || !strings.Contains(body, "another browser") {
				t.Errorf("another browser's callback: %d", resp.StatusCode)
			}
			if f.signedIn(t, other) {
				t.Error("the other browser is signed in")
			}
			return ""
		}},
		{name: "wrong nonce", hook: sign(func(c map[string]any) { c["nonce"] = "not-the-one-sent" }), status: 502, text: "could not be verified"},
		{name: "another audience", hook: sign(func(c map[string]any) { c["aud"] = "another-client" }), status: 502, text: "could not be verified"},
		{name: "expired", hook: sign(func(c map[string]any) {
			c["iat"], c["exp"] = time.Now().Add(-time.Hour).Unix(), time.Now().Add(-time.Minute).Unix()
		}), status: 502, text: "could not be verified"},
		{name: "unknown key", hook: func(c map[string]any) string { return rogue.Sign(map[string]any{"typ": "JWT"}, c) }, status: 502, text: "could not be verified"},
		{name: "access denied at the IdP", authErr: "access_denied", status: 403, text: "Sign-in was cancelled"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f.idp.SetIDTokenHook(c.hook)
			f.idp.SetAuthorizeError(c.authErr, "The user said no.")
			defer f.idp.SetIDTokenHook(nil)
			defer f.idp.SetAuthorizeError("", "")
			b := f.browser(t)
			cb := f.upCallback(t, b)
			if c.change != nil {
				if cb = c.change(b, cb); cb == "" {
					return
				}
			}
			resp, body := b.get(cb)
			if resp.StatusCode != c.status || resp.Header.Get("Location") != "" || !strings.Contains(body, c.text) {
				t.Errorf("got %d (Location %q), want %d saying %q: %.400s", resp.StatusCode, resp.Header.Get("Location"), c.status, c.text, body)
			}
			if c.name != "replayed state" && f.signedIn(t, b) {
				t.Error("signed in after a refused answer")
			}
		})
	}

	t.Run("unreachable IdP", func(t *testing.T) {
		b := f.browser(t)
		resp, body := b.get(f.ts.issuer + "/login/upstream/down?return=" + url.QueryEscape("/authorize?client_id=x"))
		if resp.StatusCode != http.StatusBadGateway || !strings.Contains(body, "Can&#39;t reach Down SSO") || resp.Header.Get("Location") != "" {
			t.Errorf("unreachable IdP: %d %.300s", resp.StatusCode, body)
		}
	})
}

// TestUpstreamDiscoveryDocumentStaysOutbound: a provider whose issuer is a loopback address that
// is not a configured test host is never contacted: discovery goes through the safe outbound
// client, and the sign-in ends on a page.
func TestUpstreamDiscoveryStaysOutbound(t *testing.T) {
	idp := testidp.New(t, testidp.Options{TLS: true})
	ts := startServer(t, options{mutate: func(c *config.Config) {
		c.UpstreamProviders = []config.UpstreamProvider{{
			ID: "corp", Issuer: idp.Issuer(), ClientID: upClient,
			Policy: []config.UpstreamRule{{Resources: []string{"*"}, Scopes: []string{"*"}}},
		}}
	}})
	resp, body := newBrowser(t).get(ts.issuer + "/login/upstream/corp")
	if resp.StatusCode != http.StatusBadGateway || idp.Served("/.well-known/openid-configuration") != 0 {
		t.Errorf("loopback issuer not in test hosts: %d, discovery served %d times: %.200s", resp.StatusCode, idp.Served("/.well-known/openid-configuration"), body)
	}
	// Local accounts stay on by default beside the provider.
	_, login := newBrowser(t).get(ts.issuer + "/login")
	if !strings.Contains(login, `name="password"`) || !strings.Contains(login, "Continue with corp") {
		t.Errorf("login page: %.500s", login)
	}
}
