package keys

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/hex"
	"math/big"
	"testing"
)

// TestSignDeterministicRFC6979 checks signDeterministic against the test vector of RFC 6979
// §A.2.5 (P-256, SHA-256, message "sample"): a nonce derived any other way gives another
// signature.
func TestSignDeterministicRFC6979(t *testing.T) {
	d, _ := hex.DecodeString("c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721")
	priv, perr := ecdsa.ParseRawPrivateKey(elliptic.P256(), d)
	if perr != nil {
		t.Fatal(perr)
	}
	digest := sha256.Sum256([]byte("sample"))
	sig, err := signDeterministic(priv, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	const wantR = "efd48b2aacb6a8fd1140dd9cd45e81d69d2c877b56aaf991c34d0ea84eaf3716"
	const wantS = "f7cb1c942d657c41d436c7a1b6e29f65f3e900dbb9aff4064dc4ab2f843acda8"
	if got := hex.EncodeToString(sig[:32]); got != wantR {
		t.Errorf("r = %s, want %s", got, wantR)
	}
	if got := hex.EncodeToString(sig[32:]); got != wantS {
		t.Errorf("s = %s, want %s", got, wantS)
	}
	r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
	if !ecdsa.Verify(&priv.PublicKey, digest[:], r, s) {
		t.Error("signature does not verify")
	}
}

func TestPutScalar(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
		ok   bool
	}{
		{"01", "0001", true},
		{"00ff", "00ff", true},   // DER's sign byte is dropped
		{"0000ff", "00ff", true}, // more leading zeros than DER would write
		{"ffff", "ffff", true},
		{"01ffff", "", false}, // too long
	} {
		in, _ := hex.DecodeString(tc.in)
		dst := make([]byte, 2)
		ok := putScalar(dst, in)
		if ok != tc.ok || (ok && hex.EncodeToString(dst) != tc.want) {
			t.Errorf("putScalar(%s) = %x, %v; want %s, %v", tc.in, dst, ok, tc.want, tc.ok)
		}
	}
}
