package resource

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

func TestVerify(t *testing.T) {
	clock := newTestClock()
	as := newTestAS(t, clock)
	key := as.newKey("k1", jose.ES256, true)
	unpublished := as.newKey("k1", jose.ES256, false) // same kid, other key
	v := as.newVerifier(t, nil)

	with := func(edit func(c map[string]any)) map[string]any {
		c := as.claims()
		edit(c)
		return c
	}
	hs256WithPublicKey := func() string {
		// The classic key confusion: HMAC keyed with the public key the verifier trusts.
		der, err := x509.MarshalPKIXPublicKey(key.key.Public())
		if err != nil {
			t.Fatal(err)
		}
		secret := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
		head := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","kid":"k1","typ":"at+jwt"}`))
		body := base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf(`{"iss":%q,"sub":"x","aud":%q,"exp":%d,"iat":%d,"jti":"j","client_id":"c"}`,
			as.issuer(), testResource, clock.Now().Add(time.Hour).Unix(), clock.Now().Unix())))
		mac := hmac.New(sha256.New, secret)
		mac.Write([]byte(head + "." + body))
		return head + "." + body + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
	}
	tampered := func() string {
		raw := key.sign(t, as.claims(), nil)
		parts := strings.Split(raw, ".")
		c := as.claims()
		c["scope"] = "tools:read tools:write admin"
		forged := unsigned(t, map[string]any{"alg": "ES256", "kid": "k1", "typ": "at+jwt"}, c, nil)
		return strings.Join(append(strings.Split(forged, ".")[:2], parts[2]), ".")
	}

	tests := []struct {
		name    string
		raw     string
		wantErr string // substring of the error; empty means valid
	}{
		{"valid", key.sign(t, as.claims(), nil), ""},
		{"typ in full media type, any case", key.sign(t, as.claims(), map[string]any{"typ": "Application/AT+JWT"}), ""},
		{"aud as an array", key.sign(t, with(func(c map[string]any) { c["aud"] = []string{"https://other.example.com", testResource} }), nil), ""},
		{"aud with host in another case", key.sign(t, with(func(c map[string]any) { c["aud"] = "https://MCP.Example.com/mcp" }), nil), ""},
		{"empty", "", "empty token"},
		{"not a JWS", "abc", "not a JWS compact serialization"},
		{"four parts", "a.b.c.d", "not a JWS compact serialization"},
		{"header not base64", "!!.e30.AA", "malformed header"},
		{"header not JSON", base64.RawURLEncoding.EncodeToString([]byte("nope")) + ".e30.AA", "malformed header"},
		{"claims not JSON", strings.Join([]string{strings.Split(key.sign(t, as.claims(), nil), ".")[0], "bm9wZQ", "AA"}, "."), "malformed claims"},
		{"alg none", unsigned(t, map[string]any{"alg": "none", "kid": "k1", "typ": "at+jwt"}, as.claims(), nil), `algorithm "none" is not accepted`},
		{"HS256 keyed with the public key", hs256WithPublicKey(), `algorithm "HS256" is not accepted`},
		{"RS256 when only ES256 is allowed", as.newKey("r1", jose.RS256, true).sign(t, as.claims(), nil), `algorithm "RS256" is not accepted`},
		{"missing typ", key.sign(t, as.claims(), map[string]any{"typ": nil}), `typ is not "at+jwt"`},
		{"wrong typ", key.sign(t, as.claims(), map[string]any{"typ": "JWT"}), `typ is not "at+jwt"`},
		{"critical header", key.sign(t, as.claims(), map[string]any{"crit": []string{"exp"}, "exp": 1}), "unsupported critical header"},
		{"no kid", unsigned(t, map[string]any{"alg": "ES256", "typ": "at+jwt"}, as.claims(), make([]byte, 64)), "no kid"},
		{"unknown kid", as.newKey("nope", jose.ES256, false).sign(t, as.claims(), nil), "unknown signing key"},
		{"signed by another key with a known kid", unpublished.sign(t, as.claims(), nil), "bad signature"},
		{"tampered claims", tampered(), "bad signature"},
		{"signature of the wrong length", shortSignature(t, key.sign(t, as.claims(), nil)), "bad signature"},
		{"wrong iss", key.sign(t, with(func(c map[string]any) { c["iss"] = as.issuer() + "/" }), nil), "wrong issuer"},
		{"wrong aud", key.sign(t, with(func(c map[string]any) { c["aud"] = "https://mcp.example.com/other" }), nil), "not meant for this resource"},
		{"aud with trailing slash", key.sign(t, with(func(c map[string]any) { c["aud"] = testResource + "/" }), nil), "not meant for this resource"},
		{"no aud", key.sign(t, with(func(c map[string]any) { delete(c, "aud") }), nil), "not meant for this resource"},
		{"expired", key.sign(t, with(func(c map[string]any) { c["exp"] = clock.Now().Unix() }), nil), "token expired"},
		{"not yet valid", key.sign(t, with(func(c map[string]any) { c["nbf"] = clock.Now().Add(time.Minute).Unix() }), nil), "not yet valid"},
		{"issued in the future", key.sign(t, with(func(c map[string]any) { c["iat"] = clock.Now().Add(time.Minute).Unix() }), nil), "issued in the future"},
		{"no sub", key.sign(t, with(func(c map[string]any) { delete(c, "sub") }), nil), "missing required claims"},
		{"no client_id", key.sign(t, with(func(c map[string]any) { delete(c, "client_id") }), nil), "missing required claims"},
		{"no exp", key.sign(t, with(func(c map[string]any) { delete(c, "exp") }), nil), "missing required claims"},
		{"exp not a number", key.sign(t, with(func(c map[string]any) { c["exp"] = "tomorrow" }), nil), "malformed claims"},
		{"too large", strings.Repeat("a", maxTokenSize+1), "token too large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := v.Verify(t.Context(), tt.raw)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if tok.Subject != "user-123" || tok.ClientID != "https://client.example.com/meta.json" || !tok.HasScope("profile") {
					t.Errorf("token = %+v", tok)
				}
				return
			}
			if err == nil {
				t.Fatalf("Verify accepted the token: %+v", tok)
			}
			if !errors.Is(err, ErrInvalidToken) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Verify error = %v, want ErrInvalidToken containing %q", err, tt.wantErr)
			}
		})
	}
}

// shortSignature drops the last byte of raw's signature.
func shortSignature(t *testing.T, raw string) string {
	dot := strings.LastIndexByte(raw, '.')
	sig, err := base64.RawURLEncoding.DecodeString(raw[dot+1:])
	if err != nil {
		t.Fatal(err)
	}
	return raw[:dot+1] + base64.RawURLEncoding.EncodeToString(sig[:len(sig)-1])
}

func TestVerifyReturnsTheClaims(t *testing.T) {
	clock := newTestClock()
	as := newTestAS(t, clock)
	key := as.newKey("k1", jose.ES256, true)
	v := as.newVerifier(t, nil)
	claims := as.claims()
	claims["tenant"] = "acme"
	tok, err := v.Verify(t.Context(), key.sign(t, claims, nil))
	if err != nil {
		t.Fatal(err)
	}
	want := Token{
		Issuer:   as.issuer(),
		Subject:  "user-123",
		ClientID: "https://client.example.com/meta.json",
		Scopes:   []string{"tools:read", "profile"},
		Audience: []string{testResource},
		Expiry:   clock.Now().Add(5 * time.Minute),
		IssuedAt: clock.Now(),
		ID:       claims["jti"].(string),
	}
	if got := fmt.Sprintf("%+v", *tok); !strings.HasPrefix(got, strings.TrimSuffix(fmt.Sprintf("%+v", want), "Claims:[]}")) {
		t.Errorf("token\n got %s\nwant %+v", got, want)
	}
	if !tok.Expiry.Equal(want.Expiry) || !tok.IssuedAt.Equal(want.IssuedAt) {
		t.Errorf("times = %v, %v", tok.Expiry, tok.IssuedAt)
	}
	if !strings.Contains(string(tok.Claims), `"tenant":"acme"`) {
		t.Errorf("Claims = %s", tok.Claims)
	}
}

func TestVerifyOtherAlgorithms(t *testing.T) {
	clock := newTestClock()
	as := newTestAS(t, clock)
	rs := as.newKey("rs", jose.RS256, true)
	ps := as.newKey("ps", jose.PS256, true)
	es384 := as.newKey("es384", jose.ES384, true)
	es := as.newKey("es", jose.ES256, true)
	v := as.newVerifier(t, func(c *Config) { c.Algorithms = []string{"RS256", "PS256", "ES384"} })

	for _, s := range []*signer{rs, ps, es384} {
		if _, err := v.Verify(t.Context(), s.sign(t, as.claims(), nil)); err != nil {
			t.Errorf("%s: %v", s.alg, err)
		}
	}
	if _, err := v.Verify(t.Context(), es.sign(t, as.claims(), nil)); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("ES256 accepted though not configured: %v", err)
	}
	// A token naming RS256 but the PS256 key's kid: the JWK says alg PS256.
	rsOnPSKid := &signer{kid: "ps", alg: jose.RS256, key: ps.key}
	if _, err := v.Verify(t.Context(), rsOnPSKid.sign(t, as.claims(), nil)); err == nil || !strings.Contains(err.Error(), "not for RS256") {
		t.Errorf("RS256 with a PS256 key: %v", err)
	}
	// ES384 header over the RSA key's kid.
	esOnRSKid := unsigned(t, map[string]any{"alg": "ES384", "kid": "rs", "typ": "at+jwt"}, as.claims(), make([]byte, 96))
	if _, err := v.Verify(t.Context(), esOnRSKid); err == nil || !strings.Contains(err.Error(), "not for ES384") {
		t.Errorf("ES384 with an RSA key: %v", err)
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	ok := Config{Resource: testResource, Issuer: "https://auth.example.com"}
	tests := []struct {
		name string
		edit func(*Config)
	}{
		{"no resource", func(c *Config) { c.Resource = "" }},
		{"relative resource", func(c *Config) { c.Resource = "/mcp" }},
		{"resource with fragment", func(c *Config) { c.Resource = testResource + "#x" }},
		{"resource with query", func(c *Config) { c.Resource = testResource + "?x=1" }},
		{"plain http resource", func(c *Config) { c.Resource = "http://mcp.example.com/mcp" }},
		{"plain http issuer", func(c *Config) { c.Issuer = "http://auth.example.com" }},
		{"issuer with user info", func(c *Config) { c.Issuer = "https://me@auth.example.com" }},
		{"alg none", func(c *Config) { c.Algorithms = []string{"none"} }},
		{"alg HS256", func(c *Config) { c.Algorithms = []string{"ES256", "HS256"} }},
		{"issuer not among authorization servers", func(c *Config) { c.AuthorizationServers = []string{"https://other.example.com"} }},
		{"introspection without secret", func(c *Config) { c.Introspection = &Introspection{ClientID: "x"} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := ok
			tt.edit(&cfg)
			if _, err := New(cfg); err == nil {
				t.Error("New accepted the config")
			}
		})
	}
	for _, edit := range []func(*Config){
		func(c *Config) {},
		func(c *Config) { c.Resource = "http://localhost:3000/mcp"; c.Issuer = "http://127.0.0.1:8080" },
		func(c *Config) { c.Resource = "http://mcp.internal/mcp"; c.AllowHTTP = true },
	} {
		cfg := ok
		edit(&cfg)
		if _, err := New(cfg); err != nil {
			t.Errorf("New(%+v): %v", cfg, err)
		}
	}
}

func TestKeyRotation(t *testing.T) {
	clock := newTestClock()
	as := newTestAS(t, clock)
	old := as.newKey("old", jose.ES256, true)
	v := as.newVerifier(t, nil)
	ctx := t.Context()

	if _, err := v.Verify(ctx, old.sign(t, as.claims(), nil)); err != nil {
		t.Fatal(err)
	}
	if n := as.jwksHits.Load(); n != 1 {
		t.Fatalf("JWKS fetched %d times for the first token, want 1", n)
	}

	// The AS rotates in a new key. Within the refresh interval of the first fetch, the new kid
	// is refused without asking the AS again.
	next := as.newKey("next", jose.ES256, true)
	clock.Advance(DefaultKeyRefreshInterval / 2)
	if _, err := v.Verify(ctx, next.sign(t, as.claims(), nil)); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("new kid inside the refresh interval: %v, want invalid token", err)
	}
	if n := as.jwksHits.Load(); n != 1 {
		t.Fatalf("JWKS fetched %d times, want still 1", n)
	}

	// After the interval a flood of tokens, most with kids nobody published, costs one fetch.
	clock.Advance(DefaultKeyRefreshInterval)
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for i := range 200 {
		wg.Go(func() {
			s := next
			if i%2 == 1 {
				s = &signer{kid: fmt.Sprintf("made-up-%d", i), alg: jose.ES256, key: next.key}
			}
			_, err := v.Verify(ctx, s.sign(t, as.claims(), nil))
			if (err == nil) != (i%2 == 0) {
				errs <- fmt.Errorf("token %d (kid %s): %v", i, s.kid, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := as.jwksHits.Load(); n != 2 {
		t.Errorf("JWKS fetched %d times after the flood, want 2", n)
	}
	if n := as.metadataHits.Load(); n != 1 {
		t.Errorf("metadata fetched %d times, want 1", n)
	}
}

func TestKeysAreRefreshedWhenOld(t *testing.T) {
	clock := newTestClock()
	as := newTestAS(t, clock)
	key := as.newKey("k1", jose.ES256, true)
	v := as.newVerifier(t, func(c *Config) { c.CacheSize = -1 })
	if _, err := v.Verify(t.Context(), key.sign(t, as.claims(), nil)); err != nil {
		t.Fatal(err)
	}
	clock.Advance(keysMaxAge + time.Second)
	if _, err := v.Verify(t.Context(), key.sign(t, as.claims(), nil)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for as.jwksHits.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := as.jwksHits.Load(); n != 2 {
		t.Errorf("JWKS fetched %d times, want a background refresh", n)
	}
}

func TestAuthorizationServerUnavailable(t *testing.T) {
	clock := newTestClock()
	as := newTestAS(t, clock)
	key := as.newKey("k1", jose.ES256, true)
	v := as.newVerifier(t, nil)
	as.setDown(true)

	raw := key.sign(t, as.claims(), nil)
	if _, err := v.Verify(t.Context(), raw); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Verify with the AS down: %v, want ErrUnavailable", err)
	}
	// Within the interval the failure is remembered rather than retried.
	if _, err := v.Verify(t.Context(), raw); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("second Verify: %v, want ErrUnavailable", err)
	}
	if n := as.metadataHits.Load(); n != 1 {
		t.Errorf("metadata fetched %d times, want 1", n)
	}
	as.setDown(false)
	clock.Advance(DefaultKeyRefreshInterval)
	if _, err := v.Verify(t.Context(), raw); err != nil {
		t.Fatalf("Verify once the AS is back: %v", err)
	}
}

func TestDiscoveryRefusesMetadataOfAnotherIssuer(t *testing.T) {
	clock := newTestClock()
	as := newTestAS(t, clock)
	key := as.newKey("k1", jose.ES256, true)
	as.issuerInDoc = "https://evil.example.com"
	v := as.newVerifier(t, nil)
	_, err := v.Verify(t.Context(), key.sign(t, as.claims(), nil))
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "evil") {
		t.Errorf("Verify: %v, want ErrUnavailable naming the other issuer", err)
	}
}

func TestConfiguredJWKSURLSkipsDiscovery(t *testing.T) {
	clock := newTestClock()
	as := newTestAS(t, clock)
	key := as.newKey("k1", jose.ES256, true)
	v := as.newVerifier(t, func(c *Config) { c.JWKSURL = as.issuer() + "/jwks" })
	if _, err := v.Verify(t.Context(), key.sign(t, as.claims(), nil)); err != nil {
		t.Fatal(err)
	}
	if n := as.metadataHits.Load(); n != 0 {
		t.Errorf("metadata fetched %d times, want 0", n)
	}
}

func TestJWKSSkipsKeysItCannotUse(t *testing.T) {
	clock := newTestClock()
	as := newTestAS(t, clock)
	key := as.newKey("good", jose.ES256, false)
	as.published = []jose.JSONWebKey{
		{Key: []byte("symmetric"), KeyID: "hmac", Algorithm: "HS256"},
		{Key: key.key.Public(), KeyID: "enc", Use: "enc"},
		{Key: key.key.Public(), KeyID: "good", Algorithm: "ES256"},
	}
	v := as.newVerifier(t, nil)
	if _, err := v.Verify(t.Context(), key.sign(t, as.claims(), nil)); err != nil {
		t.Fatal(err)
	}
	enc := &signer{kid: "enc", alg: jose.ES256, key: key.key}
	if _, err := v.Verify(t.Context(), enc.sign(t, as.claims(), nil)); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("token signed with an encryption key: %v", err)
	}
}

func TestCacheNeverServesAnExpiredToken(t *testing.T) {
	for _, leeway := range []time.Duration{-1, 30 * time.Second} {
		t.Run(fmt.Sprint("leeway ", max(leeway, 0)), func(t *testing.T) {
			clock := newTestClock()
			as := newTestAS(t, clock)
			key := as.newKey("k1", jose.ES256, true)
			v := as.newVerifier(t, func(c *Config) { c.Leeway = leeway })
			c := as.claims()
			c["exp"] = clock.Now().Add(time.Minute).Unix()
			raw := key.sign(t, c, nil)

			first, err := v.Verify(t.Context(), raw)
			if err != nil {
				t.Fatal(err)
			}
			clock.Advance(time.Minute - time.Second)
			if again, err := v.Verify(t.Context(), raw); err != nil || again != first {
				t.Fatalf("second Verify = %p, %v; want the cached %p", again, err, first)
			}
			// At exp the cache lets go; a leeway may still accept the token through the full
			// check, but never the cache past exp + leeway.
			clock.Advance(time.Second)
			if got := v.cache.get(cacheKey(raw), clock.Now()); got != nil {
				t.Fatal("cache served a token at its exp")
			}
			clock.Advance(max(leeway, 0))
			if _, err := v.Verify(t.Context(), raw); !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("Verify after exp + leeway: %v, want invalid token", err)
			}
		})
	}
}

func cacheKey(raw string) *[32]byte {
	k := sha256.Sum256([]byte(raw))
	return &k
}

func TestCacheIsBounded(t *testing.T) {
	c := newTokenCache(64)
	now := time.Unix(1000, 0)
	tok := &Token{}
	for i := range 10_000 {
		c.put(cacheKey(fmt.Sprint(i)), tok, now.Add(time.Hour), now)
	}
	if n := cacheLen(c); n > 64 {
		t.Errorf("cache holds %d entries, bound 64", n)
	}
	// Expired entries are the first to go.
	c = newTokenCache(cacheShards) // one per shard
	for i := range 1000 {
		c.put(cacheKey(fmt.Sprint("old", i)), tok, now.Add(time.Second), now)
	}
	later := now.Add(time.Minute)
	for i := range 1000 {
		c.put(cacheKey(fmt.Sprint("new", i)), tok, later.Add(time.Hour), later)
		if c.get(cacheKey(fmt.Sprint("new", i)), later) == nil {
			t.Fatal("a fresh entry was not kept")
		}
	}
	if n := cacheLen(c); n > cacheShards {
		t.Errorf("cache holds %d entries, bound %d", n, cacheShards)
	}
}

func cacheLen(c *tokenCache) int {
	n := 0
	for i := range c.shards {
		n += len(c.shards[i].entries)
	}
	return n
}

// A cached Verify allocates only the copy of the token it hashes: nothing that grows with
// traffic beyond garbage the size of the token.
func TestCachedVerifyAllocatesOnce(t *testing.T) {
	clock := newTestClock()
	as := newTestAS(t, clock)
	key := as.newKey("k1", jose.ES256, true)
	v := as.newVerifier(t, nil)
	raw := key.sign(t, as.claims(), nil)
	ctx := context.Background()
	if _, err := v.Verify(ctx, raw); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() { v.Verify(ctx, raw) }); n > 1 {
		t.Errorf("cached Verify allocates %v times", n)
	}
}

func TestASN1Signature(t *testing.T) {
	for _, tt := range []struct{ r, s []byte }{
		{[]byte{0, 0, 1}, []byte{0x80, 0}},
		{[]byte{0, 0}, []byte{0x7f}},
		{bytes.Repeat([]byte{0xff}, 66), bytes.Repeat([]byte{0x01}, 66)},
	} {
		want, err := asn1.Marshal(struct{ R, S *big.Int }{new(big.Int).SetBytes(tt.r), new(big.Int).SetBytes(tt.s)})
		if err != nil {
			t.Fatal(err)
		}
		if got := asn1Signature(tt.r, tt.s); !bytes.Equal(got, want) {
			t.Errorf("asn1Signature(%x, %x) = %x, want %x", tt.r, tt.s, got, want)
		}
	}
}
