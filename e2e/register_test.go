package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/mcp-authz/mcp-authz/config"
)

func register(t *testing.T, ts *testServer, body string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Post(ts.issuer+"/register", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

func TestDynamicRegistrationIsOffByDefault(t *testing.T) {
	ts := startServer(t, options{})
	if st, _ := register(t, ts, `{"redirect_uris":["http://127.0.0.1/cb"]}`); st != http.StatusNotFound {
		t.Errorf("/register answered %d with registration off", st)
	}
	var meta map[string]any
	resp, _ := http.Get(ts.issuer + "/.well-known/oauth-authorization-server")
	_ = json.NewDecoder(resp.Body).Decode(&meta)
	resp.Body.Close()
	if _, ok := meta["registration_endpoint"]; ok {
		t.Error("registration_endpoint advertised while registration is off")
	}
}

func TestDynamicRegistration(t *testing.T) {
	ts := startServer(t, options{mutate: func(c *config.Config) {
		c.DynamicRegistration.Enabled = true
		c.DynamicRegistration.PerAddressPerHour = 3
	}})
	var meta map[string]any
	resp, _ := http.Get(ts.issuer + "/.well-known/oauth-authorization-server")
	_ = json.NewDecoder(resp.Body).Decode(&meta)
	resp.Body.Close()
	if meta["registration_endpoint"] != ts.issuer+"/register" {
		t.Errorf("registration_endpoint = %v", meta["registration_endpoint"])
	}

	st, reg := register(t, ts, `{"client_name":"Old MCP client","redirect_uris":["http://127.0.0.1/callback"],"scope":"mcp:tools","logo_uri":"https://x.example/l.png"}`)
	if st != http.StatusCreated {
		t.Fatalf("register: %d %v", st, reg)
	}
	id, _ := reg["client_id"].(string)
	if !strings.HasPrefix(id, "dcr_") || reg["token_endpoint_auth_method"] != "none" || reg["client_secret"] != nil {
		t.Fatalf("registration response %v", reg)
	}
	// The registered client completes the flow.
	conf := ts.oauthConfig("http://127.0.0.1:40000/callback")
	conf.ClientID = id
	verifier, _ := pkce()
	out := newBrowser(t).authorize(ts, conf.AuthCodeURL("st-dcr-1", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("resource", resourceURI)), "allow")
	if out.redirect == nil || !strings.Contains(out.consentHTML, "Old MCP client") {
		t.Fatalf("flow with a registered client: %d %.200s", out.last.status, out.last.body)
	}
	if _, err := conf.Exchange(context.Background(), out.redirect.Query().Get("code"), oauth2.VerifierOption(verifier)); err != nil {
		t.Fatal(err)
	}

	for name, c := range map[string]struct{ body, err string }{
		"confidential":           {`{"redirect_uris":["http://127.0.0.1/cb"],"token_endpoint_auth_method":"client_secret_basic"}`, "invalid_client_metadata"},
		"client_credentials":     {`{"redirect_uris":["http://127.0.0.1/cb"],"grant_types":["client_credentials"]}`, "invalid_client_metadata"},
		"http redirect":          {`{"redirect_uris":["http://evil.example/cb"]}`, "invalid_redirect_uri"},
		"no redirect":            {`{"client_name":"x"}`, "invalid_redirect_uri"},
		"not json":               {`redirect_uris=x`, "invalid_client_metadata"},
		"oversized":              {`{"client_name":"` + strings.Repeat("x", 20000) + `"}`, "invalid_client_metadata"},
		"implicit response type": {`{"redirect_uris":["http://127.0.0.1/cb"],"response_types":["token"]}`, "invalid_client_metadata"},
	} {
		t.Run(name, func(t *testing.T) {
			st, body := register(t, ts, c.body)
			if st == http.StatusTooManyRequests {
				t.Skip("rate limited")
			}
			if st != 400 || body["error"] != c.err {
				t.Errorf("got %d %v, want %s", st, body, c.err)
			}
		})
	}
	// Three registrations an hour per address: the next valid one is refused.
	for i := 0; i < 3; i++ {
		register(t, ts, `{"redirect_uris":["http://127.0.0.1/cb"]}`)
	}
	resp, _ = http.Post(ts.issuer+"/register", "application/json", bytes.NewReader([]byte(`{"redirect_uris":["http://127.0.0.1/cb"]}`)))
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Errorf("rate limit: %d", resp.StatusCode)
	}
	resp.Body.Close()
}
