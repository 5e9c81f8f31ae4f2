package resource

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	_ "crypto/sha512" // registers SHA-384 and SHA-512 with crypto.Hash
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"sync"
	"time"
)

// maxTokenSize bounds what Verify reads. Our access tokens are well under 1 KiB; anything
// near this size is an attack on the JSON decoder, not a token.
const maxTokenSize = 16 << 10

// algorithm is one JWS signature algorithm we can verify (RFC 7518 §3).
type algorithm struct {
	name  string
	hash  crypto.Hash
	curve elliptic.Curve // ECDSA only
	pss   bool           // RSASSA-PSS rather than PKCS #1 v1.5
}

func algorithmsNamed(names []string) (map[string]*algorithm, error) {
	if len(names) == 0 {
		names = []string{"ES256"}
	}
	algs := make(map[string]*algorithm, len(names))
	for _, name := range names {
		a := &algorithm{name: name}
		switch name {
		case "ES256":
			a.hash, a.curve = crypto.SHA256, elliptic.P256()
		case "ES384":
			a.hash, a.curve = crypto.SHA384, elliptic.P384()
		case "ES512":
			a.hash, a.curve = crypto.SHA512, elliptic.P521()
		case "RS256", "PS256":
			a.hash = crypto.SHA256
		case "RS384", "PS384":
			a.hash = crypto.SHA384
		case "RS512", "PS512":
			a.hash = crypto.SHA512
		default:
			return nil, fmt.Errorf("resource: algorithm %q is not supported", name)
		}
		a.pss = strings.HasPrefix(name, "PS")
		algs[name] = a
	}
	return algs, nil
}

// verifySignature checks sig over signingInput with key, which fits a (see keySet).
func (a *algorithm) verifySignature(key crypto.PublicKey, signingInput string, sig []byte) bool {
	var digest []byte
	if a.hash == crypto.SHA256 {
		// The common case without the hash.Hash allocation.
		sum := sha256.Sum256([]byte(signingInput))
		digest = sum[:]
	} else {
		h := a.hash.New()
		h.Write([]byte(signingInput))
		digest = h.Sum(nil)
	}
	switch k := key.(type) {
	case *ecdsa.PublicKey:
		if a.curve == nil || k.Curve != a.curve {
			return false
		}
		// JWS carries R || S, each the size of the curve order (RFC 7518 §3.4).
		size := (a.curve.Params().BitSize + 7) / 8
		if len(sig) != 2*size {
			return false
		}
		return ecdsa.VerifyASN1(k, digest, asn1Signature(sig[:size], sig[size:]))
	case *rsa.PublicKey:
		if a.curve != nil {
			return false
		}
		if a.pss {
			// RFC 7518 §3.5: the salt is as long as the hash.
			return rsa.VerifyPSS(k, a.hash, digest, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}) == nil
		}
		return rsa.VerifyPKCS1v15(k, a.hash, digest, sig) == nil
	}
	return false
}

// asn1Signature encodes the integers r and s, big-endian, as the DER SEQUENCE that
// crypto/ecdsa verifies (SEC 1 §C.8). It spares ecdsa.Verify's detour through math/big.
// Integers are at most 66 bytes (P-521), so every length fits the short form but the
// sequence's, which needs at most one more byte.
func asn1Signature(r, s []byte) []byte {
	r, s = minimalInt(r), minimalInt(s)
	body := derIntLen(r) + derIntLen(s)
	out := make([]byte, 0, 3+body)
	out = append(out, 0x30) // SEQUENCE
	if body >= 0x80 {
		out = append(out, 0x81)
	}
	out = append(out, byte(body))
	return appendDERInt(appendDERInt(out, r), s)
}

// minimalInt drops leading zero bytes, keeping one for zero.
func minimalInt(b []byte) []byte {
	for len(b) > 1 && b[0] == 0 {
		b = b[1:]
	}
	return b
}

// derIntLen is the encoded size of the INTEGER b: tag, length, a zero byte if the high bit is
// set (DER integers are signed), and b.
func derIntLen(b []byte) int { return 2 + int(b[0]>>7) + len(b) }

func appendDERInt(out, b []byte) []byte {
	out = append(out, 0x02, byte(derIntLen(b)-2)) // INTEGER
	if b[0]&0x80 != 0 {
		out = append(out, 0)
	}
	return append(out, b...)
}

// maxCachedHeaders bounds headerCache. An authorization server signs with one key at a time,
// two or three around a rotation.
const maxCachedHeaders = 16

// headerCache remembers the headers of tokens that verified. Every token signed with one key
// carries the same header, byte for byte, so after the first a header costs a map lookup
// instead of a base64 and a JSON decode. Only verified tokens add to it, so no one but the
// authorization server can fill it.
type headerCache struct {
	mu sync.RWMutex
	m  map[string]jwsHeader // by encoded header
}

func (c *headerCache) get(encoded string) (jwsHeader, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	h, ok := c.m[encoded]
	return h, ok
}

func (c *headerCache) put(encoded string, h jwsHeader) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[string]jwsHeader)
	}
	if len(c.m) < maxCachedHeaders {
		// A copy: the slice of the token would keep the whole bearer token alive.
		c.m[strings.Clone(encoded)] = h
	}
}

// jwsHeader is the JOSE header of a JWS (RFC 7515 §4.1).
type jwsHeader struct {
	Alg  string          `json:"alg"`
	Kid  string          `json:"kid"`
	Typ  string          `json:"typ"`
	Crit json.RawMessage `json:"crit"`
}

// verifyJWT validates raw as an RFC 9068 JWT access token for this resource, following
// RFC 9068 §4 and RFC 8725 §3. The cheap checks come before the signature so that a stale or
// misdirected token costs no public-key operation.
func (v *Verifier) verifyJWT(ctx context.Context, raw string, now time.Time) (*Token, error) {
	// Compact serialization: header.payload.signature (RFC 7515 §7.1).
	dot1 := strings.IndexByte(raw, '.')
	dot2 := strings.LastIndexByte(raw, '.')
	if dot1 < 0 || dot1 == dot2 || strings.IndexByte(raw[dot1+1:dot2], '.') >= 0 {
		return nil, invalidToken("not a JWS compact serialization")
	}
	signingInput := raw[:dot2]

	h, known := v.headers.get(raw[:dot1])
	if !known {
		var err error
		if h, err = v.parseHeader(raw[:dot1]); err != nil {
			return nil, err
		}
	}
	alg := v.algorithms[h.Alg]

	payload, err := base64.RawURLEncoding.Strict().DecodeString(raw[dot1+1 : dot2])
	if err != nil {
		return nil, &tokenError{reason: "malformed payload", cause: err}
	}
	var c accessTokenClaims
	if err := decodeClaims(payload, &c); err != nil {
		return nil, &tokenError{reason: "malformed claims", cause: err}
	}
	tok, err := v.checkClaims(&c, now)
	if err != nil {
		return nil, err
	}

	sig, err := base64.RawURLEncoding.Strict().DecodeString(raw[dot2+1:])
	if err != nil {
		return nil, &tokenError{reason: "malformed signature", cause: err}
	}
	key, err := v.keys.lookup(ctx, h.Kid, alg)
	if err != nil {
		return nil, err
	}
	if !alg.verifySignature(key, signingInput, sig) {
		return nil, invalidToken("bad signature")
	}
	if !known {
		v.headers.put(raw[:dot1], h)
	}
	tok.Claims = payload
	return tok, nil
}

// parseHeader decodes and checks the JOSE header (RFC 7515 §4.1, RFC 9068 §4).
func (v *Verifier) parseHeader(encoded string) (jwsHeader, error) {
	var h jwsHeader
	// Strict: only the canonical base64url spelling (RFC 4648 §3.5), so that a token has one
	// spelling and a cache entry one key.
	headerJSON, err := base64.RawURLEncoding.Strict().DecodeString(encoded)
	if err != nil {
		return h, &tokenError{reason: "malformed header", cause: err}
	}
	if err := json.Unmarshal(headerJSON, &h); err != nil {
		return h, &tokenError{reason: "malformed header", cause: err}
	}
	switch {
	case v.algorithms[h.Alg] == nil:
		return h, invalidToken(fmt.Sprintf("algorithm %q is not accepted", h.Alg))
	case !isAccessTokenType(h.Typ):
		// RFC 9068 §4: the resource server MUST check typ, so that an ID token or any other
		// JWT signed by the same key cannot pass for an access token (RFC 8725 §3.11).
		return h, invalidToken(`typ is not "at+jwt"`)
	case h.Crit != nil:
		// RFC 7515 §4.1.11: we understand no extensions, so a critical one is a refusal.
		return h, invalidToken("unsupported critical header")
	case h.Kid == "":
		return h, invalidToken("no kid in header")
	}
	return h, nil
}

// isAccessTokenType accepts "at+jwt" and its full media type, case-insensitively
// (RFC 9068 §4, RFC 7515 §4.1.9).
func isAccessTokenType(typ string) bool {
	return strings.EqualFold(typ, "at+jwt") || strings.EqualFold(typ, "application/at+jwt")
}

// checkClaims applies the claim rules of RFC 9068 §4: iss is ours, aud names this resource,
// the time window holds, and every claim §2.2 requires is present.
func (v *Verifier) checkClaims(c *accessTokenClaims, now time.Time) (*Token, error) {
	switch {
	case c.Iss != v.issuer:
		return nil, invalidToken("wrong issuer")
	case !v.isAudience(c.Aud):
		return nil, invalidToken("token is not meant for this resource")
	case c.Sub == "" || c.ClientID == "" || c.Jti == "" || c.Iat == 0 || c.Exp == 0:
		return nil, invalidToken("missing required claims")
	}
	tok := &Token{
		Issuer:   c.Iss,
		Subject:  c.Sub,
		ClientID: c.ClientID,
		Scopes:   strings.Fields(c.Scope),
		Audience: c.Aud,
		ID:       c.Jti,
	}
	var err error
	if tok.Expiry, tok.IssuedAt, err = v.checkTimes(c.Exp, c.Iat, c.Nbf, now); err != nil {
		return nil, err
	}
	return tok, nil
}

// checkTimes applies exp, iat and nbf (RFC 7519 §4.1.4, §4.1.5, §4.1.6) with the leeway;
// a zero value is an absent claim.
func (v *Verifier) checkTimes(exp, iat, nbf float64, now time.Time) (expiry, issued time.Time, err error) {
	var ok bool
	if exp != 0 {
		if expiry, ok = numericDate(exp); !ok {
			return expiry, issued, invalidToken("malformed exp")
		}
		if !now.Before(expiry.Add(v.leeway)) {
			return expiry, issued, invalidToken("token expired")
		}
	}
	if iat != 0 {
		if issued, ok = numericDate(iat); !ok {
			return expiry, issued, invalidToken("malformed iat")
		}
		if issued.After(now.Add(v.leeway)) {
			return expiry, issued, invalidToken("token issued in the future")
		}
	}
	if nbf != 0 {
		notBefore, ok := numericDate(nbf)
		if !ok {
			return expiry, issued, invalidToken("malformed nbf")
		}
		if notBefore.After(now.Add(v.leeway)) {
			return expiry, issued, invalidToken("token not yet valid")
		}
	}
	return expiry, issued, nil
}

// numericDate converts seconds since the epoch, refusing values time.Time cannot hold
// precisely (before 1970 or after the year 5000 is no date a token of ours carries).
func numericDate(f float64) (time.Time, bool) {
	if !(f > 0 && f < 95_617_584_000) {
		return time.Time{}, false
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), true
}

// isAudience reports whether aud names this resource. The authorization server writes the
// resource indicator the client sent (RFC 8707 §2); like it, we compare scheme and host
// without regard to case and the rest exactly, so a trailing slash is a different resource.
// No URL parsing: aud is read before the signature is checked, and a forged token could
// carry thousands of entries.
func (v *Verifier) isAudience(aud []string) bool {
	id, n := v.resourceID, v.originLen
	for _, a := range aud {
		if a == id || (len(a) == len(id) && strings.EqualFold(a[:n], id[:n]) && a[n:] == id[n:]) {
			return true
		}
	}
	return false
}
