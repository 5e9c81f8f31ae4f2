package elicit

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

const resourceURI = "https://mcp.example.com/mcp"

// fakeAS serves a JWKS and the API paths the tests call.
type fakeAS struct {
	srv  *httptest.Server
	key  *ecdsa.PrivateKey
	seen []*http.Request
	body map[string]any
}

func newFakeAS(t *testing.T, api http.HandlerFunc) *fakeAS {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeAS{key: key}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /jwks.json", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key.Public(), KeyID: "k1", Algorithm: "ES256", Use: "sig"}}})
	})
	mux.HandleFunc("/elicitations/", func(w http.ResponseWriter, r *http.Request) {
		f.seen = append(f.seen, r)
		f.body = nil
		_ = json.NewDecoder(r.Body).Decode(&f.body)
		api(w, r)
	})
	mux.HandleFunc("/elicitations", func(w http.ResponseWriter, r *http.Request) {
		f.seen = append(f.seen, r)
		f.body = nil
		_ = json.NewDecoder(r.Body).Decode(&f.body)
		api(w, r)
	})
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeAS) sign(t *testing.T, typ string, claims map[string]any) []byte {
	sg, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: f.key}, (&jose.SignerOptions{}).WithType(jose.ContentType(typ)).WithHeader("kid", "k1"))
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	jws, err := sg.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := jws.CompactSerialize()
	return []byte(s)
}

func TestVerifyNotice(t *testing.T) {
	f := newFakeAS(t, func(w http.ResponseWriter, _ *http.Request) {})
	c, err := New(Config{Issuer: f.srv.URL, Resource: resourceURI, ClientID: "rs", ClientSecret: "s"})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().Unix()
	good := map[string]any{"iss": f.srv.URL, "aud": resourceURI, "iat": now, "exp": now + 300, "jti": "j", "elicitation_id": "e1", "status": "accepted"}
	n, err := c.VerifyNotice(context.Background(), f.sign(t, CallbackType, good))
	if err != nil || n.ElicitationID != "e1" || n.Status != "accepted" {
		t.Fatalf("good notice: %+v %v", n, err)
	}
	with := func(k string, v any) map[string]any {
		m := map[string]any{}
		for kk, vv := range good {
			m[kk] = vv
		}
		m[k] = v
		return m
	}
	for name, raw := range map[string][]byte{
		"another typ":      f.sign(t, "at+jwt", good),
		"another issuer":   f.sign(t, CallbackType, with("iss", "https://evil.example")),
		"another resource": f.sign(t, CallbackType, with("aud", "https://other.example/mcp")),
		"expired":          f.sign(t, CallbackType, with("exp", now-3600)),
		"from the future":  f.sign(t, CallbackType, with("iat", now+3600)),
		"no elicitation":   f.sign(t, CallbackType, with("elicitation_id", "")),
		"not a JWS":        []byte("hello"),
	} {
		if _, err := c.VerifyNotice(context.Background(), raw); err == nil {
			t.Errorf("%s: verified", name)
		}
	}
	// Signed by a key not in the JWKS.
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	f2 := &fakeAS{key: other}
	if _, err := c.VerifyNotice(context.Background(), f2.sign(t, CallbackType, good)); err == nil {
		t.Error("a notice signed by another key verified")
	}

	// The handler answers 204 for a good notice and 400 otherwise.
	var got *Notice
	h := c.CallbackHandler(func(_ context.Context, n *Notice) { got = n })
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/cb", strings.NewReader(string(f.sign(t, CallbackType, good)))))
	if rec.Code != http.StatusNoContent || got == nil {
		t.Errorf("handler: %d %+v", rec.Code, got)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/cb", strings.NewReader("x.y.z")))
	if rec.Code != http.StatusBadRequest {
		t.Errorf("handler, bad notice: %d", rec.Code)
	}
}

func TestClientRequestsAndErrors(t *testing.T) {
	var answer func(w http.ResponseWriter, r *http.Request)
	f := newFakeAS(t, func(w http.ResponseWriter, r *http.Request) { answer(w, r) })
	c, err := New(Config{Issuer: f.srv.URL + "/", Resource: resourceURI, ClientID: "rs id", ClientSecret: "s&1"})
	if err != nil {
		t.Fatal(err)
	}
	answer = func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte(`{"elicitation_id":"e1","url":"https://as/elicitation/e1","status":"pending","expires_at":"2026-01-01T00:00:00Z"}`))
	}
	e, err := c.Create(context.Background(), "tok", Request{Kind: KindSecret, Message: "m", Secret: &SecretParams{Label: "Key"}, ExpiresIn: 2 * time.Minute})
	if err != nil || e.ID != "e1" || e.URL == "" {
		t.Fatalf("create: %+v %v", e, err)
	}
	r := f.seen[len(f.seen)-1]
	if id, secret, ok := r.BasicAuth(); !ok || id != "rs+id" || secret != "s%261" {
		t.Errorf("basic auth %q %q: want form-urlencoded id and secret (RFC 6749 §2.3.1)", id, secret)
	}
	if f.body["resource"] != resourceURI || f.body["expires_in"] != float64(120) || f.body["params"].(map[string]any)["label"] != "Key" {
		t.Errorf("create body %v", f.body)
	}

	answer = func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`{"elicitation_id":"e1","kind":"secret","status":"accepted","sub":"u","client_id":"c","result":{"value":"v"}}`))
	}
	out, err := c.Get(context.Background(), "e1")
	if err != nil || !out.Accepted() || out.Value != "v" || out.Subject != "u" {
		t.Errorf("get: %+v %v", out, err)
	}
	answer = func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"error":"not_connected","error_description":"connect first"}`))
	}
	if _, err := c.ConnectionToken(context.Background(), "tok", "cloud"); !errors.Is(err, ErrNotConnected) {
		t.Errorf("not connected: %v", err)
	}
	answer = func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusBadGateway) }
	var apiErr *Error
	if _, err := c.Get(context.Background(), "e1"); !errors.As(err, &apiErr) || apiErr.Status != http.StatusBadGateway || errors.Is(err, ErrNotConnected) {
		t.Errorf("502: %v", err)
	}

	// private_key_jwt: the assertion goes in the body, no Basic header.
	c2, _ := New(Config{Issuer: f.srv.URL, ClientID: "rs", ClientAssertion: func(context.Context) (string, error) { return "a.b.c", nil }})
	answer = func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(`{"status":"pending"}`)) }
	if _, err := c2.Get(context.Background(), "e1"); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := f.seen[len(f.seen)-1].BasicAuth(); ok || f.body["client_assertion"] != "a.b.c" || f.body["client_id"] != "rs" {
		t.Errorf("assertion request: %v", f.body)
	}
	if _, err := New(Config{Issuer: "ftp://x", ClientID: "a", ClientSecret: "b"}); err == nil {
		t.Error("New accepted an ftp issuer")
	}
}
