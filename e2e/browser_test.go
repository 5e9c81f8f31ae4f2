package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"
)

// authRequest is a complete, valid authorization request for the demo client.
func authRequest(ts *testServer, scope string, extra map[string]string) string {
	_, challenge := pkce()
	p := map[string]string{"response_type": "code", "client_id": publicClient, "redirect_uri": redirectURI,
		"code_challenge": challenge, "code_challenge_method": "S256", "state": "state-abcdef",
		"resource": resourceURI, "scope": scope}
	for k, v := range extra {
		p[k] = v
	}
	return ts.authURL(p)
}

func TestConsentIsRememberedAndStepUpAsksOnlyForNewScopes(t *testing.T) {
	ts := startServer(t, options{})
	b := newBrowser(t)

	first := b.authorize(ts, authRequest(ts, "mcp:tools", nil), "allow")
	if !first.consentShown || first.redirect == nil {
		t.Fatalf("first authorization: consent shown %v, redirect %v", first.consentShown, first.redirect)
	}
	page := first.consentHTML
	for _, want := range []string{"Demo client", publicClient, "127.0.0.1", "runs on your computer", "Demo MCP server", resourceURI, "mcp:tools", "Use the server&#39;s tools", "Signed in as"} {
		if !strings.Contains(page, want) {
			t.Errorf("consent page does not show %q", want)
		}
	}

	again := b.authorize(ts, authRequest(ts, "mcp:tools", nil), "allow")
	if again.consentShown || again.redirect == nil || again.redirect.Query().Get("code") == "" {
		t.Errorf("a repeated request asked again (consent shown %v)", again.consentShown)
	}

	step := b.authorize(ts, authRequest(ts, "mcp:tools mcp:admin", nil), "")
	if !step.consentShown {
		t.Fatal("step-up did not ask")
	}
	if !strings.Contains(step.consentHTML, "mcp:admin") || strings.Contains(step.consentHTML, `<code class="scope-name">mcp:tools</code>`) {
		t.Errorf("step-up page should list only mcp:admin as new")
	}
	if !strings.Contains(step.consentHTML, "Already granted: mcp:tools") {
		t.Errorf("step-up page does not say what was granted before")
	}

	forced := b.authorize(ts, authRequest(ts, "mcp:tools", map[string]string{"prompt": "consent"}), "allow")
	if !forced.consentShown || forced.redirect == nil {
		t.Errorf("prompt=consent did not show the page (shown %v)", forced.consentShown)
	}
}

func TestDenyAnswersAccessDenied(t *testing.T) {
	ts := startServer(t, options{})
	out := newBrowser(t).authorize(ts, authRequest(ts, "", nil), "deny")
	if out.redirect == nil {
		t.Fatal("no redirect")
	}
	q := out.redirect.Query()
	if q.Get("error") != "access_denied" || q.Get("iss") != ts.issuer || q.Get("state") != "state-abcdef" || q.Get("code") != "" {
		t.Errorf("deny: %v", q)
	}
}

func TestPromptNone(t *testing.T) {
	ts := startServer(t, options{})
	b := newBrowser(t)
	out := b.authorize(ts, authRequest(ts, "", map[string]string{"prompt": "none"}), "")
	if out.redirect == nil || out.redirect.Query().Get("error") != "login_required" {
		t.Fatalf("prompt=none without a session: %v", out.redirect)
	}
	b.authorize(ts, authRequest(ts, "", nil), "allow")
	out = b.authorize(ts, authRequest(ts, "mcp:admin", map[string]string{"prompt": "none"}), "")
	if out.redirect == nil || out.redirect.Query().Get("error") != "consent_required" {
		t.Fatalf("prompt=none for new scopes: %v", out.redirect)
	}
}

func TestFormsNeedTheirCSRFToken(t *testing.T) {
	ts := startServer(t, options{})
	b := newBrowser(t)
	out := b.authorize(ts, authRequest(ts, "", nil), "")
	if !out.consentShown {
		t.Fatal("no consent page")
	}
	form := formValues(t, out.consentHTML)
	form.Set("decision", "allow")

	for name, mutate := range map[string]func(url.Values) url.Values{
		"missing": func(v url.Values) url.Values { v.Del("csrf_token"); return v },
		"wrong":   func(v url.Values) url.Values { v.Set("csrf_token", "forged"); return v },
	} {
		t.Run(name, func(t *testing.T) {
			f := url.Values{}
			for k, v := range form {
				f[k] = v
			}
			resp, _ := b.post(ts.issuer+"/authorize", mutate(f))
			if resp.StatusCode != http.StatusForbidden || resp.Header.Get("Location") != "" {
				t.Errorf("consent without a valid CSRF token: %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
			}
		})
	}
	t.Run("another site", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, ts.issuer+"/authorize", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", "https://evil.example.com")
		if resp, _ := b.do(req); resp.StatusCode != http.StatusForbidden {
			t.Errorf("cross-origin consent post: %d", resp.StatusCode)
		}
	})
	t.Run("another browser", func(t *testing.T) {
		// The form and its token are worthless in a browser without the session.
		other := newBrowser(t)
		if resp, _ := other.post(ts.issuer+"/authorize", form); resp.StatusCode == http.StatusSeeOther {
			t.Errorf("another browser could submit the consent form")
		}
	})
	// The genuine form still works.
	resp, _ := b.post(ts.issuer+"/authorize", form)
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, redirectURI) {
		t.Errorf("genuine consent: %d %s", resp.StatusCode, loc)
	}
	// Login form too.
	resp, _ = newBrowser(t).post(ts.issuer+"/login", url.Values{"username": {alice}, "password": {alicePass}})
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("login without CSRF token: %d", resp.StatusCode)
	}
}

func TestPagesCarrySecurityHeadersAndCookieFlags(t *testing.T) {
	ts := startServer(t, options{})
	b := newBrowser(t)
	b.authorize(ts, authRequest(ts, "", nil), "")
	var sawCookie bool
	for _, p := range b.pages {
		if !strings.HasPrefix(p.header.Get("Content-Type"), "text/html") || p.status/100 == 3 {
			continue
		}
		if csp := p.header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("%s: CSP %q", p.url, csp)
		}
		if p.header.Get("X-Frame-Options") != "DENY" || p.header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: X-Frame-Options %q Cache-Control %q", p.url, p.header.Get("X-Frame-Options"), p.header.Get("Cache-Control"))
		}
		for _, c := range p.header.Values("Set-Cookie") {
			sawCookie = true
			if !strings.Contains(c, "HttpOnly") || !strings.Contains(c, "SameSite=Lax") || !strings.HasPrefix(c, "mcp-authz-session=") {
				t.Errorf("session cookie %q", c)
			}
			if strings.Contains(c, "Secure") {
				t.Errorf("Secure cookie on a plain-http loopback issuer would never be sent back: %q", c)
			}
		}
	}
	if !sawCookie {
		t.Error("no session cookie was set")
	}
}

func TestLoginFailuresAreRateLimited(t *testing.T) {
	ts := startServer(t, options{})
	b := newBrowser(t)
	_, body := b.get(ts.issuer + "/login")
	form := formValues(t, body)
	form.Set("username", alice)
	try := func(pw string) int {
		form.Set("password", pw)
		resp, body := b.post(ts.issuer+"/login", form)
		form = formValues(t, body)
		form.Set("username", alice)
		return resp.StatusCode
	}
	for i := 0; i < 5; i++ {
		if st := try("wrong"); st != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d", i, st)
		}
	}
	if st := try("wrong"); st != http.StatusTooManyRequests {
		t.Errorf("6th failure: %d, want 429", st)
	}
	// Even the right password is refused while the account is locked out.
	if st := try(alicePass); st != http.StatusTooManyRequests {
		t.Errorf("right password during lockout: %d", st)
	}
}

func TestLoginIsNotAnOpenRedirect(t *testing.T) {
	ts := startServer(t, options{})
	b := newBrowser(t)
	_, body := b.get(ts.issuer + "/login?return=https://evil.example.com/")
	form := formValues(t, body)
	if form.Get("return") != "" {
		t.Errorf("login page kept a foreign return URL: %q", form.Get("return"))
	}
	form.Set("username", alice)
	form.Set("password", alicePass)
	form.Set("return", "//evil.example.com/authorize?x")
	resp, _ := b.post(ts.issuer+"/login", form)
	if loc := resp.Header.Get("Location"); loc != "" {
		t.Errorf("login redirected to %q", loc)
	}
}

func TestMetadata(t *testing.T) {
	for _, path := range []string{"", "/t1"} {
		t.Run("issuer path "+path, func(t *testing.T) {
			ts := startServer(t, options{issuerPath: path})
			var urls []string
			if path == "" {
				urls = []string{"/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"}
			} else {
				urls = []string{"/.well-known/oauth-authorization-server/t1", "/.well-known/openid-configuration/t1", "/t1/.well-known/openid-configuration"}
			}
			var first string
			root := strings.TrimSuffix(ts.issuer, path)
			for _, u := range urls {
				resp, err := http.Get(root + u)
				if err != nil || resp.StatusCode != 200 {
					t.Fatalf("%s: %v %v", u, err, resp.StatusCode)
				}
				var m map[string]any
				_ = json.NewDecoder(resp.Body).Decode(&m)
				resp.Body.Close()
				raw, _ := json.Marshal(m)
				if first == "" {
					first = string(raw)
				} else if string(raw) != first {
					t.Errorf("%s differs from the first document", u)
				}
				if m["issuer"] != ts.issuer || m["authorization_endpoint"] != ts.issuer+"/authorize" {
					t.Errorf("%s: issuer %v", u, m["issuer"])
				}
				if m["authorization_response_iss_parameter_supported"] != true {
					t.Errorf("iss parameter not advertised")
				}
				if cc, _ := json.Marshal(m["code_challenge_methods_supported"]); string(cc) != `["S256"]` {
					t.Errorf("code_challenge_methods_supported %s", cc)
				}
			}
			// The whole flow works under the path, metadata-driven.
			var m struct {
				AuthorizationEndpoint string `json:"authorization_endpoint"`
				TokenEndpoint         string `json:"token_endpoint"`
			}
			_ = json.Unmarshal([]byte(first), &m)
			conf := &oauth2.Config{ClientID: publicClient, RedirectURL: redirectURI,
				Endpoint: oauth2.Endpoint{AuthURL: m.AuthorizationEndpoint, TokenURL: m.TokenEndpoint, AuthStyle: oauth2.AuthStyleInParams}}
			verifier, _ := pkce()
			out := newBrowser(t).authorize(ts, conf.AuthCodeURL("state-xyz", oauth2.S256ChallengeOption(verifier)), "allow")
			if out.redirect == nil {
				t.Fatalf("flow under %q: %d %.200s", path, out.last.status, out.last.body)
			}
			if _, err := conf.Exchange(context.Background(), out.redirect.Query().Get("code"), oauth2.VerifierOption(verifier)); err != nil {
				t.Fatalf("exchange under %q: %v", path, err)
			}
		})
	}
}

func TestBadInputGetsErrorsNotCrashes(t *testing.T) {
	ts := startServer(t, options{})
	post := func(path, body string) (int, string) {
		resp, err := http.Post(ts.issuer+path, "application/x-www-form-urlencoded", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		e, _ := m["error"].(string)
		return resp.StatusCode, e
	}
	cases := []struct{ name, path, body, want string }{
		{"oversized form", "/token", "grant_type=authorization_code&code=" + strings.Repeat("a", 100<<10), "invalid_request"},
		{"duplicated grant_type", "/token", "grant_type=authorization_code&grant_type=refresh_token&client_id=demo-client", "invalid_request"},
		{"malformed form", "/token", "grant_type=%zz", "invalid_request"},
		{"unknown grant", "/token", "grant_type=password&client_id=demo-client&username=a&password=b", "unsupported_grant_type"},
		{"no grant", "/token", "client_id=demo-client", "invalid_request"},
		{"garbage code", "/token", "grant_type=authorization_code&client_id=demo-client&code=%00%01&code_verifier=x", "invalid_grant"},
		{"garbage refresh", "/token", "grant_type=refresh_token&client_id=demo-client&refresh_token=abc.def", "invalid_grant"},
		{"unknown client", "/token", "grant_type=refresh_token&client_id=nobody&refresh_token=abc", "invalid_client"},
		{"oversized revoke", "/revoke", "token=" + strings.Repeat("a", 100<<10), "invalid_request"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st, e := post(c.path, c.body)
			if e != c.want || st < 400 || st >= 500 {
				t.Errorf("got %d %q, want %q", st, e, c.want)
			}
		})
	}
	b := newBrowser(t)
	for _, u := range []string{
		ts.issuer + "/authorize?client_id=demo-client&client_id=other",
		ts.issuer + "/authorize?" + strings.Repeat("x=1&", 5000),
		ts.issuer + "/authorize?client_id=%zz",
	} {
		if resp, _ := b.get(u); resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
			t.Errorf("%.60s: %d %q", u, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	// A forged consent post with a hostile request field: an error page, never a redirect.
	if resp, _ := b.post(ts.issuer+"/authorize", url.Values{"request": {"client_id=demo-client&redirect_uri=https://evil.example.com/"}}); resp.Header.Get("Location") != "" {
		t.Errorf("forged consent redirected to %s", resp.Header.Get("Location"))
	}
}

func TestRestartKeepsKeysSessionsAndTokens(t *testing.T) {
	dir := t.TempDir()
	ts := startServer(t, options{dataDir: dir})
	b := newBrowser(t)
	tok := codeFlow(t, ts, b, redirectURI)
	kid := ts.srv.KeyManager().CurrentKeyID()
	addr := ts.ln.Addr().String()
	ts.stop()

	ts2 := startServer(t, options{dataDir: dir, addr: addr})
	if got := ts2.srv.KeyManager().CurrentKeyID(); got != kid {
		t.Errorf("signing key changed across restart: %s → %s", kid, got)
	}
	verifyAccessToken(t, ts2, tok.AccessToken)
	if in := ts2.introspect(t, tok.AccessToken); in["active"] != true {
		t.Errorf("access token inactive after restart: %v", in)
	}
	st, body, _ := ts2.tokenRequest(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}, "client_id": {publicClient}})
	if st != 200 {
		t.Errorf("refresh after restart: %d %v", st, body)
	}
	// Same browser, same cookie: still signed in, consent remembered.
	out := b.authorize(ts2, authRequest(ts2, "", nil), "")
	if out.redirect == nil || out.consentShown {
		t.Errorf("session or consent lost across restart (consent shown %v)", out.consentShown)
	}
	for _, p := range b.pages[len(b.pages)-2:] {
		if strings.Contains(p.body, `name="password"`) {
			t.Errorf("asked to sign in again after restart")
		}
	}
}

func TestKeyRotationPublishesBothKeys(t *testing.T) {
	ts := startServer(t, options{})
	tok := codeFlow(t, ts, newBrowser(t), redirectURI)
	old := ts.srv.KeyManager().CurrentKeyID()
	if _, err := ts.srv.KeyManager().Rotate(context.Background()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(ts.issuer + "/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set struct {
		Keys []struct {
			Kid string `json:"kid"`
			D   string `json:"d"`
		} `json:"keys"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&set)
	if len(set.Keys) != 2 {
		t.Fatalf("JWKS has %d keys after rotation, want 2", len(set.Keys))
	}
	for _, k := range set.Keys {
		if k.D != "" {
			t.Fatal("the JWKS publishes a private key")
		}
	}
	verifyAccessToken(t, ts, tok.AccessToken) // signed by the old key, still verifiable
	tok2 := codeFlow(t, ts, newBrowser(t), redirectURI)
	if verifyAccessToken(t, ts, tok2.AccessToken); ts.srv.KeyManager().CurrentKeyID() == old {
		t.Error("rotation did not change the signing key")
	}
}
