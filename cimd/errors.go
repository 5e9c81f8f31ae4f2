package cimd

import (
	"fmt"
	"time"
)

// Rule names the rule a client_id failed, for logs and for choosing the words of the error page.
type Rule string

// The rules. Their string values are stable: log queries and alerts may use them.
const (
	RuleDisabled Rule = "cimd_disabled" // client ID metadata documents are switched off

	// The client_id URL (CIMD §3).
	RuleURLInvalid    Rule = "url_invalid"     // unparseable, too long, or characters RFC 3986 does not allow
	RuleURLScheme     Rule = "url_scheme"      // not https
	RuleURLHost       Rule = "url_host"        // no host, or not a valid DNS name or IP literal
	RuleURLPath       Rule = "url_path"        // no path component
	RuleURLDotSegment Rule = "url_dot_segment" // a "." or ".." path segment, percent-encoded or not
	RuleURLFragment   Rule = "url_fragment"    // has a fragment
	RuleURLUserinfo   Rule = "url_userinfo"    // has user or password
	RuleURLQuery      Rule = "url_query"       // has a query (CIMD §3 SHOULD NOT; we refuse)

	// Trust policy.
	RuleHostDenied     Rule = "host_denied"      // the host matches the deny-list
	RuleHostNotAllowed Rule = "host_not_allowed" // an allow-list is set and the host is not on it

	// Fetching (CIMD-01 §4, §6.5, §6.6).
	RuleRetryLater     Rule = "retry_later"     // recent fetches failed; not fetched again before Error.RetryAfter
	RuleRateLimited    Rule = "rate_limited"    // too many recent fetches from this host
	RuleAddressBlocked Rule = "address_blocked" // the host is, or resolves to, a special-use address
	RuleRedirect       Rule = "redirect"        // the response was a redirect; never followed
	RuleHTTPStatus     Rule = "http_status"     // the status was not 200
	RuleContentType    Rule = "content_type"    // not application/json or application/*+json
	RuleTooLarge       Rule = "too_large"       // the document is over the size limit
	RuleTimeout        Rule = "timeout"         // the fetch took longer than the time limit
	RuleFetchFailed    Rule = "fetch_failed"    // DNS, TCP or TLS failure

	// The document (CIMD §4, RFC 7591 §2).
	RuleNotJSON             Rule = "document_not_json"       // not one JSON object, a duplicate member, or a member of the wrong type
	RuleClientIDMismatch    Rule = "client_id_mismatch"      // client_id differs from the URL
	RuleClientNameMissing   Rule = "client_name_missing"     // no client_name (MCP requires it)
	RuleClientNameInvalid   Rule = "client_name_invalid"     // too long, or control or invisible formatting characters
	RuleRedirectURIsMissing Rule = "redirect_uris_missing"   // no redirect_uris
	RuleRedirectURIInvalid  Rule = "redirect_uri_invalid"    // a redirect URI breaks a rule of internal/redirecturi.Check
	RuleTooManyRedirectURIs Rule = "too_many_redirect_uris"  // more than Config.MaxRedirectURIs
	RuleClientSecret        Rule = "client_secret_present"   // the document carries a client_secret (CIMD §4.1)
	RuleAuthMethodForbidden Rule = "auth_method_forbidden"   // a shared-secret method (CIMD §4.1)
	RuleAuthMethodUnknown   Rule = "auth_method_unsupported" // a method other than none or private_key_jwt
	RuleKeysMissing         Rule = "keys_missing"            // private_key_jwt without jwks or jwks_uri
	RuleKeysConflict        Rule = "jwks_and_jwks_uri"       // both jwks and jwks_uri (RFC 7591 §2: MUST NOT)
	RuleKeysInvalid         Rule = "keys_invalid"            // jwks is not a set of usable public keys
	RuleMetadataURI         Rule = "metadata_uri_invalid"    // client_uri, logo_uri, tos_uri, policy_uri or jwks_uri not a plain https URL
	RuleResponseTypes       Rule = "response_types_unsupported"
	RuleGrantTypes          Rule = "grant_types_unsupported" // nothing usable left after ignoring what we do not allow
	RuleScope               Rule = "scope_invalid"           // scope is not space-separated RFC 6749 §3.3 scope tokens, or too long

	// RuleCanceled: the caller's context ended before the document was resolved. The fetch
	// goes on for whoever else is waiting for it.
	RuleCanceled Rule = "canceled"
)

// Error is every failure of [Resolver.Resolve] and [CheckURL]. Detail never holds more of what
// the document host sent than a short excerpt, so the error is safe to log; the page shown to a
// person should be chosen by Rule, not built from Detail.
type Error struct {
	ClientID string // the client_id as given, cut to 256 bytes
	Rule     Rule
	Detail   string
	// RetryAfter is when the client_id may be fetched again, for RuleRetryLater.
	RetryAfter time.Time
	// Err is the underlying error, if any (a safehttp error for fetch rules).
	Err error
}

func (e *Error) Error() string {
	if e.Detail == "" {
		return fmt.Sprintf("cimd: %s: %s", e.ClientID, e.Rule)
	}
	return fmt.Sprintf("cimd: %s: %s: %s", e.ClientID, e.Rule, e.Detail)
}

func (e *Error) Unwrap() error { return e.Err }

// fail builds an Error.
func fail(clientID string, rule Rule, format string, args ...any) *Error {
	return &Error{ClientID: cut(clientID, 256), Rule: rule, Detail: fmt.Sprintf(format, args...)}
}

// cut shortens s to at most n bytes, marking the cut. It is how anything the document host sent
// enters an error.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && n < len(s) && s[n]&0xc0 == 0x80 { // do not split a UTF-8 sequence
		n--
	}
	return s[:n] + "…"
}
