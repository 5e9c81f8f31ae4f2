package testidp

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"

	"github.com/go-jose/go-jose/v4"
)

// Key is a signing key and its kid.
type Key struct {
	ID   string
	Alg  string // ES256, RS256 or PS256
	priv crypto.Signer
}

// NewKey generates a key for alg (ES256, RS256 or PS256) with a random kid.
func NewKey(alg string) (*Key, error) {
	var priv crypto.Signer
	var err error
	switch alg {
	case "ES256":
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "RS256", "PS256":
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	default:
		return nil, fmt.Errorf("testidp: algorithm %q is not supported", alg)
	}
	if err != nil {
		return nil, err
	}
	return &Key{ID: rand.Text()[:12], Alg: alg, priv: priv}, nil
}

// Public is the public key.
func (k *Key) Public() crypto.PublicKey { return k.priv.Public() }

// JWK is the public key as a JSON Web Key, with kid, alg and use "sig".
func (k *Key) JWK() jose.JSONWebKey {
	return jose.JSONWebKey{Key: k.priv.Public(), KeyID: k.ID, Algorithm: k.Alg, Use: "sig"}
}

// PublicJSON is the public JWK encoded: what a broken verifier might take for an HMAC secret.
func (k *Key) PublicJSON() []byte {
	b, _ := json.Marshal(k.JWK())
	return b
}

// JWKS is a JWK Set of this key alone.
func (k *Key) JWKS() []byte { return keySet(k) }

func keySet(keys ...*Key) []byte {
	set := jose.JSONWebKeySet{}
	for _, k := range keys {
		set.Keys = append(set.Keys, k.JWK())
	}
	b, _ := json.Marshal(set)
	return b
}

// Sign signs claims as a compact JWS with this key. The header starts as {"alg": k.Alg, "kid":
// k.ID}; header entries are laid over it (a nil value removes one), so that a test can set typ,
// claim another alg or kid, or drop either. The signature is always made with k.Alg.
func (k *Key) Sign(header, claims map[string]any) string {
	h := map[string]any{"alg": k.Alg, "kid": k.ID}
	for name, v := range header {
		if v == nil {
			delete(h, name)
		} else {
			h[name] = v
		}
	}
	return k.SignRaw(mustJSON(h), mustJSON(claims))
}

// SignRaw signs a header and a payload exactly as given, JSON or not, well-formed or not: for
// tokens no well-behaved encoder would produce (duplicate keys, odd numbers, invalid UTF-8).
func (k *Key) SignRaw(header, payload []byte) string {
	enc := base64.RawURLEncoding
	input := enc.EncodeToString(header) + "." + enc.EncodeToString(payload)
	digest := sha256.Sum256([]byte(input))
	var sig []byte
	var err error
	switch k.Alg {
	case "ES256":
		var r, s []byte
		r, s, err = signECDSA(k.priv.(*ecdsa.PrivateKey), digest[:])
		sig = append(r, s...)
	case "RS256":
		sig, err = rsa.SignPKCS1v15(rand.Reader, k.priv.(*rsa.PrivateKey), crypto.SHA256, digest[:])
	case "PS256":
		sig, err = rsa.SignPSS(rand.Reader, k.priv.(*rsa.PrivateKey), crypto.SHA256, digest[:], &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
	}
	if err != nil {
		panic("testidp: signing failed: " + err.Error()) // a broken crypto/rand; no test can go on
	}
	return input + "." + enc.EncodeToString(sig)
}

// signECDSA returns R and S, each padded to the curve's 32 bytes (RFC 7518 §3.4).
func signECDSA(priv *ecdsa.PrivateKey, digest []byte) (r, s []byte, err error) {
	ri, si, err := ecdsa.Sign(rand.Reader, priv, digest)
	if err != nil {
		return nil, nil, err
	}
	r, s = make([]byte, 32), make([]byte, 32)
	ri.FillBytes(r)
	si.FillBytes(s)
	return r, s, nil
}

// Unsigned builds a token with the given header (for alg "none" and other forgeries) and
// signature bytes as they are.
func Unsigned(header, claims map[string]any, signature []byte) string {
	return encodePart(header) + "." + encodePart(claims) + "." + base64.RawURLEncoding.EncodeToString(signature)
}

// SignHMAC signs with HS256 keyed with secret: with a public key's bytes as the secret, the
// classic algorithm-confusion forgery. header gets alg HS256 unless it sets one.
func SignHMAC(secret []byte, header, claims map[string]any) string {
	h := map[string]any{"alg": "HS256"}
	for name, v := range header {
		h[name] = v
	}
	input := encodePart(h) + "." + encodePart(claims)
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(input))
	return input + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

func encodePart(v any) string { return base64.RawURLEncoding.EncodeToString(mustJSON(v)) }

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("testidp: a token part does not encode as JSON: " + err.Error())
	}
	return b
}
