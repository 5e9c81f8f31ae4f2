package jwtverify

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// Key is a public key from a JWK Set.
type Key struct {
	ID     string
	Alg    string // the JWK's "alg", if it declared one
	Public any    // *ecdsa.PublicKey, *rsa.PublicKey or ed25519.PublicKey
}

// fits reports whether the key may have signed a token with this header.
func (k Key) fits(h Header) bool {
	if h.Kid != "" && k.ID != h.Kid {
		return false
	}
	if k.Alg != "" && k.Alg != h.Alg {
		return false
	}
	switch k.Public.(type) {
	case *ecdsa.PublicKey:
		return h.Alg == "ES256" || h.Alg == "ES384"
	case *rsa.PublicKey:
		return h.Alg == "RS256" || h.Alg == "PS256"
	case ed25519.PublicKey:
		return h.Alg == "EdDSA"
	}
	return false
}

// MaxKeys bounds the keys taken from one set.
const MaxKeys = 32

// ParseKeySet reads a JWK Set (RFC 7517 §5) and keeps the public signing keys: a key without
// "use" counts as a signing key (requirements §6); "use":"enc" keys, private keys and symmetric
// keys are skipped, so that a JWKS that leaks a private or shared key cannot be used to verify.
func ParseKeySet(data []byte) ([]Key, error) {
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("the key set is not a JWK Set: %w", err)
	}
	var keys []Key
	for _, k := range set.Keys {
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		if !k.IsPublic() {
			continue
		}
		switch k.Key.(type) {
		case *ecdsa.PublicKey, *rsa.PublicKey, ed25519.PublicKey:
		default:
			continue
		}
		keys = append(keys, Key{ID: k.KeyID, Alg: k.Algorithm, Public: k.Key})
		if len(keys) == MaxKeys {
			break
		}
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("the key set has no public signing key")
	}
	return keys, nil
}

// KeySet gives the keys that may verify a token.
type KeySet interface {
	// Keys returns the current keys. For a token whose kid is not among them, a remote set
	// re-fetches (at a bounded rate) before answering.
	Keys(ctx context.Context, kid string) ([]Key, error)
}

// StaticKeySet is a key set given inline.
type StaticKeySet []Key

// NewStaticKeySet parses an inline JWK Set.
func NewStaticKeySet(data []byte) (StaticKeySet, error) { return ParseKeySet(data) }

func (s StaticKeySet) Keys(context.Context, string) ([]Key, error) { return s, nil }

// Fetcher fetches a JWK Set document; *safehttp.Client's Get, adapted, is the one in use.
type Fetcher func(ctx context.Context, url string) ([]byte, error)

// RemoteKeySet is a jwks_uri: fetched on first use, kept for MaxAge, and re-fetched early when a
// token names a kid it does not have, but at most once per MinRefetch, so that tokens with made-up
// kids cannot make us hammer the key server. Concurrent fetches collapse into one.
type RemoteKeySet struct {
	url        string
	fetch      Fetcher
	maxAge     time.Duration
	minRefetch time.Duration
	now        func() time.Time

	mu        sync.Mutex
	keys      []Key
	fetchedAt time.Time // last successful fetch
	triedAt   time.Time // last attempt
	lastErr   error
	inflight  *sync.WaitGroup
}

// NewRemoteKeySet returns a key set for url; maxAge 0 means an hour, minRefetch 0 ten seconds.
func NewRemoteKeySet(url string, fetch Fetcher, maxAge, minRefetch time.Duration, now func() time.Time) *RemoteKeySet {
	if maxAge <= 0 {
		maxAge = time.Hour
	}
	if minRefetch <= 0 {
		minRefetch = 10 * time.Second
	}
	if now == nil {
		now = time.Now
	}
	return &RemoteKeySet{url: url, fetch: fetch, maxAge: maxAge, minRefetch: minRefetch, now: now}
}

func (r *RemoteKeySet) Keys(ctx context.Context, kid string) ([]Key, error) {
	r.mu.Lock()
	now := r.now()
	fresh := r.keys != nil && now.Sub(r.fetchedAt) < r.maxAge
	if fresh && (kid == "" || hasKid(r.keys, kid)) {
		keys := r.keys
		r.mu.Unlock()
		return keys, nil
	}
	// Stale, empty, or an unknown kid: fetch, unless we tried too recently.
	if !r.triedAt.IsZero() && now.Sub(r.triedAt) < r.minRefetch {
		keys, err := r.keys, r.lastErr
		r.mu.Unlock()
		if keys != nil {
			return keys, nil
		}
		return nil, fmt.Errorf("%w: %v", ErrKeysUnusable, err)
	}
	if wg := r.inflight; wg != nil {
		r.mu.Unlock()
		wg.Wait()
		r.mu.Lock()
		keys, err := r.keys, r.lastErr
		r.mu.Unlock()
		if keys != nil {
			return keys, nil
		}
		return nil, fmt.Errorf("%w: %v", ErrKeysUnusable, err)
	}
	wg := new(sync.WaitGroup)
	wg.Add(1)
	r.inflight = wg
	r.triedAt = now
	r.mu.Unlock()

	data, err := r.fetch(context.WithoutCancel(ctx), r.url)
	var keys []Key
	if err == nil {
		keys, err = ParseKeySet(data)
	}

	r.mu.Lock()
	if err == nil {
		r.keys, r.fetchedAt, r.lastErr = keys, r.now(), nil
	} else {
		r.lastErr = err
	}
	keys, r.inflight = r.keys, nil
	r.mu.Unlock()
	wg.Done()
	if keys == nil {
		return nil, fmt.Errorf("%w: %v", ErrKeysUnusable, err)
	}
	return keys, nil
}

func hasKid(keys []Key, kid string) bool {
	for _, k := range keys {
		if k.ID == kid {
			return true
		}
	}
	return false
}
