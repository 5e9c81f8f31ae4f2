package cimd

import (
	"context"
	"testing"

	"github.com/mcp-authz/mcp-authz/internal/safehttp"
)

// BenchmarkResolveCached measures the path every authorization request takes once a document is
// cached: a read lock, a map lookup and a clock read, returning the shared *Client. It must not
// allocate.
func BenchmarkResolveCached(b *testing.B) {
	h := newDocHost(b)
	id := h.serveDoc("/c.json", nil, map[string]string{"Cache-Control": "max-age=3600"})
	r, _ := newResolver(b, h, Config{}, safehttp.Config{})
	ctx := context.Background()
	if _, err := r.Resolve(ctx, id); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := r.Resolve(ctx, id); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkResolveCachedParallel is the same under contention from all CPUs.
func BenchmarkResolveCachedParallel(b *testing.B) {
	h := newDocHost(b)
	id := h.serveDoc("/c.json", nil, map[string]string{"Cache-Control": "max-age=3600"})
	r, _ := newResolver(b, h, Config{}, safehttp.Config{})
	ctx := context.Background()
	if _, err := r.Resolve(ctx, id); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := r.Resolve(ctx, id); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkResolveCold resolves a new client_id every iteration against a local TLS document
// host: URL rules, the fetch (over a kept-alive connection), parsing, validation and caching.
func BenchmarkResolveCold(b *testing.B) {
	h := newDocHost(b)
	h.echoDocs()
	r, _ := newResolver(b, h, Config{MaxEntries: 1 << 20}, safehttp.Config{})
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		if _, err := r.Resolve(ctx, h.URL+"/clients/"+itoa(i)+".json"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkResolveColdNewConnection is BenchmarkResolveCold with a fresh client each time, so
// that every resolution pays for TCP and a full TLS handshake, as the first fetch from a new
// host does.
func BenchmarkResolveColdNewConnection(b *testing.B) {
	h := newDocHost(b)
	h.echoDocs()
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		b.StopTimer()
		r, _ := newResolver(b, h, Config{}, safehttp.Config{})
		b.StartTimer()
		if _, err := r.Resolve(ctx, h.URL+"/clients/"+itoa(i)+".json"); err != nil {
			b.Fatal(err)
		}
	}
}
