package safehttp

import (
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// hostLimiter keeps one token bucket per host, in a map of bounded size.
//
// Anyone can make the server fetch from any host (CIMD-01 §6.6 asks for outbound rate limits so
// that the server cannot be used to flood a third party), so the map must not grow without
// bound. When it is full, buckets that have refilled completely are dropped: a full bucket is
// indistinguishable from a new one, so nothing is lost. If every bucket is still in use, the new
// host is refused. Evicting a busy bucket instead would let an attacker reset a victim's bucket
// by touching enough other hosts.
type hostLimiter struct {
	limit rate.Limit
	burst int
	max   int

	mu      sync.Mutex
	buckets map[string]*rate.Limiter
}

func newHostLimiter(limit rate.Limit, burst, max int) *hostLimiter {
	return &hostLimiter{limit: limit, burst: burst, max: max, buckets: make(map[string]*rate.Limiter)}
}

// allow takes a token for host at now, and reports whether there was one.
func (h *hostLimiter) allow(host string, now time.Time) bool {
	if h.limit == rate.Inf {
		return true
	}
	host = strings.ToLower(host)
	h.mu.Lock()
	defer h.mu.Unlock()
	b := h.buckets[host]
	if b == nil {
		if len(h.buckets) >= h.max {
			h.dropFull(now)
		}
		if len(h.buckets) >= h.max {
			return false
		}
		b = rate.NewLimiter(h.limit, h.burst)
		h.buckets[host] = b
	}
	return b.AllowN(now, 1)
}

// dropFull forgets every bucket that has refilled to its burst. The caller holds h.mu.
func (h *hostLimiter) dropFull(now time.Time) {
	for host, b := range h.buckets {
		if b.TokensAt(now) >= float64(h.burst) {
			delete(h.buckets, host)
		}
	}
}
