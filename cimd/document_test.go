package cimd

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

const testID = "https://app.example.com/oauth/client.json"

func testLimits() docLimits {
	return docLimits{maxRedirectURIs: DefaultMaxRedirectURIs, maxURLLength: DefaultMaxURLLength}
}

// jwkJSON encodes key (public or private) as a JWK.
func jwkJSON(t testing.TB, key any, use string) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(jose.JSONWebKey{Key: key, KeyID: "k1", Use: use, Algorithm: "ES256"})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func jwks(keys ...json.RawMessage) map[string]any {
	ks := make([]any, len(keys))
	for i, k := range keys {
		ks[i] = k
	}
	return map[string]any{"keys": ks}
}

func TestParseDocument(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ec2, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	rsaSmall, _ := rsa.GenerateKey(rand.Reader, 1024)
	pub := jwkJSON(t, &ec.PublicKey, "sig")
	unknownKty := json.RawMessage(`{"kty":"XYZ","kid":"future"}`)
	encKey := jwkJSON(t, &ec2.PublicKey, "enc")

	type edit = func(map[string]any)
	set := func(k string, v any) edit { return func(d map[string]any) { d[k] = v } }
	del := func(k string) edit { return func(d map[string]any) { delete(d, k) } }
	both := func(es ...edit) edit {
		return func(d map[string]any) {
			for _, e := range es {
				e(d)
			}
		}
	}
	cases := []struct {
		name string
		edit edit
		raw  string // instead of the edited valid document
		rule Rule   // "" means valid
		// check, for valid documents
		check func(t *testing.T, c *Client)
	}{
		{name: "valid public client", check: func(t *testing.T, c *Client) {
			if c.ID() != testID || c.Name() != "Example MCP Client" || !c.Public() ||
				c.TokenEndpointAuthMethod() != "none" || c.Scope() != "mcp:tools offline_access" ||
				c.ClientURI() != "https://app.example.com/" || c.LogoURI() != "https://app.example.com/logo.png" {
				t.Errorf("fields: %+v", c)
			}
			if !slices.Equal(c.GrantTypes(), []string{"authorization_code", "refresh_token"}) ||
				!slices.Equal(c.ResponseTypes(), []string{"code"}) || len(c.RedirectURIs()) != 2 {
				t.Errorf("lists: %v %v %v", c.GrantTypes(), c.ResponseTypes(), c.RedirectURIs())
			}
			if c.JWKS() != nil || c.JWKSURI() != "" || len(c.Fingerprint()) != 64 {
				t.Errorf("keys/fingerprint: %s %s %s", c.JWKS(), c.JWKSURI(), c.Fingerprint())
			}
		}},

		// Not a JSON object.
		{name: "empty", raw: ``, rule: RuleNotJSON},
		{name: "html", raw: `<html><body>hello</body></html>`, rule: RuleNotJSON},
		{name: "array", raw: `[{"client_id":"` + testID + `"}]`, rule: RuleNotJSON},
		{name: "string", raw: `"` + testID + `"`, rule: RuleNotJSON},
		{name: "trailing data", raw: `{"client_id":"` + testID + `"} {}`, rule: RuleNotJSON},
		{name: "truncated", raw: `{"client_id":"` + testID + `"`, rule: RuleNotJSON},
		{name: "duplicate member", raw: `{"client_id":"` + testID + `","client_id":"` + testID + `"}`, rule: RuleNotJSON},
		{name: "client_name not a string", edit: set("client_name", 5), rule: RuleNotJSON},
		{name: "redirect_uris not an array", edit: set("redirect_uris", "https://app.example.com/cb"), rule: RuleNotJSON},
		{name: "redirect_uris of numbers", edit: set("redirect_uris", []any{1}), rule: RuleNotJSON},

		// client_id.
		{name: "client_id mismatch", edit: set("client_id", "https://evil.example.com/oauth/client.json"), rule: RuleClientIDMismatch},
		{name: "client_id differs in case", edit: set("client_id", strings.ToUpper(testID[:12])+testID[12:]), rule: RuleClientIDMismatch},
		{name: "client_id with trailing slash", edit: set("client_id", testID+"/"), rule: RuleClientIDMismatch},
		{name: "client_id missing", edit: del("client_id"), rule: RuleClientIDMismatch},
		{name: "client_id in other case member", edit: both(del("client_id"), set("Client_ID", testID)), rule: RuleClientIDMismatch},
		{name: "client_id not a string", edit: set("client_id", []any{testID}), rule: RuleNotJSON},

		// Secrets (CIMD §4.1).
		{name: "client_secret", edit: set("client_secret", "s3cret"), rule: RuleClientSecret},
		{name: "client_secret null", edit: set("client_secret", nil), rule: RuleClientSecret},
		{name: "client_secret_basic", edit: set("token_endpoint_auth_method", "client_secret_basic"), rule: RuleAuthMethodForbidden},
		{name: "client_secret_post", edit: set("token_endpoint_auth_method", "client_secret_post"), rule: RuleAuthMethodForbidden},
		{name: "client_secret_jwt", edit: set("token_endpoint_auth_method", "client_secret_jwt"), rule: RuleAuthMethodForbidden},
		{name: "tls_client_auth", edit: set("token_endpoint_auth_method", "tls_client_auth"), rule: RuleAuthMethodUnknown},

		// client_name.
		{name: "client_name missing", edit: del("client_name"), rule: RuleClientNameMissing},
		{name: "client_name blank", edit: set("client_name", "  "), rule: RuleClientNameMissing},
		{name: "client_name too long", edit: set("client_name", strings.Repeat("x", 201)), rule: RuleClientNameInvalid},
		{name: "client_name bidi override", edit: set("client_name", "Good\u202eliaM"), rule: RuleClientNameInvalid},
		{name: "client_name newline", edit: set("client_name", "a\nb"), rule: RuleClientNameInvalid},
		{name: "client_name unicode ok", edit: set("client_name", "Café Ünïcødé 客户端"), check: func(t *testing.T, c *Client) {
			if c.Name() != "Café Ünïcødé 客户端" {
				t.Error(c.Name())
			}
		}},

		// redirect_uris.
		{name: "redirect_uris missing", edit: del("redirect_uris"), rule: RuleRedirectURIsMissing},
		{name: "redirect_uris empty", edit: set("redirect_uris", []any{}), rule: RuleRedirectURIsMissing},
		{name: "redirect_uris null", edit: set("redirect_uris", nil), rule: RuleRedirectURIsMissing},
		{name: "too many redirect_uris", edit: set("redirect_uris", func() []any {
			var u []any
			for i := range 21 {
				u = append(u, "https://app.example.com/cb"+itoa(i))
			}
			return u
		}()), rule: RuleTooManyRedirectURIs},
		{name: "redirect uri with fragment", edit: set("redirect_uris", []any{"https://app.example.com/cb#x"}), rule: RuleRedirectURIInvalid},
		{name: "redirect uri relative", edit: set("redirect_uris", []any{"/cb"}), rule: RuleRedirectURIInvalid},
		{name: "redirect uri http non-loopback", edit: set("redirect_uris", []any{"http://app.example.com/cb"}), rule: RuleRedirectURIInvalid},
		{name: "redirect uri javascript", edit: set("redirect_uris", []any{"javascript:alert(1)"}), rule: RuleRedirectURIInvalid},
		{name: "redirect uri dotless scheme", edit: set("redirect_uris", []any{"myapp://cb"}), rule: RuleRedirectURIInvalid},
		{name: "redirect uri too long", edit: set("redirect_uris", []any{"https://app.example.com/" + strings.Repeat("a", 2048)}), rule: RuleRedirectURIInvalid},
		{name: "redirect uri empty string", edit: set("redirect_uris", []any{""}), rule: RuleRedirectURIInvalid},
		{name: "redirect uris native", edit: set("redirect_uris", []any{"com.example.app:/cb", "http://[::1]/cb", "http://localhost:8080/cb"})},

		// Keys and private_key_jwt.
		{name: "private_key_jwt with jwks", edit: both(set("token_endpoint_auth_method", "private_key_jwt"), set("jwks", jwks(pub))), check: func(t *testing.T, c *Client) {
			var set jose.JSONWebKeySet
			if c.Public() || json.Unmarshal(c.JWKS(), &set) != nil || len(set.Keys) != 1 || !set.Keys[0].IsPublic() {
				t.Errorf("jwks: %s", c.JWKS())
			}
		}},
		{name: "private_key_jwt with jwks_uri", edit: both(set("token_endpoint_auth_method", "private_key_jwt"), set("jwks_uri", "https://app.example.com/jwks.json")), check: func(t *testing.T, c *Client) {
			if c.JWKSURI() != "https://app.example.com/jwks.json" || c.TokenEndpointAuthMethod() != "private_key_jwt" {
				t.Error(c.JWKSURI())
			}
		}},
		{name: "private_key_jwt without keys", edit: set("token_endpoint_auth_method", "private_key_jwt"), rule: RuleKeysMissing},
		{name: "jwks and jwks_uri", edit: both(set("jwks", jwks(pub)), set("jwks_uri", "https://app.example.com/jwks.json")), rule: RuleKeysConflict},
		{name: "jwks_uri http", edit: set("jwks_uri", "http://app.example.com/jwks.json"), rule: RuleMetadataURI},
		{name: "jwks_uri fragment", edit: set("jwks_uri", "https://app.example.com/jwks.json#k"), rule: RuleMetadataURI},
		{name: "jwks_uri userinfo", edit: set("jwks_uri", "https://u@app.example.com/jwks.json"), rule: RuleMetadataURI},
		{name: "jwks private key", edit: set("jwks", jwks(jwkJSON(t, ec, "sig"))), rule: RuleKeysInvalid},
		{name: "jwks symmetric key", edit: set("jwks", jwks(json.RawMessage(`{"kty":"oct","k":"c2VjcmV0"}`))), rule: RuleKeysInvalid},
		{name: "jwks small rsa", edit: set("jwks", jwks(jwkJSON(t, &rsaSmall.PublicKey, "sig"))), rule: RuleKeysInvalid},
		{name: "jwks empty", edit: set("jwks", map[string]any{"keys": []any{}}), rule: RuleKeysInvalid},
		{name: "jwks not a set", edit: set("jwks", []any{pub}), rule: RuleKeysInvalid},
		{name: "jwks broken key", edit: set("jwks", jwks(json.RawMessage(`{"kty":"EC","crv":"P-256","x":"AA","y":"AA"}`))), rule: RuleKeysInvalid},
		{name: "jwks only unknown and enc keys", edit: set("jwks", jwks(unknownKty, encKey)), rule: RuleKeysInvalid},
		{name: "jwks unknown key skipped", edit: set("jwks", jwks(unknownKty, jwkJSON(t, edPub, ""), encKey)), check: func(t *testing.T, c *Client) {
			var set jose.JSONWebKeySet
			if err := json.Unmarshal(c.JWKS(), &set); err != nil || len(set.Keys) != 1 {
				t.Errorf("jwks: %s %v", c.JWKS(), err)
			}
		}},

		// token_endpoint_auth_method missing, or only the _supported list.
		{name: "no method, no keys: none", edit: del("token_endpoint_auth_method"), check: func(t *testing.T, c *Client) {
			if !c.Public() {
				t.Error(c.TokenEndpointAuthMethod())
			}
		}},
		{name: "no method, keys: private_key_jwt", edit: both(del("token_endpoint_auth_method"), set("jwks", jwks(pub))), check: func(t *testing.T, c *Client) {
			if c.TokenEndpointAuthMethod() != "private_key_jwt" {
				t.Error(c.TokenEndpointAuthMethod())
			}
		}},
		{name: "supported list with keys", edit: both(del("token_endpoint_auth_method"),
			set("token_endpoint_auth_methods_supported", []any{"none", "private_key_jwt"}), set("jwks_uri", "https://app.example.com/jwks")),
			check: func(t *testing.T, c *Client) {
				if c.TokenEndpointAuthMethod() != "private_key_jwt" {
					t.Error(c.TokenEndpointAuthMethod())
				}
			}},
		{name: "supported list without keys", edit: both(del("token_endpoint_auth_method"),
			set("token_endpoint_auth_methods_supported", []any{"private_key_jwt", "none"})),
			check: func(t *testing.T, c *Client) {
				if !c.Public() {
					t.Error(c.TokenEndpointAuthMethod())
				}
			}},
		{name: "supported list of secrets", edit: both(del("token_endpoint_auth_method"),
			set("token_endpoint_auth_methods_supported", []any{"client_secret_basic", "client_secret_post"})), rule: RuleAuthMethodForbidden},
		{name: "supported list private_key_jwt without keys", edit: both(del("token_endpoint_auth_method"),
			set("token_endpoint_auth_methods_supported", []any{"private_key_jwt"})), rule: RuleKeysMissing},
		{name: "supported list empty", edit: both(del("token_endpoint_auth_method"),
			set("token_endpoint_auth_methods_supported", []any{})), rule: RuleAuthMethodUnknown},

		// Grant and response types.
		{name: "grant_types default", edit: del("grant_types"), check: func(t *testing.T, c *Client) {
			if !slices.Equal(c.GrantTypes(), []string{"authorization_code"}) {
				t.Error(c.GrantTypes())
			}
		}},
		{name: "public client lists jwt-bearer and device_code", edit: set("grant_types", []any{
			"authorization_code", "refresh_token", "urn:ietf:params:oauth:grant-type:jwt-bearer",
			"urn:ietf:params:oauth:grant-type:device_code", "authorization_code"}),
			check: func(t *testing.T, c *Client) {
				if !slices.Equal(c.GrantTypes(), []string{"authorization_code", "refresh_token"}) {
					t.Error(c.GrantTypes())
				}
			}},
		{name: "confidential client keeps jwt-bearer", edit: both(set("jwks", jwks(pub)), set("token_endpoint_auth_method", "private_key_jwt"),
			set("grant_types", []any{"urn:ietf:params:oauth:grant-type:jwt-bearer"})),
			check: func(t *testing.T, c *Client) {
				if !slices.Equal(c.GrantTypes(), []string{"urn:ietf:params:oauth:grant-type:jwt-bearer"}) {
					t.Error(c.GrantTypes())
				}
			}},
		{name: "only client_credentials", edit: set("grant_types", []any{"client_credentials"}), rule: RuleGrantTypes},
		{name: "only implicit", edit: set("grant_types", []any{"implicit"}), rule: RuleGrantTypes},
		{name: "public client only jwt-bearer", edit: set("grant_types", []any{"urn:ietf:params:oauth:grant-type:jwt-bearer"}), rule: RuleGrantTypes},
		{name: "response_types token only", edit: set("response_types", []any{"token"}), rule: RuleResponseTypes},
		{name: "response_types code and token", edit: set("response_types", []any{"code", "token"}), check: func(t *testing.T, c *Client) {
			if !slices.Equal(c.ResponseTypes(), []string{"code"}) {
				t.Error(c.ResponseTypes())
			}
		}},
		{name: "response_types default", edit: del("response_types")},

		// Other URLs and scope.
		{name: "client_uri http", edit: set("client_uri", "http://app.example.com/"), rule: RuleMetadataURI},
		{name: "logo_uri javascript", edit: set("logo_uri", "javascript:alert(1)"), rule: RuleMetadataURI},
		{name: "logo_uri data", edit: set("logo_uri", "data:image/png;base64,AAAA"), rule: RuleMetadataURI},
		{name: "tos_uri not a string", edit: set("tos_uri", 1), rule: RuleNotJSON},
		{name: "policy_uri with fragment ok", edit: set("policy_uri", "https://app.example.com/legal#privacy")},
		{name: "scope bad token", edit: set("scope", "a  b"), rule: RuleScope},
		{name: "scope quote", edit: set("scope", `a"b`), rule: RuleScope},
		{name: "scope too long", edit: set("scope", strings.Repeat("a", 1001)), rule: RuleScope},
		{name: "unknown members ignored", edit: set("software_id", map[string]any{"x": []any{1, 2}})},
		{name: "null optional members", edit: both(set("scope", nil), set("logo_uri", nil), set("grant_types", nil))},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			data := []byte(c.raw)
			if c.raw == "" && c.edit != nil || c.raw == "" && c.rule == "" {
				d := validDoc(testID)
				if c.edit != nil {
					c.edit(d)
				}
				data, _ = json.Marshal(d)
			}
			got, err := parseDocument(testID, data, testLimits())
			if c.rule == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if c.check != nil {
					c.check(t, got)
				}
				return
			}
			if err == nil || err.Rule != c.rule {
				t.Fatalf("got %v, want rule %s", err, c.rule)
			}
			if err.ClientID != testID {
				t.Errorf("error's ClientID = %q", err.ClientID)
			}
		})
	}
}

// An error never carries more than a short excerpt of what the document host sent.
func TestErrorsDoNotEchoDocuments(t *testing.T) {
	long := strings.Repeat("A", 4000)
	for _, d := range []map[string]any{
		{"client_id": long},
		{"client_id": testID, "client_name": "x", "redirect_uris": []any{"https://x.example/" + long}},
		{"client_id": testID, "client_name": "x", "redirect_uris": []any{"https://x.example/"}, "token_endpoint_auth_method": long},
		{"client_id": testID, long: 1, long + "x": 2, "client_name": "x", "redirect_uris": []any{"ftp://" + long}},
	} {
		data, _ := json.Marshal(d)
		_, err := parseDocument(testID, data, testLimits())
		if err == nil {
			t.Fatal("accepted")
		}
		if len(err.Error()) > 600 {
			t.Errorf("error is %d bytes: %.200s…", len(err.Error()), err.Error())
		}
	}
}

func TestFingerprint(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ec2, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	fp := func(edit func(map[string]any)) string {
		d := validDoc(testID)
		edit(d)
		data, _ := json.Marshal(d)
		c, err := parseDocument(testID, data, testLimits())
		if err != nil {
			t.Fatal(err)
		}
		return c.Fingerprint()
	}
	base := fp(func(map[string]any) {})
	same := []func(map[string]any){
		func(d map[string]any) { d["client_name"] = "Renamed" },
		func(d map[string]any) { d["logo_uri"] = "https://app.example.com/other.png" },
		func(d map[string]any) { // order and duplicates of redirect URIs do not matter
			d["redirect_uris"] = []any{"https://app.example.com/oauth/callback", "http://127.0.0.1/callback", "http://127.0.0.1/callback"}
		},
	}
	for i, e := range same {
		if fp(e) != base {
			t.Errorf("same[%d] changed the fingerprint", i)
		}
	}
	withKey := func(k *ecdsa.PrivateKey) func(map[string]any) {
		return func(d map[string]any) {
			d["token_endpoint_auth_method"] = "private_key_jwt"
			d["jwks"] = jwks(jwkJSON(t, &k.PublicKey, "sig"))
		}
	}
	different := []func(map[string]any){
		func(d map[string]any) { d["redirect_uris"] = []any{"http://127.0.0.1/callback"} },
		func(d map[string]any) {
			d["redirect_uris"] = []any{"http://127.0.0.1/callback", "https://evil.example/cb"}
		},
		withKey(ec),
		func(d map[string]any) { d["jwks_uri"] = "https://app.example.com/jwks" },
	}
	seen := map[string]bool{base: true}
	for i, e := range different {
		f := fp(e)
		if seen[f] {
			t.Errorf("different[%d] did not change the fingerprint", i)
		}
		seen[f] = true
	}
	if fp(withKey(ec)) == fp(withKey(ec2)) {
		t.Error("a new key did not change the fingerprint")
	}
}

// FuzzParseDocument feeds the parser arbitrary bytes. Whatever it accepts must satisfy the
// rules, whatever it refuses must be refused with a rule, and it must never panic.
func FuzzParseDocument(f *testing.F) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pub := jwkJSON(f, &ec.PublicKey, "sig")
	seeds := []map[string]any{
		validDoc(testID),
		{"client_id": testID, "client_name": "n", "redirect_uris": []any{"com.example.app:/cb"}, "jwks": jwks(pub)},
		{"client_id": testID, "client_name": "n", "redirect_uris": []any{"http://[::1]:9/x"},
			"token_endpoint_auth_methods_supported": []any{"private_key_jwt", "none"}, "jwks_uri": "https://a.example/j"},
		{"client_id": testID, "client_secret": "x"},
		{"client_id": testID, "client_name": "n", "redirect_uris": []any{"https://a.example/cb"},
			"grant_types": []any{"urn:ietf:params:oauth:grant-type:jwt-bearer"}, "response_types": []any{"code", "token"}},
	}
	for _, s := range seeds {
		b, _ := json.Marshal(s)
		f.Add(b)
	}
	f.Add([]byte(`{"client_id":"` + testID + `","client_id":"x"}`))
	f.Add([]byte(`{"jwks":{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB"}]}}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"client_id":"` + testID + `","client_name":"\u202e","redirect_uris":["https://a/\u0000"]}`))

	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := parseDocument(testID, data, testLimits())
		if err != nil {
			if c != nil || err.Rule == "" || err.ClientID != testID {
				t.Fatalf("bad refusal: %v %v", c, err)
			}
			return
		}
		if c.ID() != testID || strings.TrimSpace(c.Name()) == "" || len(c.Name()) > maxClientNameBytes {
			t.Fatalf("accepted bad id/name: %q %q", c.ID(), c.Name())
		}
		if len(c.RedirectURIs()) == 0 || len(c.RedirectURIs()) > DefaultMaxRedirectURIs {
			t.Fatalf("accepted %d redirect URIs", len(c.RedirectURIs()))
		}
		for _, u := range c.RedirectURIs() {
			if strings.ContainsAny(u, "# \\") || u == "" {
				t.Fatalf("accepted redirect URI %q", u)
			}
			if !c.MatchRedirectURI(u) {
				t.Fatalf("registered URI %q does not match itself", u)
			}
		}
		switch c.TokenEndpointAuthMethod() {
		case "none":
		case "private_key_jwt":
			if c.JWKS() == nil && c.JWKSURI() == "" {
				t.Fatal("private_key_jwt without keys")
			}
		default:
			t.Fatalf("accepted auth method %q", c.TokenEndpointAuthMethod())
		}
		if c.JWKS() != nil && c.JWKSURI() != "" {
			t.Fatal("accepted jwks and jwks_uri")
		}
		if c.JWKS() != nil {
			var set jose.JSONWebKeySet
			if err := json.Unmarshal(c.JWKS(), &set); err != nil || len(set.Keys) == 0 {
				t.Fatalf("normalised jwks does not parse: %v", err)
			}
			for _, k := range set.Keys {
				if !k.IsPublic() {
					t.Fatal("accepted a non-public key")
				}
			}
		}
		if !slices.Equal(c.ResponseTypes(), []string{"code"}) {
			t.Fatalf("response types %v", c.ResponseTypes())
		}
		for _, g := range c.GrantTypes() {
			if g != grantAuthorizationCode && g != grantRefreshToken && g != grantJWTBearer {
				t.Fatalf("accepted grant %q", g)
			}
			if g == grantJWTBearer && c.Public() {
				t.Fatal("public client kept jwt-bearer")
			}
		}
		for _, u := range []string{c.ClientURI(), c.LogoURI(), c.TOSURI(), c.PolicyURI(), c.JWKSURI()} {
			if u != "" && !strings.HasPrefix(u, "https://") {
				t.Fatalf("accepted non-https URL %q", u)
			}
		}
		var probe map[string]json.RawMessage
		if json.Unmarshal(data, &probe) == nil {
			if _, ok := probe["client_secret"]; ok {
				t.Fatal("accepted a client_secret")
			}
		}
	})
}
