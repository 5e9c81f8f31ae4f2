package resource

import (
	"errors"
	"strings"
)

// Errors that [Verifier.Verify], [BearerToken] and [Token.Require] return, wrapped with detail.
// Test for them with [errors.Is]; [Verifier.ChallengeFor] turns any of them into the answer a
// client understands.
var (
	// ErrNoToken means the request carries no bearer token in its Authorization header. The
	// answer is a 401 challenge without an error code (RFC 6750 §3.1): the client did not know
	// it had to authenticate.
	ErrNoToken = errors.New("resource: no bearer token")

	// ErrInvalidRequest means the Authorization header is malformed: an empty bearer token,
	// characters outside RFC 6750 §2.1 b64token, or more than one Authorization header.
	ErrInvalidRequest = errors.New("resource: invalid request")

	// ErrInvalidToken means the token is not one this resource accepts: malformed, badly
	// signed, expired, issued by another server or for another audience, revoked.
	ErrInvalidToken = errors.New("resource: invalid token")

	// ErrInsufficientScope means the token is valid but lacks scopes the request needs.
	ErrInsufficientScope = errors.New("resource: insufficient scope")

	// ErrUnavailable means the token could not be checked because the authorization server's
	// metadata, keys or introspection endpoint could not be reached. It says nothing about the
	// token, so it is answered with 503, never with a challenge that would make the client
	// throw its token away.
	ErrUnavailable = errors.New("resource: authorization server unavailable")
)

// tokenError is an ErrInvalidToken with a reason that is safe to show the client in
// error_description; cause, if any, is for logs only.
type tokenError struct {
	reason string
	cause  error
}

func invalidToken(reason string) error { return &tokenError{reason: reason} }

func (e *tokenError) Error() string {
	if e.cause != nil {
		return ErrInvalidToken.Error() + ": " + e.reason + ": " + e.cause.Error()
	}
	return ErrInvalidToken.Error() + ": " + e.reason
}

func (e *tokenError) Is(target error) bool { return target == ErrInvalidToken }
func (e *tokenError) Unwrap() error        { return e.cause }

// requestError is an ErrInvalidRequest with a reason safe to show the client.
type requestError struct{ reason string }

func (e *requestError) Error() string        { return ErrInvalidRequest.Error() + ": " + e.reason }
func (e *requestError) Is(target error) bool { return target == ErrInvalidRequest }

// scopeError is an ErrInsufficientScope that remembers what the token had and what was needed,
// so that the challenge can ask for both (see [Verifier.ChallengeFor]).
type scopeError struct {
	granted  []string
	required []string
}

func (e *scopeError) Error() string {
	return ErrInsufficientScope.Error() + ": requires " + strings.Join(e.required, " ")
}

func (e *scopeError) Is(target error) bool { return target == ErrInsufficientScope }
