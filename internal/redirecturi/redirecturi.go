package redirecturi

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// ErrInvalid is wrapped by every error [Check] returns.
var ErrInvalid = errors.New("invalid redirect URI")

// Check reports whether uri may be registered as a redirect URI:
//
//   - it is absolute, made only of the characters RFC 3986 allows (no spaces, no backslash,
//     non-ASCII percent-encoded), with a lower-case scheme, and has no fragment (RFC 6749
//     §3.1.2, OAuth 2.1 §2.3.1) and no userinfo;
//   - https URIs have a host;
//   - http URIs are allowed only on the loopback hosts 127.0.0.1, [::1] and localhost, for native
//     apps (RFC 8252 §7.3 and §8.3; OAuth 2.1 §2.3.1 forbids http otherwise);
//   - any other scheme is taken as a native app's private-use scheme, and must then be a
//     reverse domain name such as com.example.app (RFC 8252 §7.1: "MUST use a URI scheme based
//     on a domain name under their control, expressed in reverse order"). Requiring the dot
//     also keeps out every scheme with a meaning of its own: javascript:, data:, file:,
//     vbscript:, about:, blob:.
//
// Check does not bound the length; callers do, each with its own limit.
func Check(uri string) error {
	if uri == "" {
		return fmt.Errorf("%w: empty", ErrInvalid)
	}
	if i := strings.IndexFunc(uri, notURIChar); i >= 0 {
		return fmt.Errorf("%w: character %q at %d is not allowed in a URI (RFC 3986 §2)", ErrInvalid, uri[i], i)
	}
	if strings.Contains(uri, "#") {
		return fmt.Errorf("%w: has a fragment (RFC 6749 §3.1.2)", ErrInvalid)
	}
	u, err := url.Parse(uri)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if u.Scheme == "" {
		return fmt.Errorf("%w: not absolute", ErrInvalid)
	}
	if !strings.HasPrefix(uri, u.Scheme+":") {
		return fmt.Errorf("%w: scheme must be lower case", ErrInvalid)
	}
	if u.User != nil {
		return fmt.Errorf("%w: has userinfo", ErrInvalid)
	}
	switch u.Scheme {
	case "https":
		if u.Hostname() == "" {
			return fmt.Errorf("%w: https URI without a host", ErrInvalid)
		}
		if p := u.Port(); p != "" && !validPort(p) {
			return fmt.Errorf("%w: bad port %q", ErrInvalid, p)
		}
	case "http":
		if !IsLoopback(uri) {
			return fmt.Errorf("%w: http is allowed only on the loopback hosts 127.0.0.1, [::1] and localhost (RFC 8252 §7.3)", ErrInvalid)
		}
	default:
		if !strings.Contains(u.Scheme, ".") {
			return fmt.Errorf("%w: scheme %q: a native app's private-use scheme must be a reverse domain name like com.example.app (RFC 8252 §7.1)", ErrInvalid, u.Scheme)
		}
	}
	return nil
}

// Match reports whether requested is one of registered: exactly the same string, or, for an
// http URI on a loopback host, the same string but for the port (RFC 8252 §7.3). The loopback
// host itself must be the same: a registered http://127.0.0.1/cb does not match
// http://localhost:5000/cb.
func Match(registered []string, requested string) bool {
	for _, r := range registered {
		if r == requested {
			return true
		}
	}
	host, rest, ok := splitLoopback(requested)
	if !ok {
		return false
	}
	for _, r := range registered {
		if h, rr, ok := splitLoopback(r); ok && h == host && rr == rest {
			return true
		}
	}
	return false
}

// IsLoopback reports whether uri is an http URI on 127.0.0.1, [::1] or localhost, the kind whose
// port may vary and whose code is delivered to a program on the user's own machine.
func IsLoopback(uri string) bool {
	_, _, ok := splitLoopback(uri)
	return ok
}

// splitLoopback splits an http URI on a loopback host into the host and everything after the
// port. It works on the string rather than on a parsed URL so that what is compared is exactly
// what was written, with no normalisation in between.
func splitLoopback(uri string) (host, rest string, ok bool) {
	s, found := strings.CutPrefix(uri, "http://")
	if !found {
		return "", "", false
	}
	end := strings.IndexAny(s, "/?#")
	if end < 0 {
		end = len(s)
	}
	authority, rest := s[:end], s[end:]
	if strings.Contains(rest, "#") {
		return "", "", false
	}
	host, port, hasPort := authority, "", false
	if i := strings.LastIndexByte(authority, ':'); i >= 0 && !strings.HasSuffix(authority, "]") {
		host, port, hasPort = authority[:i], authority[i+1:], true
	}
	if hasPort && !validPort(port) {
		return "", "", false
	}
	switch host {
	case "127.0.0.1", "[::1]", "localhost":
		return host, rest, true
	}
	return "", "", false
}

// validPort accepts a decimal port number up to 65535.
func validPort(p string) bool {
	if p == "" || len(p) > 5 {
		return false
	}
	for _, c := range p {
		if c < '0' || c > '9' {
			return false
		}
	}
	n, err := strconv.Atoi(p)
	return err == nil && n <= 65535
}

// notURIChar reports a rune that may not appear in a URI: anything outside RFC 3986's
// unreserved and reserved characters and "%".
func notURIChar(r rune) bool {
	switch {
	case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9':
		return false
	}
	return !strings.ContainsRune("-._~:/?#[]@!$&'()*+,;=%", r)
}
