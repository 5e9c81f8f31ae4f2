package keys

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

func testSecret(b byte) []byte { return bytes.Repeat([]byte{b}, MinSecretLength) }

func TestSealerRoundTrip(t *testing.T) {
	s, err := newSealer(testSecret(1))
	if err != nil {
		t.Fatal(err)
	}
	priv, kid, err := newKey()
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := s.seal(kid, priv)
	if err != nil {
		t.Fatal(err)
	}
	if sealed[0] != formatV1 {
		t.Errorf("format byte = %d, want %d", sealed[0], formatV1)
	}
	// Two seals of the same key differ: each has its own nonce.
	again, _ := s.seal(kid, priv)
	if bytes.Equal(sealed, again) {
		t.Error("two seals of one key are identical; the nonce is not fresh")
	}
	got, err := s.open(kid, sealed)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Equal(priv) {
		t.Error("opened key differs from the sealed one")
	}
}

func TestSealerRefuses(t *testing.T) {
	s, _ := newSealer(testSecret(1))
	priv, kid, _ := newKey()
	sealed, _ := s.seal(kid, priv)
	other, otherKid, _ := newKey()
	otherSealed, _ := s.seal(otherKid, other)

	wrong, _ := newSealer(testSecret(2))
	flipped := bytes.Clone(sealed)
	flipped[len(flipped)/2] ^= 1

	for _, tc := range []struct {
		name   string
		s      *sealer
		kid    string
		sealed []byte
		want   string
	}{
		{"wrong secret", wrong, kid, sealed, "wrong secret?"},
		{"flipped bit", s, kid, flipped, "wrong secret?"},
		// A ciphertext copied into another row: the kid is the AAD, so it does not open.
		{"swapped rows", s, kid, otherSealed, "wrong secret?"},
		{"truncated", s, kid, sealed[:10], "truncated"},
		{"unknown format", s, kid, append([]byte{9}, sealed[1:]...), "format 9"},
		{"empty", s, kid, nil, "no stored private key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.s.open(tc.kid, tc.sealed)
			if err == nil {
				t.Fatal("opened")
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.kid) {
				t.Errorf("error %q should name the kid and say %q", err, tc.want)
			}
			if tc.want == "wrong secret?" && !errors.Is(err, ErrDecrypt) {
				t.Errorf("error %v is not ErrDecrypt", err)
			}
		})
	}
}

func TestShortSecretRefused(t *testing.T) {
	_, err := newSealer(make([]byte, MinSecretLength-1))
	if err == nil || !strings.Contains(err.Error(), "at least 32") {
		t.Fatalf("31-byte secret: err = %v, want a refusal naming the minimum", err)
	}
}

// The kid is the RFC 7638 thumbprint: SHA-256 of the JWK's required members (for EC: crv, kty, x,
// y, §3.2) in lexicographic order without whitespace, base64url without padding. Computed here
// by hand, independently of go-jose.
func TestKidIsRFC7638Thumbprint(t *testing.T) {
	priv, kid, err := newKey()
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.RawURLEncoding.EncodeToString
	point, err := priv.PublicKey.Bytes() // 0x04 || X || Y (SEC 1 §2.3.3)
	if err != nil {
		t.Fatal(err)
	}
	x, y := point[1:33], point[33:]
	canon := `{"crv":"P-256","kty":"EC","x":"` + b64(x) + `","y":"` + b64(y) + `"}`
	sum := sha256.Sum256([]byte(canon))
	if want := b64(sum[:]); kid != want {
		t.Errorf("kid = %s, want %s", kid, want)
	}
}
