package resource

import (
	"context"
	"crypto/sha256"
	"time"
)

// Verify validates a raw access token for this resource and returns what it says. The error
// wraps [ErrInvalidToken] for a token to refuse, [ErrUnavailable] when the authorization
// server could not be reached to decide. Verify does not check scopes; see [Token.Require].
//
// A token seen before and not yet expired is answered from memory without another signature
// check (or introspection call, if Introspection.CacheFor allows).
func (v *Verifier) Verify(ctx context.Context, raw string) (*Token, error) {
	switch {
	case raw == "":
		return nil, invalidToken("empty token")
	case len(raw) > maxTokenSize:
		return nil, invalidToken("token too large")
	}
	now := v.now()
	var key [32]byte
	if v.cache != nil {
		key = sha256.Sum256([]byte(raw))
		if tok := v.cache.get(&key, now); tok != nil {
			return tok, nil
		}
	}

	var (
		tok   *Token
		until time.Time
		err   error
	)
	if v.introspect != nil {
		tok, until, err = v.introspect.verify(ctx, raw, now)
	} else {
		tok, err = v.verifyJWT(ctx, raw, now)
		if tok != nil {
			until = tok.Expiry
		}
	}
	if err != nil {
		return nil, err
	}
	if v.cache != nil {
		v.cache.put(&key, tok, until, now)
	}
	return tok, nil
}
