// Package enterprise is the authorization server's side of enterprise-managed authorization (the
// MCP extension of that name, built on draft-ietf-oauth-identity-assertion-authz-grant): a client
// presents an Identity Assertion JWT Authorization Grant (ID-JAG) that its user's enterprise
// identity provider issued for it, with grant_type urn:ietf:params:oauth:grant-type:jwt-bearer
// (RFC 7523 §2.1), and gets an access token for that user without a consent page. The enterprise
// has decided, at its IdP, that this user may use this client with this resource.
//
// What this package decides and what it leaves to the caller: the oauth package has already
// authenticated the client (a public client never gets here) and will issue the token; the
// [Exchanger] checks the assertion and says for whom (a local subject), for which resource and
// with which scopes. The oauth package then checks again that the resource and scopes are ones
// the server offers and the client may have, so a lax policy here cannot widen a token there.
//
// # Trust and policy
//
// Each trusted identity provider is an [IdP]: its issuer, its keys (a JWK Set inline or a
// jwks_uri fetched through internal/safehttp, cached, re-fetched for an unknown kid at a bounded
// rate, see internal/jwtverify), and the enterprise's policy: which clients it may grant, for
// which of our resources, with which scopes. Every policy list is explicit: an IdP configured with
// no clients may grant no client, and "*" is the way to say "any" (any registered client, any of
// our resources, any scope the resource offers). An empty list is refused when the IdP is
// configured, because an IdP that can grant nothing is a mistake, not a policy.
//
// # The checks (requirements §7; draft-ietf-oauth-identity-assertion-authz-grant §4.4.1)
//
//   - The JOSE header typ is oauth-id-jag+jwt (§3.1, RFC 8725 §3.11). It is compared without
//     regard to case, and "application/oauth-id-jag+jwt" is the same value: RFC 7515 §4.1.9 makes
//     typ a media type, and media types are case-insensitive (RFC 2045 §5.1) with an implied
//     "application/" prefix.
//   - The algorithm is on the IdP's allow-list (ES256, RS256, PS256 by default), never none or
//     HMAC: internal/jwtverify refuses those whatever the list says.
//   - iss is a configured IdP, compared exactly, and the signature verifies with that IdP's keys
//     and no other's: a trusted issuer's name on a token signed by another trusted IdP fails.
//   - aud is our issuer: a string, or an array of exactly one string (§4.4.1). A single trailing
//     slash is tolerated, because our issuer never has one and clients that copy it from
//     documentation sometimes add one; any other difference is refused.
//   - client_id is the authenticated client (§4.4.1: invalid_grant otherwise), and the IdP's
//     policy allows that client (unauthorized_client otherwise).
//   - exp and iat are required; exp has not passed and iat is not in the future, each with a
//     small clock skew; exp-iat is at most the IdP's MaxAssertionLifetime; nbf, when present, has
//     passed.
//   - jti is required and is accepted once: the [Grant] carries a storage.UseJTI change that the
//     caller applies in the same transaction as the token, kept until exp plus the skew. A
//     replay then fails the whole issuance with storage.ErrConflict.
//   - resource (§3.1: a string or an array) names one of our resources within the IdP's policy.
//     It is required unless the IdP is configured with ResourceOptional. A resource parameter on
//     the request must be one the assertion names; with several in the assertion it chooses one.
//     With none in the assertion (ResourceOptional), the request's resource parameter is used,
//     else the IdP's only allowed resource, else the request is refused.
//   - The scopes granted are those requested that the ID-JAG's scope claim and the IdP's policy
//     both allow and the resource offers; with none requested, every scope of the ID-JAG that
//     policy allows and the resource offers. §4.4.1 lets the server grant a subset; the token
//     response always says which. If nothing is left, invalid_scope.
//
// Error descriptions say which check failed, never what the policy is: "the assertion's issuer
// is not trusted", not the list of trusted issuers.
//
// # Subjects and users
//
// The token subject is derived from who the IdP says the user is, never from an email address
// (an IdP can assert any address): [Subject] hashes the issuer, the tenant claim (multi-tenant
// issuers, §3.1) and sub into a stable id "e_…". A local user record with that id is created on
// first sight, with the assertion's email and name for display. No existing local account is
// linked by email, for the same reason. A record an administrator has disabled stops the grant.
//
// Nothing here logs an assertion: at most its issuer, its jti and the derived subject.
package enterprise
