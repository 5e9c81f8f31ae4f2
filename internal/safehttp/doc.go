// Package safehttp is the only way mcp-authz talks to the outside world over HTTP: fetching Client
// ID Metadata Documents, jwks_uri key sets, and the metadata and keys of trusted identity
// providers. Every URL it fetches may have been chosen by an attacker (a client_id is just a URL
// anyone can type), so the client is built to be safe by construction rather than by the care of
// each caller:
//
//   - It never connects to a special-use address (loopback, RFC 1918, link-local, CGNAT,
//     unique-local, multicast, documentation, benchmarking, reserved, and the IPv4-mapped, NAT64
//     and 6to4 forms of these); see [SpecialUse]. The check runs on every address a name resolves
//     to, inside the dial, and the dial then connects to the checked IP literal, so a DNS answer
//     that changes between a lookup and a connect (DNS rebinding) cannot slip through
//     (draft-ietf-oauth-client-id-metadata-document-01 §6.5). As defence in depth the default
//     dialer checks the socket address again in [net.Dialer.Control].
//   - It never uses a proxy from the environment (a proxy would make the connection for us,
//     unchecked) and never follows a redirect (CIMD-01 §4: a 3xx is an error, and a redirect is
//     the classic way to bounce a fetch onto an internal address).
//   - Only status 200 counts.
//   - Every fetch has a body limit and a total time limit covering DNS, connect, TLS, headers and
//     body. The zero value of [Options] takes the client's defaults (5 KiB, 5 s), so a caller
//     cannot forget them; a caller may ask for a larger body (a JWKS is often bigger than 5 KiB)
//     up to [MaxBodyLimit], and for a shorter, never a longer, time than the client's.
//     A body over the limit is an error, never a silent truncation.
//   - Outbound requests are rate limited per host with a token bucket; the map of buckets is
//     bounded, and when it is full of busy hosts new hosts are refused rather than old buckets
//     forgotten (forgetting a bucket would hand its host a fresh burst).
//
// Tests and local development need to fetch from an httptest TLS server on 127.0.0.1. That is
// the one, explicit, off-by-default exception: [Config.TestHosts] lists host:port pairs exempt
// from the address check, with an optional extra root pool [Config.TestRootCAs] used only for
// them. The caller should log them loudly at start; [NewClient] also logs a warning.
//
// Use [Client.Get] for a fetch that returns the body as bytes. Libraries that insist on an
// *http.Client (an OIDC discovery library, an OAuth2 token exchange) get one from
// [Client.HTTPClient], which shares the same transport, checks and limits: its response bodies
// fail with [ErrTooLarge] past the limit and its Timeout covers the whole exchange.
package safehttp
