package consent

import (
	"sync"
	"time"
)

// failureLimiter counts failed logins per key (an account, an address) in a fixed window. Once a
// key reaches max failures, further attempts are refused until its window ends, whether the
// password would have been right or not: otherwise the limit would only slow a guesser down.
//
// It lives in memory, per instance: with several instances an attacker gets max attempts per
// instance per window, which still bounds guessing. The map is bounded; when full, expired
// entries are dropped, then the oldest.
type failureLimiter struct {
	mu         sync.Mutex
	max        int
	window     time.Duration
	now        func() time.Time
	maxEntries int
	entries    map[string]*failureCount
}

type failureCount struct {
	n     int
	start time.Time
}

func newFailureLimiter(max int, window time.Duration, now func() time.Time) *failureLimiter {
	return &failureLimiter{max: max, window: window, now: now, maxEntries: 100_000, entries: map[string]*failureCount{}}
}

// Blocked reports whether any of the keys has used up its failures, and when it may try again.
func (l *failureLimiter) Blocked(keys ...string) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	for _, k := range keys {
		if e, ok := l.entries[k]; ok {
			if now.Sub(e.start) >= l.window {
				delete(l.entries, k)
				continue
			}
			if e.n >= l.max {
				return true, l.window - now.Sub(e.start)
			}
		}
	}
	return false, 0
}

// Fail records a failure against every key.
func (l *failureLimiter) Fail(keys ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	for _, k := range keys {
		e, ok := l.entries[k]
		if !ok || now.Sub(e.start) >= l.window {
			if !ok && len(l.entries) >= l.maxEntries {
				l.evict(now)
			}
			e = &failureCount{start: now}
			l.entries[k] = e
		}
		e.n++
	}
}

// Reset forgets a key's failures (after a successful login to that account).
func (l *failureLimiter) Reset(key string) {
	l.mu.Lock()
	delete(l.entries, key)
	l.mu.Unlock()
}

func (l *failureLimiter) evict(now time.Time) {
	var oldestKey string
	var oldest time.Time
	for k, e := range l.entries {
		if now.Sub(e.start) >= l.window {
			delete(l.entries, k)
			continue
		}
		if oldestKey == "" || e.start.Before(oldest) {
			oldestKey, oldest = k, e.start
		}
	}
	if len(l.entries) >= l.maxEntries && oldestKey != "" {
		delete(l.entries, oldestKey)
	}
}
