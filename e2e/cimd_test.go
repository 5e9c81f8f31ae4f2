package e2e

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/mcp-authz/mcp-authz/config"
	"github.com/mcp-authz/mcp-authz/internal/safehttp/safehttptest"
)

// docHost serves Client ID Metadata Documents over TLS on loopback, as a client's web site would.
type docHost struct {
	t      *testing.T
	target *safehttptest.Target
	mu     sync.Mutex
	docs   map[string]map[string]any // path → document
	status map[string]int
	header http.Header
}

func newDocHost(t *testing.T) *docHost {
	h := &docHost{t: t, docs: map[string]map[string]any{}, status: map[string]int{}, header: http.Header{}}
	h.target = safehttptest.NewTarget(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		defer h.mu.Unlock()
		if st := h.status[r.URL.Path]; st != 0 {
			w.WriteHeader(st)
			return
		}
		doc, ok := h.docs[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		for k, v := range h.header {
			w.Header()[k] = v
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(doc)
	}))
	return h
}

// url is the client_id for a document path.
func (h *docHost) url(path string) string { return "https://" + h.target.Addr() + path }

// put publishes a document whose client_id is its own URL.
func (h *docHost) put(path string, doc map[string]any) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	id := h.url(path)
	if _, ok := doc["client_id"]; !ok {
		doc["client_id"] = id
	}
	h.docs[path] = doc
	return id
}

// trust makes the authorization server accept this host as a test host with its certificate.
func (h *docHost) trust(t *testing.T) func(*config.Config) {
	ca := filepath.Join(t.TempDir(), "ca.pem")
	cert := h.target.Certificate()
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	return func(c *config.Config) {
		c.Outbound.TestHosts = []string{h.target.Addr()}
		c.Outbound.TestCAFile = ca
	}
}

func clientDoc(redirects ...string) map[string]any {
	return map[string]any{
		"client_name":                "Example MCP Client",
		"redirect_uris":              redirects,
		"grant_types":                []string{"authorization_code", "refresh_token"},
		"response_types":             []string{"code"},
		"token_endpoint_auth_method": "none",
	}
}

func TestCIMDClientFullFlow(t *testing.T) {
	host := newDocHost(t)
	doc := clientDoc("http://127.0.0.1/callback")
	doc["logo_uri"] = "https://tracker.example.com/logo.png"
	doc["client_uri"] = "https://phish.example.com/"
	clientID := host.put("/oauth/client.json", doc)
	ts := startServer(t, options{mutate: host.trust(t)})

	var meta map[string]any
	resp, _ := http.Get(ts.issuer + "/.well-known/oauth-authorization-server")
	_ = json.NewDecoder(resp.Body).Decode(&meta)
	resp.Body.Close()
	if meta["client_id_metadata_document_supported"] != true {
		t.Errorf("metadata does not advertise CIMD support")
	}

	conf := ts.oauthConfig("http://127.0.0.1:49152/callback")
	conf.ClientID = clientID
	verifier, _ := pkce()
	b := newBrowser(t)
	out := b.authorize(ts, conf.AuthCodeURL("st-cimd-1", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("resource", resourceURI)), "allow")
	if !out.consentShown || out.redirect == nil {
		t.Fatalf("flow: consent %v redirect %v, last %d %.300s", out.consentShown, out.redirect, out.last.status, out.last.body)
	}
	page := out.consentHTML
	hostAt := strings.Index(page, host.target.Addr())
	nameAt := strings.Index(page, "Example MCP Client")
	if hostAt < 0 || nameAt < 0 || hostAt > nameAt {
		t.Errorf("the client's host must come before its self-asserted name (host at %d, name at %d)", hostAt, nameAt)
	}
	if strings.Contains(page, "tracker.example.com") || strings.Contains(page, "phish.example.com") {
		t.Errorf("the consent page shows or loads a client-supplied URL")
	}
	if !strings.Contains(page, "Name not verified") || !strings.Contains(page, "runs on your computer") {
		t.Errorf("consent page lacks the unverified-name note or the localhost warning")
	}

	tok, err := conf.Exchange(context.Background(), out.redirect.Query().Get("code"), oauth2.VerifierOption(verifier), oauth2.SetAuthURLParam("resource", resourceURI))
	if err != nil {
		t.Fatal(err)
	}
	if c := verifyAccessToken(t, ts, tok.AccessToken); c["client_id"] != clientID || c["aud"] != resourceURI {
		t.Errorf("claims %v", c)
	}
	// Refresh: the client is resolved again (from cache) and keeps its audience and scopes.
	st, body, _ := ts.tokenRequest(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}, "client_id": {clientID}})
	if st != 200 {
		t.Fatalf("refresh: %d %v", st, body)
	}
	if c := verifyAccessToken(t, ts, body["access_token"].(string)); c["aud"] != resourceURI || c["scope"] != "mcp:tools" {
		t.Errorf("refreshed claims %v", c)
	}
	// Revocation by the CIMD client.
	resp, err = http.PostForm(ts.issuer+"/revoke", url.Values{"token": {body["refresh_token"].(string)}, "client_id": {clientID}})
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("revoke: %v %d", err, resp.StatusCode)
	}
	if in := ts.introspect(t, body["access_token"].(string)); in["active"] != false {
		t.Errorf("grant not revoked: %v", in)
	}
}

func TestCIMDRefusals(t *testing.T) {
	host := newDocHost(t)
	good := host.put("/good.json", clientDoc("http://127.0.0.1/callback"))
	mismatch := host.put("/mismatch.json", map[string]any{"client_id": "https://other.example/client.json", "client_name": "X", "redirect_uris": []string{"http://127.0.0.1/callback"}})
	secret := host.put("/secret.json", map[string]any{"client_name": "X", "redirect_uris": []string{"http://127.0.0.1/callback"}, "token_endpoint_auth_method": "client_secret_basic"})
	missing := host.url("/missing.json")
	host.status["/broken.json"] = 500
	broken := host.url("/broken.json")
	ts := startServer(t, options{mutate: host.trust(t)})
	_, challenge := pkce()

	cases := []struct {
		name, clientID, redirect, rule string
	}{
		{"unlisted redirect", good, "https://evil.example.com/cb", ""},
		{"client_id mismatch", mismatch, "http://127.0.0.1/callback", "client_id_mismatch"},
		{"secret auth method", secret, "http://127.0.0.1/callback", "auth_method_forbidden"},
		{"404", missing, "http://127.0.0.1/callback", "http_status"},
		{"500", broken, "http://127.0.0.1/callback", "http_status"},
		{"http client id", "http://" + host.target.Addr() + "/good.json", "http://127.0.0.1/callback", "url_scheme"},
		{"fragment", good + "#x", "http://127.0.0.1/callback", "url_"},
		// A name resolving to loopback (the SSRF range table, every range in v4, v6 and mapped
		// form, is in internal/safehttp's tests with a counting dialer; here only addresses of
		// this machine are ever at stake).
		{"loopback name", "https://localhost:1/client.json", "http://127.0.0.1/callback", "address_blocked"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := newBrowser(t)
			resp, body := b.get(ts.authURL(map[string]string{"response_type": "code", "client_id": c.clientID, "redirect_uri": c.redirect,
				"code_challenge": challenge, "code_challenge_method": "S256", "resource": resourceURI, "state": "s-12345678"}))
			if resp.StatusCode != 400 || resp.Header.Get("Location") != "" {
				t.Fatalf("want an error page, got %d Location %q", resp.StatusCode, resp.Header.Get("Location"))
			}
			if c.rule != "" && !strings.Contains(body, c.rule) {
				t.Errorf("the page does not name the failed rule %q", c.rule)
			}
			st, tb, _ := ts.tokenRequest(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"x"}, "client_id": {c.clientID}})
			if c.rule != "" && (st != 401 || tb["error"] != "invalid_client") {
				t.Errorf("token endpoint: %d %v, want invalid_client", st, tb)
			}
		})
	}
}

func TestCIMDDisabled(t *testing.T) {
	host := newDocHost(t)
	id := host.put("/c.json", clientDoc("http://127.0.0.1/callback"))
	off := false
	trust := host.trust(t)
	ts := startServer(t, options{mutate: func(c *config.Config) { trust(c); c.CIMD.Enabled = &off }})
	var meta map[string]any
	resp, _ := http.Get(ts.issuer + "/.well-known/oauth-authorization-server")
	_ = json.NewDecoder(resp.Body).Decode(&meta)
	resp.Body.Close()
	if meta["client_id_metadata_document_supported"] != false {
		t.Errorf("metadata advertises CIMD while it is off")
	}
	_, challenge := pkce()
	r, _ := newBrowser(t).get(ts.authURL(map[string]string{"response_type": "code", "client_id": id, "redirect_uri": "http://127.0.0.1/callback",
		"code_challenge": challenge, "code_challenge_method": "S256", "resource": resourceURI}))
	if r.StatusCode != 400 || r.Header.Get("Location") != "" || host.target.Accepted() != 0 {
		t.Errorf("URL client with CIMD off: %d, %d fetches", r.StatusCode, host.target.Accepted())
	}
}

func TestCIMDChangedDocumentDropsConsent(t *testing.T) {
	host := newDocHost(t)
	id := host.put("/c.json", clientDoc("http://127.0.0.1/callback"))
	host.header.Set("Cache-Control", "no-store")
	trust := host.trust(t)
	ts := startServer(t, options{mutate: func(c *config.Config) {
		trust(c)
		c.CIMD.MinCacheTime = config.Duration(time.Second)
		c.CIMD.MaxCacheTime = config.Duration(time.Second)
	}})
	conf := ts.oauthConfig("http://127.0.0.1/callback")
	conf.ClientID = id
	b := newBrowser(t)
	authorize := func() outcome {
		v, _ := pkce()
		return b.authorize(ts, conf.AuthCodeURL("st-change-1", oauth2.S256ChallengeOption(v), oauth2.SetAuthURLParam("resource", resourceURI)), "allow")
	}
	if out := authorize(); !out.consentShown || out.redirect == nil {
		t.Fatal("first authorization did not ask")
	}
	time.Sleep(1100 * time.Millisecond)
	if out := authorize(); out.consentShown {
		t.Fatal("an unchanged document lost its consent")
	}
	host.put("/c.json", clientDoc("http://127.0.0.1/callback", "https://new-owner.example.com/cb"))
	time.Sleep(1100 * time.Millisecond)
	if out := authorize(); !out.consentShown {
		t.Error("consent survived a change of the client's redirect URIs")
	}
}

// TestCIMDChangedDocumentAcrossRestart: the fingerprint of the document is stored with the
// consent, so a change the running server never saw (it happened while the server was down, or
// after the cached document was evicted) still voids the consent. An unchanged document keeps
// it across the restart.
func TestCIMDChangedDocumentAcrossRestart(t *testing.T) {
	host := newDocHost(t)
	id := host.put("/c.json", clientDoc("http://127.0.0.1/callback"))
	trust := host.trust(t)
	dir := t.TempDir()
	ts := startServer(t, options{dataDir: dir, mutate: trust})
	b := newBrowser(t)
	authorize := func(ts *testServer) outcome {
		conf := ts.oauthConfig("http://127.0.0.1/callback")
		conf.ClientID = id
		v, _ := pkce()
		return b.authorize(ts, conf.AuthCodeURL("st-restart-1", oauth2.S256ChallengeOption(v), oauth2.SetAuthURLParam("resource", resourceURI)), "allow")
	}
	if out := authorize(ts); !out.consentShown || out.redirect == nil {
		t.Fatal("first authorization did not ask")
	}
	addr := ts.ln.Addr().String()
	ts.stop()

	ts = startServer(t, options{dataDir: dir, addr: addr, mutate: trust})
	if out := authorize(ts); out.consentShown || out.redirect == nil {
		t.Fatalf("an unchanged document lost its consent across a restart (consent shown %v)", out.consentShown)
	}
	ts.stop()

	host.put("/c.json", clientDoc("http://127.0.0.1/callback", "https://new-owner.example.com/cb"))
	ts = startServer(t, options{dataDir: dir, addr: addr, mutate: trust})
	out := authorize(ts)
	if !out.consentShown {
		t.Fatal("consent survived a change of the client's redirect URIs made while the server was down")
	}
	// Allowing again remembers the consent under the new document.
	if out.redirect == nil {
		t.Fatal("no redirect after allowing again")
	}
	if out := authorize(ts); out.consentShown {
		t.Error("the consent given for the changed document was not remembered")
	}
}
