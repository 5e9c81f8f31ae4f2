// Package redirecturi holds the two rules about redirect URIs that every kind of client shares,
// pre-registered, dynamically registered or described by a Client ID Metadata Document:
//
//   - [Check]: which URIs may be registered at all (absolute, no fragment, https; http only on a
//     loopback host; other schemes only as RFC 8252 §7.1 private-use schemes of native apps).
//   - [Match]: whether a requested redirect_uri matches a registered one. Matching is exact
//     string comparison (OAuth 2.1 §4.1.1, RFC 3986 §6.2.1), with one exception: for http URIs
//     on 127.0.0.1, [::1] and localhost any port matches, because a native app listens on a port
//     the operating system picks at run time (RFC 8252 §7.3, OAuth 2.1 §8.4.2). Path and query
//     must still match exactly, the host must be the same loopback host, and nothing is relaxed
//     for any other host.
//
// [IsLoopback] tells the consent page when to warn that the code goes to a program on the user's
// own machine.
package redirecturi
