package cimd

import (
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// entry is the cache's memory of one client_id: the last valid document (kept after it expires
// so that a changed document can be recognised), and the failures since. A failure never
// stores the error itself, only when to try again (CIMD §4.4: errors and invalid documents are
// never cached).
type entry struct {
	client     *Client   // the last valid document, possibly expired; nil if none
	failures   int       // consecutive failed fetches
	retryAfter time.Time // no fetch before this, when failures > 0
}

// cacheTTL is how long a valid document is used, from the response's caching headers (RFC 9111
// §4.2.1: max-age, then Expires), clamped to [min, max]. no-store and no-cache are honoured as
// far as the lower bound allows: the document is kept for min, so that a busy client cannot
// make us fetch its document on every request. Without caching headers the document is kept
// for min.
func cacheTTL(h http.Header, now time.Time, min, max time.Duration) time.Duration {
	d, ok := freshness(h, now)
	switch {
	case !ok, d < min:
		return min
	case d > max:
		return max
	}
	return d
}

// freshness returns the freshness lifetime the headers give, if they give one.
func freshness(h http.Header, now time.Time) (time.Duration, bool) {
	maxAge, hasMaxAge := int64(0), false
	for _, v := range h.Values("Cache-Control") {
		for dir := range strings.SplitSeq(v, ",") {
			name, val, _ := strings.Cut(strings.TrimSpace(dir), "=")
			switch strings.ToLower(strings.TrimSpace(name)) {
			case "no-store", "no-cache":
				return 0, true
			case "max-age":
				n, err := strconv.ParseInt(strings.Trim(strings.TrimSpace(val), `"`), 10, 64)
				if err != nil || n < 0 {
					// RFC 9111 §4.2.1: an invalid max-age makes the response stale.
					return 0, true
				}
				maxAge, hasMaxAge = n, true
			}
		}
	}
	if hasMaxAge {
		if age, err := strconv.ParseInt(h.Get("Age"), 10, 64); err == nil && age > 0 {
			maxAge -= age
		}
		return seconds(maxAge), true
	}
	if exp := h.Get("Expires"); exp != "" {
		t, err := http.ParseTime(exp)
		if err != nil {
			return 0, true // RFC 9111 §5.3: an invalid Expires means already expired
		}
		base := now
		if date, err := http.ParseTime(h.Get("Date")); err == nil {
			base = date
		}
		return t.Sub(base), true
	}
	return 0, false
}

// seconds converts n seconds to a Duration without overflow.
func seconds(n int64) time.Duration {
	if n > math.MaxInt64/int64(time.Second) {
		return math.MaxInt64
	}
	return time.Duration(n) * time.Second
}
