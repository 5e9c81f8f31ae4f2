package resource

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

const testResource = "https://mcp.example.com/mcp"

// testClock is a clock the test moves.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newTestClock() *testClock {
	return &testClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// testAS plays the authorization server: RFC 8414 metadata, a JWKS and an RFC 7662
// introspection endpoint, each counting its requests.
type testAS struct {
	t     testing.TB
	srv   *httptest.Server
	clock *testClock

	mu            sync.Mutex
	published     []jose.JSONWebKey
	introspection map[string]map[string]any // token → response; absent means inactive
	issuerInDoc   string                    // overrides the issuer in the metadata document
	down          bool                      // every endpoint answers 500

	metadataHits, jwksHits, introspectHits atomic.Int32
}

const (
	testClientID     = "mcp-server"
	testClientSecret = "s3cret:with/odd chars"
)

func newTestAS(t testing.TB, clock *testClock) *testAS {
	as := &testAS{t: t, clock: clock, introspection: map[string]map[string]any{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/oauth-authorization-server", func(w http.ResponseWriter, r *http.Request) {
		as.metadataHits.Add(1)
		as.mu.Lock()
		issuer, down := as.issuerInDoc, as.down
		as.mu.Unlock()
		if down {
			http.Error(w, "down", http.StatusInternalServerError)
			return
		}
		if issuer == "" {
			issuer = as.issuer()
		}
		writeJSON(w, map[string]any{
			"issuer":                 issuer,
			"jwks_uri":               as.issuer() + "/jwks",
			"introspection_endpoint": as.issuer() + "/introspect",
		})
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, r *http.Request) {
		as.jwksHits.Add(1)
		as.mu.Lock()
		keys, down := append([]jose.JSONWebKey(nil), as.published...), as.down
		as.mu.Unlock()
		if down {
			http.Error(w, "down", http.StatusInternalServerError)
			return
		}
		writeJSON(w, jose.JSONWebKeySet{Keys: keys})
	})
	mux.HandleFunc("POST /introspect", func(w http.ResponseWriter, r *http.Request) {
		as.introspectHits.Add(1)
		id, secret, ok := r.BasicAuth()
		if !ok || id != testClientID || secret != strings.NewReplacer(":", "%3A", "/", "%2F", " ", "+").Replace(testClientSecret) {
			http.Error(w, `{"error":"invalid_client"}`, http.StatusUnauthorized)
			return
		}
		if r.FormValue("token_type_hint") != "access_token" {
			t.Errorf("token_type_hint = %q", r.FormValue("token_type_hint"))
		}
		as.mu.Lock()
		resp, found := as.introspection[r.FormValue("token")]
		as.mu.Unlock()
		if !found {
			writeJSON(w, map[string]any{"active": false})
			return
		}
		writeJSON(w, resp)
	})
	as.srv = httptest.NewServer(mux)
	t.Cleanup(as.srv.Close)
	return as
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

func (as *testAS) issuer() string { return as.srv.URL }

func (as *testAS) setDown(down bool) {
	as.mu.Lock()
	defer as.mu.Unlock()
	as.down = down
}

// signer is a key the test AS signs with.
type signer struct {
	kid string
	alg jose.SignatureAlgorithm
	key crypto.Signer
}

// newKey generates a key for alg and, if publish is set, adds it to the JWKS.
func (as *testAS) newKey(kid string, alg jose.SignatureAlgorithm, publish bool) *signer {
	as.t.Helper()
	var key crypto.Signer
	var err error
	switch alg {
	case jose.ES256:
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case jose.ES384:
		key, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	default:
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	}
	if err != nil {
		as.t.Fatal(err)
	}
	s := &signer{kid: kid, alg: alg, key: key}
	if publish {
		as.publish(s)
	}
	return s
}

func (as *testAS) publish(s *signer) {
	as.mu.Lock()
	defer as.mu.Unlock()
	as.published = append(as.published, jose.JSONWebKey{Key: s.key.Public(), KeyID: s.kid, Algorithm: string(s.alg), Use: "sig"})
}

// claims returns the claims of a valid token for testResource, valid for five minutes.
func (as *testAS) claims() map[string]any {
	now := as.clock.Now()
	return map[string]any{
		"iss":       as.issuer(),
		"sub":       "user-123",
		"aud":       testResource,
		"exp":       now.Add(5 * time.Minute).Unix(),
		"iat":       now.Unix(),
		"jti":       "jti-" + rand.Text(),
		"client_id": "https://client.example.com/meta.json",
		"scope":     "tools:read profile",
	}
}

// sign signs claims as an RFC 9068 access token; header entries are added or, with a nil
// value, removed (typ) — any header the test needs.
func (s *signer) sign(t testing.TB, claims map[string]any, header map[string]any) string {
	t.Helper()
	opts := &jose.SignerOptions{}
	typ, removeTyp := header["typ"], false
	if _, present := header["typ"]; present && typ == nil {
		removeTyp = true
	}
	if !removeTyp {
		if typ == nil {
			typ = "at+jwt"
		}
		opts.WithHeader("typ", typ)
	}
	for k, v := range header {
		if k != "typ" {
			opts.WithHeader(jose.HeaderKey(k), v)
		}
	}
	js, err := jose.NewSigner(jose.SigningKey{Algorithm: s.alg, Key: jose.JSONWebKey{Key: s.key, KeyID: s.kid}}, opts)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	obj, err := js.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := obj.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// unsigned builds a compact JWS from a header and claims with the given signature bytes.
func unsigned(t testing.TB, header, claims map[string]any, sig []byte) string {
	t.Helper()
	h, err := json.Marshal(header)
	if err != nil {
		t.Fatal(err)
	}
	c, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding
	return enc.EncodeToString(h) + "." + enc.EncodeToString(c) + "." + enc.EncodeToString(sig)
}

// newVerifier returns a Verifier for testResource trusting as, on as's clock.
func (as *testAS) newVerifier(t testing.TB, edit func(*Config)) *Verifier {
	t.Helper()
	cfg := Config{
		Resource:        testResource,
		Issuer:          as.issuer(),
		ScopesSupported: []string{"tools:read", "tools:write", "profile"},
		HTTPClient:      as.srv.Client(),
		Now:             as.clock.Now,
		Leeway:          -1,
	}
	if edit != nil {
		edit(&cfg)
	}
	v, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
