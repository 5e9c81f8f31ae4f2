// Package cimd resolves OAuth client_ids that are URLs of Client ID Metadata Documents
// (draft-ietf-oauth-client-id-metadata-document, "CIMD"; MCP authorization 2025-11-25): a client
// names itself with an https URL, and the JSON document at that URL describes it. No
// registration happens; the server fetches, validates and caches the document.
//
// The server's part is:
//
//	if cimd.IsURL(clientID) {
//		c, err := resolver.Resolve(ctx, clientID)  // *cimd.Client, or *cimd.Error
//		...
//		if !c.MatchRedirectURI(redirectURI) { /* error page, never a redirect */ }
//	}
//
// with a resolver built once at start:
//
//	fetcher, _ := safehttp.NewClient(safehttp.Config{...})
//	resolver, _ := cimd.NewResolver(fetcher, cimd.Config{OnChange: dropConsentFor, ...})
//
// What Resolve enforces, in order:
//
//  1. The URL rules ([CheckURL]; CIMD §3): https, a host, a path, no dot segments, no fragment,
//     no userinfo, no query.
//  2. The operator's trust policy ([Config.AllowHosts], [Config.DenyHosts]).
//  3. The backoff after recent failures ([RuleRetryLater]).
//  4. The fetch, through internal/safehttp: never a special-use address (checked on the address
//     dialled, so DNS rebinding cannot pass), no proxy, no redirects, 200 only, a JSON media
//     type, at most 5 KiB, at most 5 s in all, a per-host rate limit (CIMD-01 §4, §6.5, §6.6).
//     Concurrent resolutions of one client_id share one fetch.
//  5. The document ([Client] documents the result): exactly one JSON object with no duplicate
//     members; client_id equal to the URL by string comparison (CIMD §4); client_name and
//     redirect_uris present (MCP); token_endpoint_auth_method none, or private_key_jwt with
//     jwks or jwks_uri, and never a client_secret (CIMD §4.1); redirect URIs that pass
//     internal/redirecturi.Check; https-only metadata URLs; response type code.
//
// Decisions where the drafts leave room, and why:
//
//   - token_endpoint_auth_method missing: RFC 7591's default (client_secret_basic) cannot apply
//     to a public document, so it is private_key_jwt when the document has keys and none
//     otherwise. A document that lists token_endpoint_auth_methods_supported instead (seen in
//     the wild) gets private_key_jwt if listed and keys are present, else none if listed, else
//     a refusal.
//   - grant_types: anything other than authorization_code and refresh_token is ignored, not
//     refused (public clients list jwt-bearer or device_code they will never use here);
//     jwt-bearer is kept for private_key_jwt clients only. Refused only if nothing usable is left.
//   - response_types: code is required if the member is present; other values are ignored.
//   - Redirect URIs: https anywhere; http only on 127.0.0.1, [::1] and localhost; any other
//     scheme only as a reverse-domain private-use scheme (com.example.app:/cb, RFC 8252 §7.1).
//     A dotless custom scheme such as myapp:// is refused.
//   - Inline jwks: keys holding private material are refused; keys of unknown type or for
//     encryption are skipped (RFC 7517 §5); at least one usable signing key must remain; RSA
//     keys have at least 2048 bits. Client.JWKS returns the re-encoded usable keys.
//   - client_name must not contain control or invisible formatting characters (bidi overrides
//     could disguise it on the consent page).
//
// Caching (CIMD §4.4): a valid document is kept for its Cache-Control max-age or Expires,
// clamped to [MinTTL, MaxTTL] (5 min to 24 h by default); no-store and no-cache keep it for
// MinTTL. Errors and invalid documents are never cached; instead each failure makes the
// client_id wait before the next fetch, doubling from BackoffMin to BackoffMax. A re-fetched
// document whose redirect URIs, keys or auth method changed triggers [Config.OnChange]; each
// Client also carries a [Client.Fingerprint] to store with consent, which survives restarts.
//
// Errors are [*Error] values with a [Rule]: log the rule, choose the page by it, and never show
// Detail as anything but diagnostics.
package cimd
