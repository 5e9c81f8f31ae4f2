package elicitation

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// notifier wakes the long polls of this instance when an elicitation completes here. Long polls
// also re-read the database every second, so a completion on another instance is seen too.
type notifier struct {
	mu      sync.Mutex
	waiting map[string]*waiter
}

type waiter struct {
	ch   chan struct{}
	refs int
}

func newNotifier() *notifier { return &notifier{waiting: map[string]*waiter{}} }

// wait returns a channel closed when id is notified, and a release function to call when done.
func (n *notifier) wait(id string) (<-chan struct{}, func()) {
	n.mu.Lock()
	defer n.mu.Unlock()
	w := n.waiting[id]
	if w == nil {
		w = &waiter{ch: make(chan struct{})}
		n.waiting[id] = w
	}
	w.refs++
	return w.ch, func() {
		n.mu.Lock()
		defer n.mu.Unlock()
		w.refs--
		if w.refs == 0 && n.waiting[id] == w {
			delete(n.waiting, id)
		}
	}
}

func (n *notifier) notify(id string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if w := n.waiting[id]; w != nil {
		close(w.ch)
		delete(n.waiting, id)
	}
}

// limiter is a token bucket per key (a client_id, a client address), in a bounded map.
type limiter struct {
	mu      sync.Mutex
	buckets map[string]*rate.Limiter
	rate    rate.Limit
	burst   int
	now     func() time.Time
}

// maxBuckets bounds the map; when it is full it is emptied, which hands every key a fresh burst
// but can never grow memory without bound.
const maxBuckets = 10000

func newLimiter(perSecond float64, burst int, now func() time.Time) *limiter {
	return &limiter{buckets: map[string]*rate.Limiter{}, rate: rate.Limit(perSecond), burst: burst, now: now}
}

func (l *limiter) allow(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= maxBuckets {
			clear(l.buckets)
		}
		b = rate.NewLimiter(l.rate, l.burst)
		l.buckets[key] = b
	}
	return b.AllowN(l.now(), 1)
}

// keyedMutex serializes work per key (refreshing one connection's tokens) within this instance.
type keyedMutex struct {
	mu    sync.Mutex
	locks map[string]*keyLock
}

type keyLock struct {
	sync.Mutex
	refs int
}

func (k *keyedMutex) lock(key string) func() {
	k.mu.Lock()
	if k.locks == nil {
		k.locks = map[string]*keyLock{}
	}
	l := k.locks[key]
	if l == nil {
		l = &keyLock{}
		k.locks[key] = l
	}
	l.refs++
	k.mu.Unlock()
	l.Lock()
	return func() {
		l.Unlock()
		k.mu.Lock()
		l.refs--
		if l.refs == 0 {
			delete(k.locks, key)
		}
		k.mu.Unlock()
	}
}
