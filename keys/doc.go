// Package keys holds the keys the server signs its tokens with: it generates them, keeps them
// encrypted in the store, rotates them, signs JWTs with the current one and publishes the public
// keys as a JWKS (RFC 7517) for resource servers to verify with.
//
// # Keys
//
// Every key is an ES256 (P-256) key. Its kid is its RFC 7638 thumbprint, so the kid follows from
// the key: no counter to coordinate between instances, no collision.
//
// # Encryption at rest
//
// The store holds private keys only encrypted, under a key derived from the operator's secret
// with HKDF-SHA256 (RFC 5869) and a fixed info string. The stored value is
// version || nonce || AES-256-GCM(PKCS#8 DER), with the kid as additional authenticated data: a
// database dump alone gives no signing key, and a ciphertext moved to another row does not
// decrypt. A wrong secret is reported as such (ErrDecrypt), naming the key.
//
// # Rotation and publication
//
// The newest key signs. A superseded key stays in the JWKS for Options.Retention (the longest
// access-token lifetime plus skew) after the key that replaced it started signing, plus one
// Options.ReloadInterval, because an instance that has not reloaded yet still signs with it. Run
// reloads the store every ReloadInterval, so that all instances sharing a database follow a
// rotation made by any of them, and deletes keys that are no longer published; the signing key is
// never deleted. With several instances, Options.ActivationDelay lets every instance publish a
// new key before any signs with it.
//
// # Signing
//
// SignJWT is on the token endpoint's path. The loaded keys are an immutable set behind an atomic
// pointer, and each key encodes its JWS header once per typ; a signature costs one atomic load,
// the ECDSA signature, one SHA-256 and the base64 of the payload. The signature's nonce is
// derived as RFC 6979 says rather than hedged with fresh randomness, the standard library's
// default: as safe against a weak random source, a fifth cheaper (signDeterministic says what
// hedging would add). go-jose is used for what is not on that path: thumbprints, the JWKS and
// Verify.
//
// The package knows the storage contract (storage.SigningKey) but no backend, and nothing of
// fosite: oauth adapts SignJWT to the signer fosite calls.
package keys
