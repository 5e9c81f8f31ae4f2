// Package elicitation is the out-of-band part of MCP's URL-mode elicitation (MCP 2025-11-25
// client/elicitation, SEP-1036; requirements §8): the JSON API an MCP server calls to have one
// of its users do something in a browser, and the pages that user opens.
//
// # The API (for MCP servers)
//
// A protected resource's server authenticates as a confidential client of ours, with the same
// methods as at the token endpoint (client_secret_basic, client_secret_post, private_key_jwt),
// and must be one of the resource's elicitation_clients.
//
//	POST /elicitations                    create: {access_token, kind, message, params, expires_in}
//	                                      → 201 {elicitation_id, url, status, expires_at, expires_in}
//	GET|POST /elicitations/{id}[?wait=s]  the outcome, optionally waiting up to 25 s (long poll)
//	POST /elicitations/{id}/cancel        the server no longer needs it
//	POST /elicitations/connections/token  {access_token, provider} → a third-party access token
//
// The elicitation is for the user (sub) and MCP client (client_id) of access_token, an access
// token the server received from the MCP client. We verify it is one we issued, active and
// unexpired, for a user, and that its audience is a resource whose server the caller is: a
// token issued for another resource is refused, so a server cannot act for users of another.
//
// The result is for the server only. A secret is handed out once: the first read after the
// user entered it takes it from the database. Third-party tokens never leave through this API
// except as the access token of POST /elicitations/connections/token, to the server of the
// resource they were connected for, with the user's current access token for it; refresh tokens
// never leave at all.
//
// If the resource has an elicitation_callback, a JWT signed with our signing key (typ
// elicitation-complete+jwt, aud the resource) is posted there when an elicitation completes, so
// that the server can send notifications/elicitation/complete at once.
//
// # The pages (for users)
//
// /elicitation/{id} carries nothing but the id: 256 random bits, unguessable and useful only
// to the signed-in user it was made for. The page requires our login session (sending the
// browser to sign in and back), and checks that the session's user is the elicitation's user
// when it is shown, when it is submitted, and for connect when the provider sends the browser
// back. For another user, an unknown, expired or answered id, it says which without saying
// whose request it was or what it asked. Forms carry the consent pages' CSRF token and every
// page their headers (CSP with frame-ancestors 'none', X-Frame-Options DENY, no-store, no
// referrer). Answers complete the elicitation with a compare-and-set in the database, so an id
// completes once, whichever instance answers.
//
// /elicitation/connections lists the signed-in user's connected accounts, each with a
// Disconnect form (CSRF as above) that deletes the connection and, when the provider has a
// revocation endpoint, revokes its tokens there (RFC 7009). Connections are looked up by key
// for the signed-in user only, so the page cannot show or remove another user's.
//
// Three kinds: confirm (approve or decline an action the server describes), secret (a value,
// an API key say, stored encrypted and handed once to the server), connect (authorization
// code with PKCE at a third-party OAuth provider the operator configured, run by us as that
// provider's client; the tokens are stored encrypted, bound to (resource, user, provider), and
// refreshed when they have expired).
//
// Secrets, third-party tokens and the connect flow's cookie are encrypted with AES-256-GCM
// under a key derived from the server secret with HKDF (info "mcp-authz elicitation v1"); each
// ciphertext names its context (elicitation id, connection) as additional data.
//
// The page is not a way to authorize the user to the MCP server: that is the OAuth flow, and
// an elicitation can only be created with an access token the user already has.
//
// The package depends on storage and web/templates; it reuses the browser session of package
// consent through the small Browser interface, and client authentication of package oauth as a
// function, so that neither is imported.
package elicitation
