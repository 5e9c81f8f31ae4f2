package resource

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestIntrospection(t *testing.T) {
	clock := newTestClock()
	as := newTestAS(t, clock)
	active := func(edit func(map[string]any)) map[string]any {
		r := map[string]any{
			"active":    true,
			"sub":       "user-123",
			"client_id": "cli",
			"scope":     "tools:read",
			"aud":       []string{testResource},
			"iss":       as.issuer(),
			"exp":       clock.Now().Add(5 * time.Minute).Unix(),
			"iat":       clock.Now().Unix(),
		}
		if edit != nil {
			edit(r)
		}
		return r
	}
	as.introspection = map[string]map[string]any{
		"good":          active(nil),
		"aud-string":    active(func(r map[string]any) { r["aud"] = testResource }),
		"other-aud":     active(func(r map[string]any) { r["aud"] = "https://other.example.com" }),
		"no-aud":        active(func(r map[string]any) { delete(r, "aud") }),
		"other-iss":     active(func(r map[string]any) { r["iss"] = "https://evil.example.com" }),
		"expired":       active(func(r map[string]any) { r["exp"] = clock.Now().Add(-time.Minute).Unix() }),
		"refresh-token": active(func(r map[string]any) { r["token_use"] = "refresh_token" }),
	}
	v := as.newVerifier(t, func(c *Config) {
		c.Introspection = &Introspection{ClientID: testClientID, ClientSecret: testClientSecret}
	})

	tests := []struct {
		token   string
		wantErr string
	}{
		{"good", ""},
		{"aud-string", ""},
		{"revoked-or-unknown", "not active"},
		{"other-aud", "not meant for this resource"},
		{"no-aud", "not meant for this resource"},
		{"other-iss", "wrong issuer"},
		{"expired", "token expired"},
		{"refresh-token", "not an access token"},
	}
	for _, tt := range tests {
		tok, err := v.Verify(t.Context(), tt.token)
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("%s: %v", tt.token, err)
		case tt.wantErr == "" && (tok.Subject != "user-123" || tok.ClientID != "cli" || !tok.HasScope("tools:read")):
			t.Errorf("%s: token %+v", tt.token, tok)
		case tt.wantErr != "" && (!errors.Is(err, ErrInvalidToken) || !contains(err, tt.wantErr)):
			t.Errorf("%s: error %v, want invalid token %q", tt.token, err, tt.wantErr)
		}
	}

	// Without CacheFor every request asks, so revocation bites at once.
	before := as.introspectHits.Load()
	for range 3 {
		if _, err := v.Verify(t.Context(), "good"); err != nil {
			t.Fatal(err)
		}
	}
	if n := as.introspectHits.Load() - before; n != 3 {
		t.Errorf("%d introspection calls for 3 requests, want 3", n)
	}
	as.mu.Lock()
	delete(as.introspection, "good")
	as.mu.Unlock()
	if _, err := v.Verify(t.Context(), "good"); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("revoked token: %v", err)
	}
	if n := as.metadataHits.Load(); n != 1 {
		t.Errorf("metadata fetched %d times, want 1", n)
	}
}

func contains(err error, s string) bool {
	return err != nil && len(s) > 0 && strings.Contains(err.Error(), s)
}

func TestIntrospectionCache(t *testing.T) {
	clock := newTestClock()
	as := newTestAS(t, clock)
	as.introspection["tok"] = map[string]any{
		"active": true, "sub": "u", "client_id": "c", "aud": testResource,
		"exp": clock.Now().Add(time.Minute).Unix(),
	}
	v := as.newVerifier(t, func(c *Config) {
		c.Introspection = &Introspection{
			Endpoint:     as.issuer() + "/introspect",
			ClientID:     testClientID,
			ClientSecret: testClientSecret,
			CacheFor:     time.Hour, // longer than the token lives
		}
	})
	verify := func() {
		t.Helper()
		if _, err := v.Verify(t.Context(), "tok"); err != nil {
			t.Fatal(err)
		}
	}
	verify()
	clock.Advance(59 * time.Second)
	verify()
	if n := as.introspectHits.Load(); n != 1 {
		t.Errorf("%d introspection calls inside CacheFor, want 1", n)
	}
	clock.Advance(time.Second) // exp: the cached answer is no longer used
	if _, err := v.Verify(t.Context(), "tok"); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("Verify at exp: %v", err)
	}
	if n := as.introspectHits.Load(); n != 2 {
		t.Errorf("%d introspection calls, want the cache to let go at exp", n)
	}
	if n := as.metadataHits.Load(); n != 0 {
		t.Errorf("metadata fetched %d times with a configured endpoint", n)
	}
}

func TestIntrospectionWithWrongCredentialsIsUnavailable(t *testing.T) {
	clock := newTestClock()
	as := newTestAS(t, clock)
	v := as.newVerifier(t, func(c *Config) {
		c.Introspection = &Introspection{ClientID: testClientID, ClientSecret: "wrong"}
	})
	if _, err := v.Verify(t.Context(), "tok"); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Verify: %v, want ErrUnavailable", err)
	}
}
