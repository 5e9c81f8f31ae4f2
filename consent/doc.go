// Package consent is the browser side of authorization: signing in (local accounts with argon2id
// passwords), browser sessions, CSRF protection, and the consent decision with remembered grants.
//
// It implements oauth.Consenter, and so imports package oauth for that interface's request and
// decision types; oauth does not import consent (cmd wires them). The architecture sketch has
// consent depend on storage and web/templates only; sharing oauth's types directly is simpler
// than mirroring them in a third package, and keeps the one definition of a client and a
// resource.
//
// Sessions are server-side: the cookie (gorilla/sessions with securecookie, keyed from the
// server secret) carries only a random session id, and the session lives in storage. So a
// session survives a restart, works across instances sharing a database, and can be ended.
package consent
