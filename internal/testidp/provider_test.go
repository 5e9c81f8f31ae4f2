package testidp

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/oauthex"
	"golang.org/x/oauth2"

	"github.com/mcp-authz/mcp-authz/internal/jwtverify"
)

const (
	asIssuer = "https://as.example.com"
	resource = "https://mcp.example.com/mcp"
)

// login runs the authorization code flow with PKCE as a relying party would, following the
// provider's immediate redirect without a browser.
func login(t *testing.T, p *Provider, clientID, secret string, hint string) *oauth2.Token {
	t.Helper()
	conf := &oauth2.Config{
		ClientID: clientID, ClientSecret: secret, RedirectURL: "http://127.0.0.1/cb", Scopes: []string{"openid", "email"},
		Endpoint: oauth2.Endpoint{AuthURL: p.Issuer() + "/authorize", TokenURL: p.TokenEndpoint()},
	}
	verifier := oauth2.GenerateVerifier()
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier)}
	if hint != "" {
		opts = append(opts, oauth2.SetAuthURLParam("login_hint", hint))
	}
	hc := p.HTTPClient()
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := hc.Get(conf.AuthCodeURL("st", opts...))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := resp.Location()
	if err != nil {
		t.Fatalf("authorize: %d, no redirect", resp.StatusCode)
	}
	q := loc.Query()
	if q.Get("state") != "st" || q.Get("iss") != p.Issuer() || q.Get("code") == "" {
		t.Fatalf("authorization response %v", q)
	}
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, p.HTTPClient())
	tok, err := conf.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func verified(t *testing.T, p *Provider, raw string) (jwtverify.Header, map[string]any) {
	t.Helper()
	tok, err := jwtverify.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := jwtverify.ParseKeySet(p.JWKS())
	if err != nil {
		t.Fatal(err)
	}
	if err := tok.Verify(keys); err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	_ = json.Unmarshal(tok.Claims, &c)
	return tok.Header, c
}

func TestCodeFlowAndTokenExchange(t *testing.T) {
	for _, tls := range []bool{false, true} {
		p := New(t, Options{TLS: tls})
		p.AddClient(Client{ID: "app", Secret: "s3cret", RedirectURIs: []string{"http://127.0.0.1/cb"}, ResourceClientID: "app-at-as"})
		p.SetUser(User{Subject: "u1", Email: "u1@example.com", Name: "U One", Tenant: "acme"})
		p.AddUser(User{Subject: "u2", Email: "u2@example.com"})

		tok := login(t, p, "app", "s3cret", "")
		idToken, _ := tok.Extra("id_token").(string)
		if _, c := verified(t, p, idToken); c["sub"] != "u1" || c["aud"] != "app" || c["email"] != "u1@example.com" || c["tenant"] != "acme" {
			t.Fatalf("ID token claims %v", c)
		}
		if _, c := verified(t, p, login(t, p, "app", "s3cret", "u2@example.com").Extra("id_token").(string)); c["sub"] != "u2" {
			t.Fatalf("login_hint: %v", c)
		}

		// The SDK's own RFC 8693 client, as its enterprise handler uses it.
		creds := &oauthex.ClientCredentials{ClientID: "app", ClientSecretAuth: &oauthex.ClientSecretAuth{ClientSecret: "s3cret"}}
		jag, err := oauthex.ExchangeToken(context.Background(), p.TokenEndpoint(), &oauthex.TokenExchangeRequest{
			RequestedTokenType: oauthex.TokenTypeIDJAG, Audience: asIssuer, Resource: resource,
			Scope: []string{"mcp:tools"}, SubjectToken: idToken, SubjectTokenType: oauthex.TokenTypeIDToken,
		}, creds, p.HTTPClient())
		if err != nil {
			t.Fatal(err)
		}
		if jag.TokenType != "N_A" || jag.Extra("issued_token_type") != TokenTypeIDJAG {
			t.Errorf("exchange response: token_type %q issued_token_type %v", jag.TokenType, jag.Extra("issued_token_type"))
		}
		h, c := verified(t, p, jag.AccessToken)
		if h.Typ != TypIDJAG || h.Kid != p.Key().ID {
			t.Errorf("ID-JAG header %+v", h)
		}
		for k, want := range map[string]any{"iss": p.Issuer(), "sub": "u1", "aud": asIssuer, "client_id": "app-at-as",
			"resource": resource, "scope": "mcp:tools", "email": "u1@example.com", "tenant": "acme"} {
			if c[k] != want {
				t.Errorf("ID-JAG %s = %v, want %v", k, c[k], want)
			}
		}
		if c["jti"] == nil || c["exp"].(float64)-c["iat"].(float64) != 300 {
			t.Errorf("ID-JAG jti/exp/iat %v", c)
		}

		// Refusals: an ID token of another client, a wrong secret, a policy that says no.
		p.AddClient(Client{ID: "other", Secret: "x"})
		other := &oauthex.ClientCredentials{ClientID: "other", ClientSecretAuth: &oauthex.ClientSecretAuth{ClientSecret: "x"}}
		req := &oauthex.TokenExchangeRequest{RequestedTokenType: oauthex.TokenTypeIDJAG, Audience: asIssuer, Resource: resource,
			SubjectToken: idToken, SubjectTokenType: oauthex.TokenTypeIDToken}
		if _, err := oauthex.ExchangeToken(context.Background(), p.TokenEndpoint(), req, other, p.HTTPClient()); !isOAuthError(err, "invalid_grant") {
			t.Errorf("another client's ID token: %v", err)
		}
		bad := &oauthex.ClientCredentials{ClientID: "app", ClientSecretAuth: &oauthex.ClientSecretAuth{ClientSecret: "nope"}}
		if _, err := oauthex.ExchangeToken(context.Background(), p.TokenEndpoint(), req, bad, p.HTTPClient()); !isOAuthError(err, "invalid_client") {
			t.Errorf("wrong secret: %v", err)
		}
		p.SetExchangePolicy(func(*Exchange) error { return errors.New("not this one") })
		if _, err := oauthex.ExchangeToken(context.Background(), p.TokenEndpoint(), req, creds, p.HTTPClient()); !isOAuthError(err, "invalid_grant") {
			t.Errorf("policy refusal: %v", err)
		}
	}
}

func isOAuthError(err error, code string) bool {
	var re *oauth2.RetrieveError
	return errors.As(err, &re) && re.ErrorCode == code
}

func TestKeyRotation(t *testing.T) {
	p := New(t, Options{})
	old := p.Key()
	before := p.IDJAG(map[string]any{"iss": p.Issuer()})
	k := p.RotateKey()
	if p.Key() != k || k.ID == old.ID {
		t.Fatal("rotation did not change the signing key")
	}
	after := p.IDJAG(map[string]any{"iss": p.Issuer()})
	if h, _ := verified(t, p, after); h.Kid != k.ID {
		t.Errorf("kid %q, want %q", h.Kid, k.ID)
	}
	verified(t, p, before) // still published
	p.RetireOldKeys()
	tok, _ := jwtverify.Parse(before)
	keys, _ := jwtverify.ParseKeySet(p.JWKS())
	if err := tok.Verify(keys); err == nil {
		t.Error("a retired key still verifies")
	}
	resp, err := http.Get(p.JWKSURI())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set struct{ Keys []map[string]any }
	_ = json.NewDecoder(resp.Body).Decode(&set)
	if len(set.Keys) != 1 || set.Keys[0]["kid"] != k.ID || set.Keys[0]["use"] != "sig" {
		t.Errorf("served JWKS %v", set)
	}
	if p.Served("/jwks") != 1 {
		t.Errorf("Served(/jwks) = %d", p.Served("/jwks"))
	}
}

func TestDiscovery(t *testing.T) {
	p := New(t, Options{TLS: true})
	for _, path := range []string{"/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"} {
		resp, err := p.HTTPClient().Get(p.Issuer() + path)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		resp.Body.Close()
		if m["issuer"] != p.Issuer() || m["jwks_uri"] != p.JWKSURI() {
			t.Errorf("%s: %v", path, m)
		}
	}
	u, _ := url.Parse(p.Issuer())
	if u.Scheme != "https" || p.Certificate() == nil || p.CAFile(t) == "" {
		t.Error("TLS provider without https or certificate")
	}
}

func TestForgeryHelpers(t *testing.T) {
	p := New(t, Options{})
	claims := map[string]any{"iss": p.Issuer()}
	for name, raw := range map[string]string{
		"none":  Unsigned(map[string]any{"alg": "none", "typ": TypIDJAG}, claims, []byte("sig")),
		"hmac":  SignHMAC(p.Key().PublicJSON(), map[string]any{"kid": p.Key().ID}, claims),
		"other": func() string { k, _ := NewKey("ES256"); k.ID = p.Key().ID; return k.Sign(nil, claims) }(),
	} {
		tok, err := jwtverify.Parse(raw)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		keys, _ := jwtverify.ParseKeySet(p.JWKS())
		if tok.CheckAlgorithm(nil) == nil && tok.Verify(keys) == nil {
			t.Errorf("%s verifies", name)
		}
	}
	for _, alg := range []string{"RS256", "PS256"} {
		k, err := NewKey(alg)
		if err != nil {
			t.Fatal(err)
		}
		tok, _ := jwtverify.Parse(k.Sign(nil, claims))
		keys, _ := jwtverify.ParseKeySet(k.JWKS())
		if err := tok.Verify(keys); err != nil {
			t.Errorf("%s: %v", alg, err)
		}
	}
}
