package elicitation

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mcp-authz/mcp-authz/storage"
)

func testService(t *testing.T, now func() time.Time) *Service {
	t.Helper()
	o := Options{
		Issuer:  "https://auth.example.com/t1",
		Secret:  bytes.Repeat([]byte("k"), 32),
		Store:   struct{ Store }{},
		Browser: struct{ Browser }{},
		Now:     now,
	}
	if _, err := New(o); err == nil {
		t.Fatal("New accepted a service without a client authenticator")
	}
	o.AuthenticateClient = func(context.Context, *http.Request, url.Values) (string, error) { return "", nil }
	if _, err := New(o); err == nil {
		t.Fatal("New accepted a service without an outbound client")
	}
	o.HTTPClient = &http.Client{}
	o.Providers = []Provider{{ID: "cloud", AuthorizationEndpoint: "https://c.example/a", TokenEndpoint: "https://c.example/t", ClientID: "x"}}
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSealerBindsContext(t *testing.T) {
	a, err := newSealer(bytes.Repeat([]byte("a"), 32))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := newSealer(bytes.Repeat([]byte("b"), 32))
	sealed := a.seal([]byte("sk-secret"), "elicitation result x")
	if bytes.Contains(sealed, []byte("sk-secret")) || sealed[0] != formatV1 {
		t.Fatalf("sealed %q", sealed)
	}
	if got, err := a.open(sealed, "elicitation result x"); err != nil || string(got) != "sk-secret" {
		t.Fatalf("open: %q %v", got, err)
	}
	tampered := bytes.Clone(sealed)
	tampered[len(tampered)-1] ^= 1
	for name, f := range map[string]func() ([]byte, error){
		"another context": func() ([]byte, error) { return a.open(sealed, "elicitation result y") },
		"another secret":  func() ([]byte, error) { return b.open(sealed, "elicitation result x") },
		"altered":         func() ([]byte, error) { return a.open(tampered, "elicitation result x") },
		"truncated":       func() ([]byte, error) { return a.open(sealed[:10], "elicitation result x") },
		"empty":           func() ([]byte, error) { return a.open(nil, "elicitation result x") },
	} {
		if _, err := f(); !errors.Is(err, errOpen) {
			t.Errorf("%s: %v, want errOpen", name, err)
		}
	}
	if bytes.Equal(a.seal([]byte("v"), "c"), a.seal([]byte("v"), "c")) {
		t.Error("two seals of the same value are equal: the nonce is not fresh")
	}
}

func TestParseRequest(t *testing.T) {
	s := testService(t, time.Now)
	ok := []struct{ kind, msg, params string }{
		{KindConfirm, "Delete?", `{"action":"Delete 3 files","details":["a","b"],"approve_label":"Delete"}`},
		{KindSecret, "Key?", `{"label":"API key"}`},
		{KindConnect, "Connect", `{"provider":"cloud"}`},
		{KindConfirm, "Two\nlines", `{"action":"x"}`},
	}
	for _, c := range ok {
		req, err := s.parseRequest(c.kind, c.msg, json.RawMessage(c.params))
		if err != nil {
			t.Errorf("%s %s: %v", c.kind, c.params, err)
			continue
		}
		if c.kind == KindSecret && req.Secret.MaxLength != maxSecretBytes {
			t.Errorf("secret max_length default %d", req.Secret.MaxLength)
		}
	}
	bad := []struct{ kind, msg, params string }{
		{"form", "m", `{}`},
		{KindConfirm, "", `{"action":"x"}`},
		{KindConfirm, "m", `{}`},
		{KindConfirm, "m", `{"action":"x","url":"https://evil"}`},
		{KindConfirm, "m", `{"action":"x","details":["1","2","3","4","5","6","7","8","9","10","11"]}`},
		{KindConfirm, "m\x00", `{"action":"x"}`},
		{KindConfirm, "pay \u202eevil", `{"action":"x"}`},
		{KindConfirm, strings.Repeat("x", maxMessage+1), `{"action":"x"}`},
		{KindConfirm, "m", `{"action":"x","approve_label":"` + strings.Repeat("y", maxLabel+1) + `"}`},
		{KindSecret, "m", `{}`},
		{KindSecret, "m", `{"label":"k","max_length":100000}`},
		{KindConnect, "m", `{"provider":"unknown"}`},
		{KindConnect, "m", `[]`},
		{KindConfirm, "\xff", `{"action":"x"}`},
	}
	for _, c := range bad {
		if _, err := s.parseRequest(c.kind, c.msg, json.RawMessage(c.params)); !errors.Is(err, errBadParams) {
			t.Errorf("%s %q %s: %v, want a refusal", c.kind, c.msg, c.params, err)
		}
	}
}

func TestIDsAndStatus(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	s := testService(t, func() time.Time { return now })
	id := newID()
	if !validID(id) || id == newID() {
		t.Fatalf("newID %q", id)
	}
	for _, bad := range []string{"", id[:42], id + "x", strings.Repeat("!", 43), strings.Repeat("/", 43)} {
		if validID(bad) {
			t.Errorf("validID(%q)", bad)
		}
	}
	if len(ref(id)) != 12 || strings.Contains(id, ref(id)) {
		t.Errorf("ref %q", ref(id))
	}
	e := &storage.Elicitation{Status: storage.ElicitationPending, ExpiresAt: now.Add(time.Second)}
	if s.status(e) != storage.ElicitationPending {
		t.Error("pending before expiry")
	}
	e.ExpiresAt = now
	if s.status(e) != "expired" {
		t.Error("a pending elicitation at its expiry is expired")
	}
	e.Status = storage.ElicitationAccepted
	if s.status(e) != storage.ElicitationAccepted {
		t.Error("a completed elicitation stays completed after its expiry")
	}
	if s.pageURL(id) != "https://auth.example.com/t1/elicitation/"+id {
		t.Errorf("pageURL %s", s.pageURL(id))
	}
	if s.redirectURI() != "https://auth.example.com/t1/elicitation/callback" || s.flowCookie() != "__Host-mcp-authz-connect" {
		t.Errorf("redirect URI %s, cookie %s", s.redirectURI(), s.flowCookie())
	}
}

func TestNotifierAndLimiter(t *testing.T) {
	n := newNotifier()
	a, releaseA := n.wait("x")
	b, releaseB := n.wait("x")
	n.notify("x")
	for _, ch := range []<-chan struct{}{a, b} {
		select {
		case <-ch:
		default:
			t.Fatal("a waiter was not woken")
		}
	}
	releaseA()
	releaseB()
	_, release := n.wait("y")
	release()
	if len(n.waiting) != 0 {
		t.Errorf("waiters left: %d", len(n.waiting))
	}

	now := time.Unix(0, 0)
	l := newLimiter(1, 2, func() time.Time { return now })
	if !l.allow("k") || !l.allow("k") || l.allow("k") {
		t.Error("burst of 2")
	}
	if !l.allow("other") {
		t.Error("keys share a bucket")
	}
	now = now.Add(time.Second)
	if !l.allow("k") {
		t.Error("the bucket does not refill")
	}
}

func TestConnectionTokens(t *testing.T) {
	now := time.Unix(1000, 0)
	c := &connection{Resource: "r", Subject: "s", Provider: "p"}
	c.setTokens(&tokenResponse{AccessToken: "a1", RefreshToken: "r1", ExpiresIn: 3600, Scope: "x"}, nil, now)
	if !c.fresh(now) || c.fresh(now.Add(3600*time.Second-expirySkew)) {
		t.Error("freshness with the skew")
	}
	old := c.tokens
	c.setTokens(&tokenResponse{AccessToken: "a2"}, &old, now)
	if c.tokens.RefreshToken != "r1" || c.tokens.Scope != "x" || !c.tokens.Expiry.IsZero() || !c.fresh(now.Add(1000*time.Hour)) {
		t.Errorf("a refresh without a new refresh token keeps the old one: %+v", c.tokens)
	}
	if connectionID("r", "s\x00p", "") == connectionID("r\x00s", "p", "") || connectionID("a", "b", "c") == connectionID("a", "b", "d") {
		t.Error("connection ids collide")
	}
}
