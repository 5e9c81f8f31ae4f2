// Package testidp is an OpenID Provider that runs inside a test: an enterprise identity provider
// for the ID-JAG tests, and an upstream provider for login tests. It is small and permissive on
// purpose, and it is never used outside tests.
//
// A [Provider] is an httptest server (plain http on 127.0.0.1, or TLS with a certificate for
// 127.0.0.1 that [Provider.HTTPClient] and [Provider.CAFile] trust) that serves:
//
//   - discovery at /.well-known/openid-configuration and /.well-known/oauth-authorization-server;
//   - its JWK Set at /jwks (ES256 keys by default; [Provider.RotateKey] adds one that signs from
//     then on, the old ones stay published until [Provider.RetireOldKeys]);
//   - /authorize, the authorization code flow with PKCE (S256 only), which asks nobody: it signs
//     in the user the test chose with [Provider.SetUser], or the registered user a login_hint
//     names, and redirects at once;
//   - /token, which redeems codes for an access token and an ID token, and answers RFC 8693 token
//     exchange: an ID token it issued (subject_token_type id_token, aud the authenticated client)
//     for an ID-JAG (requested_token_type urn:ietf:params:oauth:token-type:id-jag) with the
//     requested audience, resource and scope (draft-ietf-oauth-identity-assertion-authz-grant
//     §4.3), answered with issued_token_type id-jag and token_type N_A. [Provider.SetExchangePolicy]
//     lets a test refuse an exchange or change the ID-JAG's claims.
//
// For refusal tests it mints whatever a hostile or broken IdP could: [Provider.IDJAG] signs any
// claims as an ID-JAG, [Key.Sign] any header and claims with any key, [Key.SignRaw] any bytes,
// [Unsigned] and [SignHMAC] tokens with alg none or an HMAC keyed with a public key. As an
// upstream provider for login it can misbehave on request: [Provider.SetIDTokenHook] replaces
// the ID token /token sends (another audience, a wrong nonce, expired, an unknown key), and
// [Provider.SetAuthorizeError] makes /authorize answer with an error such as access_denied.
package testidp
