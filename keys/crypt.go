package keys

import (
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/go-jose/go-jose/v4"
)

// MinSecretLength is the shortest key-encryption secret NewManager accepts: 32 bytes, so that the
// secret carries at least as much entropy as the AES-256 key derived from it.
const MinSecretLength = 32

// hkdfInfo binds the derived key to this one use (RFC 5869 §3.2): should the operator's secret
// ever feed another derivation, the keys come out unrelated. The "v1" is bumped together with
// formatV1 if the derivation changes.
const hkdfInfo = "mcp-authz signing-key encryption v1"

// formatV1 is the first byte of every stored ciphertext: version || nonce (12) || AES-256-GCM
// ciphertext of the PKCS#8 DER private key, with its tag (16). The version byte lets a later
// release change algorithm or derivation and still read what an older one wrote.
const formatV1 byte = 1

// ErrDecrypt means a stored private key could not be decrypted: the key-encryption secret is not
// the one it was encrypted with, or the stored bytes were altered. GCM cannot tell these apart.
var ErrDecrypt = errors.New("keys: cannot decrypt signing key")

// sealer encrypts and decrypts private keys for storage.
type sealer struct {
	// aead prepends a fresh random 96-bit nonce to what it seals and reads it back when it opens.
	// One secret encrypts one key per rotation, far below the 2^32 messages a random nonce is
	// safe for (NIST SP 800-38D §8.3).
	aead cipher.AEAD
}

func newSealer(secret []byte) (*sealer, error) {
	if len(secret) < MinSecretLength {
		return nil, fmt.Errorf("keys: the key-encryption secret is %d bytes; it must be at least %d random bytes",
			len(secret), MinSecretLength)
	}
	// No salt: the secret is already meant to be uniformly random, which is the case RFC 5869
	// §3.1 allows without one, and a salt would have to be stored and kept beside the secret.
	k, err := hkdf.Key(sha256.New, secret, nil, hkdfInfo, 32)
	if err != nil {
		return nil, fmt.Errorf("keys: derive key-encryption key: %w", err)
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		return nil, fmt.Errorf("keys: key-encryption cipher: %w", err)
	}
	aead, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		return nil, fmt.Errorf("keys: key-encryption cipher: %w", err)
	}
	return &sealer{aead: aead}, nil
}

// seal encrypts a private key. The kid is the additional authenticated data, so the ciphertext of
// one row copied into another row fails to open instead of lending its key to a different kid.
func (s *sealer) seal(kid string, priv *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("keys: encode private key %s: %w", kid, err)
	}
	out := make([]byte, 1, 1+len(der)+s.aead.Overhead())
	out[0] = formatV1
	return s.aead.Seal(out, nil, der, []byte(kid)), nil
}

// open decrypts what seal wrote and checks that the key is a P-256 key whose thumbprint is kid.
func (s *sealer) open(kid string, sealed []byte) (*ecdsa.PrivateKey, error) {
	if len(sealed) == 0 {
		return nil, fmt.Errorf("keys: signing key %s has no stored private key", kid)
	}
	if sealed[0] != formatV1 {
		return nil, fmt.Errorf("keys: signing key %s is stored in format %d, which this version cannot read",
			kid, sealed[0])
	}
	if len(sealed) < 1+s.aead.Overhead() {
		return nil, fmt.Errorf("%w %s: stored value is truncated", ErrDecrypt, kid)
	}
	der, err := s.aead.Open(nil, nil, sealed[1:], []byte(kid))
	if err != nil {
		return nil, fmt.Errorf("%w %s: wrong secret? (or the stored key was altered)", ErrDecrypt, kid)
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("keys: signing key %s: parse private key: %w", kid, err)
	}
	priv, ok := k.(*ecdsa.PrivateKey)
	if !ok || priv.Curve != elliptic.P256() {
		return nil, fmt.Errorf("keys: signing key %s is a %T, not a P-256 key", kid, k)
	}
	// The AAD already ties ciphertext to kid; this catches a row written with a kid that never
	// matched its key, which would publish a JWKS entry that verifies nothing.
	got, err := thumbprint(&priv.PublicKey)
	if err != nil {
		return nil, err
	}
	if got != kid {
		return nil, fmt.Errorf("keys: signing key %s: kid does not match the key's thumbprint %s", kid, got)
	}
	return priv, nil
}

// newKey generates a P-256 key and its kid.
func newKey() (*ecdsa.PrivateKey, string, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, "", fmt.Errorf("keys: generate P-256 key: %w", err)
	}
	kid, err := thumbprint(&priv.PublicKey)
	if err != nil {
		return nil, "", err
	}
	return priv, kid, nil
}

// thumbprint is the kid of a public key: its RFC 7638 JWK thumbprint (SHA-256, base64url without
// padding). It is derived from the key, so every instance and every verifier agrees on it, and it
// never collides with another key's.
func thumbprint(pub *ecdsa.PublicKey) (string, error) {
	jwk := jose.JSONWebKey{Key: pub}
	t, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("keys: key thumbprint: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(t), nil
}
