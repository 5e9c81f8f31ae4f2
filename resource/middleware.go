package resource

import (
	"net/http"
	"slices"
)

// Protect returns a handler that lets a request through to next only with a valid access token
// granting every one of scopes; next finds the token with [TokenFrom]. Otherwise it answers
// with the challenge of [Verifier.ChallengeFor]: 401 without an error code when there is no
// token, 401 invalid_token, 403 insufficient_scope, 400 invalid_request for a malformed
// header, or 503 when the authorization server cannot be reached.
//
// Put CORS handling in front of it: a browser's preflight request carries no token, and a
// browser-based client can read the challenge only if WWW-Authenticate is exposed
// (Access-Control-Expose-Headers).
func (v *Verifier) Protect(next http.Handler, scopes ...string) http.Handler {
	scopes = slices.Clone(scopes)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, err := v.authorize(r, scopes)
		if err != nil {
			v.ChallengeFor(err, scopes...).ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r.WithContext(ContextWithToken(r.Context(), tok)))
	})
}

// Require is [Verifier.Protect] as middleware, for routers that chain them.
func (v *Verifier) Require(scopes ...string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler { return v.Protect(next, scopes...) }
}

func (v *Verifier) authorize(r *http.Request, scopes []string) (*Token, error) {
	raw, err := BearerToken(r)
	if err != nil {
		return nil, err
	}
	tok, err := v.Verify(r.Context(), raw)
	if err != nil {
		return nil, err
	}
	if err := tok.Require(scopes...); err != nil {
		return nil, err
	}
	return tok, nil
}
