package storagetest

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcp-authz/mcp-authz/storage"
)

// RunBenchmarks measures the two writes on the token endpoint's hot path, from many goroutines at
// once. open must return a new, empty store each time it is called and close it when b ends.
//
// Each benchmark runs at parallelism 1 (GOMAXPROCS goroutines) and 16 (16×GOMAXPROCS): an HTTP
// server has many more requests in flight than it has CPUs, since each spends most of its time
// waiting for the disk, and a backend that commits concurrent requests together shows it there.
// Besides ns/op, each reports ops/s.
func RunBenchmarks(b *testing.B, open func(b *testing.B) storage.Store) {
	// How the keys of a machine token are made: both random (token hash, random request ID, as
	// before internal/tokenkey), the request ID ordered by time, or both (tokenkey's keys).
	for _, keys := range []string{"random", "ordered-request", "ordered"} {
		b.Run("MachineToken/keys="+keys+"/p16", func(b *testing.B) {
			benchMachineToken(b, open(b), 16, keys != "random", keys == "ordered")
		})
	}
	for _, p := range []int{1, 16} {
		b.Run(fmt.Sprintf("CodeRedemption/p%d", p), func(b *testing.B) {
			benchRedeem(b, open(b), p)
		})
	}
	for _, p := range []int{1, 16} {
		b.Run(fmt.Sprintf("RefreshRotation/p%d", p), func(b *testing.B) {
			benchRotate(b, open(b), p)
		})
	}
}

// benchToken is a token of realistic size: a fosite session serializes to several hundred bytes.
func benchToken(kind storage.TokenKind, signature string) storage.Token {
	t := token(kind, signature, "req-"+signature)
	t.Request.Session = []byte(`{"subject":"user-7f3a","claims":{"extra":"` + strings.Repeat("x", 600) + `"}}`)
	return t
}

// seed creates n tokens named prefix-0 … prefix-(n-1), many per Apply, so that setting up costs
// little next to the measured work.
func seed(b *testing.B, s storage.Store, kind storage.TokenKind, prefix string, n int) {
	b.Helper()
	changes := make([]storage.Change, 0, 500)
	flush := func() {
		if err := s.Apply(b.Context(), changes...); err != nil {
			b.Fatalf("seed: %v", err)
		}
		changes = changes[:0]
	}
	for i := range n {
		changes = append(changes, storage.CreateToken{Token: benchToken(kind, fmt.Sprintf("%s-%d", prefix, i))})
		if len(changes) == cap(changes) {
			flush()
		}
	}
	flush()
}

// benchRedeem: the authorization code grant. Read the code, then in one transaction use it up and
// store the access and refresh tokens.
func benchRedeem(b *testing.B, s storage.Store, parallelism int) {
	seed(b, s, storage.AuthorizationCode, "code", b.N)
	var next atomic.Int64
	b.SetParallelism(parallelism)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		ctx := b.Context()
		for pb.Next() {
			i := next.Add(1) - 1
			code := fmt.Sprintf("code-%d", i)
			if _, err := s.GetToken(ctx, storage.AuthorizationCode, code); err != nil {
				b.Errorf("GetToken: %v", err)
				return
			}
			err := s.Apply(ctx,
				storage.DeactivateToken{Kind: storage.AuthorizationCode, Signature: code},
				storage.CreateToken{Token: benchToken(storage.AccessToken, fmt.Sprintf("access-%d", i))},
				storage.CreateToken{Token: benchToken(storage.RefreshToken, fmt.Sprintf("refresh-%d", i))},
			)
			if err != nil {
				b.Errorf("Apply: %v", err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}

// benchRotate: the refresh token grant. Read the refresh token, then in one transaction rotate it
// and store its successors.
func benchRotate(b *testing.B, s storage.Store, parallelism int) {
	seed(b, s, storage.RefreshToken, "old", b.N)
	var next atomic.Int64
	b.SetParallelism(parallelism)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		ctx := b.Context()
		for pb.Next() {
			i := next.Add(1) - 1
			old := fmt.Sprintf("old-%d", i)
			if _, err := s.GetToken(ctx, storage.RefreshToken, old); err != nil {
				b.Errorf("GetToken: %v", err)
				return
			}
			err := s.Apply(ctx,
				storage.RotateRefreshToken{Signature: old, At: time.Now(), Grace: 10 * time.Second},
				storage.CreateToken{Token: benchToken(storage.AccessToken, fmt.Sprintf("access-%d", i))},
				storage.CreateToken{Token: benchToken(storage.RefreshToken, fmt.Sprintf("new-%d", i))},
			)
			if err != nil {
				b.Errorf("Apply: %v", err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}

// benchMachineToken: the client credentials grant's only write, one access token with no session
// and a fresh request ID. orderedRequest: the request ID begins with the time; orderedKey: so does
// the token's key, as tokenkey makes them (the time in hex, then the hash).
func benchMachineToken(b *testing.B, s storage.Store, parallelism int, orderedRequest, orderedKey bool) {
	var next atomic.Int64
	b.SetParallelism(parallelism)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		ctx := b.Context()
		for pb.Next() {
			i := next.Add(1)
			var rnd [16]byte
			_, _ = rand.Read(rnd[:])
			sig := sha256.Sum256(rnd[:])
			id := base64.RawURLEncoding.EncodeToString(rnd[:])
			if orderedRequest {
				id = fmt.Sprintf("%016x", time.Now().UnixNano()) + id[:10]
			}
			now := time.Now()
			sigs := base64.RawURLEncoding.EncodeToString(sig[:])
			if orderedKey {
				sigs = id[:16] + "." + sigs
			}
			t := storage.Token{Kind: storage.AccessToken, Signature: sigs, Active: true,
				ExpiresAt: now.Add(time.Hour), Request: storage.Request{ID: id, ClientID: "ci-deploy", Subject: "ci-deploy",
					RequestedAt: now, GrantedScopes: []string{"mcp:tools"}, GrantedAudience: []string{"https://mcp.example/files"}}}
			if err := s.Apply(ctx, storage.CreateToken{Token: t}); err != nil {
				b.Errorf("Apply %d: %v", i, err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}
