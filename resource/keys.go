package resource

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

const (
	// maxDocumentSize bounds every JSON document read from the authorization server.
	maxDocumentSize = 1 << 20
	// keysMaxAge is how old a key set may grow before a background refresh, so that a key the
	// authorization server has withdrawn stops verifying even if no unknown kid ever arrives.
	keysMaxAge = time.Hour
	// minRSABits refuses RSA keys too short to trust (RFC 7518 §3.3 asks for 2048).
	minRSABits = 2048
)

// authorizationServerMetadata is what we read of RFC 8414 metadata.
type authorizationServerMetadata struct {
	Issuer                string `json:"issuer"`
	JWKSURI               string `json:"jwks_uri"`
	IntrospectionEndpoint string `json:"introspection_endpoint"`
}

// discovery fetches the issuer's metadata once. A failure is remembered for retryAfter so that
// an unreachable authorization server is not asked again on every request.
type discovery struct {
	v          *Verifier
	retryAfter time.Duration

	mu       sync.Mutex
	md       *authorizationServerMetadata
	err      error
	failedAt time.Time
}

func (d *discovery) metadata(ctx context.Context) (*authorizationServerMetadata, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.md != nil {
		return d.md, nil
	}
	if d.err != nil && d.v.now().Sub(d.failedAt) < d.retryAfter {
		return nil, d.err
	}
	md, err := d.fetch(ctx)
	if err != nil {
		d.err, d.failedAt = err, d.v.now()
		d.v.log.Warn("resource: authorization server metadata unavailable", "issuer", d.v.issuer, "err", err)
		return nil, err
	}
	d.md, d.err = md, nil
	return md, nil
}

func (d *discovery) fetch(ctx context.Context) (*authorizationServerMetadata, error) {
	// RFC 8414 §3.1: the well-known segment goes between host and path, the path's
	// terminating slash removed.
	u, err := url.Parse(d.v.issuer)
	if err != nil {
		return nil, err
	}
	u.Path = "/.well-known/oauth-authorization-server" + strings.TrimSuffix(u.Path, "/")
	u.RawPath = ""
	var md authorizationServerMetadata
	if err := d.v.getJSON(ctx, u.String(), &md); err != nil {
		return nil, err
	}
	// RFC 8414 §3.3: metadata naming another issuer MUST NOT be used.
	if md.Issuer != d.v.issuer {
		return nil, fmt.Errorf("metadata at %s names issuer %q", u, md.Issuer)
	}
	return &md, nil
}

// getJSON GETs a JSON document from the authorization server: 200 only, size-limited.
func (v *Verifier) getJSON(ctx context.Context, target string, into any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := v.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return decodeResponse(resp, into)
}

func decodeResponse(resp *http.Response, into any) error {
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: %s", resp.Request.Method, resp.Request.URL, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxDocumentSize+1))
	if err != nil {
		return fmt.Errorf("%s %s: %w", resp.Request.Method, resp.Request.URL, err)
	}
	if len(body) > maxDocumentSize {
		return fmt.Errorf("%s %s: response larger than %d bytes", resp.Request.Method, resp.Request.URL, maxDocumentSize)
	}
	if err := json.Unmarshal(body, into); err != nil {
		return fmt.Errorf("%s %s: %w", resp.Request.Method, resp.Request.URL, err)
	}
	return nil
}

// keySet is the authorization server's JWKS, fetched on demand. Lookups read an immutable map
// without locking; fetches are single-flight (concurrent callers share one) and happen at
// most once per minInterval, so a flood of tokens with made-up kids costs the authorization
// server one request per interval.
type keySet struct {
	v           *Verifier
	jwksURL     string // configured; empty means discover
	minInterval time.Duration

	current atomic.Pointer[keyMap]

	mu        sync.Mutex
	lastFetch time.Time // when the last fetch started
	inflight  *keyFetch
}

type keyMap struct {
	byID    map[string]verificationKey
	fetched time.Time
}

type verificationKey struct {
	key crypto.PublicKey // *ecdsa.PublicKey or *rsa.PublicKey
	alg string           // the JWK's alg; empty when it names none
}

type keyFetch struct {
	done chan struct{}
	err  error // set before done is closed
}

// lookup returns the key with id kid, fit for alg, fetching the key set if kid is unknown.
func (s *keySet) lookup(ctx context.Context, kid string, alg *algorithm) (crypto.PublicKey, error) {
	if km := s.current.Load(); km != nil {
		if k, ok := km.byID[kid]; ok {
			if s.v.now().Sub(km.fetched) > keysMaxAge {
				s.refresh(ctx) // in the background; this token is checked with what we have
			}
			return k.fitFor(alg)
		}
	}

	// RFC 7517 §4.5, RFC 7515 §4.1.4: an unknown kid may be a key the authorization server
	// has just rotated in, so look again, within the rate limit.
	f := s.refresh(ctx)
	if f != nil {
		select {
		case <-f.done:
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: waiting for signing keys: %w", ErrUnavailable, ctx.Err())
		}
	}
	km := s.current.Load()
	if km != nil {
		if k, ok := km.byID[kid]; ok {
			return k.fitFor(alg)
		}
	}
	switch {
	case f != nil && f.err != nil:
		return nil, fmt.Errorf("%w: fetching signing keys: %w", ErrUnavailable, f.err)
	case km == nil:
		return nil, fmt.Errorf("%w: signing keys not fetched yet", ErrUnavailable)
	}
	return nil, invalidToken("unknown signing key")
}

func (k verificationKey) fitFor(alg *algorithm) (crypto.PublicKey, error) {
	if k.alg != "" && k.alg != alg.name {
		return nil, invalidToken("signing key is not for " + alg.name)
	}
	switch key := k.key.(type) {
	case *ecdsa.PublicKey:
		if alg.curve != nil && key.Curve == alg.curve {
			return key, nil
		}
	case *rsa.PublicKey:
		if alg.curve == nil {
			return key, nil
		}
	}
	return nil, invalidToken("signing key is not for " + alg.name)
}

// refresh starts a fetch unless one is running (then it returns that one) or the last one
// started less than minInterval ago (then it returns nil).
func (s *keySet) refresh(ctx context.Context) *keyFetch {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inflight != nil {
		return s.inflight
	}
	now := s.v.now()
	if !s.lastFetch.IsZero() && now.Sub(s.lastFetch) < s.minInterval {
		return nil
	}
	s.lastFetch = now
	f := &keyFetch{done: make(chan struct{})}
	s.inflight = f
	// The fetch serves every waiting request, so it must not die with the one that started it.
	go s.run(context.WithoutCancel(ctx), f)
	return f
}

func (s *keySet) run(ctx context.Context, f *keyFetch) {
	ctx, cancel := context.WithTimeout(ctx, DefaultHTTPTimeout)
	defer cancel()
	km, err := s.load(ctx)
	if err != nil {
		s.v.log.Warn("resource: signing keys unavailable", "issuer", s.v.issuer, "err", err)
	} else {
		s.current.Store(km)
		s.v.log.Info("resource: signing keys fetched", "issuer", s.v.issuer, "keys", len(km.byID))
	}
	s.mu.Lock()
	s.inflight = nil
	s.mu.Unlock()
	f.err = err
	close(f.done)
}

func (s *keySet) load(ctx context.Context) (*keyMap, error) {
	target := s.jwksURL
	if target == "" {
		md, err := s.v.discovery.metadata(ctx)
		if err != nil {
			return nil, err
		}
		if _, err := checkFetchURL("jwks_uri", md.JWKSURI, s.v.allowHTTP); err != nil {
			return nil, err
		}
		target = md.JWKSURI
	}
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := s.v.getJSON(ctx, target, &set); err != nil {
		return nil, err
	}
	km := &keyMap{byID: make(map[string]verificationKey, len(set.Keys)), fetched: s.v.now()}
	for _, raw := range set.Keys {
		// One key at a time, so that a key type we do not know (or a broken key) costs that
		// key, not the whole set.
		var jwk jose.JSONWebKey
		if err := jwk.UnmarshalJSON(raw); err != nil {
			s.v.log.Debug("resource: skipping JWK", "err", err)
			continue
		}
		if !jwk.IsPublic() {
			s.v.log.Error("resource: JWKS publishes a private key; ignoring it", "kid", jwk.KeyID)
			continue
		}
		if jwk.KeyID == "" || (jwk.Use != "" && jwk.Use != "sig") {
			continue
		}
		if _, dup := km.byID[jwk.KeyID]; dup {
			continue
		}
		switch key := jwk.Key.(type) {
		case *ecdsa.PublicKey:
		case *rsa.PublicKey:
			if key.N.BitLen() < minRSABits {
				continue
			}
		default:
			continue
		}
		km.byID[jwk.KeyID] = verificationKey{key: jwk.Key, alg: jwk.Algorithm}
	}
	if len(km.byID) == 0 {
		return nil, errors.New("JWKS at " + target + " has no usable signing keys")
	}
	return km, nil
}
