package storagetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/mcp-authz/mcp-authz/storage"
)

func user(id, username string) storage.User {
	return storage.User{
		ID:           id,
		Username:     username,
		PasswordHash: "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g",
		Email:        username + "@example.com",
		Name:         "User " + username,
		CreatedAt:    fixedTime(),
	}
}

func checkUser(t *testing.T, want storage.User, got *storage.User) {
	t.Helper()
	if got == nil {
		t.Fatalf("user %s: got nil", want.ID)
	}
	var d diff
	d.str("ID", want.ID, got.ID)
	d.str("Username", want.Username, got.Username)
	d.str("PasswordHash", want.PasswordHash, got.PasswordHash)
	d.str("Email", want.Email, got.Email)
	d.str("Name", want.Name, got.Name)
	d.time("CreatedAt", want.CreatedAt, got.CreatedAt)
	d.bool("Disabled", want.Disabled, got.Disabled)
	d.report(t, "user "+want.ID)
}

func createUser(t *testing.T, s storage.Store, u storage.User) {
	t.Helper()
	if err := s.CreateUser(t.Context(), u); err != nil {
		t.Fatalf("CreateUser(%s): %v", u.Username, err)
	}
}

func userTests() []test {
	return []test{
		{"CreateUser, GetUser and GetUserByUsername round-trip every field", func(t *testing.T, s storage.Store) {
			users := []storage.User{
				user("u1", "alice"),
				{ID: "u2", Username: "bob", Disabled: true, CreatedAt: fixedTime()}, // no password, email or name
				{ID: "u3", Username: "Zoë Ünïcode", Name: "Zoë", CreatedAt: fixedTime().Add(time.Microsecond)},
			}
			for _, u := range users {
				createUser(t, s, u)
			}
			for _, u := range users {
				got, err := s.GetUser(t.Context(), u.ID)
				wantErr(t, "GetUser", err, nil)
				checkUser(t, u, got)
				got, err = s.GetUserByUsername(t.Context(), u.Username)
				wantErr(t, "GetUserByUsername", err, nil)
				checkUser(t, u, got)
			}
		}},
		{"absent users are ErrNotFound", func(t *testing.T, s storage.Store) {
			_, err := s.GetUser(t.Context(), "nobody")
			wantErr(t, "GetUser", err, storage.ErrNotFound)
			_, err = s.GetUserByUsername(t.Context(), "nobody")
			wantErr(t, "GetUserByUsername", err, storage.ErrNotFound)
			createUser(t, s, user("u1", "alice"))
			_, err = s.GetUser(t.Context(), "alice") // a username is not an ID
			wantErr(t, "GetUser(username)", err, storage.ErrNotFound)
			_, err = s.GetUserByUsername(t.Context(), "u1")
			wantErr(t, "GetUserByUsername(id)", err, storage.ErrNotFound)
		}},
		{"CreateUser conflicts", func(t *testing.T, s storage.Store) {
			orig := user("u1", "alice")
			createUser(t, s, orig)
			for _, tc := range []struct {
				name string
				u    storage.User
			}{
				{"same ID", user("u1", "other")},
				{"same username", user("u2", "alice")},
				{"same username, other case", user("u3", "ALICE")},
			} {
				wantErr(t, tc.name, s.CreateUser(t.Context(), tc.u), storage.ErrConflict)
			}
			got, err := s.GetUser(t.Context(), "u1")
			wantErr(t, "GetUser", err, nil)
			checkUser(t, orig, got)
			users, err := s.ListUsers(t.Context())
			wantErr(t, "ListUsers", err, nil)
			if len(users) != 1 {
				t.Fatalf("ListUsers: %d users, want 1", len(users))
			}
		}},
		{"GetUserByUsername matches exactly", func(t *testing.T, s storage.Store) {
			createUser(t, s, user("u1", "Alice"))
			for _, name := range []string{"alice", "ALICE", "Alice ", " Alice", "Alic"} {
				_, err := s.GetUserByUsername(t.Context(), name)
				wantErr(t, fmt.Sprintf("GetUserByUsername(%q)", name), err, storage.ErrNotFound)
			}
		}},
		{"UpdateUser replaces the mutable fields only", func(t *testing.T, s storage.Store) {
			orig := user("u1", "alice")
			createUser(t, s, orig)
			createUser(t, s, user("u2", "bob"))
			upd := storage.User{
				ID:           "u1",
				Username:     "mallory",                  // not mutable
				CreatedAt:    fixedTime().Add(time.Hour), // not mutable
				PasswordHash: "",                         // may be emptied (password login removed)
				Email:        "new@example.com",
				Name:         "Alice Liddell",
				Disabled:     true,
			}
			if err := s.UpdateUser(t.Context(), upd); err != nil {
				t.Fatalf("UpdateUser: %v", err)
			}
			want := orig
			want.PasswordHash, want.Email, want.Name, want.Disabled = upd.PasswordHash, upd.Email, upd.Name, upd.Disabled
			got, err := s.GetUser(t.Context(), "u1")
			wantErr(t, "GetUser", err, nil)
			checkUser(t, want, got)
			got, err = s.GetUserByUsername(t.Context(), "alice")
			wantErr(t, "GetUserByUsername", err, nil)
			checkUser(t, want, got)
			got, err = s.GetUser(t.Context(), "u2")
			wantErr(t, "GetUser(u2)", err, nil)
			checkUser(t, user("u2", "bob"), got)

			// And back: re-enabling works too.
			want.Disabled = false
			if err := s.UpdateUser(t.Context(), want); err != nil {
				t.Fatalf("UpdateUser: %v", err)
			}
			got, err = s.GetUser(t.Context(), "u1")
			wantErr(t, "GetUser", err, nil)
			checkUser(t, want, got)
		}},
		{"UpdateUser of an absent user is ErrNotFound", func(t *testing.T, s storage.Store) {
			wantErr(t, "UpdateUser", s.UpdateUser(t.Context(), user("nobody", "nobody")), storage.ErrNotFound)
			_, err := s.GetUser(t.Context(), "nobody")
			wantErr(t, "GetUser", err, storage.ErrNotFound)
		}},
		{"ListUsers orders by username", func(t *testing.T, s storage.Store) {
			got, err := s.ListUsers(t.Context())
			wantErr(t, "ListUsers of none", err, nil)
			if len(got) != 0 {
				t.Fatalf("ListUsers of none: %d users", len(got))
			}
			// IDs in another order than usernames, so that ordering by ID would show.
			names := []string{"dave", "alice", "carol", "bob", "erin"}
			for i, n := range names {
				u := user(fmt.Sprintf("id-%d", len(names)-i), n)
				u.Disabled = i%2 == 0
				createUser(t, s, u)
			}
			got, err = s.ListUsers(t.Context())
			wantErr(t, "ListUsers", err, nil)
			want := []string{"alice", "bob", "carol", "dave", "erin"}
			if len(got) != len(want) {
				t.Fatalf("ListUsers: %d users, want %d", len(got), len(want))
			}
			for i, u := range got {
				if u.Username != want[i] {
					t.Fatalf("ListUsers[%d] = %s, want %s (order %v)", i, u.Username, want[i], want)
				}
				byID, err := s.GetUser(t.Context(), u.ID)
				wantErr(t, "GetUser", err, nil)
				checkUser(t, *byID, &u)
			}
		}},
	}
}

func checkConsent(t *testing.T, want storage.Consent, got *storage.Consent) {
	t.Helper()
	if got == nil {
		t.Fatal("consent: got nil")
	}
	var d diff
	d.str("Subject", want.Subject, got.Subject)
	d.str("ClientID", want.ClientID, got.ClientID)
	d.str("Resource", want.Resource, got.Resource)
	d.list("Scopes", want.Scopes, got.Scopes)
	d.time("GrantedAt", want.GrantedAt, got.GrantedAt)
	d.str("ClientFingerprint", want.ClientFingerprint, got.ClientFingerprint)
	d.report(t, "consent")
}

func consentTests() []test {
	const client = "https://client.example/oauth/metadata.json"
	const resource = "https://mcp.example/files"
	return []test{
		{"SaveConsent and GetConsent round-trip every field", func(t *testing.T, s storage.Store) {
			c := storage.Consent{Subject: "u1", ClientID: client, Resource: resource,
				Scopes: []string{"files:read", "files:write"}, GrantedAt: fixedTime(), ClientFingerprint: "sha256:8f0b0c1e7e52"}
			wantErr(t, "SaveConsent", s.SaveConsent(t.Context(), c), nil)
			got, err := s.GetConsent(t.Context(), "u1", client, resource)
			wantErr(t, "GetConsent", err, nil)
			checkConsent(t, c, got)

			// Saving again replaces every field, the fingerprint included.
			c.Scopes, c.ClientFingerprint = []string{"files:read"}, "sha256:2b7e1516"
			wantErr(t, "SaveConsent again", s.SaveConsent(t.Context(), c), nil)
			got, err = s.GetConsent(t.Context(), "u1", client, resource)
			wantErr(t, "GetConsent", err, nil)
			checkConsent(t, c, got)

			none := storage.Consent{Subject: "u1", ClientID: client, Resource: "https://mcp.example/other", GrantedAt: fixedTime()}
			wantErr(t, "SaveConsent with no scopes", s.SaveConsent(t.Context(), none), nil)
			got, err = s.GetConsent(t.Context(), none.Subject, none.ClientID, none.Resource)
			wantErr(t, "GetConsent", err, nil)
			checkConsent(t, none, got)
		}},
		{"GetConsent is keyed by subject, client and resource", func(t *testing.T, s storage.Store) {
			c := storage.Consent{Subject: "u1", ClientID: client, Resource: resource, Scopes: []string{"a"}, GrantedAt: fixedTime()}
			wantErr(t, "SaveConsent", s.SaveConsent(t.Context(), c), nil)
			for _, k := range [][3]string{
				{"u2", client, resource},
				{"u1", "https://client.example/other.json", resource},
				{"u1", client, "https://mcp.example/other"},
			} {
				_, err := s.GetConsent(t.Context(), k[0], k[1], k[2])
				wantErr(t, fmt.Sprintf("GetConsent%q", k), err, storage.ErrNotFound)
			}
		}},
		{"SaveConsent replaces", func(t *testing.T, s storage.Store) {
			c := storage.Consent{Subject: "u1", ClientID: client, Resource: resource, Scopes: []string{"a"}, GrantedAt: fixedTime()}
			wantErr(t, "SaveConsent", s.SaveConsent(t.Context(), c), nil)
			c.Scopes = []string{"a", "b"}
			c.GrantedAt = fixedTime().Add(time.Hour)
			wantErr(t, "SaveConsent again", s.SaveConsent(t.Context(), c), nil)
			got, err := s.GetConsent(t.Context(), "u1", client, resource)
			wantErr(t, "GetConsent", err, nil)
			checkConsent(t, c, got)
		}},
		{"DeleteClientConsents", func(t *testing.T, s storage.Store) {
			other := "https://other.example/client.json"
			for _, c := range []storage.Consent{
				{Subject: "u1", ClientID: client, Resource: resource},
				{Subject: "u1", ClientID: client, Resource: "https://mcp.example/other"},
				{Subject: "u2", ClientID: client, Resource: resource},
				{Subject: "u1", ClientID: other, Resource: resource},
			} {
				c.Scopes, c.GrantedAt = []string{"a"}, fixedTime()
				wantErr(t, "SaveConsent", s.SaveConsent(t.Context(), c), nil)
			}
			n, err := s.DeleteClientConsents(t.Context(), client)
			wantErr(t, "DeleteClientConsents", err, nil)
			if n != 3 {
				t.Errorf("DeleteClientConsents = %d, want 3", n)
			}
			_, err = s.GetConsent(t.Context(), "u2", client, resource)
			wantErr(t, "GetConsent of the deleted client", err, storage.ErrNotFound)
			_, err = s.GetConsent(t.Context(), "u1", other, resource)
			wantErr(t, "GetConsent of the other client", err, nil)
			n, err = s.DeleteClientConsents(t.Context(), client)
			wantErr(t, "DeleteClientConsents again", err, nil)
			if n != 0 {
				t.Errorf("DeleteClientConsents again = %d, want 0", n)
			}
		}},
	}
}

func checkSession(t *testing.T, want storage.BrowserSession, got *storage.BrowserSession) {
	t.Helper()
	if got == nil {
		t.Fatal("session: got nil")
	}
	var d diff
	d.str("ID", want.ID, got.ID)
	d.bytes("Data", want.Data, got.Data)
	d.time("ExpiresAt", want.ExpiresAt, got.ExpiresAt)
	d.report(t, "session")
}

func sessionTests() []test {
	return []test{
		{"SaveSession, GetSession, DeleteSession", func(t *testing.T, s storage.Store) {
			bs := storage.BrowserSession{ID: "s1", Data: []byte("\x00binary\xff{}"), ExpiresAt: time.Now().Add(time.Hour)}
			wantErr(t, "SaveSession", s.SaveSession(t.Context(), bs), nil)
			got, err := s.GetSession(t.Context(), "s1")
			wantErr(t, "GetSession", err, nil)
			checkSession(t, bs, got)

			bs.Data = []byte("replaced")
			bs.ExpiresAt = time.Now().Add(2 * time.Hour)
			wantErr(t, "SaveSession again", s.SaveSession(t.Context(), bs), nil)
			got, err = s.GetSession(t.Context(), "s1")
			wantErr(t, "GetSession", err, nil)
			checkSession(t, bs, got)

			empty := storage.BrowserSession{ID: "s2", ExpiresAt: time.Now().Add(time.Hour)}
			wantErr(t, "SaveSession with no data", s.SaveSession(t.Context(), empty), nil)
			got, err = s.GetSession(t.Context(), "s2")
			wantErr(t, "GetSession", err, nil)
			checkSession(t, empty, got)

			wantErr(t, "DeleteSession", s.DeleteSession(t.Context(), "s1"), nil)
			_, err = s.GetSession(t.Context(), "s1")
			wantErr(t, "GetSession after delete", err, storage.ErrNotFound)
			wantErr(t, "DeleteSession again", s.DeleteSession(t.Context(), "s1"), nil)
			_, err = s.GetSession(t.Context(), "s2")
			wantErr(t, "GetSession of the other", err, nil)
		}},
		{"absent and expired sessions are ErrNotFound", func(t *testing.T, s storage.Store) {
			_, err := s.GetSession(t.Context(), "nope")
			wantErr(t, "GetSession", err, storage.ErrNotFound)
			old := storage.BrowserSession{ID: "old", Data: []byte("x"), ExpiresAt: time.Now().Add(-time.Second)}
			wantErr(t, "SaveSession", s.SaveSession(t.Context(), old), nil)
			_, err = s.GetSession(t.Context(), "old")
			wantErr(t, "GetSession of an expired session", err, storage.ErrNotFound)
			// Saving it again with a new expiry revives it.
			old.ExpiresAt = time.Now().Add(time.Hour)
			wantErr(t, "SaveSession", s.SaveSession(t.Context(), old), nil)
			_, err = s.GetSession(t.Context(), "old")
			wantErr(t, "GetSession", err, nil)
		}},
	}
}

func signingKeyTests() []test {
	key := func(id string, at time.Time) storage.SigningKey {
		return storage.SigningKey{ID: id, Algorithm: "ES256", EncryptedPrivateKey: []byte("sealed\x00" + id), CreatedAt: at}
	}
	list := func(t *testing.T, s storage.Store) []storage.SigningKey {
		t.Helper()
		ks, err := s.ListSigningKeys(t.Context())
		wantErr(t, "ListSigningKeys", err, nil)
		return ks
	}
	return []test{
		{"ListSigningKeys is newest first and round-trips every field", func(t *testing.T, s storage.Store) {
			if ks := list(t, s); len(ks) != 0 {
				t.Fatalf("ListSigningKeys of none: %d keys", len(ks))
			}
			// IDs ordered against creation time, and created out of order.
			t0 := fixedTime()
			want := []storage.SigningKey{key("a", t0.Add(3*time.Hour)), key("b", t0.Add(2*time.Hour)), key("c", t0.Add(time.Hour)), key("d", t0)}
			for _, i := range []int{2, 0, 3, 1} {
				wantErr(t, "CreateSigningKey", s.CreateSigningKey(t.Context(), want[i]), nil)
			}
			got := list(t, s)
			if len(got) != len(want) {
				t.Fatalf("ListSigningKeys: %d keys, want %d", len(got), len(want))
			}
			for i := range want {
				var d diff
				d.str("ID", want[i].ID, got[i].ID)
				d.str("Algorithm", want[i].Algorithm, got[i].Algorithm)
				d.bytes("EncryptedPrivateKey", want[i].EncryptedPrivateKey, got[i].EncryptedPrivateKey)
				d.time("CreatedAt", want[i].CreatedAt, got[i].CreatedAt)
				d.report(t, fmt.Sprintf("key %d", i))
			}
		}},
		{"CreateSigningKey of an existing ID is ErrConflict", func(t *testing.T, s storage.Store) {
			orig := key("k", fixedTime())
			wantErr(t, "CreateSigningKey", s.CreateSigningKey(t.Context(), orig), nil)
			wantErr(t, "CreateSigningKey again", s.CreateSigningKey(t.Context(), key("k", fixedTime().Add(time.Hour))), storage.ErrConflict)
			if ks := list(t, s); len(ks) != 1 || !sameTime(ks[0].CreatedAt, orig.CreatedAt) {
				t.Fatalf("ListSigningKeys = %v, want the original key only", ks)
			}
		}},
		{"DeleteSigningKey", func(t *testing.T, s storage.Store) {
			wantErr(t, "CreateSigningKey", s.CreateSigningKey(t.Context(), key("a", fixedTime())), nil)
			wantErr(t, "CreateSigningKey", s.CreateSigningKey(t.Context(), key("b", fixedTime().Add(time.Hour))), nil)
			wantErr(t, "DeleteSigningKey", s.DeleteSigningKey(t.Context(), "a"), nil)
			wantErr(t, "DeleteSigningKey again", s.DeleteSigningKey(t.Context(), "a"), nil)
			if ks := list(t, s); len(ks) != 1 || ks[0].ID != "b" {
				t.Fatalf("ListSigningKeys = %v, want b only", ks)
			}
		}},
	}
}

func expiryTests() []test {
	return []test{
		{"DeleteExpired removes expired tokens, jtis and sessions only", func(t *testing.T, s storage.Store) {
			now := time.Now()
			past, future := now.Add(-time.Minute), now.Add(time.Hour)
			tok := func(kind storage.TokenKind, sig string, exp time.Time, active bool) storage.Token {
				tk := token(kind, sig, "r")
				tk.ExpiresAt, tk.Active = exp, active
				return tk
			}
			create(t, s,
				tok(storage.AuthorizationCode, "old-code", past, false),
				tok(storage.PKCE, "old-code", past, true),
				tok(storage.RefreshToken, "old-refresh", past, true),
				tok(storage.AccessToken, "live-access", future, true),
				tok(storage.RefreshToken, "live-rotated", future, false), // kept for reuse detection
			)
			apply(t, s, storage.UseJTI{JTI: "old", ExpiresAt: past}, storage.UseJTI{JTI: "live", ExpiresAt: future})
			for _, bs := range []storage.BrowserSession{{ID: "old", ExpiresAt: past}, {ID: "live", ExpiresAt: future}} {
				wantErr(t, "SaveSession", s.SaveSession(t.Context(), bs), nil)
			}
			// Records DeleteExpired has no business with, however old.
			wantErr(t, "CreateSigningKey", s.CreateSigningKey(t.Context(), storage.SigningKey{
				ID: "k", Algorithm: "ES256", EncryptedPrivateKey: []byte("x"), CreatedAt: now.AddDate(-5, 0, 0)}), nil)
			u := user("u1", "alice")
			u.CreatedAt = now.AddDate(-5, 0, 0)
			createUser(t, s, u)
			wantErr(t, "SaveConsent", s.SaveConsent(t.Context(), storage.Consent{
				Subject: "u1", ClientID: "c", Resource: "r", GrantedAt: now.AddDate(-5, 0, 0)}), nil)

			n, err := s.DeleteExpired(t.Context(), now)
			wantErr(t, "DeleteExpired", err, nil)
			if n != 5 { // 3 tokens, 1 jti, 1 session
				t.Errorf("DeleteExpired = %d, want 5", n)
			}
			wantNoToken(t, s, storage.AuthorizationCode, "old-code")
			wantNoToken(t, s, storage.PKCE, "old-code")
			wantNoToken(t, s, storage.RefreshToken, "old-refresh")
			getToken(t, s, storage.AccessToken, "live-access")
			getToken(t, s, storage.RefreshToken, "live-rotated")
			wantErr(t, "UseJTI of the live jti", s.Apply(t.Context(), storage.UseJTI{JTI: "live", ExpiresAt: future}), storage.ErrConflict)
			_, err = s.GetSession(t.Context(), "live")
			wantErr(t, "GetSession", err, nil)
			if ks, err := s.ListSigningKeys(t.Context()); err != nil || len(ks) != 1 {
				t.Errorf("ListSigningKeys = %d keys, %v; want 1", len(ks), err)
			}
			_, err = s.GetUser(t.Context(), "u1")
			wantErr(t, "GetUser", err, nil)
			_, err = s.GetConsent(t.Context(), "u1", "c", "r")
			wantErr(t, "GetConsent", err, nil)

			n, err = s.DeleteExpired(t.Context(), now)
			wantErr(t, "DeleteExpired again", err, nil)
			if n != 0 {
				t.Errorf("DeleteExpired again = %d, want 0", n)
			}
			// Later, the rest expires.
			n, err = s.DeleteExpired(t.Context(), future.Add(time.Second))
			wantErr(t, "DeleteExpired later", err, nil)
			if n != 4 {
				t.Errorf("DeleteExpired later = %d, want 4", n)
			}
		}},
		{"DeleteExpired removes large numbers of records", func(t *testing.T, s storage.Store) {
			// More than one batch of any reasonable chunked implementation.
			const total = 2500
			past := time.Now().Add(-time.Minute)
			changes := make([]storage.Change, 0, 500)
			for i := range total {
				tk := token(storage.AccessToken, fmt.Sprintf("t%d", i), "r")
				tk.ExpiresAt = past
				changes = append(changes, storage.CreateToken{Token: tk})
				if len(changes) == cap(changes) {
					apply(t, s, changes...)
					changes = changes[:0]
				}
			}
			n, err := s.DeleteExpired(t.Context(), time.Now())
			wantErr(t, "DeleteExpired", err, nil)
			if n != total {
				t.Errorf("DeleteExpired = %d, want %d", n, total)
			}
			wantNoToken(t, s, storage.AccessToken, "t0")
			wantNoToken(t, s, storage.AccessToken, fmt.Sprintf("t%d", total-1))
		}},
	}
}
