package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/oauth2"
)

// chromiumPath is the Chromium to drive: $CHROMIUM, or Debian's /usr/bin/chromium. Without one
// the test skips, except in CI (CI=true), where it fails.
func chromiumPath(t *testing.T) string {
	t.Helper()
	candidates := []string{os.Getenv("CHROMIUM"), "/usr/bin/chromium"}
	for _, c := range candidates {
		if c == "" {
			continue
		}
		if p, err := exec.LookPath(c); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("the Chromium test cannot run in CI: /usr/bin/chromium is missing (apt-get install chromium)")
	}
	t.Skip("skipping the Chromium test: /usr/bin/chromium is missing (apt-get install chromium, or set CHROMIUM)")
	return ""
}

// chromiumReport is what interop/chromium.mjs saw.
type chromiumReport struct {
	Pages []struct {
		URL     string            `json:"url"`
		Status  int               `json:"status"`
		Headers map[string]string `json:"headers"`
	} `json:"pages"`
	Console []string `json:"console"`
	Cookies []struct {
		Name     string `json:"name"`
		HTTPOnly bool   `json:"httpOnly"`
		SameSite string `json:"sameSite"`
		Secure   bool   `json:"secure"`
		Path     string `json:"path"`
	} `json:"cookies"`
	Screenshots []string `json:"screenshots"`
	Login       struct {
		URL         string `json:"url"`
		HasPassword bool   `json:"hasPassword"`
	} `json:"login"`
	Consent struct {
		URL               string    `json:"url"`
		Heading           *seenText `json:"heading"`
		ClientHost        *seenText `json:"clientHost"`
		ClientName        *seenText `json:"clientName"`
		ClientClaim       *seenText `json:"clientClaim"`
		Trust             *seenText `json:"trust"`
		ClientID          *seenText `json:"clientID"`
		Warning           *seenText `json:"warning"`
		RedirectHost      *seenText `json:"redirectHost"`
		Resources         []string  `json:"resources"`
		Scopes            []string  `json:"scopes"`
		ScopeDescriptions []string  `json:"scopeDescriptions"`
		Buttons           []string  `json:"buttons"`
		Images            int       `json:"images"`
		Links             []string  `json:"links"`
	} `json:"consent"`
	Framing struct {
		FrameURL   *string `json:"frameURL"`
		FramedText *string `json:"framedText"`
	} `json:"framing"`
	Final     followed `json:"final"`
	Returning struct {
		LoginURL string `json:"loginURL"`
		followed
	} `json:"returning"`
}

// followed is where the browser was after a form submission.
type followed struct {
	URL  string `json:"url"`
	Text string `json:"text"`
}

// seenText is an element as the browser laid it out.
type seenText struct {
	Text     string  `json:"text"`
	Top      float64 `json:"top"`
	FontSize float64 `json:"fontSize"`
	Visible  bool    `json:"visible"`
}

// TestChromiumLoginAndConsentForCIMDClient takes a real browser through sign-in and consent
// for a client identified by a metadata document: what the page shows, its security headers
// and cookies, that it cannot be framed, and that Allow reaches the client's loopback
// redirect with a code that redeems. Screenshots go to e2e/screenshots/ (kept out of git).
func TestChromiumLoginAndConsentForCIMDClient(t *testing.T) {
	chromium := chromiumPath(t)
	interopDir(t) // node and playwright-core

	host := newDocHost(t)
	doc := clientDoc("http://127.0.0.1/callback")
	doc["client_name"] = "Example MCP Client"
	doc["logo_uri"] = "https://tracker.example.com/logo.png" // must not be loaded
	clientID := host.put("/oauth/client.json", doc)
	ts := startServer(t, options{mutate: host.trust(t)})

	// The client's loopback receiver.
	got := make(chan url.Values, 2)
	cb := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/callback" {
			http.NotFound(w, r)
			return
		}
		select {
		case got <- r.URL.Query():
		default:
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte("<!doctype html><title>Example MCP Client</title><h1>Signed in</h1><p>You can close this window and return to the app.</p>"))
	}))
	t.Cleanup(cb.Close)
	redirect := cb.URL + "/callback"
	redirectHost := strings.TrimPrefix(cb.URL, "http://")

	conf := ts.oauthConfig(redirect, "mcp:tools", "mcp:admin")
	conf.ClientID = clientID
	verifier, _ := pkce()
	const state = "st-chromium-1"
	authURL := conf.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("resource", resourceURI))
	verifier2, _ := pkce()
	const state2 = "st-chromium-2"
	returningURL := conf.AuthCodeURL(state2, oauth2.S256ChallengeOption(verifier2), oauth2.SetAuthURLParam("resource", resourceURI))

	shots, err := filepath.Abs("screenshots")
	if err != nil {
		t.Fatal(err)
	}
	r := runNode(t, ts, "chromium.mjs", map[string]string{
		"AUTH_URL":           authURL,
		"AUTH_URL_RETURNING": returningURL,
		"ISSUER":             ts.issuer,
		"CALLBACK_PREFIX":    redirect,
		"LOGIN_USERNAME":     alice,
		"LOGIN_PASSWORD":     alicePass,
		"CHROMIUM":           chromium,
		"SCREENSHOT_DIR":     shots,
	})
	if r.report == nil {
		t.Fatal("no report from the browser")
	}
	var rep chromiumReport
	if err := json.Unmarshal(r.report, &rep); err != nil {
		t.Fatal(err)
	}
	for _, s := range rep.Screenshots {
		t.Logf("screenshot %s", s)
	}
	for _, c := range rep.Console {
		t.Logf("console %s", c)
	}

	// The login page came first.
	if !rep.Login.HasPassword || !strings.HasPrefix(rep.Login.URL, ts.issuer+"/login") {
		t.Errorf("first page %s is not the login form", rep.Login.URL)
	}

	// What the consent page shows.
	c := rep.Consent
	if c.ClientHost == nil || c.ClientName == nil {
		t.Fatalf("consent page %s lacks the client host or name", c.URL)
	}
	if c.ClientHost.Text != host.target.Addr() || !c.ClientHost.Visible {
		t.Errorf("client host shown %q (visible %v), want %q", c.ClientHost.Text, c.ClientHost.Visible, host.target.Addr())
	}
	if !strings.Contains(c.ClientName.Text, "Example MCP Client") {
		t.Errorf("self-asserted name shown %q", c.ClientName.Text)
	}
	if c.ClientHost.Top >= c.ClientName.Top || c.ClientHost.FontSize <= c.ClientName.FontSize {
		t.Errorf("the host must be above and larger than the self-asserted name: host top %.0f size %.0f, name top %.0f size %.0f",
			c.ClientHost.Top, c.ClientHost.FontSize, c.ClientName.Top, c.ClientName.FontSize)
	}
	if c.Trust == nil || !strings.Contains(c.Trust.Text, "Name not verified") {
		t.Errorf("no 'Name not verified' note: %+v", c.Trust)
	}
	if c.ClientID == nil || c.ClientID.Text != clientID {
		t.Errorf("client_id shown %+v, want %s", c.ClientID, clientID)
	}
	if strings.Join(c.Scopes, " ") != "mcp:tools mcp:admin" || len(c.ScopeDescriptions) != 2 {
		t.Errorf("scopes shown %v %v, want mcp:tools and mcp:admin with descriptions", c.Scopes, c.ScopeDescriptions)
	}
	if len(c.Resources) != 1 || c.Resources[0] != "Demo MCP server" {
		t.Errorf("resources shown %v", c.Resources)
	}
	if c.RedirectHost == nil || c.RedirectHost.Text != redirectHost {
		t.Errorf("redirect host shown %+v, want %s", c.RedirectHost, redirectHost)
	}
	if c.Warning == nil || !c.Warning.Visible || !strings.Contains(c.Warning.Text, "runs on your computer") {
		t.Errorf("localhost warning not shown: %+v", c.Warning)
	}
	if strings.Join(c.Buttons, ",") != "Deny,Allow" {
		t.Errorf("buttons %v", c.Buttons)
	}
	if c.Images != 0 || len(c.Links) != 0 {
		t.Errorf("the page shows client-supplied images or links: %d images, links %v", c.Images, c.Links)
	}

	// Security headers of every page of ours, and the session cookie.
	ours := 0
	for _, p := range rep.Pages {
		if !strings.HasPrefix(p.URL, ts.issuer) || p.Status != http.StatusOK {
			continue
		}
		ours++
		if csp := p.Headers["content-security-policy"]; !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("%s: Content-Security-Policy %q lacks frame-ancestors 'none'", p.URL, csp)
		}
		if xfo := p.Headers["x-frame-options"]; xfo != "DENY" {
			t.Errorf("%s: X-Frame-Options %q", p.URL, xfo)
		}
	}
	if ours < 2 {
		t.Errorf("saw %d pages of ours, want the login and consent pages", ours)
	}
	if len(rep.Cookies) == 0 {
		t.Error("no cookie set by the server")
	}
	for _, ck := range rep.Cookies {
		if !ck.HTTPOnly || ck.SameSite != "Lax" {
			t.Errorf("cookie %s: HttpOnly %v SameSite %s, want HttpOnly and Lax", ck.Name, ck.HTTPOnly, ck.SameSite)
		}
	}

	// The page in a frame: the browser shows an error page instead of it.
	if ft := rep.Framing.FramedText; ft != nil && strings.Contains(*ft, "wants to access your account") {
		t.Errorf("the consent page rendered inside a frame: %q", *ft)
	}

	// Allow leads to the client with a code that redeems; so does signing in again when the
	// consent is remembered.
	for i, f := range []followed{rep.Final, rep.Returning.followed} {
		if !strings.HasPrefix(f.URL, redirect) {
			t.Fatalf("step %d: the browser is at %s (%q), not at the client's redirect %s", i+1, f.URL, f.Text, redirect)
		}
	}
	if !strings.HasPrefix(rep.Returning.LoginURL, ts.issuer+"/login") {
		t.Errorf("the returning user (no cookies) was not asked to sign in: %s", rep.Returning.LoginURL)
	}
	for _, want := range []struct {
		state, verifier string
	}{{state, verifier}, {state2, verifier2}} {
		var q url.Values
		select {
		case q = <-got:
		default:
			t.Fatal("the client's receiver got no request")
		}
		if q.Get("state") != want.state || q.Get("iss") != ts.issuer || q.Get("code") == "" {
			t.Fatalf("redirect query %v, want state %s", q, want.state)
		}
		tok, err := conf.Exchange(context.Background(), q.Get("code"), oauth2.VerifierOption(want.verifier), oauth2.SetAuthURLParam("resource", resourceURI))
		if err != nil {
			t.Fatal(err)
		}
		if cl := verifyAccessToken(t, ts, tok.AccessToken); cl["client_id"] != clientID || cl["aud"] != resourceURI || cl["scope"] != "mcp:tools mcp:admin" {
			t.Errorf("claims %v", cl)
		}
	}
}
