package enterprise

import "errors"

// OAuth error codes an [Error] carries (RFC 6749 §5.2, RFC 8707 §2).
const (
	CodeInvalidGrant       = "invalid_grant"
	CodeInvalidTarget      = "invalid_target"
	CodeInvalidScope       = "invalid_scope"
	CodeUnauthorizedClient = "unauthorized_client"
)

// Reasons an assertion is refused; an [Error] wraps one, for errors.Is.
var (
	ErrMalformed        = errors.New("malformed assertion")
	ErrType             = errors.New("wrong assertion type")
	ErrAlgorithm        = errors.New("algorithm not accepted")
	ErrUntrustedIssuer  = errors.New("untrusted issuer")
	ErrSignature        = errors.New("signature does not verify")
	ErrAudience         = errors.New("wrong audience")
	ErrExpired          = errors.New("assertion expired")
	ErrNotYetValid      = errors.New("assertion not valid yet")
	ErrLifetime         = errors.New("assertion lifetime too long")
	ErrMissingClaim     = errors.New("required claim missing")
	ErrClientMismatch   = errors.New("client_id is not the authenticated client")
	ErrClientNotAllowed = errors.New("client not allowed by the identity provider's policy")
	ErrResource         = errors.New("resource refused")
	ErrScope            = errors.New("no scope can be granted")
	ErrUserDisabled     = errors.New("user disabled")
)

// Error is a refusal the token endpoint answers with an OAuth error. Its description is safe to
// send to the client: it says which check failed, not what the policy is.
type Error struct {
	Code        string
	Description string
	// Reason is one of the Err… values above.
	Reason error
}

func (e *Error) Error() string            { return e.Code + ": " + e.Description }
func (e *Error) Unwrap() error            { return e.Reason }
func (e *Error) ErrorCode() string        { return e.Code }
func (e *Error) ErrorDescription() string { return e.Description }

func refuse(code string, reason error, description string) *Error {
	return &Error{Code: code, Description: description, Reason: reason}
}

func invalidGrant(reason error, description string) *Error {
	return refuse(CodeInvalidGrant, reason, description)
}
