package keys_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/mcp-authz/mcp-authz/keys"
	"github.com/mcp-authz/mcp-authz/storage"
	"github.com/mcp-authz/mcp-authz/storage/sqlite"
)

var (
	secretA = bytes.Repeat([]byte("A"), keys.MinSecretLength)
	secretB = bytes.Repeat([]byte("B"), keys.MinSecretLength)
)

const (
	retention = 10 * time.Minute
	reload    = time.Minute
)

// clock is a settable time source for Options.Now.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// openDB opens (creating if needed) the SQLite database at path and closes it when the test ends.
func openDB(t *testing.T, path string) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(t.Context(), path, sqlite.Options{})
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func newDB(t *testing.T) (*sqlite.Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "authz.db")
	return openDB(t, path), path
}

func newManager(t *testing.T, st keys.Store, secret []byte, clk *clock, opts keys.Options) *keys.Manager {
	t.Helper()
	if opts.Retention == 0 {
		opts.Retention = retention
	}
	if opts.ReloadInterval == 0 {
		opts.ReloadInterval = reload
	}
	opts.Now = clk.Now
	opts.Logger = slog.New(slog.NewTextHandler(t.Output(), nil))
	m, err := keys.NewManager(st, secret, opts)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func started(t *testing.T, st keys.Store, secret []byte, clk *clock) *keys.Manager {
	t.Helper()
	m := newManager(t, st, secret, clk, keys.Options{})
	if _, err := m.EnsureKey(t.Context()); err != nil {
		t.Fatal(err)
	}
	return m
}

func list(t *testing.T, st keys.Store) []storage.SigningKey {
	t.Helper()
	ks, err := st.ListSigningKeys(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return ks
}

// accessClaims is an RFC 9068 §2.2 claim set.
type accessClaims struct {
	Issuer   string           `json:"iss"`
	Subject  string           `json:"sub"`
	Audience jwt.Audience     `json:"aud"`
	Expiry   *jwt.NumericDate `json:"exp"`
	IssuedAt *jwt.NumericDate `json:"iat"`
	ID       string           `json:"jti"`
	ClientID string           `json:"client_id"`
	Scope    string           `json:"scope"`
}

func claimsAt(now time.Time, jti string) accessClaims {
	return accessClaims{
		Issuer: "https://auth.example.com", Subject: "user-1", Audience: jwt.Audience{"https://mcp.example.com/mcp"},
		Expiry: jwt.NewNumericDate(now.Add(5 * time.Minute)), IssuedAt: jwt.NewNumericDate(now),
		ID: jti, ClientID: "https://client.example.com/cimd.json", Scope: "files:read",
	}
}

func sign(t *testing.T, m *keys.Manager, jti string) string {
	t.Helper()
	tok, err := m.Sign(claimsAt(time.Now(), jti), keys.TypeAccessToken)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// parseJWKS reads a JWKS as a resource server would.
func parseJWKS(t *testing.T, doc []byte) jose.JSONWebKeySet {
	t.Helper()
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(doc, &set); err != nil {
		t.Fatalf("JWKS %s: %v", doc, err)
	}
	return set
}

func kids(set jose.JSONWebKeySet) []string {
	var ids []string
	for _, k := range set.Keys {
		ids = append(ids, k.KeyID)
	}
	return ids
}

// verifyWithJWKS verifies tok with go-jose against the published set, as a resource server
// would, and returns its claims and header.
func verifyWithJWKS(t *testing.T, doc []byte, tok string) (accessClaims, jose.Header, error) {
	t.Helper()
	parsed, err := jwt.ParseSigned(tok, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		return accessClaims{}, jose.Header{}, err
	}
	h := parsed.Headers[0]
	set := parseJWKS(t, doc)
	found := set.Key(h.KeyID)
	if len(found) != 1 {
		return accessClaims{}, h, errors.New("kid " + h.KeyID + " not in JWKS")
	}
	var c accessClaims
	err = parsed.Claims(found[0].Key, &c)
	return c, h, err
}

func TestFirstStartGeneratesOneKey(t *testing.T) {
	st, _ := newDB(t)
	m := newManager(t, st, secretA, newClock(), keys.Options{})

	if kid := m.CurrentKeyID(); kid != "" {
		t.Fatalf("CurrentKeyID before EnsureKey = %q", kid)
	}
	if _, err := m.SignJWT([]byte(`{}`), keys.TypeAccessToken); !errors.Is(err, keys.ErrNoKey) {
		t.Fatalf("SignJWT before EnsureKey: err = %v, want ErrNoKey", err)
	}
	if err := m.Load(t.Context()); !errors.Is(err, keys.ErrNoKey) {
		t.Fatalf("Load of an empty store: err = %v, want ErrNoKey", err)
	}

	created, err := m.EnsureKey(t.Context())
	if err != nil || !created {
		t.Fatalf("EnsureKey = %v, %v; want true, nil", created, err)
	}
	stored := list(t, st)
	if len(stored) != 1 {
		t.Fatalf("store holds %d keys, want 1", len(stored))
	}
	k := stored[0]
	if k.ID != m.CurrentKeyID() || k.Algorithm != "ES256" {
		t.Errorf("stored key %s %s; CurrentKeyID %s", k.ID, k.Algorithm, m.CurrentKeyID())
	}
	// Stored encrypted: the bytes are not a private key.
	if _, err := x509.ParsePKCS8PrivateKey(k.EncryptedPrivateKey); err == nil {
		t.Error("the stored private key parses as plain PKCS#8")
	}

	created, err = m.EnsureKey(t.Context())
	if err != nil || created {
		t.Fatalf("second EnsureKey = %v, %v; want false, nil", created, err)
	}
	if n := len(list(t, st)); n != 1 {
		t.Errorf("store holds %d keys after a second EnsureKey, want 1", n)
	}
}

func TestRestartKeepsKey(t *testing.T) {
	ctx := t.Context()
	st, path := newDB(t)
	clk := newClock()
	first := started(t, st, secretA, clk)
	kid := first.CurrentKeyID()
	tok := sign(t, first, "before-restart")
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	st2 := openDB(t, path)
	second := newManager(t, st2, secretA, clk, keys.Options{})
	if created, err := second.EnsureKey(ctx); err != nil || created {
		t.Fatalf("EnsureKey after restart = %v, %v; want false, nil", created, err)
	}
	if got := second.CurrentKeyID(); got != kid {
		t.Errorf("kid after restart = %s, want %s", got, kid)
	}
	if _, _, err := verifyWithJWKS(t, second.JWKS(), tok); err != nil {
		t.Errorf("token signed before the restart does not verify after it: %v", err)
	}
	if _, _, err := verifyWithJWKS(t, first.JWKS(), sign(t, second, "after-restart")); err != nil {
		t.Errorf("token signed after the restart does not verify with the key from before: %v", err)
	}
}

func TestWrongSecret(t *testing.T) {
	st, _ := newDB(t)
	kid := started(t, st, secretA, newClock()).CurrentKeyID()

	m := newManager(t, st, secretB, newClock(), keys.Options{})
	want := "cannot decrypt signing key " + kid + ": wrong secret?"
	if err := m.Load(t.Context()); !errors.Is(err, keys.ErrDecrypt) || !strings.Contains(err.Error(), want) {
		t.Errorf("Load with the wrong secret: err = %v, want ErrDecrypt saying %q", err, want)
	}
	// Above all, EnsureKey must not take undecryptable keys for no keys and make another.
	if _, err := m.EnsureKey(t.Context()); !errors.Is(err, keys.ErrDecrypt) {
		t.Errorf("EnsureKey with the wrong secret: err = %v, want ErrDecrypt", err)
	}
	if n := len(list(t, st)); n != 1 {
		t.Errorf("store holds %d keys, want 1", n)
	}
	if _, err := m.SignJWT([]byte(`{}`), ""); !errors.Is(err, keys.ErrNoKey) {
		t.Errorf("SignJWT after a failed load: err = %v, want ErrNoKey", err)
	}

	if _, err := keys.NewManager(st, secretA[:31], keys.Options{Retention: time.Minute}); err == nil {
		t.Error("NewManager accepted a 31-byte secret")
	}
}

// replace rewrites a stored key through the storage contract (which has no update).
func replace(t *testing.T, st keys.Store, k storage.SigningKey) {
	t.Helper()
	if err := st.DeleteSigningKey(t.Context(), k.ID); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateSigningKey(t.Context(), k); err != nil {
		t.Fatal(err)
	}
}

func TestTamperedCiphertext(t *testing.T) {
	t.Run("flipped bit", func(t *testing.T) {
		st, _ := newDB(t)
		started(t, st, secretA, newClock())
		k := list(t, st)[0]
		k.EncryptedPrivateKey[len(k.EncryptedPrivateKey)-5] ^= 0x40
		replace(t, st, k)

		err := newManager(t, st, secretA, newClock(), keys.Options{}).Load(t.Context())
		if !errors.Is(err, keys.ErrDecrypt) || !strings.Contains(err.Error(), k.ID) {
			t.Errorf("Load of a tampered key: err = %v, want ErrDecrypt naming %s", err, k.ID)
		}
	})
	t.Run("ciphertexts swapped between rows", func(t *testing.T) {
		st, _ := newDB(t)
		clk := newClock()
		m := started(t, st, secretA, clk)
		clk.Advance(time.Second)
		if _, err := m.Rotate(t.Context()); err != nil {
			t.Fatal(err)
		}
		ks := list(t, st)
		ks[0].EncryptedPrivateKey, ks[1].EncryptedPrivateKey = ks[1].EncryptedPrivateKey, ks[0].EncryptedPrivateKey
		replace(t, st, ks[0])
		replace(t, st, ks[1])

		err := newManager(t, st, secretA, clk, keys.Options{}).Load(t.Context())
		if !errors.Is(err, keys.ErrDecrypt) {
			t.Errorf("Load of swapped keys: err = %v, want ErrDecrypt", err)
		}
	})
}

func TestTokensVerifyWithJWKS(t *testing.T) {
	st, _ := newDB(t)
	m := started(t, st, secretA, newClock())

	set := parseJWKS(t, m.JWKS())
	if len(set.Keys) != 1 {
		t.Fatalf("JWKS has %d keys, want 1", len(set.Keys))
	}
	jwk := set.Keys[0]
	if jwk.KeyID != m.CurrentKeyID() || jwk.Use != "sig" || jwk.Algorithm != "ES256" || !jwk.IsPublic() || !jwk.Valid() {
		t.Errorf("JWKS key: kid %s use %q alg %q public %v valid %v", jwk.KeyID, jwk.Use, jwk.Algorithm, jwk.IsPublic(), jwk.Valid())
	}
	if bytes.Contains(m.JWKS(), []byte(`"d"`)) {
		t.Error("the JWKS contains a private key member")
	}

	now := time.Now()
	want := claimsAt(now, "jti-1")
	tok, err := m.Sign(want, keys.TypeAccessToken)
	if err != nil {
		t.Fatal(err)
	}
	got, h, err := verifyWithJWKS(t, m.JWKS(), tok)
	if err != nil {
		t.Fatalf("go-jose does not verify the token: %v", err)
	}
	if h.Algorithm != "ES256" || h.KeyID != m.CurrentKeyID() || h.ExtraHeaders[jose.HeaderType] != "at+jwt" {
		t.Errorf("header alg %q kid %q typ %v; want ES256, %s, at+jwt", h.Algorithm, h.KeyID, h.ExtraHeaders[jose.HeaderType], m.CurrentKeyID())
	}
	if got.Subject != want.Subject || got.ID != want.ID || got.Scope != want.Scope || !slices.Equal(got.Audience, want.Audience) {
		t.Errorf("claims %+v, want %+v", got, want)
	}
	// A resource server's full check (RFC 9068 §4) passes too.
	parsed, _ := jwt.ParseSigned(tok, []jose.SignatureAlgorithm{jose.ES256})
	var std jwt.Claims
	if err := parsed.Claims(set.Keys[0].Key, &std); err != nil {
		t.Fatal(err)
	}
	if err := std.ValidateWithLeeway(jwt.Expected{Issuer: want.Issuer, AnyAudience: want.Audience, Time: now}, 0); err != nil {
		t.Errorf("claims do not validate: %v", err)
	}

	// Verify, for our own tests and tools.
	payload, vh, err := m.Verify(tok, keys.TypeAccessToken)
	if err != nil || vh.KeyID != m.CurrentKeyID() || !bytes.Contains(payload, []byte(`"jti":"jti-1"`)) {
		t.Errorf("Verify = %s, %v, %v", payload, vh.KeyID, err)
	}
	// SignJWT takes claims already marshalled, and no typ when asked for none.
	raw, err := m.SignJWT([]byte(`{"sub":"x"}`), "")
	if err != nil {
		t.Fatal(err)
	}
	if _, h, err := m.Verify(raw, ""); err != nil || h.ExtraHeaders[jose.HeaderType] != nil {
		t.Errorf("Verify of an untyped token: header %v, err %v", h.ExtraHeaders, err)
	}
	if _, err := m.SignJWT([]byte(`"not an object"`), ""); err == nil {
		t.Error("SignJWT signed a payload that is not a JSON object")
	}
}

func TestVerifyRefuses(t *testing.T) {
	st, _ := newDB(t)
	m := started(t, st, secretA, newClock())
	otherDB, _ := newDB(t)
	other := started(t, otherDB, secretA, newClock())

	tok := sign(t, m, "x")
	parts := strings.Split(tok, ".")
	sig := []byte(parts[2])
	sig[10] ^= 1 // still base64url, a different signature
	tampered := parts[0] + "." + parts[1] + "." + string(sig)
	idToken, _ := m.SignJWT([]byte(`{"sub":"x"}`), "JWT")
	// alg none and a MAC keyed with public data are the classic confusions (RFC 8725 §2.1).
	none := "eyJhbGciOiJub25lIiwidHlwIjoiYXQrand0In0." + parts[1] + "."

	for name, tc := range map[string]struct{ tok, typ string }{
		"foreign key":       {sign(t, other, "y"), keys.TypeAccessToken},
		"altered signature": {tampered, keys.TypeAccessToken},
		"other typ":         {idToken, keys.TypeAccessToken},
		"alg none":          {none, keys.TypeAccessToken},
		"not a JWS":         {"abc", keys.TypeAccessToken},
	} {
		if _, _, err := m.Verify(tc.tok, tc.typ); err == nil {
			t.Errorf("%s: verified", name)
		}
	}
	if _, ok := m.PublicKey(other.CurrentKeyID()); ok {
		t.Error("PublicKey knows a foreign kid")
	}
	if _, ok := m.PublicKey(m.CurrentKeyID()); !ok {
		t.Error("PublicKey does not know the current kid")
	}
}

func TestRotateAndRetention(t *testing.T) {
	ctx := t.Context()
	st, _ := newDB(t)
	clk := newClock()
	m := started(t, st, secretA, clk)
	oldKid := m.CurrentKeyID()
	oldTok := sign(t, m, "old")

	clk.Advance(time.Hour)
	newKid, err := m.Rotate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if newKid == oldKid || m.CurrentKeyID() != newKid {
		t.Fatalf("after Rotate: new kid %s, current %s, old %s", newKid, m.CurrentKeyID(), oldKid)
	}
	if _, h, err := verifyWithJWKS(t, m.JWKS(), sign(t, m, "new")); err != nil || h.KeyID != newKid {
		t.Fatalf("token after Rotate: kid %s, err %v; want kid %s", h.KeyID, err, newKid)
	}
	if got := kids(parseJWKS(t, m.JWKS())); !slices.Equal(got, []string{newKid, oldKid}) {
		t.Fatalf("JWKS after Rotate = %v, want [new old]", got)
	}

	// Retention, plus one reload interval for instances that have not seen the rotation yet.
	clk.Advance(retention + reload - time.Second)
	if deleted, err := m.Prune(ctx); err != nil || len(deleted) != 0 {
		t.Fatalf("Prune within retention = %v, %v; want nothing deleted", deleted, err)
	}
	if _, _, err := verifyWithJWKS(t, m.JWKS(), oldTok); err != nil {
		t.Errorf("a token of the old key stops verifying within retention: %v", err)
	}

	clk.Advance(time.Second)
	deleted, err := m.Prune(ctx)
	if err != nil || !slices.Equal(deleted, []string{oldKid}) {
		t.Fatalf("Prune after retention = %v, %v; want [%s]", deleted, err, oldKid)
	}
	if got := kids(parseJWKS(t, m.JWKS())); !slices.Equal(got, []string{newKid}) {
		t.Errorf("JWKS after retention = %v, want [new]", got)
	}
	if _, _, err := m.Verify(oldTok, keys.TypeAccessToken); err == nil {
		t.Error("a token of the deleted key still verifies")
	}
	if stored := list(t, st); len(stored) != 1 || stored[0].ID != newKid {
		t.Errorf("store holds %v, want only the new key", stored)
	}

	// The signing key is never deleted, however old.
	clk.Advance(100 * retention)
	if deleted, err := m.Prune(ctx); err != nil || len(deleted) != 0 || m.CurrentKeyID() != newKid {
		t.Errorf("Prune of a lone old key = %v, %v; current %s", deleted, err, m.CurrentKeyID())
	}
}

func TestRotateWithStoppedClock(t *testing.T) {
	st, _ := newDB(t)
	m := started(t, st, secretA, newClock())
	for range 3 {
		kid, err := m.Rotate(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if m.CurrentKeyID() != kid {
			t.Fatalf("rotated to %s at an unchanged time, but %s signs", kid, m.CurrentKeyID())
		}
	}
	if n := len(parseJWKS(t, m.JWKS()).Keys); n != 4 {
		t.Errorf("JWKS has %d keys, want 4", n)
	}
}

func TestTwoInstances(t *testing.T) {
	ctx := t.Context()
	_, path := newDB(t)
	clk := newClock()
	a := started(t, openDB(t, path), secretA, clk)
	b := started(t, openDB(t, path), secretA, clk)
	if a.CurrentKeyID() != b.CurrentKeyID() {
		t.Fatalf("instances sign with %s and %s", a.CurrentKeyID(), b.CurrentKeyID())
	}
	oldKid := a.CurrentKeyID()

	clk.Advance(time.Minute)
	kid, err := a.Rotate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if b.CurrentKeyID() != oldKid {
		t.Fatal("b switched keys without reloading")
	}
	if err := b.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if b.CurrentKeyID() != kid {
		t.Errorf("after Reload b signs with %s, want %s", b.CurrentKeyID(), kid)
	}
	if !bytes.Equal(a.JWKS(), b.JWKS()) {
		t.Errorf("instances publish different sets:\n%s\n%s", a.JWKS(), b.JWKS())
	}
	if _, _, err := verifyWithJWKS(t, b.JWKS(), sign(t, a, "from-a")); err != nil {
		t.Errorf("b's JWKS does not verify a's token: %v", err)
	}
}

// With an activation delay, every instance publishes a new key before any signs with it.
func TestActivationDelay(t *testing.T) {
	ctx := t.Context()
	st, _ := newDB(t)
	clk := newClock()
	m := newManager(t, st, secretA, clk, keys.Options{ActivationDelay: reload})
	if created, err := m.EnsureKey(ctx); err != nil || !created {
		t.Fatalf("EnsureKey = %v, %v", created, err)
	}
	// The first key has nothing to wait for.
	oldKid := m.CurrentKeyID()
	if oldKid == "" {
		t.Fatal("the first key does not sign at once")
	}
	clk.Advance(time.Hour)
	kid, err := m.Rotate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if m.CurrentKeyID() != oldKid {
		t.Errorf("the new key signs before its activation delay")
	}
	if got := kids(parseJWKS(t, m.JWKS())); !slices.Equal(got, []string{kid, oldKid}) {
		t.Errorf("JWKS = %v, want [new old]", got)
	}
	clk.Advance(reload)
	if err := m.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if m.CurrentKeyID() != kid {
		t.Errorf("after the delay %s signs, want %s", m.CurrentKeyID(), kid)
	}
}

// Run follows a rotation made by another instance, and deletes keys past retention.
func TestRun(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	_, path := newDB(t)
	clk := newClock()
	a := started(t, openDB(t, path), secretA, clk)
	bStore := openDB(t, path)
	b := newManager(t, bStore, secretA, clk, keys.Options{ReloadInterval: 10 * time.Millisecond})
	if _, err := b.EnsureKey(ctx); err != nil {
		t.Fatal(err)
	}
	oldKid := b.CurrentKeyID()
	done := make(chan struct{})
	go func() { b.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	kid, err := a.Rotate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "b to sign with the rotated key", func() bool { return b.CurrentKeyID() == kid })

	// b's own publication window is Retention plus its ReloadInterval.
	clk.Advance(retention + time.Second)
	waitFor(t, "the old key to be deleted", func() bool {
		ks := list(t, bStore)
		return len(ks) == 1 && ks[0].ID == kid
	})
	waitFor(t, "b to stop publishing the old key", func() bool {
		_, ok := b.PublicKey(oldKid)
		return !ok
	})
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// The JWKS is built when the keys change, not per request: serving it costs one copy.
func TestJWKSCached(t *testing.T) {
	st, _ := newDB(t)
	m := started(t, st, secretA, newClock())
	if err := m.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	if allocs := testing.AllocsPerRun(100, func() { m.JWKS() }); allocs > 1 {
		t.Errorf("JWKS allocates %v times per call, want 1 (the copy)", allocs)
	}
	// Callers get a copy: scribbling on it changes nothing for the next caller.
	doc := m.JWKS()
	want := string(doc)
	clear(doc)
	if string(m.JWKS()) != want {
		t.Error("a caller's change to the JWKS reached the next caller")
	}
}

// Signing goes on while keys rotate and reload (run with -race).
func TestConcurrentSignAndRotate(t *testing.T) {
	ctx := t.Context()
	st, _ := newDB(t)
	clk := newClock()
	m := started(t, st, secretA, clk)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 50 {
				tok, err := m.SignJWT([]byte(`{"sub":"x"}`), keys.TypeAccessToken)
				if err != nil {
					t.Error(err)
					return
				}
				if _, _, err := m.Verify(tok, keys.TypeAccessToken); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	for range 5 {
		clk.Advance(time.Second)
		if _, err := m.Rotate(ctx); err != nil {
			t.Error(err)
		}
		if err := m.Reload(ctx); err != nil {
			t.Error(err)
		}
	}
	wg.Wait()
}

func TestOptionsValidated(t *testing.T) {
	st, _ := newDB(t)
	if _, err := keys.NewManager(st, secretA, keys.Options{}); err == nil {
		t.Error("NewManager accepted no Retention")
	}
	if _, err := keys.NewManager(st, secretA, keys.Options{Retention: time.Minute, ActivationDelay: -1}); err == nil {
		t.Error("NewManager accepted a negative ActivationDelay")
	}
}
