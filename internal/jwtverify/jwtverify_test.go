package jwtverify

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

type signer struct {
	key any
	alg jose.SignatureAlgorithm
	kid string
}

func (s signer) sign(t testing.TB, claims string, extra map[jose.HeaderKey]any) string {
	opts := (&jose.SignerOptions{}).WithHeader("kid", s.kid)
	for k, v := range extra {
		opts = opts.WithHeader(k, v)
	}
	sg, err := jose.NewSigner(jose.SigningKey{Algorithm: s.alg, Key: s.key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := sg.Sign([]byte(claims))
	if err != nil {
		t.Fatal(err)
	}
	out, _ := jws.CompactSerialize()
	return out
}

func jwks(t testing.TB, entries ...jose.JSONWebKey) []byte {
	b, err := json.Marshal(jose.JSONWebKeySet{Keys: entries})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestVerifyAlgorithmsAndKeySelection(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ec384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	rs, _ := rsa.GenerateKey(rand.Reader, 2048)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	set := jwks(t,
		jose.JSONWebKey{Key: ec.Public(), KeyID: "ec"}, // no "use": a signing key
		jose.JSONWebKey{Key: ec384.Public(), KeyID: "ec384", Use: "sig"},
		jose.JSONWebKey{Key: rs.Public(), KeyID: "rs"},
		jose.JSONWebKey{Key: ed.Public(), KeyID: "ed"},
		jose.JSONWebKey{Key: other.Public(), KeyID: "enc", Use: "enc"}, // skipped
		jose.JSONWebKey{Key: rs.Public(), KeyID: "rs-ps", Algorithm: "PS256"},
	)
	keys, err := ParseKeySet(set)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 5 {
		t.Fatalf("kept %d keys, want 5 (the enc key skipped)", len(keys))
	}
	claims := `{"iss":"x"}`
	good := []string{
		signer{ec, jose.ES256, "ec"}.sign(t, claims, nil),
		signer{ec384, jose.ES384, "ec384"}.sign(t, claims, nil),
		signer{rs, jose.RS256, "rs"}.sign(t, claims, nil),
		signer{rs, jose.PS256, "rs"}.sign(t, claims, nil),
		signer{rs, jose.PS256, "rs-ps"}.sign(t, claims, nil),
		signer{ed, jose.EdDSA, "ed"}.sign(t, claims, nil),
	}
	for _, raw := range good {
		tok, err := Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		if err := tok.CheckAlgorithm(nil); err != nil {
			t.Errorf("%s: %v", tok.Header.Alg, err)
		}
		if err := tok.Verify(keys); err != nil {
			t.Errorf("%s/%s: %v", tok.Header.Alg, tok.Header.Kid, err)
		}
		if string(tok.Claims) != claims {
			t.Errorf("claims %s", tok.Claims)
		}
	}

	bad := map[string]struct {
		raw  string
		want error
	}{
		"signed by a key not in the set": {signer{other, jose.ES256, "ec"}.sign(t, claims, nil), ErrSignature},
		"encryption key":                 {signer{other, jose.ES256, "enc"}.sign(t, claims, nil), ErrNoKey},
		"unknown kid":                    {signer{ec, jose.ES256, "nope"}.sign(t, claims, nil), ErrNoKey},
		"RS256 with a PS256-only key":    {signer{rs, jose.RS256, "rs-ps"}.sign(t, claims, nil), ErrNoKey},
		"alg swapped to another family":  {swapAlg(t, signer{ec, jose.ES256, "rs"}.sign(t, claims, nil), "RS256"), ErrSignature},
	}
	for name, c := range bad {
		tok, err := Parse(c.raw)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := tok.Verify(keys); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
	}
}

// swapAlg rewrites the header's alg, keeping the signature.
func swapAlg(t *testing.T, raw, alg string) string {
	tok, _ := Parse(raw)
	h, _ := json.Marshal(Header{Alg: alg, Kid: tok.Header.Kid})
	_, rest, _ := strings.Cut(raw, ".")
	return base64.RawURLEncoding.EncodeToString(h) + "." + rest
}

func TestAlgorithmAllowList(t *testing.T) {
	enc := base64.RawURLEncoding
	for _, alg := range []string{"none", "HS256", "HS512", "RS512", ""} {
		h, _ := json.Marshal(map[string]string{"alg": alg})
		raw := enc.EncodeToString(h) + "." + enc.EncodeToString([]byte(`{}`)) + "." + enc.EncodeToString([]byte("sig"))
		tok, err := Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		if tok.CheckAlgorithm(nil) == nil {
			t.Errorf("alg %q accepted", alg)
		}
		if tok.CheckAlgorithm([]string{"none", "HS256"}) == nil {
			t.Errorf("alg %q accepted even when listed", alg)
		}
	}
}

func TestHMACWithPublicKeyIsRefused(t *testing.T) {
	// The classic confusion: an HS256 token keyed with the verifier's public key bytes.
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	keys, _ := ParseKeySet(jwks(t, jose.JSONWebKey{Key: ec.Public(), KeyID: "k"}))
	pubJSON, _ := json.Marshal(jose.JSONWebKey{Key: ec.Public()})
	sg, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: pubJSON}, (&jose.SignerOptions{}).WithHeader("kid", "k"))
	jws, _ := sg.Sign([]byte(`{}`))
	raw, _ := jws.CompactSerialize()
	tok, _ := Parse(raw)
	if tok.CheckAlgorithm(nil) == nil || tok.Verify(keys) == nil {
		t.Error("an HS256 token keyed with the public key passed")
	}
}

func TestParseRefusesMalformed(t *testing.T) {
	enc := base64.RawURLEncoding
	h := enc.EncodeToString([]byte(`{"alg":"ES256"}`))
	p := enc.EncodeToString([]byte(`{"a":1}`))
	for name, raw := range map[string]string{
		"two parts":      h + "." + p,
		"four parts":     h + "." + p + ".c2ln.x",
		"bad base64":     h + "." + p + ".***",
		"array payload":  h + "." + enc.EncodeToString([]byte(`[1]`)) + ".c2ln",
		"header not obj": enc.EncodeToString([]byte(`"x"`)) + "." + p + ".c2ln",
		"crit":           enc.EncodeToString([]byte(`{"alg":"ES256","crit":["exp"]}`)) + "." + p + ".c2ln",
		"empty sig":      h + "." + p + ".",
		"huge":           string(make([]byte, MaxTokenLength+1)),
	} {
		if _, err := Parse(raw); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestParseKeySetSkipsPrivateAndSymmetricKeys(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if _, err := ParseKeySet(jwks(t, jose.JSONWebKey{Key: ec, KeyID: "priv"}, jose.JSONWebKey{Key: []byte("secret"), KeyID: "oct"})); err == nil {
		t.Error("a set of only a private and a symmetric key gave usable keys")
	}
	if _, err := ParseKeySet([]byte(`{"keys":"x"}`)); err == nil {
		t.Error("garbage accepted")
	}
}

func TestRemoteKeySetRefetchIsBounded(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	var fetches atomic.Int32
	now := time.Unix(1_000_000, 0)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	doc := jwks(t, jose.JSONWebKey{Key: ec.Public(), KeyID: "k1"})
	set := NewRemoteKeySet("https://idp.example/jwks", func(context.Context, string) ([]byte, error) {
		fetches.Add(1)
		return doc, nil
	}, time.Hour, 10*time.Second, clock)
	ctx := context.Background()

	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); _, _ = set.Keys(ctx, "k1") }()
	}
	wg.Wait()
	if n := fetches.Load(); n != 1 {
		t.Fatalf("50 concurrent first uses made %d fetches", n)
	}
	for i := 0; i < 100; i++ {
		if _, err := set.Keys(ctx, "unknown-"+string(rune('a'+i%26))); err != nil {
			t.Fatal(err)
		}
	}
	if n := fetches.Load(); n != 1 {
		t.Errorf("a flood of unknown kids made %d fetches within the interval, want none", n-1)
	}
	mu.Lock()
	now = now.Add(11 * time.Second)
	mu.Unlock()
	_, _ = set.Keys(ctx, "unknown")
	if n := fetches.Load(); n != 2 {
		t.Errorf("after the interval an unknown kid made %d fetches, want 1", n-1)
	}

	failing := NewRemoteKeySet("u", func(context.Context, string) ([]byte, error) { return nil, errors.New("down") }, 0, 0, clock)
	if _, err := failing.Keys(ctx, ""); !errors.Is(err, ErrKeysUnusable) {
		t.Errorf("unreachable key set: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add("eyJhbGciOiJFUzI1NiJ9.e30.c2ln")
	f.Add("a.b.c")
	f.Add("..")
	f.Fuzz(func(t *testing.T, raw string) {
		tok, err := Parse(raw)
		if err != nil {
			return
		}
		if !json.Valid(tok.Claims) || tok.Claims[0] != '{' {
			t.Fatal("claims are not a JSON object")
		}
		_ = tok.CheckAlgorithm(nil)
		_ = tok.Verify(nil)
	})
}
