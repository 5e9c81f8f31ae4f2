package resource

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

// FuzzBearerToken drives arbitrary Authorization headers through BearerToken and the
// middleware: nothing panics, a token is only ever taken from a well-formed Bearer header,
// and only a token the authorization server signed gets through.
func FuzzBearerToken(f *testing.F) {
	clock := newTestClock()
	as := newTestAS(f, clock)
	key := as.newKey("k1", jose.ES256, true)
	valid := key.sign(f, as.claims(), nil)
	v := as.newVerifier(f, nil)
	warmF(f, v, valid)

	for _, seed := range []string{
		"", "Bearer", "Bearer ", "bearer " + valid, "BEARER  " + valid + " ", "Basic dXNlcjpwYXNz",
		"Bearer " + valid, "Bearer a.b.c", "Bearer abc==", "Bearer a=b", "Bearer a b", "Bearer \x00",
		"Bearer " + valid[:len(valid)-2], "Bearer " + strings.ToUpper(valid), "Bearer\t" + valid,
	} {
		f.Add(seed)
	}
	h := v.Protect(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := TokenFrom(r.Context())
		if !ok || tok.Subject != "user-123" {
			panic("handler reached without the token")
		}
	}), "tools:read")

	f.Fuzz(func(t *testing.T, header string) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header["Authorization"] = []string{header}
		raw, err := BearerToken(r)
		if err == nil && (raw == "" || !isB64Token(raw) || !strings.EqualFold(header[:7], "bearer ")) {
			t.Fatalf("BearerToken(%q) = %q", header, raw)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code == http.StatusOK && raw != valid {
			t.Fatalf("header %q let token %q through", header, raw)
		}
		if w.Code != http.StatusOK && w.Header().Get("WWW-Authenticate") == "" {
			t.Fatalf("status %d without a challenge", w.Code)
		}
	})
}

// FuzzVerify mutates tokens (valid ones, and ones broken in the ways the table tests know)
// and checks that Verify never panics and accepts nothing but the token that was signed.
func FuzzVerify(f *testing.F) {
	clock := newTestClock()
	as := newTestAS(f, clock)
	key := as.newKey("k1", jose.ES256, true)
	valid := key.sign(f, as.claims(), nil)
	v := as.newVerifier(f, func(c *Config) { c.CacheSize = -1 })
	warmF(f, v, valid)

	f.Add(valid)
	f.Add(key.sign(f, as.claims(), map[string]any{"typ": "JWT"}))
	f.Add(unsigned(f, map[string]any{"alg": "none", "kid": "k1", "typ": "at+jwt"}, as.claims(), nil))
	f.Add("e30.e30.")
	f.Add("..")
	f.Fuzz(func(t *testing.T, raw string) {
		tok, err := v.Verify(context.Background(), raw)
		if err == nil && raw != valid {
			t.Fatalf("Verify accepted %q as %+v", raw, tok)
		}
	})
}

func warmF(f *testing.F, v *Verifier, raw string) {
	f.Helper()
	if _, err := v.Verify(context.Background(), raw); err != nil {
		f.Fatal(err)
	}
}

// FuzzDecodeClaims holds the claims scanner to encoding/json: whatever it decodes, it decodes
// to exactly what json.Unmarshal gives.
func FuzzDecodeClaims(f *testing.F) {
	for _, seed := range []string{
		`{"aud":"https://mcp.example.com/mcp","client_id":"c","exp":1772366700,"iat":1772366400,"iss":"https://a","jti":"j","scope":"a b","sub":"u"}`,
		`{"aud":["x","y"],"exp":1.5e9,"nbf":-0,"extra":true,"n":null,"o":"é"}`,
		` { "sub" : "a" , "sub" : "b" } `,
		`{"ISS":"x"}`, `{"iss":"a\"b"}`, `{"aud":[]}`, `{"exp":1e400}`, `{"exp":"1"}`, `{}`, `{"cnf":{"jkt":"x"}}`,
		`{"iss":"\xff"}`, `{"ſub":"x"}`, `{"exp":01}`, `{"exp":1.}`, `{"a":1}x`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		var fast accessTokenClaims
		if !decodeFlatClaims(payload, &fast) {
			return
		}
		var slow accessTokenClaims
		if err := json.Unmarshal(payload, &slow); err != nil {
			t.Fatalf("scanner decoded %q, which encoding/json refuses: %v", payload, err)
		}
		if !reflect.DeepEqual(fast, slow) {
			t.Fatalf("%q:\nscanner       %+v\nencoding/json %+v", payload, fast, slow)
		}
	})
}
