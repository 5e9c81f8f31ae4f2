package safehttp

import (
	"errors"
	"fmt"
	"net/netip"
)

// Each refusal wraps one of these, so a caller can tell with errors.Is which rule failed. None of
// the errors this package returns contain more of a response than its status line.
var (
	// ErrBadURL: the URL is not an absolute https URL with a host and without userinfo.
	ErrBadURL = errors.New("safehttp: URL refused")
	// ErrBlockedAddress: a name resolved to, or a URL named, a special-use address. The error
	// is an [*AddrError] saying which address and range.
	ErrBlockedAddress = errors.New("safehttp: special-use address refused")
	// ErrStatus: the response status was not 200. The error is a [*StatusError].
	ErrStatus = errors.New("safehttp: response status is not 200")
	// ErrRedirect: the response was a redirect, which is never followed. It is also ErrStatus.
	ErrRedirect = errors.New("safehttp: redirect not followed")
	// ErrContentType: the response's media type is not one the caller accepts.
	ErrContentType = errors.New("safehttp: unexpected content type")
	// ErrTooLarge: the body is larger than the limit.
	ErrTooLarge = errors.New("safehttp: response body too large")
	// ErrTimeout: the fetch did not finish within the time limit.
	ErrTimeout = errors.New("safehttp: time limit exceeded")
	// ErrRateLimited: too many recent requests to this host; nothing was sent.
	ErrRateLimited = errors.New("safehttp: outbound rate limit for host exceeded")
)

// AddrError reports a connection refused because the address is special-use.
type AddrError struct {
	Host  string     // the host name that was resolved, or the IP literal from the URL
	Addr  netip.Addr // the address refused
	Range string     // the special-use range it is in, as [SpecialUse] names it
}

func (e *AddrError) Error() string {
	if e.Host == "" || e.Host == e.Addr.String() {
		return fmt.Sprintf("safehttp: refusing to connect to %s: %s", e.Addr, e.Range)
	}
	return fmt.Sprintf("safehttp: refusing to connect to %s (%s): %s", e.Host, e.Addr, e.Range)
}

// Is makes errors.Is(err, ErrBlockedAddress) true.
func (e *AddrError) Is(target error) bool { return target == ErrBlockedAddress }

// StatusError reports a response whose status was not 200.
type StatusError struct {
	Code int
	// Location is the Location header of a redirect, cut to 200 bytes, for the log; it is
	// never followed.
	Location string
}

func (e *StatusError) Error() string {
	if e.Location != "" {
		return fmt.Sprintf("safehttp: status %d (redirect to %q not followed)", e.Code, e.Location)
	}
	return fmt.Sprintf("safehttp: status %d, want 200", e.Code)
}

// Is makes errors.Is(err, ErrStatus) true, and errors.Is(err, ErrRedirect) true for a 3xx.
func (e *StatusError) Is(target error) bool {
	return target == ErrStatus || (target == ErrRedirect && e.Code >= 300 && e.Code < 400)
}

// excerpt cuts s to at most n bytes for a log line.
func excerpt(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
