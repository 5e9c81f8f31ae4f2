package jwtverify

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"math/big"
	"strings"
)

// MaxTokenLength bounds a token we parse.
const MaxTokenLength = 16 << 10

// Algorithms are the signature algorithms accepted unless a caller narrows them: the asymmetric
// ones RFC 7518 defines that MCP clients and IdPs use. Never "none", never HMAC.
var defaultAlgorithms = []string{"ES256", "ES384", "RS256", "PS256", "EdDSA"}

// DefaultAlgorithms returns the default allow-list.
func DefaultAlgorithms() []string { return append([]string(nil), defaultAlgorithms...) }

// Errors. Callers map them to protocol errors; the messages are safe to show.
var (
	ErrMalformed    = errors.New("the JWT is malformed")
	ErrAlgorithm    = errors.New("the JWT's signature algorithm is not accepted")
	ErrNoKey        = errors.New("no key in the key set can verify the JWT")
	ErrSignature    = errors.New("the JWT's signature does not verify")
	ErrKeysUnusable = errors.New("the key set could not be obtained")
)

// Header is the part of the JOSE header we look at.
type Header struct {
	Alg string `json:"alg"`
	Kid string `json:"kid,omitempty"`
	Typ string `json:"typ,omitempty"`
	// Crit must be empty: we understand no critical extensions (RFC 7515 §4.1.11).
	Crit []string `json:"crit,omitempty"`
}

// Token is a parsed, not yet verified, compact JWS.
type Token struct {
	Header Header
	// Claims is the decoded payload, a JSON object.
	Claims       json.RawMessage
	signingInput string
	signature    []byte
}

// Parse splits and decodes a compact JWS (RFC 7515 §7.1). It checks the form, not the signature.
func Parse(raw string) (*Token, error) {
	if len(raw) > MaxTokenLength {
		return nil, fmt.Errorf("%w: longer than %d bytes", ErrMalformed, MaxTokenLength)
	}
	h, rest, ok1 := strings.Cut(raw, ".")
	p, s, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || strings.Contains(s, ".") {
		return nil, fmt.Errorf("%w: not three dot-separated parts", ErrMalformed)
	}
	enc := base64.RawURLEncoding
	hb, err := enc.DecodeString(h)
	if err != nil {
		return nil, fmt.Errorf("%w: header is not base64url", ErrMalformed)
	}
	var t Token
	if err := json.Unmarshal(hb, &t.Header); err != nil {
		return nil, fmt.Errorf("%w: header is not a JSON object", ErrMalformed)
	}
	if len(t.Header.Crit) > 0 {
		return nil, fmt.Errorf("%w: critical header extensions are not supported", ErrMalformed)
	}
	pb, err := enc.DecodeString(p)
	if err != nil {
		return nil, fmt.Errorf("%w: payload is not base64url", ErrMalformed)
	}
	if len(pb) == 0 || pb[0] != '{' || !json.Valid(pb) {
		return nil, fmt.Errorf("%w: payload is not a JSON object", ErrMalformed)
	}
	t.Claims = pb
	if t.signature, err = enc.DecodeString(s); err != nil || len(t.signature) == 0 {
		return nil, fmt.Errorf("%w: signature is not base64url", ErrMalformed)
	}
	t.signingInput = raw[:len(h)+1+len(p)]
	return &t, nil
}

// CheckAlgorithm refuses an algorithm outside allowed (DefaultAlgorithms when nil).
func (t *Token) CheckAlgorithm(allowed []string) error {
	if allowed == nil {
		allowed = defaultAlgorithms
	}
	for _, a := range allowed {
		if a == t.Header.Alg && a != "none" && !strings.HasPrefix(a, "HS") {
			return nil
		}
	}
	return fmt.Errorf("%w: %q", ErrAlgorithm, t.Header.Alg)
}

// Verify checks the signature with the keys of set that may have made it: those with the
// token's kid (all keys when the token has none), usable for signatures, of a type that fits
// the algorithm, and whose declared alg, if any, is the token's.
func (t *Token) Verify(keys []Key) error {
	tried := false
	for _, k := range keys {
		if !k.fits(t.Header) {
			continue
		}
		tried = true
		if verifySignature(t.Header.Alg, k.Public, t.signingInput, t.signature) {
			return nil
		}
	}
	if !tried {
		return ErrNoKey
	}
	return ErrSignature
}

func verifySignature(alg string, key crypto.PublicKey, input string, sig []byte) bool {
	digest := func(h hash.Hash) []byte { h.Write([]byte(input)); return h.Sum(nil) }
	switch alg {
	case "ES256", "ES384":
		pub, ok := key.(*ecdsa.PublicKey)
		if !ok {
			return false
		}
		size := (pub.Curve.Params().BitSize + 7) / 8
		if len(sig) != 2*size {
			return false // RFC 7518 §3.4: R and S, each exactly the curve's size
		}
		var d []byte
		if alg == "ES256" {
			if pub.Curve.Params().Name != "P-256" {
				return false
			}
			d = digest(sha256.New())
		} else {
			if pub.Curve.Params().Name != "P-384" {
				return false
			}
			d = digest(sha512.New384())
		}
		r, s := new(big.Int).SetBytes(sig[:size]), new(big.Int).SetBytes(sig[size:])
		return ecdsa.Verify(pub, d, r, s)
	case "RS256":
		pub, ok := key.(*rsa.PublicKey)
		return ok && pub.N.BitLen() >= 2048 && rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest(sha256.New()), sig) == nil
	case "PS256":
		pub, ok := key.(*rsa.PublicKey)
		return ok && pub.N.BitLen() >= 2048 &&
			rsa.VerifyPSS(pub, crypto.SHA256, digest(sha256.New()), sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto}) == nil
	case "EdDSA":
		pub, ok := key.(ed25519.PublicKey)
		return ok && ed25519.Verify(pub, []byte(input), sig)
	}
	return false
}
