package keys

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// benchClaims is a typical RFC 9068 access token payload.
var benchClaims = []byte(`{"iss":"https://auth.example.com","sub":"4f1c2a9e-3b7d-4e8a-9c6f-1d2e3f4a5b6c",` +
	`"aud":"https://mcp.example.com/mcp","exp":1790000300,"iat":1790000000,` +
	`"jti":"8f0b0c1e-7e52-4f54-9a1d-6c0f3b2a1e55","client_id":"https://client.example.com/cimd.json",` +
	`"scope":"files:read files:write"}`)

// benchManager is a Manager holding one key, loaded without a store: the benchmarks measure
// signing only.
func benchManager(b *testing.B) (*Manager, *signingKey) {
	b.Helper()
	priv, kid, err := newKey()
	if err != nil {
		b.Fatal(err)
	}
	k, err := newSigningKey(kid, priv)
	if err != nil {
		b.Fatal(err)
	}
	m := &Manager{}
	m.state.Store(&keySet{current: k, published: []*signingKey{k}, byID: map[string]*signingKey{kid: k}})
	return m, k
}

// rawSign hashes the payload and signs it the standard library's default way, hedged (RFC 6979
// mixed with randomness): what SignJWT would cost if it did nothing else and signed that way.
// SignJWT signs deterministically (see signDeterministic), so it comes out below this.
func rawSign(b *testing.B, priv *ecdsa.PrivateKey) {
	digest := sha256.Sum256(benchClaims)
	if _, _, err := ecdsa.Sign(rand.Reader, priv, digest[:]); err != nil {
		b.Fatal(err)
	}
}

func BenchmarkSign(b *testing.B) {
	m, k := benchManager(b)
	b.Run("ecdsa.Sign", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			rawSign(b, k.priv)
		}
	})
	b.Run("SignJWT", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := m.SignJWT(benchClaims, TypeAccessToken); err != nil {
				b.Fatal(err)
			}
		}
	})
	// go-jose's Signer, built once, for comparison: what SignJWT would cost written with it.
	b.Run("jose.Signer", func(b *testing.B) {
		s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: k.priv, KeyID: k.id}},
			(&jose.SignerOptions{}).WithType(TypeAccessToken))
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			jws, err := s.Sign(benchClaims)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := jws.CompactSerialize(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkSignOverhead interleaves SignJWT with the raw signature, so that both see the same
// machine load, and reports SignJWT's time as a ratio of the raw signature's.
func BenchmarkSignOverhead(b *testing.B) {
	m, k := benchManager(b)
	var raw, jwt time.Duration
	for b.Loop() {
		t0 := time.Now()
		rawSign(b, k.priv)
		t1 := time.Now()
		if _, err := m.SignJWT(benchClaims, TypeAccessToken); err != nil {
			b.Fatal(err)
		}
		raw += t1.Sub(t0)
		jwt += time.Since(t1)
	}
	b.ReportMetric(float64(raw.Nanoseconds())/float64(b.N), "raw-ns/op")
	b.ReportMetric(float64(jwt.Nanoseconds())/float64(b.N), "signjwt-ns/op")
	b.ReportMetric(float64(jwt)/float64(raw), "signjwt/raw")
}
