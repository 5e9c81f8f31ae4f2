package e2e

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"
	"golang.org/x/oauth2"

	"github.com/mcp-authz/mcp-authz/config"
	"github.com/mcp-authz/mcp-authz/consent"
	"github.com/mcp-authz/mcp-authz/server"
	"github.com/mcp-authz/mcp-authz/storage"
)

const (
	resourceURI  = "http://localhost:9090/mcp"
	resource2URI = "https://files.example.com/mcp"
	alice        = "alice"
	alicePass    = "correct horse battery staple"
	publicClient = "demo-client"
	confClient   = "resource-server"
	confSecret   = "rs-secret-for-tests-0123456789abcdef0123"
	redirectURI  = "http://127.0.0.1/callback"
)

// testServer is a running mcp-authz.
type testServer struct {
	t      testing.TB
	cfg    *config.Config
	store  storage.Store
	srv    *server.Server
	issuer string
	http   *http.Server
	ln     net.Listener
	cancel context.CancelFunc
}

// options shape a test server's configuration.
type options struct {
	dataDir    string
	secret     []byte
	addr       string // reuse an address (restart tests)
	issuerPath string
	twoRes     bool
	// postgres runs the server on PostgreSQL (MCP_AUTHZ_TEST_POSTGRES_DSN), in a fresh schema.
	postgres bool
	mutate   func(*config.Config)
}

func startServer(t testing.TB, o options) *testServer {
	t.Helper()
	if o.dataDir == "" {
		o.dataDir = t.TempDir()
	}
	if o.secret == nil {
		o.secret = []byte(strings.Repeat("s", 40))
	}
	addr := o.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	issuer := "http://" + ln.Addr().String() + o.issuerPath

	cfg, err := config.Default(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	cfg.Development = false
	cfg.Issuer = issuer
	cfg.Listen = ln.Addr().String()
	cfg.DataDir = o.dataDir
	cfg.Storage.SQLitePath = filepath.Join(o.dataDir, "mcp-authz.db")
	cfg.Secrets.Key = o.secret
	cfg.Clients = append(cfg.Clients, config.Client{
		ID: confClient, Name: "Resource server", SecretHash: hashSecret(confSecret),
		GrantTypes: []string{"client_credentials"}, Resources: []string{resourceURI},
	})
	if o.twoRes {
		cfg.Resources = append(cfg.Resources, config.Resource{
			URI: resource2URI, Name: "Files",
			Scopes:        []config.Scope{{Name: "files:read", Description: "Read your files"}},
			DefaultScopes: []string{"files:read"},
		})
	}
	if o.postgres {
		dsn := postgresDSN(t)
		cfg.Storage.Driver = "postgres"
		cfg.Storage.PostgresDSN = dsn
		cfg.Storage.PostgresSchema = freshSchema(t, dsn)
	}
	if o.mutate != nil {
		o.mutate(cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	store, err := server.OpenStore(ctx, cfg, false)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if os.Getenv("E2E_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	srv, err := server.New(ctx, cfg, store, log)
	if err != nil {
		t.Fatal(err)
	}
	go srv.Run(ctx)
	hs := srv.HTTPServer()
	go func() { _ = hs.Serve(ln) }()

	ts := &testServer{t: t, cfg: cfg, store: store, srv: srv, issuer: issuer, http: hs, ln: ln, cancel: cancel}
	if _, err := store.GetUserByUsername(ctx, alice); err != nil {
		hash, err := consent.HashPassword(alicePass)
		if err != nil {
			t.Fatal(err)
		}
		if err := store.CreateUser(ctx, storage.User{ID: "u_alice", Username: alice, PasswordHash: hash, CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(ts.stop)
	return ts
}

// stop shuts the server down and closes its database (idempotent).
func (ts *testServer) stop() {
	if ts.cancel == nil {
		return
	}
	ctx, done := context.WithTimeout(context.Background(), 5*time.Second)
	defer done()
	_ = ts.http.Shutdown(ctx)
	ts.cancel()
	_ = ts.store.Close()
	ts.cancel = nil
}

func hashSecret(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "sha256:" + base64.RawURLEncoding.EncodeToString(sum[:])
}

// oauthConfig is the public demo client as golang.org/x/oauth2 sees it.
func (ts *testServer) oauthConfig(redirect string, scopes ...string) *oauth2.Config {
	return &oauth2.Config{
		ClientID: publicClient,
		Endpoint: oauth2.Endpoint{
			AuthURL:   ts.issuer + "/authorize",
			TokenURL:  ts.issuer + "/token",
			AuthStyle: oauth2.AuthStyleInParams,
		},
		RedirectURL: redirect,
		Scopes:      scopes,
	}
}

// browser is a user agent with cookies that does not follow redirects, so each hop is seen.
type browser struct {
	t      *testing.T
	client *http.Client
	// pages records the title of every page shown, for assertions on what the user saw.
	pages []page
}

type page struct {
	url    string
	status int
	header http.Header
	body   string
}

func newBrowser(t *testing.T) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, client: &http.Client{
		Jar:           jar,
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

func (b *browser) do(req *http.Request) (*http.Response, string) {
	b.t.Helper()
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	b.pages = append(b.pages, page{url: req.URL.String(), status: resp.StatusCode, header: resp.Header, body: string(body)})
	return resp, string(body)
}

func (b *browser) get(u string) (*http.Response, string) {
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	return b.do(req)
}

func (b *browser) post(u string, form url.Values) (*http.Response, string) {
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

// outcome is where an authorization ended.
type outcome struct {
	// redirect is the client redirect (nil if the flow ended on one of our pages).
	redirect *url.URL
	// consentShown tells whether the consent page was shown, and its HTML.
	consentShown bool
	consentHTML  string
	// last is the last response.
	last *page
}

// authorize follows an authorization request like a person would: it signs in when asked, and
// answers the consent page with decision ("allow" or "deny"). It stops at the first redirect
// that leaves our server.
func (b *browser) authorize(ts *testServer, authURL, decision string) outcome {
	b.t.Helper()
	var out outcome
	next := authURL
	for i := 0; i < 10; i++ {
		resp, body := b.get(next)
		out.last = &b.pages[len(b.pages)-1]
		switch {
		case resp.StatusCode == http.StatusSeeOther || resp.StatusCode == http.StatusFound:
			loc, err := resp.Location()
			if err != nil {
				b.t.Fatal(err)
			}
			if !strings.HasPrefix(loc.String(), ts.issuer) {
				out.redirect = loc
				return out
			}
			next = loc.String()
		case resp.StatusCode == http.StatusOK && strings.Contains(body, `name="password"`):
			form := formValues(b.t, body)
			form.Set("username", alice)
			form.Set("password", alicePass)
			r2, _ := b.post(ts.issuer+"/login", form)
			if r2.StatusCode != http.StatusSeeOther {
				b.t.Fatalf("login: status %d", r2.StatusCode)
			}
			loc, _ := r2.Location()
			next = loc.String()
		case resp.StatusCode == http.StatusOK && strings.Contains(body, `name="decision"`):
			out.consentShown, out.consentHTML = true, body
			if decision == "" {
				return out
			}
			form := formValues(b.t, body)
			form.Set("decision", decision)
			r2, _ := b.post(ts.issuer+"/authorize", form)
			out.last = &b.pages[len(b.pages)-1]
			if r2.StatusCode != http.StatusSeeOther {
				return out
			}
			loc, _ := r2.Location()
			if !strings.HasPrefix(loc.String(), ts.issuer) {
				out.redirect = loc
				return out
			}
			next = loc.String()
		default:
			return out // an error page
		}
	}
	b.t.Fatal("too many hops")
	return out
}

// formValues returns the hidden inputs of the first form in an HTML page.
func formValues(t *testing.T, body string) url.Values {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	v := url.Values{}
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == "input" {
			var name, value, typ string
			for _, a := range n.Attr {
				switch a.Key {
				case "name":
					name = a.Val
				case "value":
					value = a.Val
				case "type":
					typ = a.Val
				}
			}
			if typ == "hidden" && name != "" {
				v.Set(name, value)
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	return v
}

// pkce returns a verifier and its S256 challenge.
func pkce() (verifier, challenge string) {
	verifier = oauth2.GenerateVerifier()
	return verifier, oauth2.S256ChallengeFromVerifier(verifier)
}

func randomState() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// authURL builds an authorization request by hand, for the refusal cases golang.org/x/oauth2
// would not produce.
func (ts *testServer) authURL(params map[string]string) string {
	v := url.Values{}
	for k, val := range params {
		if val != "" {
			v.Set(k, val)
		}
	}
	return ts.issuer + "/authorize?" + v.Encode()
}

// tokenRequest posts to the token endpoint and decodes the JSON answer.
func (ts *testServer) tokenRequest(t *testing.T, form url.Values) (int, map[string]any, http.Header) {
	t.Helper()
	resp, err := http.PostForm(ts.issuer+"/token", form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatalf("token response is not JSON: %v", err)
	}
	return resp.StatusCode, m, resp.Header
}

// introspect asks the introspection endpoint as the confidential resource-server client.
func (ts *testServer) introspect(t *testing.T, token string) map[string]any {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, ts.issuer+"/introspect", strings.NewReader(url.Values{"token": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(confClient, confSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("introspect: status %d", resp.StatusCode)
	}
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

var base64URL = base64.RawURLEncoding
