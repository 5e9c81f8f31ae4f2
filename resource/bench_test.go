package resource

import (
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/asn1"
	"encoding/base64"
	"math/big"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// benchTokens is how many distinct tokens the first-seen benchmarks cycle through; with a
// cache of one entry per shard, each Verify misses.
const benchTokens = 512

type benchFixture struct {
	pub    *ecdsa.PublicKey
	tokens []string
	// For the baseline: each token's signing input and its signature in ASN.1, as
	// crypto/ecdsa wants it.
	inputs []string
	sigs   [][]byte
}

func newBenchFixture(b testing.TB) (*benchFixture, *testAS) {
	clock := newTestClock()
	as := newTestAS(b, clock)
	key := as.newKey("k1", jose.ES256, true)
	f := &benchFixture{pub: key.key.Public().(*ecdsa.PublicKey)}
	for range benchTokens {
		raw := key.sign(b, as.claims(), nil)
		dot := strings.LastIndexByte(raw, '.')
		sig, err := base64.RawURLEncoding.DecodeString(raw[dot+1:])
		if err != nil {
			b.Fatal(err)
		}
		der, err := asn1.Marshal(struct{ R, S *big.Int }{new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])})
		if err != nil {
			b.Fatal(err)
		}
		f.tokens = append(f.tokens, raw)
		f.inputs = append(f.inputs, raw[:dot])
		f.sigs = append(f.sigs, der)
	}
	return f, as
}

// BenchmarkVerify gives the absolute cost of each path:
//
//	go test -run '^$' -bench . -benchmem ./resource
//
// BenchmarkVerifyVsECDSA gives the same paths as ratios to the baseline.
func BenchmarkVerify(b *testing.B) {
	f, as := newBenchFixture(b)
	ctx := context.Background()

	b.Run("ecdsa-baseline", func(b *testing.B) {
		// SHA-256 of the signing input and ecdsa.VerifyASN1: one ES256 verification and
		// nothing else, the signature already decoded and DER-encoded.
		verify := f.baseline(b)
		i := 0
		for b.Loop() {
			verify(i)
			i++
		}
	})
	b.Run("first-seen", func(b *testing.B) {
		verify := f.firstSeen(b, as)
		i := 0
		for b.Loop() {
			verify(i)
			i++
		}
	})
	b.Run("cached", func(b *testing.B) {
		verify := f.cached(b, as)
		i := 0
		for b.Loop() {
			verify(i)
			i++
		}
	})
	b.Run("cached-parallel", func(b *testing.B) {
		v := as.newVerifier(b, nil)
		for _, raw := range f.tokens {
			warm(b, v, raw)
		}
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				if _, err := v.Verify(ctx, f.tokens[i%benchTokens]); err != nil {
					b.Error(err)
					return
				}
				i++
			}
		})
	})
	b.Run("middleware-first-seen", func(b *testing.B) {
		serve := f.middleware(b, as, 1)
		i := 0
		for b.Loop() {
			serve(i)
			i++
		}
	})
	b.Run("middleware-cached", func(b *testing.B) {
		serve := f.middleware(b, as, 0)
		for b.Loop() {
			serve(0)
		}
	})
}

// BenchmarkVerifyVsECDSA reports each path as a multiple of the baseline (metric x-ecdsa),
// robustly on a busy machine: every batch runs the same tokens through the baseline and
// through the path back to back, alternating which goes first, and the metric is the median
// of the per-batch ratios, so noise from other processes hits both sides alike and the
// batches it hit hardest drop out.
func BenchmarkVerifyVsECDSA(b *testing.B) {
	f, as := newBenchFixture(b)
	for _, path := range []struct {
		name string
		op   func(b *testing.B) func(i int)
	}{
		{"first-seen", func(b *testing.B) func(int) { return f.firstSeen(b, as) }},
		{"middleware-first-seen", func(b *testing.B) func(int) { return f.middleware(b, as, 1) }},
		{"cached", func(b *testing.B) func(int) { return f.cached(b, as) }},
		{"middleware-cached", func(b *testing.B) func(int) {
			serve := f.middleware(b, as, 0)
			return func(int) { serve(0) }
		}},
	} {
		b.Run(path.name, func(b *testing.B) {
			r := compare(b.N, f.baseline(b), path.op(b))
			b.ReportMetric(r.ratio, "x-ecdsa")
			b.ReportMetric(r.subject, "ns/path")
			b.ReportMetric(r.base, "ns/ecdsa")
		})
	}
}

// baseline returns the reference operation on token i: one ES256 verification.
func (f *benchFixture) baseline(b testing.TB) func(i int) {
	return func(i int) {
		digest := sha256.Sum256([]byte(f.inputs[i%benchTokens]))
		if !ecdsa.VerifyASN1(f.pub, digest[:], f.sigs[i%benchTokens]) {
			b.Fatal("signature does not verify")
		}
	}
}

// firstSeen returns Verify of token i with a cache too small to hold it: every call misses
// and pays for insertion and eviction.
func (f *benchFixture) firstSeen(b testing.TB, as *testAS) func(i int) {
	v := as.newVerifier(b, func(c *Config) { c.CacheSize = 1 })
	warm(b, v, f.tokens[0])
	return func(i int) {
		if _, err := v.Verify(context.Background(), f.tokens[i%benchTokens]); err != nil {
			b.Fatal(err)
		}
	}
}

// cached returns Verify of one token that is in the cache.
func (f *benchFixture) cached(b testing.TB, as *testAS) func(i int) {
	v := as.newVerifier(b, nil)
	warm(b, v, f.tokens[0])
	return func(int) {
		if _, err := v.Verify(context.Background(), f.tokens[0]); err != nil {
			b.Fatal(err)
		}
	}
}

// middleware returns a request with token i through Protect into an empty handler, recorded
// with httptest.NewRecorder.
func (f *benchFixture) middleware(b testing.TB, as *testAS, cacheSize int) func(i int) {
	v := as.newVerifier(b, func(c *Config) { c.CacheSize = cacheSize })
	warm(b, v, f.tokens[0])
	h := v.Protect(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}), "tools:read")
	reqs := make([]*http.Request, len(f.tokens))
	for i, raw := range f.tokens {
		reqs[i] = httptest.NewRequest(http.MethodPost, testResource, nil)
		reqs[i].Header.Set("Authorization", "Bearer "+raw)
	}
	return func(i int) {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, reqs[i%benchTokens])
		if w.Code != http.StatusOK {
			b.Fatal(w.Code, w.Header())
		}
	}
}

// warm verifies raw once, so that the key set is loaded (and raw cached, if there is a cache).
func warm(b testing.TB, v *Verifier, raw string) {
	b.Helper()
	if _, err := v.Verify(context.Background(), raw); err != nil {
		b.Fatal(err)
	}
}

type comparison struct {
	ratio         float64 // median of the per-batch ratios subject/base
	base, subject float64 // median ns per operation
}

// compare runs base and subject n times each, in batches of the same tokens, alternating
// which goes first, and returns medians over the batches: noise from other processes hits
// both sides of a batch alike, and the median ignores the batches it hit hardest.
func compare(n int, base, subject func(i int)) comparison {
	const batch = 8
	var ratios, bases, subjects []float64
	timeBatch := func(op func(int), start int) float64 {
		t0 := time.Now()
		for i := start; i < start+batch; i++ {
			op(i)
		}
		return float64(time.Since(t0).Nanoseconds()) / batch
	}
	for start := 0; start < max(n, batch); start += batch {
		var b, s float64
		if (start/batch)%2 == 0 {
			b = timeBatch(base, start)
			s = timeBatch(subject, start)
		} else {
			s = timeBatch(subject, start)
			b = timeBatch(base, start)
		}
		ratios, bases, subjects = append(ratios, s/b), append(bases, b), append(subjects, s)
	}
	return comparison{ratio: median(ratios), base: median(bases), subject: median(subjects)}
}

func median(xs []float64) float64 {
	slices.Sort(xs)
	return xs[len(xs)/2]
}
