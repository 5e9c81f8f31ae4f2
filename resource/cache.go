package resource

import (
	"sync"
	"time"
)

// cacheShards splits the token cache so that parallel requests rarely touch the same lock.
// The key is a SHA-256 digest, so its first byte picks a shard uniformly.
const cacheShards = 16

// evictionSample is how many entries an insertion into a full shard looks at, dropping the
// expired ones or, failing that, one of them at random (the sampled eviction of Redis). Access
// tokens live minutes, so recency predicts little that expiry does not; sampling keeps a hit to
// a read lock and an insertion to constant work.
const evictionSample = 8

// tokenCache remembers validated tokens by the SHA-256 digest of the raw token. Keying by a
// digest, not the string, means the cache holds no bearer credential a heap dump could replay.
// An entry is served only before its deadline, which is checked on every hit: the token's exp
// (never with leeway) or, for introspection, the shorter time its answer may be reused.
type tokenCache struct {
	perShard int
	shards   [cacheShards]cacheShard
}

type cacheShard struct {
	mu      sync.RWMutex
	entries map[[32]byte]cacheEntry
}

type cacheEntry struct {
	tok   *Token
	until time.Time
}

func newTokenCache(size int) *tokenCache {
	c := &tokenCache{perShard: max(1, (size+cacheShards-1)/cacheShards)}
	for i := range c.shards {
		c.shards[i].entries = make(map[[32]byte]cacheEntry)
	}
	return c
}

func (c *tokenCache) get(key *[32]byte, now time.Time) *Token {
	sh := &c.shards[key[0]%cacheShards]
	sh.mu.RLock()
	e, ok := sh.entries[*key]
	sh.mu.RUnlock()
	if !ok || !now.Before(e.until) {
		return nil
	}
	return e.tok
}

func (c *tokenCache) put(key *[32]byte, tok *Token, until, now time.Time) {
	if !now.Before(until) {
		return
	}
	sh := &c.shards[key[0]%cacheShards]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if _, ok := sh.entries[*key]; !ok && len(sh.entries) >= c.perShard {
		sh.evict(now)
	}
	sh.entries[*key] = cacheEntry{tok: tok, until: until}
}

// evict drops the expired entries among a sample, or the first sampled if none has expired.
// Go starts every map iteration at a random place, which makes the sample random.
func (sh *cacheShard) evict(now time.Time) {
	var victim [32]byte
	seen, dropped := 0, 0
	for k, e := range sh.entries {
		if seen == 0 {
			victim = k
		}
		if !now.Before(e.until) {
			delete(sh.entries, k)
			dropped++
		}
		if seen++; seen == evictionSample {
			break
		}
	}
	if dropped == 0 && seen > 0 {
		delete(sh.entries, victim)
	}
}
