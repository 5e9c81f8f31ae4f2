package cimd

import (
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// IsURL reports whether clientID should be handed to [Resolver.Resolve] rather than looked up
// among registered clients: whether it begins with an http or https scheme, in any case. An
// http client_id is included on purpose, so that it is refused with RuleURLScheme, which says
// what is wrong, instead of "unknown client".
func IsURL(clientID string) bool {
	return hasPrefixFold(clientID, "https://") || hasPrefixFold(clientID, "http://")
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// CheckURL applies the URL rules for a client_id without fetching anything; the error, if any,
// is an [*Error]. The rules are those of CIMD §3, made strict where the draft leaves room:
//
//   - the scheme is "https", written in lower case;
//   - there is a host, a DNS name or an IP literal, with an optional port; no userinfo (no "@" in
//     the authority at all); a DNS name has no trailing dot and its last label is not all
//     digits, so that "127.1" or "2130706433" never reach a resolver that would read them as
//     addresses, and so that host patterns in the trust policy cannot be dodged by spelling;
//   - there is a path component (at least "/"), with no "." or ".." segment, percent-encoded or
//     not;
//   - no query (CIMD §3 says SHOULD NOT; a query makes one document answer to many client_ids)
//     and no fragment;
//   - only characters RFC 3986 allows, and at most 2048 bytes (Config.MaxURLLength for a
//     Resolver).
func CheckURL(clientID string) error {
	if _, err := parseClientURL(clientID, DefaultMaxURLLength); err != nil {
		return err
	}
	return nil
}

// clientURL is what the resolver needs from a client_id that passed the rules.
type clientURL struct {
	host     string // lower-case host name or IP literal, without brackets or port
	hostPort string // lower-case host as written in the URL, with the port if there was one
}

func parseClientURL(id string, maxLen int) (clientURL, *Error) {
	if len(id) > maxLen {
		return clientURL{}, fail(id, RuleURLInvalid, "longer than %d bytes", maxLen)
	}
	rest, ok := strings.CutPrefix(id, "https://")
	if !ok {
		return clientURL{}, fail(id, RuleURLScheme, "a client_id URL must begin with https://")
	}
	if i := strings.IndexFunc(id, notURIChar); i >= 0 {
		return clientURL{}, fail(id, RuleURLInvalid, "character %q at %d is not allowed in a URL (RFC 3986 §2)", id[i], i)
	}
	if strings.Contains(id, "#") {
		return clientURL{}, fail(id, RuleURLFragment, "a client_id URL must not have a fragment")
	}
	end := strings.IndexAny(rest, "/?")
	if end < 0 {
		end = len(rest)
	}
	authority, pathQuery := rest[:end], rest[end:]
	if strings.Contains(authority, "@") {
		return clientURL{}, fail(id, RuleURLUserinfo, "a client_id URL must not carry a user name or password")
	}
	host, _, ok := splitAuthority(authority)
	if !ok {
		return clientURL{}, fail(id, RuleURLHost, "%q is not a DNS name or IP literal with an optional port", cut(authority, 100))
	}
	if !strings.HasPrefix(pathQuery, "/") {
		return clientURL{}, fail(id, RuleURLPath, "a client_id URL must have a path")
	}
	path, _, hasQuery := strings.Cut(pathQuery, "?")
	if hasQuery {
		return clientURL{}, fail(id, RuleURLQuery, "a client_id URL must not have a query")
	}
	for seg := range strings.SplitSeq(path, "/") {
		dec, err := url.PathUnescape(seg)
		if err != nil {
			return clientURL{}, fail(id, RuleURLInvalid, "bad percent-encoding in path")
		}
		if dec == "." || dec == ".." {
			return clientURL{}, fail(id, RuleURLDotSegment, "a client_id URL must not have . or .. path segments")
		}
	}
	if _, err := url.Parse(id); err != nil {
		return clientURL{}, fail(id, RuleURLInvalid, "unparseable")
	}
	host = strings.ToLower(host)
	if ip, err := netip.ParseAddr(host); err == nil {
		host = ip.String() // canonical, so that host patterns compare equal
	}
	return clientURL{host: host, hostPort: strings.ToLower(authority)}, nil
}

// splitAuthority splits host[:port] and checks both. An IPv6 literal is bracketed and has no zone.
func splitAuthority(a string) (host, port string, ok bool) {
	if strings.HasPrefix(a, "[") {
		i := strings.IndexByte(a, ']')
		if i < 0 {
			return "", "", false
		}
		host, after := a[1:i], a[i+1:]
		ip, err := netip.ParseAddr(host)
		if err != nil || !ip.Is6() || ip.Zone() != "" {
			return "", "", false
		}
		if after == "" {
			return host, "", true
		}
		port, found := strings.CutPrefix(after, ":")
		return host, port, found && validPort(port)
	}
	host, port, hasPort := strings.Cut(a, ":")
	if hasPort && !validPort(port) {
		return "", "", false
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return host, port, ip.Is4()
	}
	return host, port, validDNSName(host)
}

// validDNSName accepts letter-digit-hyphen labels of 1 to 63 bytes, at most 253 bytes in all,
// without a trailing dot, whose last label is not all digits (RFC 1123 §2.1, RFC 3696 §2).
func validDNSName(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	allDigits := false
	for label := range strings.SplitSeq(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		allDigits = true
		for _, c := range []byte(label) {
			switch {
			case '0' <= c && c <= '9':
			case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', c == '-':
				allDigits = false
			default:
				return false
			}
		}
	}
	return !allDigits
}

// validPort accepts a decimal port from 1 to 65535.
func validPort(p string) bool {
	if p == "" || len(p) > 5 || strings.TrimLeft(p, "0123456789") != "" {
		return false
	}
	n, err := strconv.Atoi(p)
	return err == nil && n >= 1 && n <= 65535
}

// notURIChar reports a rune outside RFC 3986's unreserved and reserved characters and "%".
func notURIChar(r rune) bool {
	switch {
	case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9':
		return false
	}
	return !strings.ContainsRune("-._~:/?#[]@!$&'()*+,;=%", r)
}

// checkHTTPSURL applies the rules for the other URLs of a document (client_uri, logo_uri,
// tos_uri, policy_uri, jwks_uri): https with a valid host, no userinfo, RFC 3986 characters
// only. A fragment is refused only where it would be meaningless to fetch (jwks_uri).
func checkHTTPSURL(s string, maxLen int, allowFragment bool) (string, bool) {
	switch {
	case len(s) > maxLen:
		return "longer than " + strconv.Itoa(maxLen) + " bytes", false
	case strings.IndexFunc(s, notURIChar) >= 0:
		return "has characters RFC 3986 does not allow", false
	case !strings.HasPrefix(s, "https://"):
		return "not an https URL", false
	case !allowFragment && strings.Contains(s, "#"):
		return "has a fragment", false
	}
	rest := s[len("https://"):]
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	authority := rest[:end]
	if strings.Contains(authority, "@") {
		return "has userinfo", false
	}
	if _, _, ok := splitAuthority(authority); !ok {
		return "bad host", false
	}
	if _, err := url.Parse(s); err != nil {
		return "unparseable", false
	}
	return "", true
}
