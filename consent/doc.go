// Package consent is the browser side of authorization: signing in (local accounts with argon2id
// passwords, or an upstream OpenID Provider), browser sessions, CSRF protection, and the consent
// decision with remembered grants.
//
// It implements oauth.Consenter, and so imports package oauth for that interface's request and
// decision types; oauth does not import consent (cmd wires them). The architecture sketch has
// consent depend on storage and web/templates only; sharing oauth's types directly is simpler
// than mirroring them in a third package, and keeps the one definition of a client and a
// resource. It also imports package enterprise for one function, enterprise.Subject, so that a
// person is the same subject whether they sign in here through their enterprise's provider or
// their client presents that provider's ID-JAG.
//
// Sessions are server-side: the cookie (gorilla/sessions with securecookie, keyed from the
// server secret) carries only a random session id, and the session lives in storage. So a
// session survives a restart, works across instances sharing a database, and can be ended.
//
// # Upstream sign-in
//
// Each configured provider is an OpenID Connect relying party (Core 1.0 §3.1, the
// authorization code flow) built on go-oidc and golang.org/x/oauth2, never hand-written:
//
//   - Discovery, the provider's key set and the token request go through the HTTP client the
//     server gives (internal/safehttp's), so they can never reach internal addresses. Discovery
//     happens at the first sign-in, not at start, and a failure is remembered briefly, so a
//     provider that is down costs a clear page, never a failed start or a hang.
//   - /login/upstream/{id} starts a sign-in with a fresh state, nonce and PKCE (S256) verifier,
//     kept in the browser's session: each is bound to that browser, used once (the state is
//     spent before the code is redeemed) and expires after ten minutes.
//   - /login/upstream/{id}/callback is the redirect URI. It refuses an unknown or spent state,
//     an answer at another provider's redirect URI or with another iss (mix-up, RFC 9207), and
//     an ID token that fails any check of Core §3.1.3.7: signature with the provider's
//     advertised algorithms and keys, iss, aud, azp, exp, iat and the nonce. Every refusal and
//     every provider error ends on a page that says what happened, and is logged with a reason.
//   - The person is the provider's issuer and subject claim. On first sign-in a local user is
//     created (with no password) and the link kept as a storage.KindIdentity record (see
//     Identity); nothing is linked by email.
//   - The enterprise's policy (rules on groups or other claims) decides what the person may
//     consent to. Someone no rule matches cannot sign in. The claim values the rules read are
//     kept in the session, and Decide narrows each request to what they allow: the consent page
//     offers only that, and oauth.Decision.Scopes makes the authorize endpoint grant no more,
//     even when more was consented to before.
package consent
