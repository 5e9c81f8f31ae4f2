package tokenkey

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"strings"
	"time"
)

// MaxIDLength bounds the jti accepted when naming a presented token: ours are 28 characters,
// and a longer one cannot name a record.
const MaxIDLength = 64

// NewID returns a unique ID that sorts by creation time: 12 hex digits of Unix milliseconds, then
// 96 random bits in base64url (28 characters). Hex keeps the time part's byte order equal to its
// numeric order, so IDs made close in time share a prefix; the random part makes a collision as
// unlikely as for a random 96-bit ID within each millisecond.
func NewID() string { return newID(time.Now()) }

func newID(now time.Time) string {
	var b [6 + 12]byte
	ms := uint64(now.UnixMilli())
	binary.BigEndian.PutUint16(b[0:2], uint16(ms>>32))
	binary.BigEndian.PutUint32(b[2:6], uint32(ms))
	_, _ = rand.Read(b[6:])
	out := make([]byte, 12+16)
	hex.Encode(out[:12], b[:6])
	base64.RawURLEncoding.Encode(out[12:], b[6:])
	return string(out)
}

// For is the storage key of an access token issued with the given jti.
func For(jti, token string) string {
	return jti + "." + hash(token)
}

// Of is the storage key of a presented access token: its jti read from the payload (the token's
// signature is not checked; the hash in the key does that job), then its hash. A token that is
// not a JWT with a usable jti gets a key that no record has.
func Of(token string) string {
	if jti, ok := jtiOf(token); ok {
		return For(jti, token)
	}
	return hash(token) // no '.': every stored key has one
}

// jtiOf reads the jti claim of a compact JWS without verifying it.
func jtiOf(token string) (string, bool) {
	_, rest, ok := strings.Cut(token, ".")
	if !ok {
		return "", false
	}
	payload, _, ok := strings.Cut(rest, ".")
	if !ok {
		return "", false
	}
	raw, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return "", false
	}
	var claims struct {
		ID string `json:"jti"`
	}
	if err := json.Unmarshal(raw, &claims); err != nil || claims.ID == "" || len(claims.ID) > MaxIDLength {
		return "", false
	}
	return claims.ID, true
}

func hash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}
