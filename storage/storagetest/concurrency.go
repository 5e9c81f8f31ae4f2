package storagetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/mcp-authz/mcp-authz/storage"
)

// racers is how many goroutines race for one thing.
const racers = 50

// race runs fn(i) for i in [0, n) in n goroutines released at once, and returns the errors by i.
func race(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = fn(i)
		})
	}
	close(start)
	wg.Wait()
	return errs
}

// wantOneWinner checks that exactly one error is nil and every other is loser; it returns the
// winner's index.
func wantOneWinner(t *testing.T, errs []error, loser error) int {
	t.Helper()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Errorf("racers %d and %d both won", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, loser):
			t.Errorf("racer %d: got %v, want %v", i, err, loser)
		}
	}
	if winner < 0 {
		t.Fatalf("no racer won")
	}
	return winner
}

func concurrencyTests() []test {
	return []test{
		{"DeactivateToken: exactly one of many wins", func(t *testing.T, s storage.Store) {
			create(t, s, token(storage.AuthorizationCode, "code", "r"))
			errs := race(racers, func(int) error {
				return s.Apply(t.Context(), storage.DeactivateToken{Kind: storage.AuthorizationCode, Signature: "code"})
			})
			wantOneWinner(t, errs, storage.ErrInactive)
			wantActive(t, s, storage.AuthorizationCode, "code", false)
		}},
		{"code redemption: exactly one of many gets tokens", func(t *testing.T, s storage.Store) {
			create(t, s, token(storage.AuthorizationCode, "code", "r"))
			errs := race(racers, func(i int) error {
				return s.Apply(t.Context(),
					storage.DeactivateToken{Kind: storage.AuthorizationCode, Signature: "code"},
					storage.CreateToken{Token: token(storage.AccessToken, fmt.Sprintf("access-%d", i), "r")},
					storage.CreateToken{Token: token(storage.RefreshToken, fmt.Sprintf("refresh-%d", i), "r")},
				)
			})
			winner := wantOneWinner(t, errs, storage.ErrInactive)
			for i := range racers {
				access, refresh := fmt.Sprintf("access-%d", i), fmt.Sprintf("refresh-%d", i)
				if i == winner {
					getToken(t, s, storage.AccessToken, access)
					getToken(t, s, storage.RefreshToken, refresh)
				} else {
					wantNoToken(t, s, storage.AccessToken, access)
					wantNoToken(t, s, storage.RefreshToken, refresh)
				}
			}
		}},
		{"RotateRefreshToken without grace: exactly one of many wins", func(t *testing.T, s storage.Store) {
			create(t, s, token(storage.RefreshToken, "rt", "r"))
			at := time.Now()
			errs := race(racers, func(i int) error {
				return s.Apply(t.Context(),
					storage.RotateRefreshToken{Signature: "rt", At: at, Grace: 0},
					storage.CreateToken{Token: token(storage.RefreshToken, fmt.Sprintf("rt-%d", i), "r")},
				)
			})
			winner := wantOneWinner(t, errs, storage.ErrInactive)
			for i := range racers {
				if i == winner {
					wantActive(t, s, storage.RefreshToken, fmt.Sprintf("rt-%d", i), true)
				} else {
					wantNoToken(t, s, storage.RefreshToken, fmt.Sprintf("rt-%d", i))
				}
			}
		}},
		{"RotateRefreshToken with grace: retries within it win, later ones lose", func(t *testing.T, s storage.Store) {
			const grace = 10 * time.Second
			create(t, s, token(storage.RefreshToken, "rt", "r"))
			t0 := time.Now()
			errs := race(racers, func(int) error {
				return s.Apply(t.Context(), storage.RotateRefreshToken{Signature: "rt", At: t0, Grace: grace})
			})
			for i, err := range errs {
				if err != nil {
					t.Errorf("racer %d within grace: %v", i, err)
				}
			}
			errs = race(racers, func(int) error {
				return s.Apply(t.Context(), storage.RotateRefreshToken{Signature: "rt", At: t0.Add(5 * time.Second), Grace: grace})
			})
			for i, err := range errs {
				if err != nil {
					t.Errorf("racer %d 5s later, within grace: %v", i, err)
				}
			}
			errs = race(racers, func(int) error {
				return s.Apply(t.Context(), storage.RotateRefreshToken{Signature: "rt", At: t0.Add(grace + time.Second), Grace: grace})
			})
			for i, err := range errs {
				if !errors.Is(err, storage.ErrInactive) {
					t.Errorf("racer %d after grace: got %v, want ErrInactive", i, err)
				}
			}
			if got := getToken(t, s, storage.RefreshToken, "rt").RotatedAt; !sameTime(got, t0) {
				t.Errorf("RotatedAt = %v, want %v", got, t0)
			}
		}},
		{"UseJTI: exactly one of many is accepted", func(t *testing.T, s storage.Store) {
			exp := time.Now().Add(time.Hour)
			errs := race(racers, func(int) error {
				return s.Apply(t.Context(), storage.UseJTI{JTI: "jti-1", ExpiresAt: exp})
			})
			wantOneWinner(t, errs, storage.ErrConflict)
		}},
		{"concurrent writers do not spoil each other", func(t *testing.T, s storage.Store) {
			// Half the writers fail (a taken signature) while the other half succeed; a backend
			// that commits concurrent requests together must keep their outcomes apart.
			for i := range racers {
				if i%2 == 1 {
					create(t, s, token(storage.AccessToken, fmt.Sprintf("t%d", i), "old"))
				}
			}
			errs := race(racers, func(i int) error {
				return s.Apply(t.Context(),
					storage.CreateToken{Token: token(storage.RefreshToken, fmt.Sprintf("side-%d", i), "new")},
					storage.CreateToken{Token: token(storage.AccessToken, fmt.Sprintf("t%d", i), "new")},
				)
			})
			for i, err := range errs {
				if i%2 == 0 {
					wantErr(t, fmt.Sprintf("writer %d", i), err, nil)
					getToken(t, s, storage.RefreshToken, fmt.Sprintf("side-%d", i))
					if got := getToken(t, s, storage.AccessToken, fmt.Sprintf("t%d", i)); got.Request.ID != "new" {
						t.Errorf("writer %d: token of request %s", i, got.Request.ID)
					}
				} else {
					wantErr(t, fmt.Sprintf("writer %d", i), err, storage.ErrConflict)
					wantNoToken(t, s, storage.RefreshToken, fmt.Sprintf("side-%d", i))
					if got := getToken(t, s, storage.AccessToken, fmt.Sprintf("t%d", i)); got.Request.ID != "old" {
						t.Errorf("writer %d: token overwritten by request %s", i, got.Request.ID)
					}
				}
			}
		}},
		{"every method concurrently", func(t *testing.T, s storage.Store) {
			// Readers and writers of every kind at once: nothing fails, nothing is lost.
			errs := race(racers, func(i int) error {
				ctx := t.Context()
				sig := fmt.Sprintf("t%d", i)
				steps := []func() error{
					func() error { return s.Apply(ctx, storage.CreateToken{Token: token(storage.RefreshToken, sig, sig)}) },
					func() error { _, err := s.GetToken(ctx, storage.RefreshToken, sig); return err },
					func() error {
						return s.Apply(ctx, storage.RotateRefreshToken{Signature: sig, At: time.Now()},
							storage.CreateToken{Token: token(storage.RefreshToken, sig+"'", sig)})
					},
					func() error { return s.Apply(ctx, storage.RevokeRequest{Kind: storage.RefreshToken, RequestID: sig}) },
					func() error { return s.Apply(ctx, storage.UseJTI{JTI: sig, ExpiresAt: time.Now().Add(time.Hour)}) },
					func() error { return s.CreateUser(ctx, user(sig, "user-"+sig)) },
					func() error { _, err := s.GetUserByUsername(ctx, "user-"+sig); return err },
					func() error {
						u := user(sig, "user-"+sig)
						u.Disabled = true
						return s.UpdateUser(ctx, u)
					},
					func() error { _, err := s.ListUsers(ctx); return err },
					func() error {
						return s.SaveConsent(ctx, storage.Consent{Subject: sig, ClientID: "c" + sig, Resource: "r", Scopes: []string{"a"}, GrantedAt: time.Now()})
					},
					func() error { _, err := s.GetConsent(ctx, sig, "c"+sig, "r"); return err },
					func() error { _, err := s.DeleteClientConsents(ctx, "c"+sig); return err },
					func() error {
						return s.SaveSession(ctx, storage.BrowserSession{ID: sig, Data: []byte(sig), ExpiresAt: time.Now().Add(time.Hour)})
					},
					func() error { _, err := s.GetSession(ctx, sig); return err },
					func() error { return s.DeleteSession(ctx, sig) },
					func() error {
						return s.CreateSigningKey(ctx, storage.SigningKey{ID: sig, Algorithm: "ES256", EncryptedPrivateKey: []byte(sig), CreatedAt: time.Now()})
					},
					func() error { _, err := s.ListSigningKeys(ctx); return err },
					func() error { return s.DeleteSigningKey(ctx, sig) },
					func() error { _, err := s.DeleteExpired(ctx, time.Now()); return err },
				}
				for j, step := range steps {
					if err := step(); err != nil {
						return fmt.Errorf("step %d: %w", j, err)
					}
				}
				return nil
			})
			for i, err := range errs {
				if err != nil {
					t.Errorf("goroutine %d: %v", i, err)
				}
			}
			users, err := s.ListUsers(t.Context())
			wantErr(t, "ListUsers", err, nil)
			if len(users) != racers {
				t.Errorf("ListUsers: %d users, want %d", len(users), racers)
			}
			for _, u := range users {
				if !u.Disabled {
					t.Errorf("user %s: update lost", u.ID)
				}
			}
		}},
	}
}
