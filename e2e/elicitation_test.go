package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"log/slog"
	"net"
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

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
	"golang.org/x/oauth2"

	"github.com/mcp-authz/mcp-authz/config"
	"github.com/mcp-authz/mcp-authz/consent"
	"github.com/mcp-authz/mcp-authz/examples/mcp-server/mcpserver"
	"github.com/mcp-authz/mcp-authz/resource/elicit"
	"github.com/mcp-authz/mcp-authz/storage"
)

// URL-mode elicitation (requirements §8): the API a resource's server calls, the pages its user
// opens, and the refusals. The MCP-level flow with the Go SDK is further down.

const (
	filesServer       = "files-server"
	filesServerSecret = "files-secret-0123456789abcdef0123456789"
	bob               = "bob"
	bobPass           = "bob's own long passphrase"
)

// withElicitation makes the harness's confidential client "resource-server" the server of
// resourceURI for elicitation, and adds a second resource (resource2URI) whose server is
// files-server.
func withElicitation(c *config.Config) {
	c.Resources[0].ElicitationClients = []string{confClient}
	c.Resources = append(c.Resources, config.Resource{
		URI: resource2URI, Name: "Files",
		Scopes:             []config.Scope{{Name: "files:read", Description: "Read your files"}},
		DefaultScopes:      []string{"files:read"},
		ElicitationClients: []string{filesServer},
	})
	c.Clients = append(c.Clients, config.Client{
		ID: filesServer, Name: "Files server", SecretHash: hashSecret(filesServerSecret),
		GrantTypes: []string{"client_credentials"}, Resources: []string{resource2URI},
	})
}

// startElicitation starts a server with withElicitation and whatever mutate adds.
func startElicitation(t *testing.T, mutate func(*config.Config)) *testServer {
	t.Helper()
	return startServer(t, options{mutate: func(c *config.Config) {
		withElicitation(c)
		if mutate != nil {
			mutate(c)
		}
	}})
}

// addUser creates a local user.
func (ts *testServer) addUser(t *testing.T, id, name, pass string) {
	t.Helper()
	hash, err := consent.HashPassword(pass)
	if err != nil {
		t.Fatal(err)
	}
	if err := ts.store.CreateUser(context.Background(), storage.User{ID: id, Username: name, PasswordHash: hash, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
}

// userToken runs the code flow for alice in b and returns her access token for resource.
func userToken(t *testing.T, ts *testServer, b *browser, resource string) string {
	t.Helper()
	conf := ts.oauthConfig(redirectURI)
	verifier, _ := pkce()
	state := randomState()
	out := b.authorize(ts, conf.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("resource", resource)), "allow")
	if out.redirect == nil {
		t.Fatalf("no redirect to the client; last page %d: %.300s", out.last.status, out.last.body)
	}
	tok, err := conf.Exchange(context.Background(), out.redirect.Query().Get("code"), oauth2.VerifierOption(verifier), oauth2.SetAuthURLParam("resource", resource))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	return tok.AccessToken
}

// signIn signs a browser in as a user, with no authorization request behind it.
func (b *browser) signIn(ts *testServer, user, pass string) {
	b.t.Helper()
	_, body := b.get(ts.issuer + "/login")
	form := formValues(b.t, body)
	form.Set("username", user)
	form.Set("password", pass)
	if resp, body := b.post(ts.issuer+"/login", form); resp.StatusCode != http.StatusOK {
		b.t.Fatalf("sign-in as %s: %d %.200s", user, resp.StatusCode, body)
	}
}

// api calls the elicitation API as a server: HTTP Basic with client and secret, a JSON body.
func (ts *testServer) api(t *testing.T, method, path, client, secret string, body any) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, ts.issuer+path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if client != "" {
		req.SetBasicAuth(client, secret)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatalf("%s %s: answer is not JSON: %v", method, path, err)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("%s %s: Cache-Control %q", method, path, cc)
	}
	return resp.StatusCode, m
}

// create creates an elicitation as resource-server and returns its id and URL.
func (ts *testServer) create(t *testing.T, accessToken, kind, message string, params map[string]any) (id, pageURL string) {
	t.Helper()
	st, m := ts.api(t, http.MethodPost, "/elicitations", confClient, confSecret, map[string]any{
		"access_token": accessToken, "kind": kind, "message": message, "params": params,
	})
	if st != http.StatusCreated {
		t.Fatalf("create %s: %d %v", kind, st, m)
	}
	id, _ = m["elicitation_id"].(string)
	pageURL, _ = m["url"].(string)
	if pageURL != ts.issuer+"/elicitation/"+id || len(id) != 43 {
		t.Fatalf("create: id %q url %q", id, pageURL)
	}
	if exp, _ := m["expires_in"].(float64); exp != 600 {
		t.Errorf("expires_in %v, want the 600 s default", m["expires_in"])
	}
	return id, pageURL
}

// read reads an elicitation's outcome as resource-server.
func (ts *testServer) read(t *testing.T, id string) map[string]any {
	t.Helper()
	st, m := ts.api(t, http.MethodGet, "/elicitations/"+id, confClient, confSecret, nil)
	if st != http.StatusOK {
		t.Fatalf("read: %d %v", st, m)
	}
	return m
}

// answer opens an elicitation page in b and submits its form with the decision (and extra fields).
func (b *browser) answer(pageURL, decision string, extra url.Values) (*http.Response, string) {
	b.t.Helper()
	resp, body := b.get(pageURL)
	if resp.StatusCode != http.StatusOK {
		b.t.Fatalf("page %d: %.300s", resp.StatusCode, body)
	}
	form := formValues(b.t, body)
	form.Set("decision", decision)
	for k, v := range extra {
		form[k] = v
	}
	return b.post(pageURL, form)
}

func TestElicitationConfirmPage(t *testing.T) {
	ts := startElicitation(t, nil)
	b := newBrowser(t)
	tok := userToken(t, ts, b, resourceURI)

	id, pageURL := ts.create(t, tok, "confirm", "The assistant wants to clean up your reports folder.", map[string]any{
		"action": "Delete 3 files in /reports", "details": []string{"q1.pdf", "q2.pdf", "<b>q3.pdf</b>"}, "approve_label": "Delete",
	})
	if m := ts.read(t, id); m["status"] != "pending" || m["sub"] != "u_alice" || m["client_id"] != publicClient || m["kind"] != "confirm" {
		t.Fatalf("before: %v", m)
	}

	resp, body := b.get(pageURL)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("page: %d %.300s", resp.StatusCode, body)
	}
	for _, want := range []string{"Demo MCP server", resourceURI, "clean up your reports folder", "Delete 3 files in /reports",
		"&lt;b&gt;q3.pdf&lt;/b&gt;", `value="approve"`, ">Delete<", `name="csrf_token"`, "Signed in as <strong>alice</strong>"} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	checkPageHeaders(t, resp)

	form := formValues(t, body)
	form.Set("decision", "approve")
	resp, body = b.post(pageURL, form)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Approved") {
		t.Fatalf("approve: %d %.300s", resp.StatusCode, body)
	}
	if m := ts.read(t, id); m["status"] != "accepted" || m["completed_at"] == nil {
		t.Errorf("after approve: %v", m)
	}
	// The same form again, and the page again: answered once.
	if resp, body := b.post(pageURL, form); resp.StatusCode != http.StatusGone || !strings.Contains(body, "already answered") {
		t.Errorf("second answer: %d %.200s", resp.StatusCode, body)
	}
	if resp, _ := b.get(pageURL); resp.StatusCode != http.StatusGone {
		t.Errorf("page after the answer: %d", resp.StatusCode)
	}

	// Declining.
	id2, pageURL2 := ts.create(t, tok, "confirm", "Send the report?", map[string]any{"action": "Email q1.pdf to bob@example.com"})
	if resp, body := b.answer(pageURL2, "decline", nil); resp.StatusCode != http.StatusOK || !strings.Contains(body, "Declined") {
		t.Fatalf("decline: %d %.200s", resp.StatusCode, body)
	}
	if m := ts.read(t, id2); m["status"] != "declined" {
		t.Errorf("after decline: %v", m)
	}
}

func checkPageHeaders(t *testing.T, resp *http.Response) {
	t.Helper()
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") || !strings.Contains(csp, "form-action 'self'") {
		t.Errorf("Content-Security-Policy %q", csp)
	}
	for h, want := range map[string]string{"X-Frame-Options": "DENY", "Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff"} {
		if got := resp.Header.Get(h); got != want {
			t.Errorf("%s: %q, want %q", h, got, want)
		}
	}
}

func TestElicitationSecretPageHandsTheValueOnce(t *testing.T) {
	ts := startElicitation(t, nil)
	b := newBrowser(t)
	tok := userToken(t, ts, b, resourceURI)
	const apiKey = "sk-live-4f3c2b1a-the-users-api-key"

	id, pageURL := ts.create(t, tok, "secret", "The weather tool needs your OpenWeather API key.", map[string]any{
		"label": "OpenWeather API key", "description": "Find it at openweathermap.org under API keys.",
	})
	resp, body := b.get(pageURL)
	if !strings.Contains(body, "OpenWeather API key") || !strings.Contains(body, `type="password"`) || !strings.Contains(body, `autocomplete="off"`) {
		t.Fatalf("secret page: %d %.500s", resp.StatusCode, body)
	}
	form := formValues(t, body)
	form.Set("decision", "submit")
	// An empty value is asked again.
	if resp, body := b.post(pageURL, form); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "Enter a value") {
		t.Errorf("empty value: %d %.200s", resp.StatusCode, body)
	}
	form.Set("value", apiKey)
	resp, body = b.post(pageURL, form)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Sent") || strings.Contains(body, apiKey) {
		t.Fatalf("submit: %d %.300s", resp.StatusCode, body)
	}
	// The value is stored encrypted.
	e, err := ts.store.(storage.Elicitations).GetElicitation(context.Background(), id)
	if err != nil || bytes.Contains(e.Result, []byte(apiKey)) || len(e.Result) == 0 {
		t.Fatalf("stored result %q, %v: want ciphertext", e.Result, err)
	}
	// The first read hands it out, the next says it was taken.
	m := ts.read(t, id)
	res, _ := m["result"].(map[string]any)
	if m["status"] != "accepted" || res["value"] != apiKey {
		t.Fatalf("first read: %v", m)
	}
	if m := ts.read(t, id); m["result"] != nil || m["result_taken"] != true || m["status"] != "accepted" {
		t.Errorf("second read: %v", m)
	}
	if e, _ := ts.store.(storage.Elicitations).GetElicitation(context.Background(), id); len(e.Result) != 0 || !e.ResultTaken {
		t.Errorf("the result stays in the database after it was taken")
	}
	// Another server cannot read it at all.
	if st, m := ts.api(t, http.MethodGet, "/elicitations/"+id, filesServer, filesServerSecret, nil); st != http.StatusNotFound {
		t.Errorf("another resource's server read the elicitation: %d %v", st, m)
	}
}

func TestElicitationLongPollAndCancel(t *testing.T) {
	ts := startElicitation(t, nil)
	b := newBrowser(t)
	tok := userToken(t, ts, b, resourceURI)
	id, pageURL := ts.create(t, tok, "confirm", "Deploy?", map[string]any{"action": "Deploy v2 to production"})

	// Waiting with nothing happening ends at the wait, pending.
	start := time.Now()
	st, m := ts.api(t, http.MethodPost, "/elicitations/"+id, confClient, confSecret, map[string]any{"wait": 1})
	if st != http.StatusOK || m["status"] != "pending" || time.Since(start) < 900*time.Millisecond {
		t.Fatalf("short wait: %d %v after %v", st, m, time.Since(start))
	}
	got := make(chan map[string]any, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodGet, ts.issuer+"/elicitations/"+id+"?wait=20", nil)
		req.SetBasicAuth(confClient, confSecret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			got <- nil
			return
		}
		defer resp.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		got <- m
	}()
	time.Sleep(300 * time.Millisecond)
	answered := time.Now()
	b.answer(pageURL, "approve", nil)
	select {
	case m := <-got:
		if m["status"] != "accepted" {
			t.Errorf("long poll answered %v", m)
		}
		if d := time.Since(answered); d > 2*time.Second {
			t.Errorf("the long poll took %v after the answer", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the long poll did not return after the answer")
	}
	if st, m := ts.api(t, http.MethodGet, "/elicitations/"+id+"?wait=26", confClient, confSecret, nil); st != http.StatusBadRequest {
		t.Errorf("wait=26: %d %v", st, m)
	}

	// Cancel: the page says it was answered (it can no longer be), a second cancel conflicts.
	id2, pageURL2 := ts.create(t, tok, "confirm", "Deploy?", map[string]any{"action": "Deploy v3"})
	if st, m := ts.api(t, http.MethodPost, "/elicitations/"+id2+"/cancel", confClient, confSecret, nil); st != http.StatusOK || m["status"] != "cancelled" {
		t.Fatalf("cancel: %d %v", st, m)
	}
	if st, _ := ts.api(t, http.MethodPost, "/elicitations/"+id2+"/cancel", confClient, confSecret, nil); st != http.StatusConflict {
		t.Errorf("second cancel: %d", st)
	}
	if resp, _ := b.get(pageURL2); resp.StatusCode != http.StatusGone {
		t.Errorf("cancelled page: %d", resp.StatusCode)
	}
}

func TestElicitationPageNeedsLoginFirst(t *testing.T) {
	ts := startElicitation(t, nil)
	tok := userToken(t, ts, newBrowser(t), resourceURI)
	_, pageURL := ts.create(t, tok, "confirm", "Archive the project?", map[string]any{"action": "Archive project Apollo"})

	b := newBrowser(t) // another browser: no session
	resp, body := b.get(pageURL)
	loc, _ := resp.Location()
	if resp.StatusCode != http.StatusSeeOther || loc == nil || loc.Path != "/login" || loc.Query().Get("return") != strings.TrimPrefix(pageURL, ts.issuer) {
		t.Fatalf("without a session: %d %v", resp.StatusCode, loc)
	}
	if strings.Contains(body, "Apollo") {
		t.Error("the request was shown before sign-in")
	}
	_, body = b.get(loc.String())
	form := formValues(t, body)
	form.Set("username", alice)
	form.Set("password", alicePass)
	resp, _ = b.post(ts.issuer+"/login", form)
	if back, _ := resp.Location(); resp.StatusCode != http.StatusSeeOther || back == nil || back.String() != pageURL {
		t.Fatalf("after sign-in: %d %v, want back to the page", resp.StatusCode, back)
	}
	if resp, body := b.get(pageURL); resp.StatusCode != http.StatusOK || !strings.Contains(body, "Archive project Apollo") {
		t.Fatalf("page after sign-in: %d", resp.StatusCode)
	}
}

func TestElicitationPageRefusals(t *testing.T) {
	ts := startElicitation(t, nil)
	ts.addUser(t, "u_bob", bob, bobPass)
	alicePage := newBrowser(t)
	tok := userToken(t, ts, alicePage, resourceURI)
	const secretAction = "Transfer 5000 EUR to account DE89 3704"
	id, pageURL := ts.create(t, tok, "confirm", "Approve the transfer?", map[string]any{"action": secretAction})
	pending := func(why string) {
		t.Helper()
		if m := ts.read(t, id); m["status"] != "pending" {
			t.Fatalf("%s: the elicitation is %v", why, m["status"])
		}
	}

	t.Run("another user's session", func(t *testing.T) {
		b := newBrowser(t)
		b.signIn(ts, bob, bobPass)
		resp, body := b.get(pageURL)
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "another account") {
			t.Fatalf("bob opens alice's page: %d %.300s", resp.StatusCode, body)
		}
		for _, leak := range []string{secretAction, "transfer", "alice", "Demo MCP server", resourceURI} {
			if strings.Contains(strings.ToLower(body), strings.ToLower(leak)) {
				t.Errorf("the refusal reveals %q", leak)
			}
		}
		// Bob posting with his own valid CSRF token is refused as well.
		_, login := b.get(ts.issuer + "/login")
		form := formValues(t, login)
		form.Set("decision", "approve")
		if resp, _ := b.post(pageURL, form); resp.StatusCode != http.StatusForbidden {
			t.Errorf("bob answers alice's page: %d", resp.StatusCode)
		}
		pending("bob")
	})

	t.Run("the session changes between showing and submitting", func(t *testing.T) {
		b := newBrowser(t)
		b.signIn(ts, alice, alicePass)
		_, body := b.get(pageURL)
		form := formValues(t, body)
		form.Set("decision", "approve")
		b.signIn(ts, bob, bobPass) // same browser, now bob
		if resp, _ := b.post(pageURL, form); resp.StatusCode != http.StatusForbidden {
			t.Errorf("submit after the user changed: %d", resp.StatusCode)
		}
		pending("user changed")
	})

	t.Run("missing or wrong CSRF token", func(t *testing.T) {
		_, body := alicePage.get(pageURL)
		form := formValues(t, body)
		form.Set("decision", "approve")
		for name, f := range map[string]url.Values{
			"missing": {"decision": {"approve"}},
			"wrong":   {"decision": {"approve"}, "csrf_token": {"x" + form.Get("csrf_token")}},
		} {
			resp, body := alicePage.post(pageURL, f)
			if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "form has expired") {
				t.Errorf("%s CSRF token: %d %.200s", name, resp.StatusCode, body)
			}
		}
		// From another site, even with the token.
		req, _ := http.NewRequest(http.MethodPost, pageURL, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", "https://evil.example")
		if resp, _ := alicePage.do(req); resp.StatusCode != http.StatusForbidden {
			t.Errorf("cross-origin post: %d", resp.StatusCode)
		}
		pending("CSRF")
	})

	t.Run("tampered and unknown ids", func(t *testing.T) {
		flip := []byte(id)
		flip[10] ^= 1 // another valid base64url character
		for _, bad := range []string{string(flip), id[:42], id + "A", strings.Repeat("!", 43), strings.Repeat("A", 43)} {
			resp, body := alicePage.get(ts.issuer + "/elicitation/" + bad)
			if resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusSeeOther {
				t.Errorf("id %q: %d %.100s", bad, resp.StatusCode, body)
			}
			if strings.Contains(body, secretAction) {
				t.Errorf("id %q shows the request", bad)
			}
		}
		pending("tampered")
	})

	t.Run("the page cannot be framed", func(t *testing.T) {
		resp, _ := alicePage.get(pageURL)
		checkPageHeaders(t, resp)
	})

	t.Run("expired", func(t *testing.T) {
		old := storage.Elicitation{
			ID: strings.Repeat("E", 43), Resource: resourceURI, Subject: "u_alice", ClientID: publicClient, Kind: "confirm",
			Request: []byte(`{"message":"old","confirm":{"action":"Old action"}}`), Status: storage.ElicitationPending,
			CreatedAt: time.Now().Add(-11 * time.Minute), ExpiresAt: time.Now().Add(-time.Minute),
		}
		if err := ts.store.(storage.Elicitations).CreateElicitation(context.Background(), old); err != nil {
			t.Fatal(err)
		}
		resp, body := alicePage.get(ts.issuer + "/elicitation/" + old.ID)
		if resp.StatusCode != http.StatusGone || !strings.Contains(body, "expired") || strings.Contains(body, "Old action") {
			t.Errorf("expired page: %d %.200s", resp.StatusCode, body)
		}
		if m := ts.read(t, old.ID); m["status"] != "expired" {
			t.Errorf("expired via the API: %v", m)
		}
	})

	// Finally alice answers, once.
	if resp, _ := alicePage.answer(pageURL, "approve", nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("alice's answer: %d", resp.StatusCode)
	}
	if resp, _ := alicePage.get(pageURL); resp.StatusCode != http.StatusGone {
		t.Errorf("reused id: %d", resp.StatusCode)
	}
}

func TestElicitationAPIRefusals(t *testing.T) {
	key := newMachineKey(t)
	ts := startElicitation(t, func(c *config.Config) {
		withJWTClient(key, t)(c)
		c.Resources[1].ElicitationClients = append(c.Resources[1].ElicitationClients, jwtClient)
	})
	b := newBrowser(t)
	tok := userToken(t, ts, b, resourceURI)
	tok2 := userToken(t, ts, b, resource2URI)
	create := func(client, secret string, body map[string]any) (int, map[string]any) {
		t.Helper()
		full := map[string]any{"access_token": tok, "kind": "confirm", "message": "m", "params": map[string]any{"action": "a"}}
		for k, v := range body {
			if v == nil {
				delete(full, k)
			} else {
				full[k] = v
			}
		}
		return ts.api(t, http.MethodPost, "/elicitations", client, secret, full)
	}
	for _, c := range []struct {
		name           string
		client, secret string
		body           map[string]any
		status         int
		code           string
	}{
		// A server holding a token issued for another resource cannot create for its user.
		{"token for another resource", filesServer, filesServerSecret, nil, http.StatusForbidden, "unauthorized_client"},
		{"token for another resource (2)", confClient, confSecret, map[string]any{"access_token": tok2}, http.StatusForbidden, "unauthorized_client"},
		{"resource named but not the token's", confClient, confSecret, map[string]any{"resource": resource2URI}, http.StatusForbidden, "unauthorized_client"},
		{"no client authentication", "", "", nil, http.StatusUnauthorized, "invalid_client"},
		{"wrong secret", confClient, "wrong", nil, http.StatusUnauthorized, "invalid_client"},
		{"public client", publicClient, "", nil, http.StatusUnauthorized, "invalid_client"},
		{"unknown token", confClient, confSecret, map[string]any{"access_token": tok[:len(tok)-2] + "xx"}, http.StatusBadRequest, "invalid_token"},
		{"no token", confClient, confSecret, map[string]any{"access_token": nil}, http.StatusBadRequest, "invalid_token"},
		{"unknown kind", confClient, confSecret, map[string]any{"kind": "form"}, http.StatusBadRequest, "invalid_request"},
		{"unknown parameter", confClient, confSecret, map[string]any{"params": map[string]any{"action": "a", "url": "https://x"}}, http.StatusBadRequest, "invalid_request"},
		{"no message", confClient, confSecret, map[string]any{"message": nil}, http.StatusBadRequest, "invalid_request"},
		{"control characters", confClient, confSecret, map[string]any{"message": "pay \u202eevil"}, http.StatusBadRequest, "invalid_request"},
		{"unknown provider", confClient, confSecret, map[string]any{"kind": "connect", "params": map[string]any{"provider": "nope"}}, http.StatusBadRequest, "invalid_request"},
		{"lifetime too long", confClient, confSecret, map[string]any{"expires_in": 7200}, http.StatusBadRequest, "invalid_request"},
		{"unknown member", confClient, confSecret, map[string]any{"subject": "u_bob"}, http.StatusBadRequest, "invalid_request"},
	} {
		st, m := create(c.client, c.secret, c.body)
		if st != c.status || m["error"] != c.code {
			t.Errorf("%s: %d %v, want %d %s", c.name, st, m, c.status, c.code)
		}
	}

	// A revoked token no longer creates.
	req, _ := http.NewRequest(http.MethodPost, ts.issuer+"/revoke", strings.NewReader(url.Values{"token": {tok}, "client_id": {publicClient}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("revoke: %v %v", resp, err)
	}
	if st, m := create(confClient, confSecret, nil); st != http.StatusBadRequest || m["error"] != "invalid_token" {
		t.Errorf("revoked token: %d %v", st, m)
	}

	// A machine's token (client_credentials) speaks for no user.
	st, m, _ := ts.tokenRequest(t, url.Values{"grant_type": {"client_credentials"}, "client_id": {confClient}, "client_secret": {confSecret}, "resource": {resourceURI}})
	if st != http.StatusOK {
		t.Fatalf("client credentials: %d %v", st, m)
	}
	if st, m := create(confClient, confSecret, map[string]any{"access_token": m["access_token"]}); st != http.StatusBadRequest || m["error"] != "invalid_token" {
		t.Errorf("machine token: %d %v", st, m)
	}

	// The files server with a token for its own resource is fine.
	body := map[string]any{"access_token": tok2, "kind": "secret", "message": "m", "params": map[string]any{"label": "Key"}}
	if st, m := ts.api(t, http.MethodPost, "/elicitations", filesServer, filesServerSecret, body); st != http.StatusCreated {
		t.Errorf("files server: %d %v", st, m)
	}
	// private_key_jwt in the body works as at the token endpoint, and an assertion is used once.
	body["client_assertion_type"] = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
	body["client_assertion"] = key.assertion(t, assertionClaims(ts.issuer, jwtClient))
	if st, m := ts.api(t, http.MethodPost, "/elicitations", "", "", body); st != http.StatusCreated {
		t.Errorf("private_key_jwt: %d %v", st, m)
	}
	if st, m := ts.api(t, http.MethodPost, "/elicitations", "", "", body); st != http.StatusUnauthorized {
		t.Errorf("replayed assertion: %d %v", st, m)
	}
}

// thirdParty is a third-party OAuth 2 provider for the connect kind: authorization code with
// PKCE (S256) that approves at once, refresh tokens that rotate, and a user-info API.
type thirdParty struct {
	t   *testing.T
	srv *httptest.Server

	mu        sync.Mutex
	deny      bool          // answer the next authorization with access_denied
	lifetime  time.Duration // of access tokens
	codes     map[string]thirdPartyCode
	access    map[string]time.Time // access token → expiry
	refresh   map[string]bool      // refresh tokens that are valid
	grants    []string             // grant_type of each token request
	apiCalls  int
	revokeAll bool   // refuse every refresh token (the user revoked us at the provider)
	iss       string // the iss its answers carry (RFC 9207); "" for none
	// revoked lists the token_type_hint:token of each RFC 7009 request; revokeStatus, when
	// set, is the revocation endpoint's answer instead of 200.
	revoked      []string
	revokeStatus int
}

type thirdPartyCode struct{ challenge, redirect string }

const (
	thirdPartyClient = "mcp-authz-at-example"
	thirdPartySecret = "third-party-client-secret-0123456789"
)

func newThirdParty(t *testing.T) *thirdParty {
	p := &thirdParty{t: t, lifetime: time.Hour, codes: map[string]thirdPartyCode{}, access: map[string]time.Time{}, refresh: map[string]bool{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /authorize", p.authorize)
	mux.HandleFunc("POST /token", p.token)
	mux.HandleFunc("GET /user", p.user)
	mux.HandleFunc("POST /revoke", p.revoke)
	p.srv = httptest.NewUnstartedServer(mux)
	p.srv.Config.ErrorLog = log.New(io.Discard, "", 0) // a browser's first look at a self-signed certificate
	p.srv.StartTLS()
	t.Cleanup(p.srv.Close)
	return p
}

func (p *thirdParty) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("client_id") != thirdPartyClient || q.Get("response_type") != "code" || q.Get("code_challenge_method") != "S256" ||
		len(q.Get("code_challenge")) != 43 || q.Get("state") == "" || !strings.HasSuffix(q.Get("redirect_uri"), "/elicitation/callback") {
		http.Error(w, "bad authorization request: "+r.URL.RawQuery, http.StatusBadRequest)
		return
	}
	back, _ := url.Parse(q.Get("redirect_uri"))
	v := url.Values{"state": {q.Get("state")}}
	p.mu.Lock()
	if p.iss != "" {
		v.Set("iss", p.iss)
	}
	if p.deny {
		v.Set("error", "access_denied")
		p.deny = false
	} else {
		code := rand.Text()
		p.codes[code] = thirdPartyCode{challenge: q.Get("code_challenge"), redirect: q.Get("redirect_uri")}
		v.Set("code", code)
	}
	p.mu.Unlock()
	back.RawQuery = v.Encode()
	http.Redirect(w, r, back.String(), http.StatusFound)
}

func (p *thirdParty) token(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	id, secret, ok := r.BasicAuth()
	fail := func(status int, code string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": code})
	}
	if !ok || id != thirdPartyClient || secret != thirdPartySecret {
		fail(http.StatusUnauthorized, "invalid_client")
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.grants = append(p.grants, r.PostForm.Get("grant_type"))
	switch r.PostForm.Get("grant_type") {
	case "authorization_code":
		c, ok := p.codes[r.PostForm.Get("code")]
		delete(p.codes, r.PostForm.Get("code"))
		sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
		if !ok || c.redirect != r.PostForm.Get("redirect_uri") || base64URL.EncodeToString(sum[:]) != c.challenge {
			fail(http.StatusBadRequest, "invalid_grant")
			return
		}
	case "refresh_token":
		rt := r.PostForm.Get("refresh_token")
		if !p.refresh[rt] || p.revokeAll {
			fail(http.StatusBadRequest, "invalid_grant")
			return
		}
		delete(p.refresh, rt) // rotation
	default:
		fail(http.StatusBadRequest, "unsupported_grant_type")
		return
	}
	at, rt := "at-"+rand.Text(), "rt-"+rand.Text()
	p.access[at] = time.Now().Add(p.lifetime)
	p.refresh[rt] = true
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"access_token": at, "token_type": "Bearer", "refresh_token": rt, "expires_in": int(p.lifetime.Seconds()), "scope": "profile",
	})
}

// revoke is an RFC 7009 revocation endpoint: the client authenticates as at the token endpoint;
// revoking a refresh token also ends the access tokens (there is one grant per test).
func (p *thirdParty) revoke(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	if id, secret, ok := r.BasicAuth(); !ok || id != thirdPartyClient || secret != thirdPartySecret {
		http.Error(w, `{"error":"invalid_client"}`, http.StatusUnauthorized)
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.revokeStatus != 0 {
		w.WriteHeader(p.revokeStatus)
		return
	}
	tok := r.PostForm.Get("token")
	p.revoked = append(p.revoked, r.PostForm.Get("token_type_hint")+":"+tok)
	if p.refresh[tok] {
		delete(p.refresh, tok)
		clear(p.access)
	}
	delete(p.access, tok)
}

func (p *thirdParty) revocations() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.revoked)
}

func (p *thirdParty) user(w http.ResponseWriter, r *http.Request) {
	at := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	p.mu.Lock()
	exp, ok := p.access[at]
	p.apiCalls++
	p.mu.Unlock()
	if !ok || time.Now().After(exp) {
		http.Error(w, "invalid token", http.StatusUnauthorized)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{"login":"alice-at-example","id":42}`))
}

func (p *thirdParty) grantTypes() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.grants)
}

func (p *thirdParty) set(f func(*thirdParty)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f(p)
}

// trust makes the authorization server's outbound client accept the local TLS hosts (every
// httptest TLS server has the same certificate).
func trustTLS(t *testing.T, srv *httptest.Server, more ...*httptest.Server) func(*config.Config) {
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	return func(c *config.Config) {
		c.Outbound.TestHosts = append(c.Outbound.TestHosts, srv.Listener.Addr().String())
		for _, s := range more {
			c.Outbound.TestHosts = append(c.Outbound.TestHosts, s.Listener.Addr().String())
		}
		c.Outbound.TestCAFile = ca
	}
}

// withProvider configures the third party as provider "example".
func (p *thirdParty) configure(c *config.Config) {
	c.Elicitation.Providers = append(c.Elicitation.Providers, config.ConnectProvider{
		ID: "example", Name: "Example Cloud",
		AuthorizationEndpoint: p.srv.URL + "/authorize", TokenEndpoint: p.srv.URL + "/token",
		ClientID: thirdPartyClient, ClientSecret: thirdPartySecret, Scopes: []string{"profile"},
	})
}

// connect answers a connect page in b: Continue, the provider (which approves at once), and
// back to our callback. It returns the last page.
func (b *browser) connect(pageURL string) (*http.Response, string) {
	b.t.Helper()
	resp, body := b.answer(pageURL, "connect", nil)
	for i := 0; i < 3 && (resp.StatusCode == http.StatusSeeOther || resp.StatusCode == http.StatusFound); i++ {
		loc, err := resp.Location()
		if err != nil {
			b.t.Fatal(err)
		}
		resp, body = b.get(loc.String())
	}
	return resp, body
}

func TestElicitationConnectKind(t *testing.T) {
	prov := newThirdParty(t)
	ts := startElicitation(t, func(c *config.Config) {
		trustTLS(t, prov.srv)(c)
		prov.configure(c)
	})
	b := newBrowser(t)
	b.client.Transport = prov.srv.Client().Transport // the browser trusts the provider's certificate
	tok := userToken(t, ts, b, resourceURI)
	tokenFor := func(client, secret, accessToken string) (int, map[string]any) {
		return ts.api(t, http.MethodPost, "/elicitations/connections/token", client, secret, map[string]any{"access_token": accessToken, "provider": "example"})
	}
	if st, m := tokenFor(confClient, confSecret, tok); st != http.StatusNotFound || m["error"] != "not_connected" {
		t.Fatalf("before connecting: %d %v", st, m)
	}

	id, pageURL := ts.create(t, tok, "connect", "Connect your Example Cloud account to read your profile.", map[string]any{"provider": "example"})
	resp, body := b.get(pageURL)
	if !strings.Contains(body, "Connect your Example Cloud account") || !strings.Contains(body, prov.srv.Listener.Addr().String()) {
		t.Fatalf("connect page: %d %.400s", resp.StatusCode, body)
	}
	// Continue answers with a redirect to the provider: the page's form-action must allow it.
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "form-action 'self' "+prov.srv.URL) {
		t.Errorf("CSP %q does not let the form end at the provider", csp)
	}
	checkPageHeaders(t, resp)

	resp, body = b.connect(pageURL)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Account connected") {
		t.Fatalf("after the provider: %d %.300s", resp.StatusCode, body)
	}
	m := ts.read(t, id)
	if res, _ := m["result"].(map[string]any); m["status"] != "accepted" || res["provider"] != "example" {
		t.Fatalf("outcome: %v", m)
	}
	// The tokens are stored encrypted, and bound to (resource, user, provider).
	recs, err := ts.store.(storage.Records).ListRecords(context.Background(), storage.KindConnection)
	if err != nil || len(recs) != 1 {
		t.Fatalf("connection records: %d, %v", len(recs), err)
	}
	if bytes.Contains(recs[0].Data, []byte("at-")) || bytes.Contains(recs[0].Data, []byte("rt-")) {
		t.Errorf("the connection record holds tokens in the clear: %s", recs[0].Data)
	}
	st, got := tokenFor(confClient, confSecret, tok)
	at, _ := got["access_token"].(string)
	if st != http.StatusOK || !strings.HasPrefix(at, "at-") || got["refresh_token"] != nil || got["token_type"] != "Bearer" {
		t.Fatalf("connection token: %d %v", st, got)
	}
	// Another resource's server, with the user's token for its own resource, gets nothing.
	tok2 := userToken(t, ts, b, resource2URI)
	if st, m := tokenFor(filesServer, filesServerSecret, tok2); st != http.StatusNotFound {
		t.Errorf("files server: %d %v", st, m)
	}
	if st, m := tokenFor(filesServer, filesServerSecret, tok); st != http.StatusForbidden {
		t.Errorf("files server with a token for another resource: %d %v", st, m)
	}
	// The callback cannot be replayed: the flow cookie is gone and the elicitation answered.
	if g := prov.grantTypes(); !slices.Equal(g, []string{"authorization_code"}) {
		t.Errorf("provider grants %v", g)
	}

	// Refresh: tokens that expire within the skew are refreshed on the next request, the
	// refresh token rotating at the provider.
	prov.set(func(p *thirdParty) { p.lifetime = 10 * time.Second })
	id2, page2 := ts.create(t, tok, "connect", "Reconnect", map[string]any{"provider": "example"})
	if resp, _ := b.connect(page2); resp.StatusCode != http.StatusOK {
		t.Fatalf("reconnect: %d", resp.StatusCode)
	}
	_ = id2
	_, first := tokenFor(confClient, confSecret, tok)
	_, second := tokenFor(confClient, confSecret, tok)
	if first["access_token"] == second["access_token"] || first["access_token"] == at {
		t.Errorf("expired tokens were not refreshed: %v %v", first["access_token"], second["access_token"])
	}
	if g := prov.grantTypes(); !slices.Equal(g, []string{"authorization_code", "authorization_code", "refresh_token", "refresh_token"}) {
		t.Errorf("provider grants %v", g)
	}
	// A refused refresh (the user revoked us at the provider) ends the connection.
	prov.set(func(p *thirdParty) { p.revokeAll = true })
	if st, m := tokenFor(confClient, confSecret, tok); st != http.StatusNotFound || m["error"] != "not_connected" {
		t.Errorf("after revocation at the provider: %d %v", st, m)
	}
	if recs, _ := ts.store.(storage.Records).ListRecords(context.Background(), storage.KindConnection); len(recs) != 0 {
		t.Errorf("the ended connection is still stored")
	}

	// Declining at the provider declines the elicitation.
	prov.set(func(p *thirdParty) { p.deny, p.revokeAll = true, false })
	id3, page3 := ts.create(t, tok, "connect", "Connect", map[string]any{"provider": "example"})
	if resp, body := b.connect(page3); resp.StatusCode != http.StatusOK || !strings.Contains(body, "Declined") {
		t.Errorf("denied at the provider: %d %.200s", resp.StatusCode, body)
	}
	if m := ts.read(t, id3); m["status"] != "declined" {
		t.Errorf("denied at the provider: %v", m)
	}

	// A callback without the flow cookie (another browser, a replay) is refused.
	other := newBrowser(t)
	other.signIn(ts, alice, alicePass)
	if resp, _ := other.get(ts.issuer + "/elicitation/callback?code=x&state=y"); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("callback without the flow: %d", resp.StatusCode)
	}
}

// The MCP flow with the official Go SDK as the client: the example server's tools need the
// user's input, answer the call with URLElicitationRequiredError (-32042), the user completes
// the page in the harness browser through its real forms, the server sends
// notifications/elicitation/complete, and the retried call succeeds.

const (
	exampleServer       = "example-mcp-server"
	exampleServerSecret = "example-mcp-server-secret-0123456789abcd"
)

// elicitMCP is the authorization server, the example MCP server with its elicitation tools,
// and an SDK client session that declared URL-mode elicitation.
type elicitMCP struct {
	*mcpClient
	as        *testServer
	url       string
	completed chan string // elicitationIds of notifications/elicitation/complete
}

func startElicitMCP(t *testing.T, prov *thirdParty) *elicitMCP {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mcpURL := "http://" + ln.Addr().String() + "/mcp"
	as := startServer(t, options{mutate: func(c *config.Config) {
		r := c.Resources[0]
		r.URI, r.Name = mcpURL, "Example MCP server"
		r.ElicitationClients = []string{exampleServer}
		c.Resources = append(c.Resources, r)
		c.Clients = append(c.Clients, config.Client{
			ID: exampleServer, Name: "Example MCP server", SecretHash: hashSecret(exampleServerSecret),
			GrantTypes: []string{"client_credentials"}, Resources: []string{mcpURL},
		})
		if prov != nil {
			trustTLS(t, prov.srv)(c)
			prov.configure(c)
		}
	}})
	logger := slog.New(slog.DiscardHandler)
	if os.Getenv("E2E_LOG") != "" {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	ecfg := &mcpserver.ElicitationConfig{ClientID: exampleServer, ClientSecret: exampleServerSecret}
	if prov != nil {
		ecfg.Provider, ecfg.ProviderAPI, ecfg.HTTPClient = "example", prov.srv.URL+"/user", prov.srv.Client()
	}
	h, err := mcpserver.New(mcpserver.Config{Resource: mcpURL, Issuer: as.issuer, Logger: logger, Elicitation: ecfg})
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: h}
	go func() { _ = hs.Serve(ln) }()
	t.Cleanup(func() { _ = hs.Close() })

	e := &elicitMCP{as: as, url: mcpURL, completed: make(chan string, 8)}
	c := &mcpClient{t: t, browser: newBrowser(t)}
	if prov != nil {
		c.browser.client.Transport = prov.srv.Client().Transport
	}
	h2, err := auth.NewAuthorizationCodeHandler(&auth.AuthorizationCodeHandlerConfig{
		PreregisteredClient: &oauthex.ClientCredentials{ClientID: publicClient},
		RedirectURL:         "http://127.0.0.1:49152/callback",
		AuthorizationCodeFetcher: func(ctx context.Context, args *auth.AuthorizationArgs) (*auth.AuthorizationResult, error) {
			out := c.browser.authorize(as, args.URL, "allow")
			if out.redirect == nil {
				return nil, io.ErrUnexpectedEOF
			}
			q := out.redirect.Query()
			return &auth.AuthorizationResult{Code: q.Get("code"), State: q.Get("state"), Iss: q.Get("iss")}, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	c.oauth = h2
	client := mcp.NewClient(&mcp.Implementation{Name: "e2e-elicitation", Version: "0"}, &mcp.ClientOptions{
		// URL mode only: this client opens pages, it renders no forms.
		Capabilities: &mcp.ClientCapabilities{Elicitation: &mcp.ElicitationCapabilities{URL: &mcp.URLElicitationCapabilities{}}},
		ElicitationCompleteHandler: func(_ context.Context, req *mcp.ElicitationCompleteNotificationRequest) {
			e.completed <- req.Params.ElicitationID
		},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// The 2025-11-25 revision, which defines URL-mode elicitation and its completion
	// notification (delivered on the session's standalone SSE stream).
	c.session, err = client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: mcpURL, OAuthHandler: h2},
		&mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { _ = c.session.Close() })
	e.mcpClient = c
	return e
}

// callForElicitation calls a tool that must answer with URLElicitationRequiredError, and returns
// the one URL-mode elicitation it names.
func (e *elicitMCP) callForElicitation(name string, args map[string]any) *mcp.ElicitParams {
	t := e.t
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := e.session.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args})
	var rpcErr *jsonrpc.Error
	if !errors.As(err, &rpcErr) || rpcErr.Code != mcp.CodeURLElicitationRequired {
		t.Fatalf("%s: got %v %v, want error %d", name, res, err, mcp.CodeURLElicitationRequired)
	}
	var data struct {
		Elicitations []*mcp.ElicitParams `json:"elicitations"`
	}
	if err := json.Unmarshal(rpcErr.Data, &data); err != nil || len(data.Elicitations) != 1 {
		t.Fatalf("%s: error data %s: %v", name, rpcErr.Data, err)
	}
	el := data.Elicitations[0]
	if el.Mode != "url" || el.ElicitationID == "" || el.Message == "" || !strings.HasPrefix(el.URL, e.as.issuer+"/elicitation/") {
		t.Fatalf("%s: elicitation %+v", name, el)
	}
	// The URL carries the id and nothing else.
	if u, _ := url.Parse(el.URL); u.RawQuery != "" || u.Fragment != "" || u.Path != "/elicitation/"+el.ElicitationID {
		t.Errorf("elicitation URL %s carries more than the id", el.URL)
	}
	return el
}

// callWith calls a tool with arguments; it must succeed. Its structured result goes to out.
func (e *elicitMCP) callWith(name string, args map[string]any, out any) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := e.session.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args})
	if err != nil || res.IsError {
		e.t.Fatalf("%s: %v %+v", name, err, res)
	}
	raw, _ := json.Marshal(res.StructuredContent)
	if err := json.Unmarshal(raw, out); err != nil {
		e.t.Fatalf("%s: %s: %v", name, raw, err)
	}
}

// awaitCompletion waits for notifications/elicitation/complete for id.
func (e *elicitMCP) awaitCompletion(id string) {
	e.t.Helper()
	select {
	case got := <-e.completed:
		if got != id {
			e.t.Fatalf("completion notification for %s, want %s", got, id)
		}
	case <-time.After(15 * time.Second):
		e.t.Fatal("no notifications/elicitation/complete")
	}
}

func TestElicitationMCPGoSDKSecret(t *testing.T) {
	e := startElicitMCP(t, nil)
	const apiKey = "wx-key-0123456789-9f8e"

	el := e.callForElicitation("weather", map[string]any{"city": "Lyon"})
	if !strings.Contains(el.Message, "API key") {
		t.Errorf("message %q", el.Message)
	}
	// The user opens the URL in the browser that signed in for the OAuth flow, and enters the
	// key in the page's form.
	resp, body := e.browser.answer(el.URL, "submit", url.Values{"value": {apiKey}})
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Sent") {
		t.Fatalf("secret page: %d %.300s", resp.StatusCode, body)
	}
	e.awaitCompletion(el.ElicitationID)

	var w mcpserver.Weather
	e.callWith("weather", map[string]any{"city": "Lyon"}, &w) // retried, now with the key
	if w.KeyHint != "…9f8e" || w.City != "Lyon" || w.Forecast == "" {
		t.Errorf("weather = %+v", w)
	}
	// The key was handed to the MCP server once: it is gone from the authorization server.
	st, m := e.as.api(t, http.MethodGet, "/elicitations/"+el.ElicitationID, exampleServer, exampleServerSecret, nil)
	if st != http.StatusOK || m["result_taken"] != true || m["result"] != nil {
		t.Errorf("after the server took the key: %d %v", st, m)
	}
	// The id cannot be used again.
	if resp, _ := e.browser.get(el.URL); resp.StatusCode != http.StatusGone {
		t.Errorf("reusing the elicitation URL: %d", resp.StatusCode)
	}
}

func TestElicitationMCPGoSDKConnect(t *testing.T) {
	prov := newThirdParty(t)
	e := startElicitMCP(t, prov)

	el := e.callForElicitation("linked_account", nil)
	resp, body := e.browser.connect(el.URL)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Account connected") {
		t.Fatalf("connect: %d %.300s", resp.StatusCode, body)
	}
	e.awaitCompletion(el.ElicitationID)

	var acct mcpserver.LinkedAccount
	e.call("linked_account", &acct)
	if acct.Provider != "example" || acct.Profile["login"] != "alice-at-example" {
		t.Errorf("linked_account = %+v", acct)
	}
	// The MCP client never saw a third-party token: not in the error, not in the result.
	for _, pg := range e.browser.pages {
		if strings.Contains(pg.url, "access_token") {
			t.Errorf("a URL carried a token: %s", pg.url)
		}
	}
	if g := prov.grantTypes(); !slices.Equal(g, []string{"authorization_code"}) {
		t.Errorf("provider grants %v", g)
	}
}

// The signed callback: the resource's elicitation_callback receives a notice signed with the
// authorization server's key, which the kit verifies against the JWKS; the server then reads the
// outcome with the kit.
func TestElicitationSignedCallback(t *testing.T) {
	type delivery struct {
		notice *elicit.Notice
		raw    []byte
	}
	got := make(chan delivery, 4)
	var kit *elicit.Client
	cb := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Header.Get("Content-Type") != "application/jwt" {
			t.Errorf("callback content type %q", r.Header.Get("Content-Type"))
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		kit.CallbackHandler(func(_ context.Context, n *elicit.Notice) { got <- delivery{n, body} }).ServeHTTP(w, r)
	}))
	cb.StartTLS()
	t.Cleanup(cb.Close)
	ts := startElicitation(t, func(c *config.Config) {
		trustTLS(t, cb)(c)
		c.Resources[0].ElicitationCallback = cb.URL + "/elicitation-callback"
	})
	var err error
	kit, err = elicit.New(elicit.Config{Issuer: ts.issuer, Resource: resourceURI, ClientID: confClient, ClientSecret: confSecret})
	if err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t)
	tok := userToken(t, ts, b, resourceURI)

	e, err := kit.Create(context.Background(), tok, elicit.Request{
		Kind: elicit.KindSecret, Message: "Your deploy token, please.", Secret: &elicit.SecretParams{Label: "Deploy token"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if out, err := kit.Get(context.Background(), e.ID); err != nil || out.Status != elicit.StatusPending || out.Subject != "u_alice" {
		t.Fatalf("before: %+v %v", out, err)
	}
	b.answer(e.URL, "submit", url.Values{"value": {"dt-secret-42"}})
	var d delivery
	select {
	case d = <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("no callback")
	}
	if d.notice.ElicitationID != e.ID || d.notice.Status != elicit.StatusAccepted {
		t.Errorf("notice %+v", d.notice)
	}
	if bytes.Contains(d.raw, []byte("dt-secret-42")) {
		t.Error("the callback carries the secret")
	}
	out, err := kit.Get(context.Background(), d.notice.ElicitationID)
	if err != nil || out.Value != "dt-secret-42" {
		t.Fatalf("after the callback: %+v %v", out, err)
	}

	// The notice verifies for this resource only, and not once altered.
	other, _ := elicit.New(elicit.Config{Issuer: ts.issuer, Resource: resource2URI, ClientID: confClient, ClientSecret: confSecret})
	if _, err := other.VerifyNotice(context.Background(), d.raw); err == nil {
		t.Error("a notice for another resource verified")
	}
	parts := strings.Split(string(d.raw), ".")
	claims, _ := base64URL.DecodeString(parts[1])
	forged := parts[0] + "." + base64URL.EncodeToString(bytes.Replace(claims, []byte("accepted"), []byte("declined"), 1)) + "." + parts[2]
	if _, err := kit.VerifyNotice(context.Background(), []byte(forged)); err == nil {
		t.Error("an altered notice verified")
	}
	// An access token (also signed by us) is not a notice.
	if _, err := kit.VerifyNotice(context.Background(), []byte(tok)); err == nil {
		t.Error("an access token passed for a notice")
	}

	// Waiting with the kit: a confirm answered while the server waits.
	e2, err := kit.Create(context.Background(), tok, elicit.Request{Kind: elicit.KindConfirm, Message: "Go?", Confirm: &elicit.ConfirmParams{Action: "Restart the service"}})
	if err != nil {
		t.Fatal(err)
	}
	_, page := b.get(e2.URL)
	decline := formValues(t, page)
	decline.Set("decision", "decline")
	go func() { // no t.Fatal off the test's goroutine: the Wait below reports a failure
		time.Sleep(200 * time.Millisecond)
		req, _ := http.NewRequest(http.MethodPost, e2.URL, strings.NewReader(decline.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if resp, err := b.client.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	if out, err := kit.Wait(context.Background(), e2.ID); err != nil || out.Status != elicit.StatusDeclined {
		t.Errorf("wait: %+v %v", out, err)
	}
	if _, err := kit.ConnectionToken(context.Background(), tok, "nope"); err == nil {
		t.Error("a connection token for an unknown provider")
	}
}

// chromiumElicitationReport is what interop/elicitation-chromium.mjs saw.
type chromiumElicitationReport struct {
	Pages []struct {
		URL     string            `json:"url"`
		Status  int               `json:"status"`
		Headers map[string]string `json:"headers"`
	} `json:"pages"`
	Console     []string `json:"console"`
	Screenshots []string `json:"screenshots"`
	Login       struct {
		URL         string `json:"url"`
		HasPassword bool   `json:"hasPassword"`
	} `json:"login"`
	Confirm struct {
		seenPage
		Action  string   `json:"action"`
		Details []string `json:"details"`
	} `json:"confirm"`
	Framing struct {
		FramedText *string `json:"framedText"`
	} `json:"framing"`
	Approved seenPage `json:"approved"`
	Reused   seenPage `json:"reused"`
	Secret   struct {
		seenPage
		InputType string `json:"inputType"`
		Label     string `json:"label"`
	} `json:"secret"`
	SecretSent   seenPage `json:"secretSent"`
	Connect      seenPage `json:"connect"`
	Connected    seenPage `json:"connected"`
	Connections  seenPage `json:"connections"`
	Disconnected seenPage `json:"disconnected"`
}

type seenPage struct {
	URL     string   `json:"url"`
	Title   string   `json:"title"`
	Heading string   `json:"heading"`
	Message string   `json:"message"`
	Body    string   `json:"body"`
	Buttons []string `json:"buttons"`
}

// TestChromiumElicitationPages takes headless Chromium through each kind of page: sign-in
// first, what the confirm page shows, that it cannot be framed, approving and reusing the link,
// a secret, a connect through the third-party provider, and disconnecting it on the
// connected-accounts page. Screenshots go to e2e/screenshots/.
func TestChromiumElicitationPages(t *testing.T) {
	chromium := chromiumPath(t)
	interopDir(t)
	prov := newThirdParty(t)
	ts := startElicitation(t, func(c *config.Config) {
		trustTLS(t, prov.srv)(c)
		prov.configure(c)
	})
	tok := userToken(t, ts, newBrowser(t), resourceURI)
	const secretValue = "sk-chromium-0123456789-abcd"
	confirmID, confirmURL := ts.create(t, tok, "confirm", "The assistant wants to delete old reports to free space.", map[string]any{
		"action": "Delete 3 files in /reports", "details": []string{"q1-2025.pdf", "q2-2025.pdf", "q3-2025.pdf"},
		"approve_label": "Delete files", "decline_label": "Keep them",
	})
	secretID, secretURL := ts.create(t, tok, "secret", "The weather tool needs your OpenWeather API key.", map[string]any{
		"label": "OpenWeather API key", "description": "Find it at openweathermap.org, under My API keys.",
	})
	connectID, connectURL := ts.create(t, tok, "connect", "linked_account needs your Example Cloud account to read your profile.", map[string]any{"provider": "example"})

	shots, err := filepath.Abs("screenshots")
	if err != nil {
		t.Fatal(err)
	}
	r := runNode(t, ts, "elicitation-chromium.mjs", map[string]string{
		"ISSUER": ts.issuer, "CONFIRM_URL": confirmURL, "SECRET_URL": secretURL, "CONNECT_URL": connectURL,
		"SECRET_VALUE": secretValue, "LOGIN_USERNAME": alice, "LOGIN_PASSWORD": alicePass,
		"CHROMIUM": chromium, "SCREENSHOT_DIR": shots,
	})
	if r.report == nil {
		t.Fatal("no report from the browser")
	}
	var rep chromiumElicitationReport
	if err := json.Unmarshal(r.report, &rep); err != nil {
		t.Fatal(err)
	}
	for _, s := range rep.Screenshots {
		t.Logf("screenshot %s", s)
	}
	for _, c := range rep.Console {
		t.Logf("console %s", c)
	}

	if !rep.Login.HasPassword || !strings.HasPrefix(rep.Login.URL, ts.issuer+"/login") {
		t.Errorf("the first page %s is not our login", rep.Login.URL)
	}
	c := rep.Confirm
	if c.URL != confirmURL || !strings.Contains(c.Heading, "Demo MCP server") || !strings.Contains(c.Message, "delete old reports") ||
		c.Action != "Delete 3 files in /reports" || len(c.Details) != 3 || !slices.Equal(c.Buttons, []string{"Keep them", "Delete files"}) {
		t.Errorf("confirm page: %+v", c)
	}
	if ft := rep.Framing.FramedText; ft != nil && strings.Contains(*ft, "Delete 3 files") {
		t.Errorf("the page rendered inside a frame: %q", *ft)
	}
	if rep.Approved.Heading != "Approved" || rep.Reused.Heading != "This request was already answered" || strings.Contains(rep.Reused.Body, "Delete 3 files") {
		t.Errorf("approved %q, reused %q", rep.Approved.Heading, rep.Reused.Heading)
	}
	if rep.Secret.InputType != "password" || rep.Secret.Label != "OpenWeather API key" || rep.SecretSent.Heading != "Sent" || strings.Contains(rep.SecretSent.Body, secretValue) {
		t.Errorf("secret: %+v, sent %+v", rep.Secret, rep.SecretSent)
	}
	if !strings.Contains(rep.Connect.Body, "Connect your Example Cloud account") || rep.Connected.Heading != "Account connected" {
		t.Errorf("connect %q, connected %q", rep.Connect.Body, rep.Connected.Heading)
	}
	if cp := rep.Connections; cp.Heading != "Connected accounts" || !strings.Contains(cp.Body, "Example Cloud") ||
		!strings.Contains(cp.Body, "Demo MCP server") || !slices.Equal(cp.Buttons, []string{"Disconnect Example Cloud"}) {
		t.Errorf("connections page: %+v", cp)
	}
	if d := rep.Disconnected.Body; !strings.Contains(d, "Your Example Cloud account was disconnected.") || !strings.Contains(d, "You have no connected accounts") {
		t.Errorf("after Disconnect: %q", d)
	}
	ours := 0
	for _, p := range rep.Pages {
		if !strings.HasPrefix(p.URL, ts.issuer) || p.Status == http.StatusSeeOther {
			continue // redirects show nothing
		}
		ours++
		if csp := p.Headers["content-security-policy"]; !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("%s: CSP %q", p.URL, csp)
		}
		if p.Headers["x-frame-options"] != "DENY" {
			t.Errorf("%s: X-Frame-Options %q", p.URL, p.Headers["x-frame-options"])
		}
	}
	if ours < 6 {
		t.Errorf("saw %d pages of ours", ours)
	}

	// What the pages did, as the MCP server reads it.
	if m := ts.read(t, confirmID); m["status"] != "accepted" {
		t.Errorf("confirm: %v", m)
	}
	if m := ts.read(t, secretID); m["status"] != "accepted" || m["result"].(map[string]any)["value"] != secretValue {
		t.Errorf("secret: %v", m)
	}
	if m := ts.read(t, connectID); m["status"] != "accepted" {
		t.Errorf("connect: %v", m)
	}
	// Connected, then disconnected on the connections page.
	if st, m := ts.api(t, http.MethodPost, "/elicitations/connections/token", confClient, confSecret, map[string]any{"access_token": tok, "provider": "example"}); st != http.StatusNotFound || m["error"] != "not_connected" {
		t.Errorf("connection token after Disconnect: %d %v", st, m)
	}
}

// The same API and pages on PostgreSQL (MCP_AUTHZ_TEST_POSTGRES_DSN; skipped without it, except
// in CI): single use and take-once are the database's compare-and-set there too.
func TestElicitationOnPostgreSQL(t *testing.T) {
	ts := startServer(t, options{postgres: true, mutate: withElicitation})
	b := newBrowser(t)
	tok := userToken(t, ts, b, resourceURI)

	id, pageURL := ts.create(t, tok, "secret", "Your key, please.", map[string]any{"label": "API key"})
	form := func() url.Values {
		_, body := b.get(pageURL)
		f := formValues(t, body)
		f.Set("decision", "submit")
		f.Set("value", "pg-secret-1")
		return f
	}()
	// Two submissions racing: exactly one completes.
	results := make(chan int, 2)
	for range 2 {
		go func() {
			req, _ := http.NewRequest(http.MethodPost, pageURL, strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			resp, err := b.client.Do(req)
			if err != nil {
				results <- 0
				return
			}
			resp.Body.Close()
			results <- resp.StatusCode
		}()
	}
	codes := []int{<-results, <-results}
	slices.Sort(codes)
	if !slices.Equal(codes, []int{http.StatusOK, http.StatusGone}) {
		t.Errorf("two racing answers: %v, want one 200 and one 410", codes)
	}
	if m := ts.read(t, id); m["result"].(map[string]any)["value"] != "pg-secret-1" {
		t.Errorf("first read: %v", m)
	}
	if m := ts.read(t, id); m["result_taken"] != true {
		t.Errorf("second read: %v", m)
	}
	id2, _ := ts.create(t, tok, "confirm", "Go?", map[string]any{"action": "Go"})
	if st, m := ts.api(t, http.MethodPost, "/elicitations/"+id2+"/cancel", confClient, confSecret, nil); st != http.StatusOK || m["status"] != "cancelled" {
		t.Errorf("cancel: %d %v", st, m)
	}
}

// TestElicitationConnectIssuer: with the provider's issuer configured, its answer must carry it
// as iss (RFC 9207): an answer without it, or with another provider's, is refused whether it
// carries a code or an error, and the elicitation stays open for a proper answer.
func TestElicitationConnectIssuer(t *testing.T) {
	prov := newThirdParty(t)
	ts := startElicitation(t, func(c *config.Config) {
		trustTLS(t, prov.srv)(c)
		prov.configure(c)
		c.Elicitation.Providers[len(c.Elicitation.Providers)-1].Issuer = prov.srv.URL
	})
	b := newBrowser(t)
	b.client.Transport = prov.srv.Client().Transport
	tok := userToken(t, ts, b, resourceURI)
	id, pageURL := ts.create(t, tok, "connect", "Connect your Example Cloud account.", map[string]any{"provider": "example"})

	refused := []struct {
		name string
		iss  string
		deny bool
	}{
		{"no iss", "", false},
		{"another provider's iss", "https://attacker.example", false},
		{"an iss that only starts like ours", prov.srv.URL + "/x", false},
		{"an error with another provider's iss", "https://attacker.example", true},
	}
	for _, tc := range refused {
		prov.set(func(p *thirdParty) { p.iss, p.deny = tc.iss, tc.deny })
		resp, body := b.connect(pageURL)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "did not come from the site") {
			t.Errorf("%s: %d %.300s", tc.name, resp.StatusCode, body)
		}
		if m := ts.read(t, id); m["status"] != "pending" {
			t.Fatalf("%s: the elicitation is %v, want still pending", tc.name, m["status"])
		}
	}
	if recs, _ := ts.store.(storage.Records).ListRecords(context.Background(), storage.KindConnection); len(recs) != 0 {
		t.Fatalf("a refused answer stored a connection")
	}

	prov.set(func(p *thirdParty) { p.iss, p.deny = prov.srv.URL, false })
	resp, body := b.connect(pageURL)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Account connected") {
		t.Fatalf("with the right iss: %d %.300s", resp.StatusCode, body)
	}
	if m := ts.read(t, id); m["status"] != "accepted" {
		t.Fatalf("with the right iss: %v", m)
	}
}

// TestElicitationConnectionsPage: a user sees the accounts they connected, and disconnects
// them; the page is theirs alone, its form needs the CSRF token, and with a revocation endpoint
// configured the provider is told (RFC 7009).
func TestElicitationConnectionsPage(t *testing.T) {
	prov := newThirdParty(t)
	ts := startElicitation(t, func(c *config.Config) {
		trustTLS(t, prov.srv)(c)
		prov.configure(c)
		c.Elicitation.Providers[0].RevocationEndpoint = prov.srv.URL + "/revoke"
		// The same provider under another id, without a revocation endpoint.
		plain := c.Elicitation.Providers[0]
		plain.ID, plain.Name, plain.RevocationEndpoint = "plain", "Plain Cloud", ""
		c.Elicitation.Providers = append(c.Elicitation.Providers, plain)
	})
	ts.addUser(t, "u_bob", bob, bobPass)
	connectionsURL := ts.issuer + "/elicitation/connections"
	tokenFor := func(accessToken, provider string) (int, map[string]any) {
		return ts.api(t, http.MethodPost, "/elicitations/connections/token", confClient, confSecret, map[string]any{"access_token": accessToken, "provider": provider})
	}

	// Not signed in: the login page, and back.
	b := newBrowser(t)
	b.client.Transport = prov.srv.Client().Transport
	resp, _ := b.get(connectionsURL)
	if resp.StatusCode != http.StatusSeeOther && resp.StatusCode != http.StatusFound {
		t.Fatalf("signed out: %d, want a redirect to the login page", resp.StatusCode)
	}
	loc, _ := resp.Location()
	_, body := b.get(loc.String())
	form := formValues(t, body)
	form.Set("username", alice)
	form.Set("password", alicePass)
	resp, _ = b.post(ts.issuer+"/login", form)
	if loc, _ := resp.Location(); resp.StatusCode != http.StatusSeeOther || loc == nil || loc.Path != "/elicitation/connections" {
		t.Fatalf("after signing in: %d %v, want back to the connections page", resp.StatusCode, loc)
	}
	resp, body = b.get(connectionsURL)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "You have no connected accounts") {
		t.Fatalf("no connections yet: %d %.400s", resp.StatusCode, body)
	}
	checkPageHeaders(t, resp)

	// Connect both providers through elicitations; the done page links here.
	tok := userToken(t, ts, b, resourceURI)
	for _, provider := range []string{"example", "plain"} {
		_, pageURL := ts.create(t, tok, "connect", "Connect", map[string]any{"provider": provider})
		resp, body := b.connect(pageURL)
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, `href="/elicitation/connections"`) {
			t.Fatalf("connect %s: %d %.400s", provider, resp.StatusCode, body)
		}
	}
	st, m := tokenFor(tok, "example")
	exampleAT, _ := m["access_token"].(string)
	if st != http.StatusOK || exampleAT == "" {
		t.Fatalf("connection token: %d %v", st, m)
	}
	resp, body = b.get(connectionsURL)
	for _, want := range []string{"Example Cloud", "Plain Cloud", resourceURI, prov.srv.Listener.Addr().String(), "Plain Cloud is not told"} {
		if !strings.Contains(body, want) {
			t.Errorf("connections page lacks %q: %.2000s", want, body)
		}
	}
	if strings.Contains(body, "Example Cloud is not told") {
		t.Error("the page says a provider with a revocation endpoint is not told")
	}
	for _, input := range []string{`name="provider" value="example"`, `name="provider" value="plain"`, `name="resource" value="` + resourceURI + `"`} {
		if !strings.Contains(body, input) {
			t.Errorf("no input %s on the page", input)
		}
	}
	form = formValues(t, body)
	if form.Get("csrf_token") == "" {
		t.Fatalf("no CSRF token on the page: %v", form)
	}
	form.Set("resource", resourceURI)
	form.Set("provider", "example")
	form.Set("decision", "disconnect")

	// Bob, signed in elsewhere, sees none of Alice's connections, only his own; and posting
	// her form's fields (with his own CSRF token) reaches only his own, absent, connection.
	bobB := newBrowser(t)
	bobB.client.Transport = prov.srv.Client().Transport
	bobB.signIn(ts, bob, bobPass)
	if _, body := bobB.get(connectionsURL); !strings.Contains(body, "You have no connected accounts") || strings.Contains(body, "Example Cloud") {
		t.Errorf("bob's page: %.600s", body)
	}
	bobTok := userToken(t, ts, bobB, resourceURI)
	_, bobPage := ts.create(t, bobTok, "connect", "Connect", map[string]any{"provider": "plain"})
	if resp, _ := bobB.connect(bobPage); resp.StatusCode != http.StatusOK {
		t.Fatalf("bob connects: %d", resp.StatusCode)
	}
	_, bobBody := bobB.get(connectionsURL)
	if !strings.Contains(bobBody, "Plain Cloud") || strings.Contains(bobBody, "Example Cloud") {
		t.Errorf("bob's page lists %.1500s", bobBody)
	}
	bobForm := formValues(t, bobBody)
	bobForm.Set("resource", resourceURI)
	bobForm.Set("provider", "example")
	if resp, _ := bobB.post(connectionsURL, bobForm); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("bob's disconnect: %d", resp.StatusCode)
	}
	// A form without the CSRF token, or with Bob's token in Alice's browser, is refused.
	noCSRF := cloneForm(form)
	noCSRF.Del("csrf_token")
	if resp, _ := b.post(connectionsURL, noCSRF); resp.StatusCode != http.StatusForbidden {
		t.Errorf("without a CSRF token: %d", resp.StatusCode)
	}
	foreign := cloneForm(form)
	foreign.Set("csrf_token", bobForm.Get("csrf_token"))
	if resp, _ := b.post(connectionsURL, foreign); resp.StatusCode != http.StatusForbidden {
		t.Errorf("with another session's CSRF token: %d", resp.StatusCode)
	}
	unknown := cloneForm(form)
	unknown.Set("provider", "nope")
	if resp, _ := b.post(connectionsURL, unknown); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("unknown provider: %d", resp.StatusCode)
	}
	if st, _ := tokenFor(tok, "example"); st != http.StatusOK {
		t.Fatalf("after the refused attempts the connection is gone: %d", st)
	}
	if got := prov.revocations(); len(got) != 0 {
		t.Fatalf("revocations before any disconnect: %v", got)
	}

	// Alice disconnects Example Cloud: gone here, revoked there, and said so.
	resp, _ = b.post(connectionsURL, form)
	loc, _ = resp.Location()
	if resp.StatusCode != http.StatusSeeOther || loc == nil || loc.Path != "/elicitation/connections" {
		t.Fatalf("disconnect: %d %v", resp.StatusCode, loc)
	}
	resp, body = b.get(loc.String())
	if !strings.Contains(body, "Your Example Cloud account was disconnected.") || strings.Contains(body, `value="example"`) || !strings.Contains(body, "Plain Cloud") {
		t.Errorf("after disconnecting: %d %.1500s", resp.StatusCode, body)
	}
	if st, m := tokenFor(tok, "example"); st != http.StatusNotFound || m["error"] != "not_connected" {
		t.Errorf("token after disconnecting: %d %v", st, m)
	}
	got := prov.revocations()
	if len(got) != 2 || !strings.HasPrefix(got[0], "refresh_token:rt-") || got[1] != "access_token:"+exampleAT {
		t.Errorf("revocations at the provider %v, want the refresh token then the access token", got)
	}

	// Plain Cloud has no revocation endpoint: deleted here only. A failing revocation endpoint
	// does not keep a connection either.
	prov.set(func(p *thirdParty) { p.revokeStatus = http.StatusServiceUnavailable })
	_, pageURL := ts.create(t, tok, "connect", "Connect", map[string]any{"provider": "example"})
	if resp, _ := b.connect(pageURL); resp.StatusCode != http.StatusOK {
		t.Fatalf("reconnect: %d", resp.StatusCode)
	}
	for _, provider := range []string{"plain", "example"} {
		_, body := b.get(connectionsURL)
		form := formValues(t, body)
		form.Set("resource", resourceURI)
		form.Set("provider", provider)
		if resp, _ := b.post(connectionsURL, form); resp.StatusCode != http.StatusSeeOther {
			t.Errorf("disconnect %s: %d", provider, resp.StatusCode)
		}
		if st, _ := tokenFor(tok, provider); st != http.StatusNotFound {
			t.Errorf("%s still connected: %d", provider, st)
		}
	}
	if got := prov.revocations(); len(got) != 2 {
		t.Errorf("revocations %v: plain has no endpoint, and the failing endpoint recorded none", got)
	}
	if _, body := b.get(connectionsURL); !strings.Contains(body, "You have no connected accounts") {
		t.Errorf("all disconnected: %.600s", body)
	}
}

func cloneForm(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = slices.Clone(vs)
	}
	return out
}
