package storagetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/mcp-authz/mcp-authz/storage"
)

// Run runs the conformance suite. open must return a new, empty store each time it is called and
// arrange for it to be closed when t ends.
func Run(t *testing.T, open func(t *testing.T) storage.Store) {
	t.Helper()
	groups := []struct {
		name  string
		tests []test
	}{
		{"Tokens", tokenTests()},
		{"Apply", applyTests()},
		{"Users", userTests()},
		{"Consents", consentTests()},
		{"Sessions", sessionTests()},
		{"SigningKeys", signingKeyTests()},
		{"DeleteExpired", expiryTests()},
		{"Concurrency", concurrencyTests()},
		{"Records", recordTests()},
		{"Elicitations", elicitationTests()},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			runTests(t, g.tests, open)
		})
	}
}

// runTests runs each test on a store of its own.
func runTests(t *testing.T, tests []test, open func(t *testing.T) storage.Store) {
	t.Helper()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.run(t, open(t))
		})
	}
}

// test is one conformance test; it gets a fresh store.
type test struct {
	name string
	run  func(t *testing.T, s storage.Store)
}

// fixedTime is an instant with sub-microsecond digits and a non-UTC zone, so that round trips show
// both precision and time zone handling.
func fixedTime() time.Time {
	return time.Date(2026, 3, 14, 15, 9, 26, 535897932, time.FixedZone("UTC+2", 2*60*60))
}

// token returns a token with every field set.
func token(kind storage.TokenKind, signature, requestID string) storage.Token {
	now := time.Now()
	return storage.Token{
		Kind:      kind,
		Signature: signature,
		Request: storage.Request{
			ID:                requestID,
			ClientID:          "https://client.example/oauth/metadata.json",
			Subject:           "user-7f3a",
			RequestedAt:       now.Add(-time.Minute),
			RequestedScopes:   []string{"openid", "offline_access", "files:read"},
			GrantedScopes:     []string{"offline_access", "files:read"},
			RequestedAudience: []string{"https://mcp.example/files"},
			GrantedAudience:   []string{"https://mcp.example/files"},
			Form:              "redirect_uri=http%3A%2F%2F127.0.0.1%3A3000%2Fcb&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&resource=https%3A%2F%2Fmcp.example%2Ffiles",
			Session:           []byte(`{"subject":"user-7f3a","auth_time":1773497366,"extra":{"acr":"pwd"}}`),
		},
		ExpiresAt: now.Add(10 * time.Minute),
		Active:    true,
	}
}

func sameTime(a, b time.Time) bool {
	if a.IsZero() || b.IsZero() {
		return a.IsZero() && b.IsZero()
	}
	d := a.Sub(b)
	return d > -time.Millisecond && d < time.Millisecond
}

// diff collects differences between a wanted and a got record, field by field.
type diff []string

func (d *diff) str(field, want, got string) {
	if want != got {
		*d = append(*d, fmt.Sprintf("%s: got %q, want %q", field, got, want))
	}
}

func (d *diff) bool(field string, want, got bool) {
	if want != got {
		*d = append(*d, fmt.Sprintf("%s: got %v, want %v", field, got, want))
	}
}

func (d *diff) time(field string, want, got time.Time) {
	if !sameTime(want, got) {
		*d = append(*d, fmt.Sprintf("%s: got %v, want %v", field, got, want))
	}
}

// list treats nil and empty as equal.
func (d *diff) list(field string, want, got []string) {
	if !slices.Equal(want, got) {
		*d = append(*d, fmt.Sprintf("%s: got %q, want %q", field, got, want))
	}
}

// bytes treats nil and empty as equal.
func (d *diff) bytes(field string, want, got []byte) {
	if !bytes.Equal(want, got) {
		*d = append(*d, fmt.Sprintf("%s: got %q, want %q", field, got, want))
	}
}

func (d diff) report(t *testing.T, what string) {
	t.Helper()
	for _, s := range d {
		t.Errorf("%s: %s", what, s)
	}
}

func checkToken(t *testing.T, want storage.Token, got *storage.Token) {
	t.Helper()
	if got == nil {
		t.Fatalf("token %s/%s: got nil", want.Kind, want.Signature)
	}
	var d diff
	d.str("Kind", string(want.Kind), string(got.Kind))
	d.str("Signature", want.Signature, got.Signature)
	w, g := want.Request, got.Request
	d.str("Request.ID", w.ID, g.ID)
	d.str("Request.ClientID", w.ClientID, g.ClientID)
	d.str("Request.Subject", w.Subject, g.Subject)
	d.time("Request.RequestedAt", w.RequestedAt, g.RequestedAt)
	d.list("Request.RequestedScopes", w.RequestedScopes, g.RequestedScopes)
	d.list("Request.GrantedScopes", w.GrantedScopes, g.GrantedScopes)
	d.list("Request.RequestedAudience", w.RequestedAudience, g.RequestedAudience)
	d.list("Request.GrantedAudience", w.GrantedAudience, g.GrantedAudience)
	d.str("Request.Form", w.Form, g.Form)
	d.bytes("Request.Session", w.Session, g.Session)
	d.time("ExpiresAt", want.ExpiresAt, got.ExpiresAt)
	d.bool("Active", want.Active, got.Active)
	d.time("RotatedAt", want.RotatedAt, got.RotatedAt)
	d.report(t, fmt.Sprintf("token %s/%s", want.Kind, want.Signature))
}

// wantErr fails unless errors.Is(err, target); a nil target means no error.
func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	switch {
	case target == nil && err != nil:
		t.Fatalf("%s: %v", what, err)
	case target != nil && !errors.Is(err, target):
		t.Fatalf("%s: got error %v, want %v", what, err, target)
	}
}

// getToken returns the token, failing the test on any error.
func getToken(t *testing.T, s storage.Store, kind storage.TokenKind, signature string) *storage.Token {
	t.Helper()
	tok, err := s.GetToken(t.Context(), kind, signature)
	if err != nil {
		t.Fatalf("GetToken(%s, %s): %v", kind, signature, err)
	}
	return tok
}

func wantActive(t *testing.T, s storage.Store, kind storage.TokenKind, signature string, active bool) {
	t.Helper()
	if got := getToken(t, s, kind, signature).Active; got != active {
		t.Fatalf("token %s/%s: Active = %v, want %v", kind, signature, got, active)
	}
}

func wantNoToken(t *testing.T, s storage.Store, kind storage.TokenKind, signature string) {
	t.Helper()
	_, err := s.GetToken(t.Context(), kind, signature)
	wantErr(t, fmt.Sprintf("GetToken(%s, %s)", kind, signature), err, storage.ErrNotFound)
}

// contextCancelled returns a context that has already ended.
func contextCancelled(t *testing.T) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	return ctx, cancel
}

func apply(t *testing.T, s storage.Store, changes ...storage.Change) {
	t.Helper()
	if err := s.Apply(t.Context(), changes...); err != nil {
		t.Fatalf("Apply: %v", err)
	}
}

func create(t *testing.T, s storage.Store, toks ...storage.Token) {
	t.Helper()
	changes := make([]storage.Change, len(toks))
	for i, tok := range toks {
		changes[i] = storage.CreateToken{Token: tok}
	}
	apply(t, s, changes...)
}
