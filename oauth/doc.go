// Package oauth is the authorization server protocol: fosite composed with the pieces fosite lacks,
// and the HTTP endpoints (authorize, token, introspect, revoke, metadata, JWKS).
//
// fosite v0.49 does the OAuth 2.0 core (code and refresh grants, PKCE, client authentication,
// revocation). Our layer over it is thin and explicit about each gap:
//
//   - RFC 8707 resource indicators: fosite has none. [Resources] canonicalises and checks the
//     resource parameter; the consented resources and scopes travel in our [Session] as the grant,
//     and every access token is bound to (a subset of) it, its JWT "aud" being the resource.
//   - RFC 9068 JWT access tokens: [accessTokens] signs them with the keys package (typ at+jwt);
//     fosite stores only their SHA-256.
//   - RFC 9207 "iss" on authorization responses, errors included: we build the redirect ourselves.
//   - Loopback redirect URIs on any port for "localhost" too (fosite allows only IP literals):
//     our matcher decides, and fosite is shown a client that lists the matched URI.
//   - A missing "state" (fosite insists on one; PKCE protects clients that send none): fosite is
//     handed a placeholder that never reaches the client.
//   - Introspection (RFC 7662) is ours: fosite answers an unknown token with an error, where the
//     RFC says {"active":false}.
//
// The browser part of authorization (login, consent) is not here: the authorize endpoint asks a
// [Consenter], an interface this package owns, which the consent package implements.
package oauth
