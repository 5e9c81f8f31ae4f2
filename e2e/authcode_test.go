package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/oauth2"

	"github.com/mcp-authz/mcp-authz/config"
)

// codeFlow runs a whole authorization with x/oauth2 and the browser, and returns the token.
func codeFlow(t *testing.T, ts *testServer, b *browser, redirect string, extra ...oauth2.AuthCodeOption) *oauth2.Token {
	t.Helper()
	conf := ts.oauthConfig(redirect)
	verifier, _ := pkce()
	state := randomState()
	opts := append([]oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("resource", resourceURI)}, extra...)
	out := b.authorize(ts, conf.AuthCodeURL(state, opts...), "allow")
	if out.redirect == nil {
		t.Fatalf("no redirect to the client; last page %d: %.300s", out.last.status, out.last.body)
	}
	q := out.redirect.Query()
	if q.Get("state") != state || q.Get("iss") != ts.issuer || q.Get("code") == "" {
		t.Fatalf("authorization response %v: want code, state %q, iss %q", q, state, ts.issuer)
	}
	tok, err := conf.Exchange(context.Background(), q.Get("code"), oauth2.VerifierOption(verifier), oauth2.SetAuthURLParam("resource", resourceURI))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	return tok
}

// verifyAccessToken checks an access token against the published JWKS, as a resource server
// would, and returns its claims.
func verifyAccessToken(t *testing.T, ts *testServer, raw string) map[string]any {
	t.Helper()
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatalf("access token is not a JWS: %v", err)
	}
	h := tok.Headers[0]
	if typ, _ := h.ExtraHeaders["typ"].(string); typ != "at+jwt" {
		t.Errorf("typ = %q, want at+jwt (RFC 9068 §2.1)", typ)
	}
	resp, err := http.Get(ts.issuer + "/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	keys := set.Key(h.KeyID)
	if len(keys) != 1 {
		t.Fatalf("kid %q not in the JWKS", h.KeyID)
	}
	claims := map[string]any{}
	if err := tok.Claims(keys[0].Key, &claims); err != nil {
		t.Fatalf("signature does not verify: %v", err)
	}
	for _, c := range []string{"iss", "sub", "aud", "exp", "iat", "jti", "client_id", "scope"} {
		if _, ok := claims[c]; !ok {
			t.Errorf("claim %s missing (RFC 9068 §2.2)", c)
		}
	}
	if claims["iss"] != ts.issuer {
		t.Errorf("iss = %v", claims["iss"])
	}
	return claims
}

func TestAuthorizationCodeFlow(t *testing.T) {
	ts := startServer(t, options{})
	b := newBrowser(t)
	tok := codeFlow(t, ts, b, redirectURI)

	claims := verifyAccessToken(t, ts, tok.AccessToken)
	if claims["aud"] != resourceURI || claims["client_id"] != publicClient || claims["sub"] != "u_alice" {
		t.Errorf("claims %v: want aud %s, client_id %s, sub u_alice", claims, resourceURI, publicClient)
	}
	if claims["scope"] != "mcp:tools" {
		t.Errorf("scope = %v, want the resource's default mcp:tools", claims["scope"])
	}
	if got := tok.Extra("scope"); got != "mcp:tools" {
		t.Errorf("token response scope = %v, want mcp:tools (defaults differ from the empty request)", got)
	}
	if tok.RefreshToken == "" {
		t.Fatal("no refresh token (policy: always)")
	}
	exp := time.Unix(int64(claims["exp"].(float64)), 0)
	if d := time.Until(exp); d < 9*time.Minute || d > 11*time.Minute {
		t.Errorf("access token lives %v, want the 10m default", d)
	}

	in := ts.introspect(t, tok.AccessToken)
	if in["active"] != true || in["aud"] != resourceURI || in["scope"] != "mcp:tools" || in["client_id"] != publicClient {
		t.Errorf("introspection %v", in)
	}

	// Refresh rotates.
	status, body, hdr := ts.tokenRequest(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}, "client_id": {publicClient}})
	if status != 200 {
		t.Fatalf("refresh: %d %v", status, body)
	}
	if hdr.Get("Cache-Control") != "no-store" {
		t.Errorf("token response Cache-Control = %q", hdr.Get("Cache-Control"))
	}
	newRefresh, _ := body["refresh_token"].(string)
	if newRefresh == "" || newRefresh == tok.RefreshToken {
		t.Fatalf("refresh token did not rotate")
	}
	c2 := verifyAccessToken(t, ts, body["access_token"].(string))
	if c2["aud"] != resourceURI || c2["scope"] != "mcp:tools" {
		t.Errorf("refreshed token claims %v", c2)
	}

	// Revocation: the refreshed access token, then it introspects inactive.
	resp, err := http.PostForm(ts.issuer+"/revoke", url.Values{"token": {body["access_token"].(string)}, "client_id": {publicClient}})
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("revoke: %v %v", err, resp.StatusCode)
	}
	if in := ts.introspect(t, body["access_token"].(string)); in["active"] != false || len(in) != 1 {
		t.Errorf("revoked token introspects %v, want exactly {active:false}", in)
	}
	// Revoking one token of the grant revoked the grant: the new refresh token is dead too.
	if in := ts.introspect(t, newRefresh); in["active"] != false {
		t.Errorf("refresh token of a revoked grant introspects %v", in)
	}
}

func TestIntrospectionEdgeCases(t *testing.T) {
	ts := startServer(t, options{})
	for _, tok := range []string{"garbage", "a.b.c", strings.Repeat("x", 10000)} {
		if in := ts.introspect(t, tok); in["active"] != false || len(in) != 1 {
			t.Errorf("introspect(%.10q) = %v", tok, in)
		}
	}
	// Unauthenticated and public callers are refused.
	resp, _ := http.PostForm(ts.issuer+"/introspect", url.Values{"token": {"x"}, "client_id": {publicClient}})
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("public client introspection: %d", resp.StatusCode)
	}
	resp, _ = http.PostForm(ts.issuer+"/introspect", url.Values{"token": {"x"}})
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("anonymous introspection: %d", resp.StatusCode)
	}
}

func TestAuthorizationRefusals(t *testing.T) {
	ts := startServer(t, options{twoRes: true})
	_, challenge := pkce()
	base := map[string]string{
		"response_type": "code", "client_id": publicClient, "redirect_uri": redirectURI,
		"code_challenge": challenge, "code_challenge_method": "S256", "state": "st-123456",
		"resource": resourceURI,
	}
	with := func(k, v string) map[string]string {
		m := map[string]string{}
		for a, b := range base {
			m[a] = b
		}
		m[k] = v
		return m
	}
	cases := []struct {
		name   string
		params map[string]string
		// redirectErr is the error expected at the client; empty means an error page.
		redirectErr string
		pageStatus  int
	}{
		{"missing PKCE", with("code_challenge", ""), "invalid_request", 0},
		{"plain PKCE", with("code_challenge_method", "plain"), "invalid_request", 0},
		{"PKCE method missing", with("code_challenge_method", ""), "invalid_request", 0},
		{"short challenge", with("code_challenge", "abc"), "invalid_request", 0},
		{"response_type token", with("response_type", "token"), "unsupported_response_type", 0},
		{"unknown resource", with("resource", "https://evil.example.com/mcp"), "invalid_target", 0},
		{"resource with fragment", with("resource", resourceURI+"#x"), "invalid_target", 0},
		{"relative resource", with("resource", "/mcp"), "invalid_target", 0},
		{"unknown scope", with("scope", "root"), "invalid_scope", 0},
		{"scope of another resource", with("scope", "files:read"), "invalid_scope", 0},
		{"response_mode fragment", with("response_mode", "fragment"), "invalid_request", 0},
		{"no resource with two resources", with("resource", ""), "invalid_target", 0},
		{"unknown client", with("client_id", "nobody"), "", 400},
		{"missing client", with("client_id", ""), "", 400},
		{"redirect mismatch", with("redirect_uri", "https://evil.example.com/cb"), "", 400},
		{"redirect path mismatch on loopback", with("redirect_uri", "http://127.0.0.1:5555/other"), "", 400},
		{"redirect https loopback other port", with("redirect_uri", "https://127.0.0.1:5555/callback"), "", 400},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := newBrowser(t)
			resp, body := b.get(ts.authURL(c.params))
			if c.redirectErr == "" {
				if resp.StatusCode != c.pageStatus || resp.Header.Get("Location") != "" {
					t.Fatalf("want an error page %d and no redirect, got %d Location=%q", c.pageStatus, resp.StatusCode, resp.Header.Get("Location"))
				}
				if !strings.Contains(body, "This sign-in request can") {
					t.Errorf("error page does not explain: %.200s", body)
				}
				return
			}
			loc, err := resp.Location()
			if err != nil {
				t.Fatalf("want a redirect with %s, got %d: %.300s", c.redirectErr, resp.StatusCode, body)
			}
			q := loc.Query()
			if q.Get("error") != c.redirectErr || q.Get("iss") != ts.issuer || q.Get("state") != "st-123456" {
				t.Errorf("redirect %v: want error %s with iss and state", q, c.redirectErr)
			}
			if q.Get("error_description") == "" {
				t.Errorf("no error_description")
			}
			if !strings.HasPrefix(loc.String(), redirectURI) {
				t.Errorf("redirected to %s", loc)
			}
		})
	}
}

func TestTokenRefusals(t *testing.T) {
	ts := startServer(t, options{twoRes: true})
	b := newBrowser(t)
	conf := ts.oauthConfig(redirectURI)

	// getCode runs the browser part and returns a fresh code and its verifier.
	getCode := func(resources ...string) (string, string) {
		verifier, _ := pkce()
		u := conf.AuthCodeURL("state-123", oauth2.S256ChallengeOption(verifier))
		// RFC 8707 repeats the parameter for several resources; x/oauth2 can only set one.
		for _, r := range resources {
			u += "&resource=" + url.QueryEscape(r)
		}
		out := b.authorize(ts, u, "allow")
		if out.redirect == nil || out.redirect.Query().Get("code") == "" {
			t.Fatalf("no code: %+v", out.last)
		}
		return out.redirect.Query().Get("code"), verifier
	}
	redeem := func(code, verifier string, extra url.Values) (int, map[string]any) {
		f := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {verifier},
			"client_id": {publicClient}, "redirect_uri": {redirectURI}}
		for k, v := range extra {
			f[k] = v
		}
		st, body, _ := ts.tokenRequest(t, f)
		return st, body
	}

	t.Run("wrong verifier", func(t *testing.T) {
		code, _ := getCode(resourceURI)
		other, _ := pkce()
		if st, body := redeem(code, other, nil); st != 400 || body["error"] != "invalid_grant" {
			t.Errorf("got %d %v", st, body)
		}
	})
	t.Run("missing verifier", func(t *testing.T) {
		code, _ := getCode(resourceURI)
		if st, body := redeem(code, "", nil); st != 400 || body["error"] == nil {
			t.Errorf("got %d %v", st, body)
		}
	})
	t.Run("redirect_uri differs", func(t *testing.T) {
		code, v := getCode(resourceURI)
		if st, body := redeem(code, v, url.Values{"redirect_uri": {"http://localhost/callback"}}); st != 400 || body["error"] != "invalid_grant" {
			t.Errorf("got %d %v", st, body)
		}
	})
	t.Run("code reuse revokes the first tokens", func(t *testing.T) {
		code, v := getCode(resourceURI)
		st, first := redeem(code, v, nil)
		if st != 200 {
			t.Fatalf("first redemption: %d %v", st, first)
		}
		st, second := redeem(code, v, nil)
		if st != 400 || second["error"] != "invalid_grant" {
			t.Errorf("second redemption: %d %v", st, second)
		}
		if in := ts.introspect(t, first["access_token"].(string)); in["active"] != false {
			t.Errorf("access token of a reused code is still active: %v", in)
		}
		st, body, _ := ts.tokenRequest(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first["refresh_token"].(string)}, "client_id": {publicClient}})
		if st != 400 {
			t.Errorf("refresh token of a reused code still works: %d %v", st, body)
		}
	})
	t.Run("widened resource", func(t *testing.T) {
		code, v := getCode(resourceURI)
		if st, body := redeem(code, v, url.Values{"resource": {resource2URI}}); st != 400 || body["error"] != "invalid_target" {
			t.Errorf("got %d %v", st, body)
		}
	})
	t.Run("unknown resource at token", func(t *testing.T) {
		code, v := getCode(resourceURI)
		if st, body := redeem(code, v, url.Values{"resource": {"https://nowhere.example/mcp"}}); st != 400 || body["error"] != "invalid_target" {
			t.Errorf("got %d %v", st, body)
		}
	})
	t.Run("narrowed resource", func(t *testing.T) {
		code, v := getCode(resourceURI, resource2URI)
		st, body := redeem(code, v, url.Values{"resource": {resource2URI}})
		if st != 200 {
			t.Fatalf("got %d %v", st, body)
		}
		claims := verifyAccessToken(t, ts, body["access_token"].(string))
		if claims["aud"] != resource2URI || claims["scope"] != "files:read" {
			t.Errorf("narrowed token: aud %v scope %v", claims["aud"], claims["scope"])
		}
		if body["scope"] != "files:read" {
			t.Errorf("response scope %v", body["scope"])
		}
		// The refresh token keeps the whole grant: it can be narrowed to the other resource.
		st, r2, _ := ts.tokenRequest(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {body["refresh_token"].(string)},
			"client_id": {publicClient}, "resource": {resourceURI}})
		if st != 200 {
			t.Fatalf("refresh for the other resource: %d %v", st, r2)
		}
		if c := verifyAccessToken(t, ts, r2["access_token"].(string)); c["aud"] != resourceURI || c["scope"] != "mcp:tools" {
			t.Errorf("refresh narrowed to the first resource: %v", c)
		}
	})
	t.Run("refresh cannot widen scope", func(t *testing.T) {
		code, v := getCode(resourceURI)
		_, body := redeem(code, v, nil)
		st, r2, _ := ts.tokenRequest(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {body["refresh_token"].(string)},
			"client_id": {publicClient}, "scope": {"mcp:tools mcp:admin"}})
		if st != 400 || r2["error"] != "invalid_scope" {
			t.Errorf("got %d %v", st, r2)
		}
	})
	t.Run("code of another client", func(t *testing.T) {
		code, v := getCode(resourceURI)
		if st, body := redeem(code, v, url.Values{"client_id": {"nobody"}}); st != 401 || body["error"] != "invalid_client" {
			t.Errorf("got %d %v", st, body)
		}
	})
}

func TestRefreshReuseRevokesTheGrant(t *testing.T) {
	zero := config.Duration(0)
	ts := startServer(t, options{mutate: func(c *config.Config) { c.Tokens.RefreshGracePeriod = &zero }})
	tok := codeFlow(t, ts, newBrowser(t), redirectURI)
	refresh := func(rt string) (int, map[string]any) {
		st, body, _ := ts.tokenRequest(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {publicClient}})
		return st, body
	}
	st, second := refresh(tok.RefreshToken)
	if st != 200 {
		t.Fatalf("first refresh: %d %v", st, second)
	}
	if st, body := refresh(tok.RefreshToken); st != 400 || body["error"] != "invalid_grant" {
		t.Fatalf("reuse of a rotated refresh token: %d %v", st, body)
	}
	// The reuse revoked everything of the grant, the legitimate holder's new tokens included.
	if st, body := refresh(second["refresh_token"].(string)); st != 400 {
		t.Errorf("refresh token issued before the reuse still works: %d %v", st, body)
	}
	if in := ts.introspect(t, second["access_token"].(string)); in["active"] != false {
		t.Errorf("access token of the grant still active: %v", in)
	}
}

func TestRefreshGraceWindow(t *testing.T) {
	ts := startServer(t, options{}) // default grace: 10s
	tok := codeFlow(t, ts, newBrowser(t), redirectURI)
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}, "client_id": {publicClient}}
	st1, a, _ := ts.tokenRequest(t, form)
	st2, b, _ := ts.tokenRequest(t, form) // a retry whose first answer was lost
	if st1 != 200 || st2 != 200 {
		t.Fatalf("refresh and retry within the grace window: %d %v / %d %v", st1, a, st2, b)
	}
	if in := ts.introspect(t, a["access_token"].(string)); in["active"] != true {
		t.Errorf("the first answer's token was revoked by a retry within grace: %v", in)
	}
}

func TestNoStateAndLoopbackPorts(t *testing.T) {
	ts := startServer(t, options{})
	for _, redirect := range []string{"http://127.0.0.1:53123/callback", "http://localhost:41234/callback", "http://[::1]:8123/callback"} {
		t.Run(redirect, func(t *testing.T) {
			b := newBrowser(t)
			verifier, challenge := pkce()
			u := ts.authURL(map[string]string{"response_type": "code", "client_id": publicClient, "redirect_uri": redirect,
				"code_challenge": challenge, "code_challenge_method": "S256", "resource": resourceURI})
			out := b.authorize(ts, u, "allow")
			if out.redirect == nil {
				t.Fatalf("no redirect: %d %.300s", out.last.status, out.last.body)
			}
			if !strings.HasPrefix(out.redirect.String(), redirect+"?") {
				t.Errorf("redirected to %s, want %s", out.redirect, redirect)
			}
			q := out.redirect.Query()
			if _, has := q["state"]; has {
				t.Errorf("a state was invented: %v", q)
			}
			st, body, _ := ts.tokenRequest(t, url.Values{"grant_type": {"authorization_code"}, "code": {q.Get("code")},
				"code_verifier": {verifier}, "client_id": {publicClient}, "redirect_uri": {redirect}})
			if st != 200 {
				t.Errorf("redeem: %d %v", st, body)
			}
		})
	}
}
