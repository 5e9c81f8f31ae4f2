package elicitation

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"errors"
	"fmt"
)

// hkdfInfo binds the derived key to this one use (RFC 5869 §3.2): the server secret also keys
// sessions, token HMACs and signing-key encryption, and each use derives an unrelated key.
const hkdfInfo = "mcp-authz elicitation v1"

// formatV1 is the first byte of everything sealed: version || nonce (12) || AES-256-GCM
// ciphertext with its tag, so that a later release can change the scheme and still read this.
const formatV1 byte = 1

// errOpen means sealed bytes did not open: another secret, another context, or altered bytes.
var errOpen = errors.New("elicitation: cannot decrypt")

// sealer encrypts what elicitation keeps at rest (entered secrets, third-party tokens) and the
// connect flow's cookie. Every seal names its context as additional data, so that ciphertext
// moved to another row or another purpose fails to open instead of lending its contents.
type sealer struct {
	aead cipher.AEAD
}

func newSealer(secret []byte) (*sealer, error) {
	// No salt: the server secret is meant to be uniformly random (RFC 5869 §3.1).
	k, err := hkdf.Key(sha256.New, secret, nil, hkdfInfo, 32)
	if err != nil {
		return nil, fmt.Errorf("elicitation: derive key: %w", err)
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		return nil, fmt.Errorf("elicitation: cipher: %w", err)
	}
	// A fresh random 96-bit nonce per seal; the number of seals per secret stays far below the
	// 2^32 that random nonces are safe for (NIST SP 800-38D §8.3).
	aead, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		return nil, fmt.Errorf("elicitation: cipher: %w", err)
	}
	return &sealer{aead: aead}, nil
}

func (s *sealer) seal(plain []byte, context string) []byte {
	out := make([]byte, 1, 1+len(plain)+s.aead.Overhead())
	out[0] = formatV1
	return s.aead.Seal(out, nil, plain, []byte(context))
}

func (s *sealer) open(sealed []byte, context string) ([]byte, error) {
	if len(sealed) < 1+s.aead.Overhead() || sealed[0] != formatV1 {
		return nil, errOpen
	}
	plain, err := s.aead.Open(nil, nil, sealed[1:], []byte(context))
	if err != nil {
		return nil, errOpen
	}
	return plain, nil
}
