// Package jwtverify checks JWTs that other parties sign: client assertions (RFC 7523) and
// enterprise identity assertions (ID-JAG). It parses a compact JWS, checks its signature with the
// standard library against keys from a JSON Web Key Set, and hands back the raw claims for the
// caller to check.
//
// It is small on purpose: these checks sit on the token endpoint's hot path, where go-jose's
// general machinery costs a measurable share on top of the signature itself, and the choices
// that matter for security are few enough to see at once: an algorithm allow-list that never
// includes "none" or HMAC (a public key is never a MAC secret), a key chosen by kid whose type
// and declared alg must fit the token's alg, and size limits on everything parsed.
//
// Key sets come from a document inline in configuration ([NewStaticKeySet]) or from a jwks_uri
// fetched through internal/safehttp ([RemoteKeySet]), cached, and re-fetched for an unknown kid at
// most once per interval.
package jwtverify
