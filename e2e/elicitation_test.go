package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/mcp-authz/mcp-authz/config"
	"github.com/mcp-authz/mcp-authz/consent"
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
