package storagetest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mcp-authz/mcp-authz/storage"
)

func kinds() []storage.TokenKind {
	return []storage.TokenKind{storage.AuthorizationCode, storage.AccessToken, storage.RefreshToken, storage.PKCE}
}

func tokenTests() []test {
	return []test{
		{"CreateToken and GetToken round-trip every field of every kind", func(t *testing.T, s storage.Store) {
			for i, kind := range kinds() {
				tok := token(kind, fmt.Sprintf("sig-%d", i), fmt.Sprintf("req-%d", i))
				tok.Request.RequestedAt = fixedTime()
				tok.ExpiresAt = fixedTime().Add(time.Hour)
				create(t, s, tok)
				checkToken(t, tok, getToken(t, s, kind, tok.Signature))
			}
		}},
		{"round-trip of unusual values", func(t *testing.T, s storage.Store) {
			session := make([]byte, 256)
			for i := range session {
				session[i] = byte(i)
			}
			cases := []storage.Token{
				// The least a token can hold: empty lists, no session, no subject (client
				// credentials), zero times.
				{Kind: storage.AccessToken, Signature: "minimal", Request: storage.Request{ID: "r1", ClientID: "c"}},
				// Empty but non-nil lists and session read back as empty.
				{Kind: storage.AccessToken, Signature: "empty", Active: true, Request: storage.Request{
					ID: "r2", ClientID: "c", RequestedScopes: []string{}, GrantedScopes: []string{},
					RequestedAudience: []string{}, GrantedAudience: []string{}, Session: []byte{},
				}},
				// Every byte value in the session, non-ASCII text, an inactive rotated token, a
				// far-future expiry.
				{Kind: storage.RefreshToken, Signature: "unusual", RotatedAt: fixedTime(), Request: storage.Request{
					ID: "r3", ClientID: "https://client.example/ünïcode", Subject: "用户-1",
					RequestedAt:     fixedTime().Add(-time.Hour),
					RequestedScopes: []string{"a b", `quote"d`, "back\\slash", "ünïcode"},
					GrantedScopes:   []string{""},
					Form:            "a=1&b=%00&c=" + strings.Repeat("x", 4000),
					Session:         session,
				}, ExpiresAt: time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)},
			}
			for _, tok := range cases {
				create(t, s, tok)
				checkToken(t, tok, getToken(t, s, tok.Kind, tok.Signature))
			}
		}},
		{"GetToken returns times in the same instant regardless of zone", func(t *testing.T, s storage.Store) {
			tok := token(storage.AccessToken, "zone", "r")
			tok.ExpiresAt = fixedTime()
			create(t, s, tok)
			if got := getToken(t, s, tok.Kind, tok.Signature).ExpiresAt; !sameTime(got, fixedTime()) {
				t.Fatalf("ExpiresAt = %v, want %v", got, fixedTime())
			}
		}},
		{"GetToken of an unknown token is ErrNotFound", func(t *testing.T, s storage.Store) {
			wantNoToken(t, s, storage.AuthorizationCode, "nope")
			create(t, s, token(storage.AuthorizationCode, "code", "r"))
			wantNoToken(t, s, storage.AccessToken, "code") // same signature, other kind
		}},
		{"GetToken returns an expired token", func(t *testing.T, s storage.Store) {
			tok := token(storage.AccessToken, "old", "r")
			tok.ExpiresAt = time.Now().Add(-time.Hour)
			create(t, s, tok)
			checkToken(t, tok, getToken(t, s, tok.Kind, tok.Signature))
		}},
		{"one signature under two kinds is two tokens", func(t *testing.T, s storage.Store) {
			// The PKCE challenge is stored under its code's signature.
			code := token(storage.AuthorizationCode, "shared", "r")
			pkce := token(storage.PKCE, "shared", "r")
			pkce.Request.Form = "code_challenge=abc"
			create(t, s, code, pkce)
			apply(t, s, storage.DeactivateToken{Kind: storage.AuthorizationCode, Signature: "shared"})
			wantActive(t, s, storage.AuthorizationCode, "shared", false)
			checkToken(t, pkce, getToken(t, s, storage.PKCE, "shared"))
			apply(t, s, storage.DeleteToken{Kind: storage.PKCE, Signature: "shared"})
			wantNoToken(t, s, storage.PKCE, "shared")
			getToken(t, s, storage.AuthorizationCode, "shared")
		}},
		{"CreateToken of an existing signature is ErrConflict and changes nothing", func(t *testing.T, s storage.Store) {
			orig := token(storage.RefreshToken, "dup", "r1")
			create(t, s, orig)
			again := token(storage.RefreshToken, "dup", "r2")
			again.Request.Subject = "someone-else"
			err := s.Apply(t.Context(), storage.CreateToken{Token: again})
			wantErr(t, "second CreateToken", err, storage.ErrConflict)
			checkToken(t, orig, getToken(t, s, storage.RefreshToken, "dup"))
		}},
		{"DeleteToken", func(t *testing.T, s storage.Store) {
			create(t, s, token(storage.AccessToken, "a", "r"), token(storage.AccessToken, "b", "r"))
			apply(t, s, storage.DeleteToken{Kind: storage.AccessToken, Signature: "a"})
			wantNoToken(t, s, storage.AccessToken, "a")
			getToken(t, s, storage.AccessToken, "b")
			// Deleting what is not there is not an error.
			apply(t, s, storage.DeleteToken{Kind: storage.AccessToken, Signature: "a"})
			apply(t, s, storage.DeleteToken{Kind: storage.RefreshToken, Signature: "b"})
			getToken(t, s, storage.AccessToken, "b")
		}},
		{"DeactivateToken", func(t *testing.T, s storage.Store) {
			tok := token(storage.AuthorizationCode, "code", "r")
			create(t, s, tok)
			steps := []struct {
				name   string
				change storage.DeactivateToken
				want   error
			}{
				{"active", storage.DeactivateToken{Kind: storage.AuthorizationCode, Signature: "code"}, nil},
				{"already inactive", storage.DeactivateToken{Kind: storage.AuthorizationCode, Signature: "code"}, storage.ErrInactive},
				{"absent", storage.DeactivateToken{Kind: storage.AuthorizationCode, Signature: "other"}, storage.ErrNotFound},
				{"other kind", storage.DeactivateToken{Kind: storage.AccessToken, Signature: "code"}, storage.ErrNotFound},
			}
			for _, st := range steps {
				wantErr(t, st.name, s.Apply(t.Context(), st.change), st.want)
			}
			// Only Active changed.
			tok.Active = false
			checkToken(t, tok, getToken(t, s, tok.Kind, tok.Signature))
		}},
		{"DeactivateToken of every kind", func(t *testing.T, s storage.Store) {
			for _, kind := range kinds() {
				create(t, s, token(kind, "sig", "r"))
				apply(t, s, storage.DeactivateToken{Kind: kind, Signature: "sig"})
				wantActive(t, s, kind, "sig", false)
				wantErr(t, string(kind), s.Apply(t.Context(), storage.DeactivateToken{Kind: kind, Signature: "sig"}), storage.ErrInactive)
			}
		}},
		{"RotateRefreshToken", testRotate},
		{"RotateRefreshToken keeps the first rotation time", func(t *testing.T, s storage.Store) {
			t0 := time.Now().Truncate(time.Millisecond)
			tok := token(storage.RefreshToken, "rt", "r")
			create(t, s, tok)
			for _, at := range []time.Time{t0, t0.Add(3 * time.Second), t0.Add(6 * time.Second), t0.Add(9 * time.Second)} {
				apply(t, s, storage.RotateRefreshToken{Signature: "rt", At: at, Grace: 10 * time.Second})
			}
			// The window never slid: 10s after the first rotation the token is done.
			err := s.Apply(t.Context(), storage.RotateRefreshToken{Signature: "rt", At: t0.Add(10*time.Second + time.Millisecond), Grace: 10 * time.Second})
			wantErr(t, "rotation after the first rotation's grace", err, storage.ErrInactive)
			tok.Active = false
			tok.RotatedAt = t0
			checkToken(t, tok, getToken(t, s, storage.RefreshToken, "rt"))
		}},
		{"RevokeRequest", func(t *testing.T, s storage.Store) {
			create(t, s,
				token(storage.AccessToken, "a1", "grant"),
				token(storage.AccessToken, "a2", "grant"),
				token(storage.RefreshToken, "r1", "grant"),
				token(storage.AccessToken, "a3", "other-grant"),
				token(storage.RefreshToken, "r3", "other-grant"),
			)
			apply(t, s, storage.RevokeRequest{Kind: storage.AccessToken, RequestID: "grant"})
			wantActive(t, s, storage.AccessToken, "a1", false)
			wantActive(t, s, storage.AccessToken, "a2", false)
			wantActive(t, s, storage.RefreshToken, "r1", true) // other kind
			wantActive(t, s, storage.AccessToken, "a3", true)  // other grant
			// Again, and for a grant that has no tokens: not an error.
			apply(t, s, storage.RevokeRequest{Kind: storage.AccessToken, RequestID: "grant"})
			apply(t, s, storage.RevokeRequest{Kind: storage.AccessToken, RequestID: "no-such-grant"})
			apply(t, s, storage.RevokeRequest{Kind: storage.RefreshToken, RequestID: "grant"})
			wantActive(t, s, storage.RefreshToken, "r1", false)
			wantActive(t, s, storage.RefreshToken, "r3", true)
		}},
		{"UseJTI", func(t *testing.T, s storage.Store) {
			future := time.Now().Add(time.Hour)
			apply(t, s, storage.UseJTI{JTI: "j1", ExpiresAt: future})
			wantErr(t, "replayed jti", s.Apply(t.Context(), storage.UseJTI{JTI: "j1", ExpiresAt: future}), storage.ErrConflict)
			wantErr(t, "replayed jti, other expiry", s.Apply(t.Context(), storage.UseJTI{JTI: "j1", ExpiresAt: future.Add(time.Hour)}), storage.ErrConflict)
			apply(t, s, storage.UseJTI{JTI: "j2", ExpiresAt: future})

			// A record that has expired no longer blocks the jti, and the new record does.
			apply(t, s, storage.UseJTI{JTI: "old", ExpiresAt: time.Now().Add(-time.Minute)})
			apply(t, s, storage.UseJTI{JTI: "old", ExpiresAt: future})
			wantErr(t, "jti reused after its record was renewed", s.Apply(t.Context(), storage.UseJTI{JTI: "old", ExpiresAt: future}), storage.ErrConflict)
		}},
	}
}

func testRotate(t *testing.T, s storage.Store) {
	t0 := time.Now().Truncate(time.Millisecond)
	const grace = 10 * time.Second
	type step struct {
		name   string
		change storage.Change
		want   error
	}
	rotate := func(sig string, at time.Time, g time.Duration) storage.Change {
		return storage.RotateRefreshToken{Signature: sig, At: at, Grace: g}
	}
	cases := []struct {
		name  string
		setup []storage.Change
		steps []step
		// firstRotatedAt: the token must end with RotatedAt = t0.
		firstRotatedAt bool
	}{
		{"active token rotates once without grace", nil, []step{
			{"first", rotate("rt", t0, 0), nil},
			{"second, same instant", rotate("rt", t0, 0), storage.ErrInactive},
			{"second, later", rotate("rt", t0.Add(time.Second), 0), storage.ErrInactive},
			// An instance whose clock lags must not get a second rotation out of Grace 0.
			{"second, earlier clock", rotate("rt", t0.Add(-time.Second), 0), storage.ErrInactive},
		}, true},
		{"again within grace", nil, []step{
			{"first", rotate("rt", t0, grace), nil},
			{"retry 1s later", rotate("rt", t0.Add(time.Second), grace), nil},
			{"retry just inside grace", rotate("rt", t0.Add(grace-time.Millisecond), grace), nil},
			{"retry at the end of grace", rotate("rt", t0.Add(grace), grace), storage.ErrInactive},
			{"retry after grace", rotate("rt", t0.Add(grace+time.Second), grace), storage.ErrInactive},
		}, true},
		{"grace is the caller's", nil, []step{
			{"first", rotate("rt", t0, grace), nil},
			{"retry with no grace", rotate("rt", t0.Add(time.Second), 0), storage.ErrInactive},
			{"retry with grace", rotate("rt", t0.Add(time.Second), grace), nil},
		}, true},
		{"no grace for a token deactivated rather than rotated", []storage.Change{
			storage.DeactivateToken{Kind: storage.RefreshToken, Signature: "rt"},
		}, []step{
			{"rotate", rotate("rt", t0, grace), storage.ErrInactive},
		}, false},
		{"no grace once the grant is revoked", nil, []step{
			{"first", rotate("rt", t0, grace), nil},
			{"revoke", storage.RevokeRequest{Kind: storage.RefreshToken, RequestID: "grant"}, nil},
			{"retry within grace", rotate("rt", t0.Add(time.Second), grace), storage.ErrInactive},
		}, false},
		{"absent token", nil, []step{
			{"rotate", rotate("nope", t0, grace), storage.ErrNotFound},
		}, false},
		{"only refresh tokens rotate", []storage.Change{
			storage.CreateToken{Token: token(storage.AccessToken, "at", "grant")},
		}, []step{
			{"rotate an access token's signature", rotate("at", t0, grace), storage.ErrNotFound},
		}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// A fresh signature per case on the shared store.
			sig := func(c storage.Change) storage.Change {
				switch c := c.(type) {
				case storage.RotateRefreshToken:
					c.Signature = tc.name + "/" + c.Signature
					return c
				case storage.DeactivateToken:
					c.Signature = tc.name + "/" + c.Signature
					return c
				case storage.CreateToken:
					c.Token.Signature = tc.name + "/" + c.Token.Signature
					c.Token.Request.ID = tc.name + "/grant"
					return c
				case storage.RevokeRequest:
					c.RequestID = tc.name + "/" + c.RequestID
					return c
				}
				return c
			}
			tok := token(storage.RefreshToken, tc.name+"/rt", tc.name+"/grant")
			create(t, s, tok)
			for _, c := range tc.setup {
				apply(t, s, sig(c))
			}
			for _, st := range tc.steps {
				wantErr(t, st.name, s.Apply(t.Context(), sig(st.change)), st.want)
			}
			got := getToken(t, s, storage.RefreshToken, tok.Signature)
			if tc.firstRotatedAt && got.Active {
				t.Errorf("token still active after the case")
			}
			if tc.firstRotatedAt && !sameTime(got.RotatedAt, t0) {
				t.Errorf("RotatedAt = %v, want the first rotation %v", got.RotatedAt, t0)
			}
		})
	}
}

func applyTests() []test {
	return []test{
		{"Apply with no changes", func(t *testing.T, s storage.Store) {
			apply(t, s)
		}},
		{"later changes see earlier ones", func(t *testing.T, s storage.Store) {
			apply(t, s,
				storage.CreateToken{Token: token(storage.AuthorizationCode, "c", "r")},
				storage.DeactivateToken{Kind: storage.AuthorizationCode, Signature: "c"},
				storage.CreateToken{Token: token(storage.AccessToken, "a", "r")},
				storage.DeleteToken{Kind: storage.AccessToken, Signature: "a"},
			)
			wantActive(t, s, storage.AuthorizationCode, "c", false)
			wantNoToken(t, s, storage.AccessToken, "a")
		}},
		{"a failing change undoes every change before it", testAtomic},
		{"pointer changes are the same changes", func(t *testing.T, s storage.Store) {
			tok := token(storage.AccessToken, "p", "r")
			apply(t, s, &storage.CreateToken{Token: tok})
			apply(t, s, &storage.DeactivateToken{Kind: storage.AccessToken, Signature: "p"})
			wantActive(t, s, storage.AccessToken, "p", false)
		}},
		{"a cancelled context applies nothing", func(t *testing.T, s storage.Store) {
			ctx, cancel := contextCancelled(t)
			defer cancel()
			err := s.Apply(ctx, storage.CreateToken{Token: token(storage.AccessToken, "x", "r")})
			if err == nil {
				t.Fatal("Apply with a cancelled context succeeded")
			}
			wantNoToken(t, s, storage.AccessToken, "x")
		}},
	}
}

// testAtomic runs, for each way a change can fail, an Apply of one change of every type followed by
// the failing one, and checks that none of them took effect.
func testAtomic(t *testing.T, s storage.Store) {
	fails := []struct {
		name   string
		change func(p string) storage.Change
		want   error
	}{
		{"CreateToken conflict", func(p string) storage.Change {
			return storage.CreateToken{Token: token(storage.AccessToken, p+"existing", "r")}
		}, storage.ErrConflict},
		{"DeactivateToken not found", func(p string) storage.Change {
			return storage.DeactivateToken{Kind: storage.AuthorizationCode, Signature: p + "absent"}
		}, storage.ErrNotFound},
		{"DeactivateToken inactive", func(p string) storage.Change {
			return storage.DeactivateToken{Kind: storage.AuthorizationCode, Signature: p + "used"}
		}, storage.ErrInactive},
		{"RotateRefreshToken not found", func(p string) storage.Change {
			return storage.RotateRefreshToken{Signature: p + "absent", At: time.Now()}
		}, storage.ErrNotFound},
		{"RotateRefreshToken inactive", func(p string) storage.Change {
			return storage.RotateRefreshToken{Signature: p + "used-refresh", At: time.Now()}
		}, storage.ErrInactive},
		{"UseJTI conflict", func(p string) storage.Change {
			return storage.UseJTI{JTI: p + "seen", ExpiresAt: time.Now().Add(time.Hour)}
		}, storage.ErrConflict},
	}
	for i, f := range fails {
		t.Run(f.name, func(t *testing.T) {
			// Fixtures the failing changes run into, and records the earlier changes touch.
			p := fmt.Sprintf("%d-", i)
			used := token(storage.AuthorizationCode, p+"used", "r")
			used.Active = false
			usedRefresh := token(storage.RefreshToken, p+"used-refresh", "r")
			usedRefresh.Active = false
			create(t, s, token(storage.AccessToken, p+"existing", "r"), used, usedRefresh)
			apply(t, s, storage.UseJTI{JTI: p + "seen", ExpiresAt: time.Now().Add(time.Hour)})
			create(t, s,
				token(storage.AuthorizationCode, p+"code", p+"grant"),
				token(storage.RefreshToken, p+"refresh", p+"grant"),
				token(storage.AccessToken, p+"access", p+"grant"),
				token(storage.PKCE, p+"pkce", p+"grant"),
			)

			err := s.Apply(t.Context(),
				storage.CreateToken{Token: token(storage.AccessToken, p+"new", p+"grant")},
				storage.DeactivateToken{Kind: storage.AuthorizationCode, Signature: p + "code"},
				storage.RotateRefreshToken{Signature: p + "refresh", At: time.Now(), Grace: time.Minute},
				storage.RevokeRequest{Kind: storage.AccessToken, RequestID: p + "grant"},
				storage.DeleteToken{Kind: storage.PKCE, Signature: p + "pkce"},
				storage.UseJTI{JTI: p + "jti", ExpiresAt: time.Now().Add(time.Hour)},
				f.change(p),
			)
			wantErr(t, "Apply", err, f.want)

			wantNoToken(t, s, storage.AccessToken, p+"new")
			wantActive(t, s, storage.AuthorizationCode, p+"code", true)
			if got := getToken(t, s, storage.RefreshToken, p+"refresh"); !got.Active || !got.RotatedAt.IsZero() {
				t.Errorf("refresh token: Active %v RotatedAt %v, want untouched", got.Active, got.RotatedAt)
			}
			wantActive(t, s, storage.AccessToken, p+"access", true)
			getToken(t, s, storage.PKCE, p+"pkce")
			apply(t, s, storage.UseJTI{JTI: p + "jti", ExpiresAt: time.Now().Add(time.Hour)})
		})
	}
}
