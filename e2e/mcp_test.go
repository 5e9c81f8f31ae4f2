package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"

	"github.com/mcp-authz/mcp-authz/config"
	"github.com/mcp-authz/mcp-authz/examples/mcp-server/mcpserver"
)

// The tests in this file run the example MCP server (examples/mcp-server) against the real
// authorization server, with the official Go SDK client doing OAuth as any MCP client would:
// discovery from the 401, the authorization code flow (the browser of harness_test.go playing
// the user), step-up on insufficient_scope, refresh.

// mcpPair is the authorization server and the example MCP server, each knowing the other.
type mcpPair struct {
	as  *testServer
	url string // the MCP endpoint; also the resource identifier
}

// startMCPPair starts both. The MCP server listens on a random port, so its resource is not
// the harness's http://localhost:9090/mcp: it is declared as a second resource with the same
// scopes.
func startMCPPair(t *testing.T, mutate func(*config.Config)) *mcpPair {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mcpURL := "http://" + ln.Addr().String() + "/mcp"
	as := startServer(t, options{mutate: func(c *config.Config) {
		r := c.Resources[0]
		r.URI, r.Name = mcpURL, "Example MCP server"
		c.Resources = append(c.Resources, r)
		if mutate != nil {
			mutate(c)
		}
	}})
	log := slog.New(slog.DiscardHandler)
	if os.Getenv("E2E_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	h, err := mcpserver.New(mcpserver.Config{Resource: mcpURL, Issuer: as.issuer, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: h}
	go func() { _ = hs.Serve(ln) }()
	t.Cleanup(func() { _ = hs.Close() })
	return &mcpPair{as: as, url: mcpURL}
}

// mcpClient is an SDK client session and what it did on the wire.
type mcpClient struct {
	t       *testing.T
	session *mcp.ClientSession
	oauth   *auth.AuthorizationCodeHandler
	browser *browser

	mu         sync.Mutex
	auths      []outcome // each authorization the SDK ran, as the browser saw it
	grants     []string  // grant_type of each token request
	challenges []challenge
}

// challenge is a 401 or 403 answer of the MCP server.
type challenge struct {
	status int
	header string // WWW-Authenticate
}

// connectMCP connects an SDK client to the pair's MCP server: the public demo-client,
// pre-registered, with a loopback redirect URI that nothing listens on, since the browser stops
// at the redirect and the fetcher reads the code from it.
func connectMCP(t *testing.T, p *mcpPair) *mcpClient {
	t.Helper()
	return connectMCPWith(t, p, nil)
}

// connectMCPWith is connectMCP with the handler's configuration adjusted by configure (another
// registration method, say).
func connectMCPWith(t *testing.T, p *mcpPair, configure func(*auth.AuthorizationCodeHandlerConfig)) *mcpClient {
	t.Helper()
	c := &mcpClient{t: t, browser: newBrowser(t)}
	cfg := &auth.AuthorizationCodeHandlerConfig{
		PreregisteredClient: &oauthex.ClientCredentials{ClientID: publicClient},
		RedirectURL:         "http://127.0.0.1:49152/callback",
		AuthorizationCodeFetcher: func(ctx context.Context, args *auth.AuthorizationArgs) (*auth.AuthorizationResult, error) {
			out := c.browser.authorize(p.as, args.URL, "allow")
			c.mu.Lock()
			c.auths = append(c.auths, out)
			c.mu.Unlock()
			if out.redirect == nil {
				t.Errorf("authorization ended on a page: %d %.300s", out.last.status, out.last.body)
				return nil, io.ErrUnexpectedEOF
			}
			q := out.redirect.Query()
			return &auth.AuthorizationResult{Code: q.Get("code"), State: q.Get("state"), Iss: q.Get("iss")}, nil
		},
		Client: &http.Client{Transport: roundTripFunc(c.recordTokenRequest)},
	}
	if configure != nil {
		configure(cfg)
	}
	h, err := auth.NewAuthorizationCodeHandler(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.oauth = h
	transport := &mcp.StreamableClientTransport{
		Endpoint:     p.url,
		OAuthHandler: h,
		HTTPClient:   &http.Client{Transport: roundTripFunc(c.recordChallenge)},
	}
	return c.connect(p, transport)
}

// connect opens the SDK session over transport.
func (c *mcpClient) connect(_ *mcpPair, transport *mcp.StreamableClientTransport) *mcpClient {
	t := c.t
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client := mcp.NewClient(&mcp.Implementation{Name: "e2e", Version: "0"}, nil)
	var err error
	c.session, err = client.Connect(ctx, transport, nil)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { _ = c.session.Close() })
	return c
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// recordTokenRequest notes the grant_type of requests to the token endpoint.
func (c *mcpClient) recordTokenRequest(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/token") && r.Body != nil {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return nil, err
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		form, _ := url.ParseQuery(string(body))
		c.mu.Lock()
		c.grants = append(c.grants, form.Get("grant_type"))
		c.mu.Unlock()
	}
	return http.DefaultTransport.RoundTrip(r)
}

// recordChallenge notes the MCP server's 401 and 403 answers.
func (c *mcpClient) recordChallenge(r *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err == nil && (resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden) {
		c.mu.Lock()
		c.challenges = append(c.challenges, challenge{resp.StatusCode, resp.Header.Get("WWW-Authenticate")})
		c.mu.Unlock()
	}
	return resp, err
}

// record returns copies of what was recorded so far.
func (c *mcpClient) record() (auths []outcome, grants []string, challenges []challenge) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.auths), slices.Clone(c.grants), slices.Clone(c.challenges)
}

// call calls a tool, which must succeed, and decodes its structured result into out.
func (c *mcpClient) call(name string, out any) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := c.session.CallTool(ctx, &mcp.CallToolParams{Name: name})
	if err != nil {
		c.t.Fatalf("%s: %v", name, err)
	}
	if res.IsError {
		var text string
		for _, content := range res.Content {
			if tc, ok := content.(*mcp.TextContent); ok {
				text += tc.Text
			}
		}
		c.t.Fatalf("%s: tool error: %s", name, text)
	}
	raw, err := json.Marshal(res.StructuredContent)
	if err == nil {
		err = json.Unmarshal(raw, out)
	}
	if err != nil {
		c.t.Fatalf("%s: structured content %s: %v", name, raw, err)
	}
}

func (c *mcpClient) whoami() mcpserver.Identity {
	c.t.Helper()
	var id mcpserver.Identity
	c.call("whoami", &id)
	return id
}

// metadataURL is the Protected Resource Metadata URL of an MCP endpoint (RFC 9728 §3.1).
func metadataURL(endpoint string) string {
	u, _ := url.Parse(endpoint)
	return u.Scheme + "://" + u.Host + "/.well-known/oauth-protected-resource" + u.Path
}

func TestMCPConnectListAndWhoami(t *testing.T) {
	p := startMCPPair(t, nil)
	c := connectMCP(t, p)

	auths, grants, challenges := c.record()
	if len(auths) != 1 || !auths[0].consentShown {
		t.Fatalf("connecting ran %d authorizations (first showed consent: %v), want 1 with consent", len(auths), len(auths) > 0 && auths[0].consentShown)
	}
	for _, want := range []string{"Example MCP server", p.url, "mcp:tools"} {
		if !strings.Contains(auths[0].consentHTML, want) {
			t.Errorf("consent page does not show %q", want)
		}
	}
	if len(grants) == 0 || grants[0] != "authorization_code" {
		t.Errorf("token requests %v, want authorization_code first", grants)
	}
	// The first request had no token: 401 without an error code, pointing at the metadata.
	wantFirst := `Bearer resource_metadata="` + metadataURL(p.url) + `", scope="mcp:tools"`
	if len(challenges) == 0 || challenges[0].status != http.StatusUnauthorized || challenges[0].header != wantFirst {
		t.Errorf("first challenge %+v, want 401 %s", challenges, wantFirst)
	}

	tools, err := c.session.ListTools(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tool := range tools.Tools {
		names = append(names, tool.Name)
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"admin_stats", "whoami"}) {
		t.Errorf("tools %v, want admin_stats and whoami", names)
	}

	id := c.whoami()
	if id.Subject != "u_alice" || id.ClientID != publicClient || !slices.Equal(id.Scopes, []string{"mcp:tools"}) {
		t.Errorf("whoami = %+v, want u_alice, %s, [mcp:tools]", id, publicClient)
	}
	if d := time.Until(id.ExpiresAt); d < 9*time.Minute || d > 11*time.Minute {
		t.Errorf("token expires in %v, want the 10m default", d)
	}
}

func TestMCPStepUpAsksOnlyForTheNewScope(t *testing.T) {
	p := startMCPPair(t, nil)
	c := connectMCP(t, p)
	if id := c.whoami(); !slices.Equal(id.Scopes, []string{"mcp:tools"}) {
		t.Fatalf("scopes before step-up %v", id.Scopes)
	}

	// What the server answers a token without mcp:admin, seen directly.
	tok, err := c.oauth.TokenSource(context.Background())
	if err != nil || tok == nil {
		t.Fatalf("token source: %v", err)
	}
	first, err := tok.Token()
	if err != nil {
		t.Fatal(err)
	}
	post := func(body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, p.url, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+first.AccessToken)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("WWW-Authenticate")
	}
	wantChallenge := `Bearer error="insufficient_scope", error_description="the token lacks a scope this request needs", ` +
		`resource_metadata="` + metadataURL(p.url) + `", scope="mcp:tools mcp:admin"`
	adminCall := `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"admin_stats","arguments":{}}}`
	whoamiCall := `{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"whoami","arguments":{}}}`
	for name, body := range map[string]string{
		"call":  adminCall,
		"batch": "[" + whoamiCall + "," + adminCall + "]",
	} {
		if st, h := post(body); st != http.StatusForbidden || h != wantChallenge {
			t.Errorf("%s of admin_stats without mcp:admin: %d %s\nwant 403 %s", name, st, h, wantChallenge)
		}
	}
	// A call of another tool, or a body the middleware cannot parse, goes on to the SDK
	// (which refuses it for want of a session, but not with a challenge).
	for _, body := range []string{whoamiCall, `{"method":"tools/call","params":`} {
		if st, h := post(body); st == http.StatusForbidden || h != "" {
			t.Errorf("%.40s: %d %s", body, st, h)
		}
	}

	// Through the SDK: 403, re-authorization for mcp:tools mcp:admin, retry.
	var stats mcpserver.Stats
	c.call("admin_stats", &stats)
	if stats.ToolCalls < 2 || stats.Started.IsZero() {
		t.Errorf("admin_stats = %+v", stats)
	}
	auths, _, challenges := c.record()
	if last := challenges[len(challenges)-1]; last.status != http.StatusForbidden || last.header != wantChallenge {
		t.Errorf("the SDK saw %d %s, want 403 %s", last.status, last.header, wantChallenge)
	}
	if len(auths) != 2 {
		t.Fatalf("%d authorizations, want 2 (connect, step-up)", len(auths))
	}
	step := auths[1]
	if !step.consentShown {
		t.Fatal("step-up did not show the consent page")
	}
	if !strings.Contains(step.consentHTML, `<code class="scope-name">mcp:admin</code>`) ||
		strings.Contains(step.consentHTML, `<code class="scope-name">mcp:tools</code>`) {
		t.Errorf("step-up consent page should list only mcp:admin as new:\n%s", step.consentHTML)
	}
	if !strings.Contains(step.consentHTML, "Already granted: mcp:tools") {
		t.Error("step-up consent page does not say mcp:tools was granted before")
	}
	signIns := 0
	for _, pg := range c.browser.pages {
		if strings.Contains(pg.body, `name="password"`) {
			signIns++
		}
	}
	if signIns != 1 {
		t.Errorf("the user was asked to sign in %d times, want once (the session carries the step-up)", signIns)
	}

	id := c.whoami()
	slices.Sort(id.Scopes)
	if id.Subject != "u_alice" || !slices.Equal(id.Scopes, []string{"mcp:admin", "mcp:tools"}) {
		t.Errorf("after step-up whoami = %+v, want u_alice with mcp:tools mcp:admin", id)
	}
	// The new token works on the same session for both tools, with no further authorization.
	c.call("admin_stats", &stats)
	if auths, _, _ := c.record(); len(auths) != 2 {
		t.Errorf("%d authorizations after step-up, want 2", len(auths))
	}
}

func TestMCPRefreshesAnExpiredToken(t *testing.T) {
	const lifetime = 2 * time.Second
	p := startMCPPair(t, func(c *config.Config) { c.Tokens.AccessTokenLifetime = config.Duration(lifetime) })
	c := connectMCP(t, p)

	// golang.org/x/oauth2, under the SDK, refreshes a token 10s before it expires: with 2s
	// tokens, before every request. What this shows is that refreshing works end to end (the
	// public client, rotation, the audience kept without a resource parameter) and needs no
	// browser; waiting past exp makes sure the token the client had is really dead.
	first := c.whoami()
	if d := time.Until(first.ExpiresAt); d > lifetime+time.Second {
		t.Fatalf("token expires in %v, want at most %v", d, lifetime)
	}
	// exp has whole seconds: wait until it has surely passed.
	time.Sleep(time.Until(first.ExpiresAt) + 1100*time.Millisecond)
	_, grantsBefore, _ := c.record()

	second := c.whoami()
	if !second.ExpiresAt.After(first.ExpiresAt) || second.Subject != "u_alice" {
		t.Errorf("after expiry whoami = %+v, want a later token than %v", second, first.ExpiresAt)
	}
	auths, grants, _ := c.record()
	if len(auths) != 1 {
		t.Errorf("%d authorizations, want 1: refreshing needs no browser", len(auths))
	}
	if refreshed := grants[len(grantsBefore):]; !slices.Contains(refreshed, "refresh_token") || slices.Contains(refreshed, "authorization_code") {
		t.Errorf("token requests after expiry %v, want refresh_token only", refreshed)
	}
}
