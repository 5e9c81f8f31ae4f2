package keys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/go-jose/go-jose/v4"
	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"
)

// TypeAccessToken is the JWS typ of a JWT access token (RFC 9068 §2.1).
const TypeAccessToken = "at+jwt"

// sigLen is the length of an ES256 signature: R || S, 32 bytes each (RFC 7518 §3.4).
const sigLen = 64

// maxCachedHeaders bounds the encoded headers a key keeps: callers pass a handful of constant
// typ values, and a caller passing anything else must not grow memory without bound.
const maxCachedHeaders = 16

// signingKey is one decrypted key, ready to sign. It is shared by successive key sets.
type signingKey struct {
	id   string
	priv *ecdsa.PrivateKey
	jwk  jose.JSONWebKey // the public key as published: kid, alg, use

	// headers maps a typ to the encoded protected header of this key with that typ, followed by
	// the '.' that ends it in a compact JWS. The header of a key never changes, so it is encoded
	// once instead of on every token.
	headers  sync.Map
	nHeaders atomic.Int32
}

func newSigningKey(kid string, priv *ecdsa.PrivateKey) (*signingKey, error) {
	k := &signingKey{
		id:   kid,
		priv: priv,
		jwk:  jose.JSONWebKey{Key: &priv.PublicKey, KeyID: kid, Algorithm: Algorithm, Use: "sig"},
	}
	// Warm the header every access token needs, so the first token pays nothing extra.
	if _, err := k.header(TypeAccessToken); err != nil {
		return nil, err
	}
	return k, nil
}

// header returns the encoded protected header for typ, followed by '.'.
func (k *signingKey) header(typ string) (string, error) {
	if h, ok := k.headers.Load(typ); ok {
		return h.(string), nil
	}
	// RFC 7515 §4.1: alg says how to verify, kid which published key to verify with (RFC 7517
	// §4.5), typ what kind of JWT this is, so that one kind is never accepted as another
	// (RFC 8725 §3.11).
	b, err := json.Marshal(struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
		Typ string `json:"typ,omitempty"`
	}{Algorithm, k.id, typ})
	if err != nil {
		return "", fmt.Errorf("keys: encode JWS header: %w", err)
	}
	h := base64.RawURLEncoding.EncodeToString(b) + "."
	if k.nHeaders.Add(1) <= maxCachedHeaders {
		k.headers.Store(typ, h)
	}
	return h, nil
}

// SignJWT signs payload, the JSON-encoded claims of a JWT, with the current key and returns the
// compact JWS (RFC 7515 §7.1). typ is the header's typ: TypeAccessToken for access tokens, "JWT"
// or "" (no typ) for others. The header carries alg ES256 and the key's kid.
//
// The token endpoint calls this for every access token. It is written out here rather than
// through go-jose's Signer, which re-encodes the header twice per token: this way the only work
// beyond the ECDSA signature itself is one SHA-256 and two base64 encodings.
func (m *Manager) SignJWT(payload []byte, typ string) (string, error) {
	s := m.state.Load()
	if s == nil || s.current == nil {
		return "", ErrNoKey
	}
	// A JWT Claims Set is a JSON object (RFC 7519 §7.1 step 2); this catches a caller passing
	// something else without parsing what it already marshalled.
	if len(payload) == 0 || payload[0] != '{' {
		return "", errors.New("keys: JWT payload must be a JSON object")
	}
	k := s.current
	h, err := k.header(typ)
	if err != nil {
		return "", err
	}
	enc := base64.RawURLEncoding
	n := len(h) + enc.EncodedLen(len(payload))
	buf := make([]byte, 0, n+1+enc.EncodedLen(sigLen))
	buf = append(buf, h...)
	buf = enc.AppendEncode(buf, payload)

	// The signing input is header '.' payload, both base64url (RFC 7515 §5.1 step 5).
	digest := sha256.Sum256(buf)
	sig, err := signDeterministic(k.priv, digest[:])
	if err != nil {
		return "", fmt.Errorf("keys: sign with %s: %w", k.id, err)
	}

	buf = append(buf, '.')
	buf = enc.AppendEncode(buf, sig[:])
	return string(buf), nil
}

// signDeterministic signs an ES256 digest with a nonce derived as RFC 6979 §3.2 says, from the key
// and the digest, and returns R || S as JWS wants them, fixed length, not DER (RFC 7518 §3.4).
//
// Why not the standard library's default, a hedged signature (the RFC 6979 nonce mixed with fresh
// randomness)? Both are safe against a weak random source, which is what sinks plain random-nonce
// ECDSA; hedging adds a defence against fault injection on the signing machine, at the price of an
// HMAC-DRBG over SHA-512 per signature, a third of ES256 signing time on the development machine.
// A server that signs every access token pays that on its hottest path, and a fault attack needs a
// foothold on the machine that holds the key anyway. Every token carries a random jti, so no
// message, and therefore no nonce, is ever signed twice.
func signDeterministic(priv *ecdsa.PrivateKey, digest []byte) ([sigLen]byte, error) {
	var sig [sigLen]byte
	// A nil random source asks crypto/ecdsa for RFC 6979 deterministic signing.
	der, err := priv.Sign(nil, digest, crypto.SHA256)
	if err != nil {
		return sig, err
	}
	var r, s []byte
	in := cryptobyte.String(der)
	var seq cryptobyte.String
	if !in.ReadASN1(&seq, asn1.SEQUENCE) || !in.Empty() ||
		!seq.ReadASN1Integer(&r) || !seq.ReadASN1Integer(&s) || !seq.Empty() {
		return sig, errors.New("keys: malformed ECDSA signature")
	}
	if !putScalar(sig[:sigLen/2], r) || !putScalar(sig[sigLen/2:], s) {
		return sig, errors.New("keys: ECDSA signature scalar out of range")
	}
	return sig, nil
}

// putScalar writes the big-endian integer v right-aligned into dst, reporting false if it does
// not fit.
func putScalar(dst, v []byte) bool {
	for len(v) > 0 && v[0] == 0 {
		v = v[1:] // a DER INTEGER has a leading zero when its top bit is set
	}
	if len(v) > len(dst) {
		return false
	}
	copy(dst[len(dst)-len(v):], v)
	return true
}

// Sign encodes claims as JSON and signs them as SignJWT does.
func (m *Manager) Sign(claims any, typ string) (string, error) {
	b, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("keys: encode JWT claims: %w", err)
	}
	return m.SignJWT(b, typ)
}

// Verify checks that token is a compact JWS signed by one of the published keys, with header typ
// equal to typ ("" for none), and returns its payload and header. It checks the signature only:
// the claims (exp, aud, iss) are the caller's to check.
func (m *Manager) Verify(token, typ string) (payload []byte, header jose.Header, err error) {
	jws, err := jose.ParseSignedCompact(token, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		return nil, jose.Header{}, fmt.Errorf("keys: parse token: %w", err)
	}
	header = jws.Signatures[0].Protected
	got, _ := header.ExtraHeaders[jose.HeaderType].(string)
	if !sameType(got, typ) {
		return nil, header, fmt.Errorf("keys: token has typ %q, want %q", got, typ)
	}
	pub, ok := m.PublicKey(header.KeyID)
	if !ok {
		return nil, header, fmt.Errorf("keys: token is signed with kid %q, which is not published", header.KeyID)
	}
	payload, err = jws.Verify(pub)
	if err != nil {
		return nil, header, fmt.Errorf("keys: verify token: %w", err)
	}
	return payload, header, nil
}

// sameType compares typ values as media types: case-insensitively, and with the "application/"
// prefix optional, since RFC 7515 §4.1.9 lets a producer omit it (RFC 9068 §4 names both
// "at+jwt" and "application/at+jwt").
func sameType(got, want string) bool {
	trim := func(s string) string {
		if len(s) > len("application/") && strings.EqualFold(s[:len("application/")], "application/") {
			return s[len("application/"):]
		}
		return s
	}
	return strings.EqualFold(trim(got), trim(want))
}
