package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/mcp-authz/mcp-authz/config"
	"github.com/mcp-authz/mcp-authz/oauth"
)

const jwtClient = "ci-agent"

// machineKey is a private_key_jwt client's key pair.
type machineKey struct {
	priv any
	alg  jose.SignatureAlgorithm
	kid  string
}

func newMachineKey(t testing.TB) machineKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return machineKey{priv: k, alg: jose.ES256, kid: "k1"}
}

func (k machineKey) jwks(t testing.TB) map[string]any {
	var pub any
	switch p := k.priv.(type) {
	case *ecdsa.PrivateKey:
		pub = p.Public()
	case *rsa.PrivateKey:
		pub = p.Public()
	}
	b, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: pub, KeyID: k.kid}}}) // no "use": still a signing key
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return m
}

// assertion signs a client assertion with claims; header extras (typ etc.) are optional.
func (k machineKey) assertion(t testing.TB, claims map[string]any) string {
	sg, err := jose.NewSigner(jose.SigningKey{Algorithm: k.alg, Key: k.priv}, (&jose.SignerOptions{}).WithHeader("kid", k.kid).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := jwt.Signed(sg).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func assertionClaims(issuer, client string) map[string]any {
	now := time.Now()
	return map[string]any{"iss": client, "sub": client, "aud": issuer, "iat": now.Unix(), "exp": now.Add(time.Minute).Unix(), "jti": randomState()}
}

func withJWTClient(key machineKey, t testing.TB) func(*config.Config) {
	return func(c *config.Config) {
		c.Clients = append(c.Clients, config.Client{
			ID: jwtClient, Name: "CI agent", GrantTypes: []string{"client_credentials"},
			JWKS: key.jwks(t), Scopes: []string{"mcp:tools"},
		})
	}
}

func TestClientCredentialsWithSecret(t *testing.T) {
	ts := startServer(t, options{})
	for name, send := range map[string]func(*http.Request, url.Values){
		"client_secret_basic": func(r *http.Request, _ url.Values) { r.SetBasicAuth(confClient, confSecret) },
		"client_secret_post": func(_ *http.Request, f url.Values) {
			f.Set("client_id", confClient)
			f.Set("client_secret", confSecret)
		},
	} {
		t.Run(name, func(t *testing.T) {
			f := url.Values{"grant_type": {"client_credentials"}}
			req, _ := http.NewRequest(http.MethodPost, ts.issuer+"/token", nil)
			send(req, f)
			req.Body = ioNopCloser(f.Encode())
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body map[string]any
			_ = json.NewDecoder(resp.Body).Decode(&body)
			if resp.StatusCode != 200 || resp.Header.Get("Cache-Control") != "no-store" {
				t.Fatalf("%d %v", resp.StatusCode, body)
			}
			if _, has := body["refresh_token"]; has {
				t.Error("client credentials issued a refresh token")
			}
			c := verifyAccessToken(t, ts, body["access_token"].(string))
			// No resource: the client is allowed exactly one. No scope: that resource's defaults.
			if c["aud"] != resourceURI || c["sub"] != confClient || c["client_id"] != confClient || c["scope"] != "mcp:tools" || body["scope"] != "mcp:tools" {
				t.Errorf("claims %v response %v", c, body)
			}
			if in := ts.introspect(t, body["access_token"].(string)); in["active"] != true || in["sub"] != confClient {
				t.Errorf("introspection %v", in)
			}
		})
	}
}

func ioNopCloser(s string) *nopCloser { return &nopCloser{strings.NewReader(s)} }

type nopCloser struct{ *strings.Reader }

func (nopCloser) Close() error { return nil }

func TestClientCredentialsRefusals(t *testing.T) {
	ts := startServer(t, options{twoRes: true})
	cases := []struct {
		name   string
		form   url.Values
		status int
		err    string
	}{
		{"wrong secret", url.Values{"client_id": {confClient}, "client_secret": {"nope"}}, 401, "invalid_client"},
		{"no authentication", url.Values{"client_id": {confClient}}, 401, "invalid_client"},
		{"public client", url.Values{"client_id": {publicClient}}, 400, "unauthorized_client"},
		{"two methods", url.Values{"client_id": {confClient}, "client_secret": {confSecret}, "client_assertion": {"x"}, "client_assertion_type": {oauth.ClientAssertionType}}, 400, "invalid_request"},
		{"resource not allowed", url.Values{"client_id": {confClient}, "client_secret": {confSecret}, "resource": {resource2URI}}, 400, "invalid_target"},
		{"unknown resource", url.Values{"client_id": {confClient}, "client_secret": {confSecret}, "resource": {"https://x.example/mcp"}}, 400, "invalid_target"},
		{"unknown scope", url.Values{"client_id": {confClient}, "client_secret": {confSecret}, "scope": {"root"}}, 400, "invalid_scope"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.form.Set("grant_type", "client_credentials")
			st, body, _ := ts.tokenRequest(t, c.form)
			if st != c.status || body["error"] != c.err || body["error_description"] == "" {
				t.Errorf("got %d %v, want %d %s", st, body, c.status, c.err)
			}
		})
	}
}

func TestClientCredentialsWithPrivateKeyJWT(t *testing.T) {
	key := newMachineKey(t)
	ts := startServer(t, options{mutate: withJWTClient(key, t)})
	request := func(assertion string, extra url.Values) (int, map[string]any) {
		f := url.Values{"grant_type": {"client_credentials"}, "client_assertion_type": {oauth.ClientAssertionType}, "client_assertion": {assertion}}
		for k, v := range extra {
			f[k] = v
		}
		st, body, _ := ts.tokenRequest(t, f)
		return st, body
	}

	for _, aud := range []string{ts.issuer, ts.issuer + "/token"} {
		cl := assertionClaims(ts.issuer, jwtClient)
		cl["aud"] = aud
		st, body := request(key.assertion(t, cl), url.Values{"resource": {resourceURI}})
		if st != 200 {
			t.Fatalf("aud %s: %d %v", aud, st, body)
		}
		if c := verifyAccessToken(t, ts, body["access_token"].(string)); c["sub"] != jwtClient || c["scope"] != "mcp:tools" {
			t.Errorf("claims %v", c)
		}
	}

	// The scope beyond what the client may have.
	if st, body := request(key.assertion(t, assertionClaims(ts.issuer, jwtClient)), url.Values{"scope": {"mcp:admin"}}); st != 400 || body["error"] != "invalid_scope" {
		t.Errorf("scope beyond the client's: %d %v", st, body)
	}

	replayed := key.assertion(t, assertionClaims(ts.issuer, jwtClient))
	if st, _ := request(replayed, nil); st != 200 {
		t.Fatal("first use of an assertion refused")
	}

	other := newMachineKey(t)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	now := time.Now()
	with := func(k string, v any) map[string]any {
		c := assertionClaims(ts.issuer, jwtClient)
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	cases := map[string]string{
		"replayed jti":              replayed,
		"bad signature":             other.assertion(t, assertionClaims(ts.issuer, jwtClient)),
		"unknown kid":               machineKey{priv: key.priv, alg: jose.ES256, kid: "k2"}.assertion(t, assertionClaims(ts.issuer, jwtClient)),
		"RS256 by another key":      machineKey{priv: rsaKey, alg: jose.RS256, kid: "k1"}.assertion(t, assertionClaims(ts.issuer, jwtClient)),
		"alg none":                  unsigned(`{"alg":"none","kid":"k1"}`, with("jti", randomState())),
		"HS256 with the public key": hmacWithPublicKey(t, key, with("jti", randomState())),
		"wrong aud":                 key.assertion(t, with("aud", "https://other.example")),
		"expired":                   key.assertion(t, with("exp", now.Add(-2*time.Minute).Unix())),
		"no exp":                    key.assertion(t, with("exp", nil)),
		"issued in the future":      key.assertion(t, with("iat", now.Add(5*time.Minute).Unix())),
		"lives too long":            key.assertion(t, with("exp", now.Add(time.Hour).Unix())),
		"no jti":                    key.assertion(t, with("jti", nil)),
		"sub is not iss":            key.assertion(t, with("sub", "someone-else")),
		"another client":            key.assertion(t, map[string]any{"iss": confClient, "sub": confClient, "aud": ts.issuer, "exp": now.Add(time.Minute).Unix(), "jti": randomState()}),
		"unknown client":            key.assertion(t, map[string]any{"iss": "nobody", "sub": "nobody", "aud": ts.issuer, "exp": now.Add(time.Minute).Unix(), "jti": randomState()}),
		"garbage":                   "not.a.jwt",
	}
	for name, a := range cases {
		t.Run(name, func(t *testing.T) {
			if st, body := request(a, nil); st != 401 || body["error"] != "invalid_client" || body["error_description"] == "" {
				t.Errorf("got %d %v", st, body)
			}
		})
	}
	t.Run("client_id of another client", func(t *testing.T) {
		if st, body := request(key.assertion(t, assertionClaims(ts.issuer, jwtClient)), url.Values{"client_id": {confClient}}); st != 401 || body["error"] != "invalid_client" {
			t.Errorf("got %d %v", st, body)
		}
	})
	t.Run("wrong assertion type", func(t *testing.T) {
		st, body, _ := ts.tokenRequest(t, url.Values{"grant_type": {"client_credentials"}, "client_assertion_type": {"urn:x"}, "client_assertion": {key.assertion(t, assertionClaims(ts.issuer, jwtClient))}})
		if st != 400 || body["error"] != "invalid_request" {
			t.Errorf("got %d %v", st, body)
		}
	})
}

// unsigned builds a JWT with the given header and an empty signature part.
func unsigned(header string, claims map[string]any) string {
	c, _ := json.Marshal(claims)
	return b64(header) + "." + b64(string(c)) + ".c2ln"
}

func b64(s string) string {
	return strings.TrimRight(base64URL.EncodeToString([]byte(s)), "=")
}

func hmacWithPublicKey(t *testing.T, k machineKey, claims map[string]any) string {
	pub, _ := json.Marshal(jose.JSONWebKey{Key: k.priv.(*ecdsa.PrivateKey).Public()})
	sg, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: pub}, (&jose.SignerOptions{}).WithHeader("kid", k.kid))
	raw, _ := jwt.Signed(sg).Claims(claims).Serialize()
	return raw
}

func TestPrivateKeyJWTAtIntrospectionAndRevocation(t *testing.T) {
	key := newMachineKey(t)
	ts := startServer(t, options{mutate: withJWTClient(key, t)})
	st, body, _ := ts.tokenRequest(t, url.Values{"grant_type": {"client_credentials"}, "client_assertion_type": {oauth.ClientAssertionType},
		"client_assertion": {key.assertion(t, assertionClaims(ts.issuer, jwtClient))}})
	if st != 200 {
		t.Fatalf("%d %v", st, body)
	}
	tok := body["access_token"].(string)
	post := func(path string, form url.Values) (int, map[string]any) {
		resp, err := http.PostForm(ts.issuer+path, form)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	cl := assertionClaims(ts.issuer, jwtClient)
	cl["aud"] = ts.issuer + "/introspect" // the endpoint itself is an accepted audience
	st, in := post("/introspect", url.Values{"token": {tok}, "client_assertion_type": {oauth.ClientAssertionType}, "client_assertion": {key.assertion(t, cl)}})
	if st != 200 || in["active"] != true {
		t.Fatalf("introspect with private_key_jwt: %d %v", st, in)
	}
	st, _ = post("/revoke", url.Values{"token": {tok}, "client_assertion_type": {oauth.ClientAssertionType}, "client_assertion": {key.assertion(t, assertionClaims(ts.issuer, jwtClient))}})
	if st != 200 {
		t.Fatalf("revoke with private_key_jwt: %d", st)
	}
	if in := ts.introspect(t, tok); in["active"] != false {
		t.Errorf("revoked: %v", in)
	}
}

// A metadata-document client that authenticates with private_key_jwt may use client
// credentials only when the operator allows it (off by default: anyone can publish a document).
func TestCIMDClientCredentialsNeedsTheOperatorsConsent(t *testing.T) {
	key := newMachineKey(t)
	host := newDocHost(t)
	clientID := host.put("/agent.json", map[string]any{
		"client_name": "Agent", "redirect_uris": []string{"http://127.0.0.1/callback"},
		"token_endpoint_auth_method": "private_key_jwt", "jwks": key.jwks(t),
	})
	for _, allowed := range []bool{false, true} {
		t.Run(fmt.Sprintf("allowed=%v", allowed), func(t *testing.T) {
			trust := host.trust(t)
			ts := startServer(t, options{mutate: func(c *config.Config) {
				trust(c)
				c.CIMD.AllowClientCredentials = allowed
			}})
			st, body, _ := ts.tokenRequest(t, url.Values{"grant_type": {"client_credentials"}, "resource": {resourceURI},
				"client_assertion_type": {oauth.ClientAssertionType}, "client_assertion": {key.assertion(t, assertionClaims(ts.issuer, clientID))}})
			switch {
			case allowed && st != 200:
				t.Fatalf("allowed: %d %v", st, body)
			case allowed:
				if c := verifyAccessToken(t, ts, body["access_token"].(string)); c["sub"] != clientID || c["client_id"] != clientID {
					t.Errorf("claims %v", c)
				}
			case st != 400 || body["error"] != "unauthorized_client":
				t.Errorf("not allowed: %d %v, want unauthorized_client", st, body)
			}
			// A forged assertion never passes, allowed or not.
			other := newMachineKey(t)
			if st, body, _ := ts.tokenRequest(t, url.Values{"grant_type": {"client_credentials"}, "resource": {resourceURI},
				"client_assertion_type": {oauth.ClientAssertionType}, "client_assertion": {other.assertion(t, assertionClaims(ts.issuer, clientID))}}); st != 401 {
				t.Errorf("assertion signed by another key: %d %v", st, body)
			}
		})
	}
}
