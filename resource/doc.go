// Package resource is what an MCP server imports to accept the access tokens mcp-authz
// issues: the resource-server side of the MCP authorization specification.
//
// It does three things. It serves the server's Protected Resource Metadata (RFC 9728), which
// tells a client which authorization server to get tokens from. It checks the bearer token on
// every request, taken from the Authorization header and nowhere else (RFC 6750 §2.1): an
// RFC 9068 JWT access token verified against the authorization server's JWKS, or any token
// through RFC 7662 introspection when revocation must bite at once. And it answers a request
// it refuses with the challenge (RFC 6750 §3, RFC 9728 §5.1) that sends an MCP client off to
// get a token, or a token with more scopes.
//
//	rs, err := resource.New(resource.Config{
//		Resource:        "https://mcp.example.com/mcp", // exactly the URL clients use
//		Issuer:          "https://auth.example.com",
//		ScopesSupported: []string{"tools:read", "tools:write"},
//	})
//	if err != nil {
//		return err
//	}
//	mux := http.NewServeMux()
//	for _, path := range rs.MetadataPaths() {
//		mux.Handle(path, rs.MetadataHandler())
//	}
//	mux.Handle("/mcp", rs.Protect(mcpHandler, "tools:read"))
//
// The handler finds the validated token with [TokenFrom]. A check finer than the route, such
// as one tool's scope, is [Token.Require] followed by [Verifier.ChallengeFor]; code outside
// net/http calls [Verifier.Verify] directly.
//
// With the official MCP Go SDK's streamable HTTP handler, a tool handler runs in the context of
// the request that opened the session, not the current one, so [TokenFrom] there returns the
// session's first token. Hand the current token to the SDK instead (auth.RequireBearerToken,
// read in the tool as req.Extra.TokenInfo), and make per-tool scope checks an HTTP middleware in
// front of the SDK, so that a missing scope is a 403 the client can step up from: the example
// server (examples/mcp-server/mcpserver) does both.
//
// # Answers
//
// No token (or another scheme, or a token only in the query string): 401 with
// WWW-Authenticate: Bearer resource_metadata="…", scope="…" and no error code, as RFC 6750
// §3.1 asks. A token that fails any check: 401 error="invalid_token". A valid token without
// the route's scopes: 403 error="insufficient_scope", with a scope that is the token's scopes
// plus the missing ones, so that a client stepping up does not lose what it had (see
// [Verifier.ChallengeFor]). A malformed Authorization header: 400 error="invalid_request".
// If the authorization server cannot be reached, 503 without a challenge: the token may well
// be good, and a 401 would make the client throw it away.
//
// # What a token must be
//
// Signed with an allowed algorithm (ES256 unless configured otherwise; never "none" or HMAC)
// by a key in the issuer's JWKS, found by kid; typ at+jwt; iss equal to the issuer; aud
// naming this resource; exp in the future and iat, nbf not, with a small leeway; every claim
// RFC 9068 §2.2 requires present. The audience comparison ignores case in scheme and host, as
// the authorization server's resource matching does, and takes the path exactly: a trailing
// slash names a different resource.
//
// # Speed
//
// MCP clients send one token with many requests. A verified token is remembered, keyed by the
// SHA-256 of the token (so memory holds no usable credential), in a bounded cache that checks
// exp on every hit: a token seen again costs well under 2µs. A token seen for the first time
// costs its ES256 signature check and a few percent more; that is why JWS parsing is done
// here on the standard library, go-jose serving only to read the JWKS: going through go-jose
// measured 25% over the bare ECDSA check. BenchmarkVerifyVsECDSA reports the ratios.
//
// The JWKS is fetched when first needed (discovered from the issuer's RFC 8414 metadata
// unless configured), again when a token names an unknown kid, and in the background once it
// is an hour old; never more than once per KeyRefreshInterval, and concurrent fetches are one.
//
// The package depends on the standard library and go-jose only, so that it is cheap to
// import.
package resource
