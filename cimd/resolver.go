package cimd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/mcp-authz/mcp-authz/internal/safehttp"
)

// Defaults for [Config].
const (
	DefaultMinTTL           = 5 * time.Minute
	DefaultMaxTTL           = 24 * time.Hour // also the most MaxTTL may be (requirements §5)
	DefaultBackoffMin       = 2 * time.Second
	DefaultBackoffMax       = 5 * time.Minute
	DefaultMaxEntries       = 10000
	DefaultMaxDocumentBytes = 5 << 10 // CIMD-01 §4 recommends 5 KB
	DefaultMaxRedirectURIs  = 20
	DefaultMaxURLLength     = 2048
)

// Fetcher fetches a document. *safehttp.Client implements it; nothing else should outside tests,
// because the SSRF protection lives there.
type Fetcher interface {
	Get(ctx context.Context, url string, opts safehttp.Options) (*safehttp.Response, error)
}

// Config configures a [Resolver]. The zero value is a working, enabled resolver with the
// defaults above, an empty allow-list and an empty deny-list.
type Config struct {
	// Disabled switches client ID metadata documents off: Resolve then fails with RuleDisabled.
	Disabled bool

	// AllowHosts and DenyHosts are host patterns: an exact host ("app.example.com",
	// "192.0.2.7") or "*.example.com" for every name below example.com (not example.com
	// itself). Ports are not part of a pattern. Deny wins. An empty allow-list admits any host
	// that the address rules of internal/safehttp admit. Test hosts (safehttp.Config.TestHosts)
	// are not exempt from these lists.
	AllowHosts []string
	DenyHosts  []string

	// MinTTL and MaxTTL bound how long a valid document is cached, whatever its caching headers
	// say. Zero means DefaultMinTTL and DefaultMaxTTL; MaxTTL may not exceed 24 hours.
	MinTTL, MaxTTL time.Duration
	// BackoffMin and BackoffMax shape the wait after failed fetches of one client_id: BackoffMin
	// after the first, doubling with each further failure, at most BackoffMax. A client_id that
	// has not failed for BackoffMax after its last wait starts again from BackoffMin.
	BackoffMin, BackoffMax time.Duration
	// MaxEntries bounds the number of client_ids the cache remembers.
	MaxEntries int

	// MaxDocumentBytes bounds the document; zero means DefaultMaxDocumentBytes.
	MaxDocumentBytes int64
	// FetchTimeout shortens the fetcher's time limit; zero means the fetcher's own (5 s by default).
	FetchTimeout time.Duration
	// MaxRedirectURIs bounds redirect_uris; zero means DefaultMaxRedirectURIs.
	MaxRedirectURIs int
	// MaxURLLength bounds the client_id and every URL in the document; zero means
	// DefaultMaxURLLength.
	MaxURLLength int

	// OnChange, if set, is called with a client_id whose re-fetched document differs from the
	// one cached before in redirect URIs, keys or authentication method (see
	// Client.Fingerprint), so that the server can drop consent remembered for it (CIMD-01 §6.3).
	// It is called once per change, synchronously, after the new document is cached and before
	// Resolve returns it; it must not call Resolve for the same client_id. It is best effort: a
	// change is missed if the old document was evicted from the cache or the process
	// restarted, which is why consent should also store the Fingerprint.
	OnChange func(clientID string)

	// Now is the clock; nil means time.Now. Tests set it to exercise expiry and backoff.
	Now func() time.Time
	// Logger receives one line per failed fetch and per changed document; nil means none.
	Logger *slog.Logger
}

// Resolver turns client_id URLs into validated, cached clients. It is safe for concurrent use.
type Resolver struct {
	fetcher  Fetcher
	disabled bool
	policy   policy
	minTTL   time.Duration
	maxTTL   time.Duration
	backMin  time.Duration
	backMax  time.Duration
	maxEnt   int
	maxDoc   int64
	timeout  time.Duration
	limits   docLimits
	onChange func(string)
	now      func() time.Time
	log      *slog.Logger

	flights singleflight.Group

	mu      sync.RWMutex
	entries map[string]*entry
}

// NewResolver returns a resolver that fetches through fetcher (a *safehttp.Client), or an error
// if cfg is invalid.
func NewResolver(fetcher Fetcher, cfg Config) (*Resolver, error) {
	if fetcher == nil {
		return nil, errors.New("cimd: nil fetcher")
	}
	r := &Resolver{
		fetcher:  fetcher,
		disabled: cfg.Disabled,
		minTTL:   orDefault(cfg.MinTTL, DefaultMinTTL),
		maxTTL:   orDefault(cfg.MaxTTL, DefaultMaxTTL),
		backMin:  orDefault(cfg.BackoffMin, DefaultBackoffMin),
		backMax:  orDefault(cfg.BackoffMax, DefaultBackoffMax),
		maxEnt:   orDefault(cfg.MaxEntries, DefaultMaxEntries),
		maxDoc:   orDefault(cfg.MaxDocumentBytes, DefaultMaxDocumentBytes),
		timeout:  cfg.FetchTimeout,
		limits: docLimits{
			maxRedirectURIs: orDefault(cfg.MaxRedirectURIs, DefaultMaxRedirectURIs),
			maxURLLength:    orDefault(cfg.MaxURLLength, DefaultMaxURLLength),
		},
		onChange: cfg.OnChange,
		now:      cfg.Now,
		log:      cfg.Logger,
		entries:  make(map[string]*entry),
	}
	switch {
	case r.minTTL < 0 || r.minTTL > r.maxTTL:
		return nil, fmt.Errorf("cimd: MinTTL %s must lie between 0 and MaxTTL %s", r.minTTL, r.maxTTL)
	case r.maxTTL > DefaultMaxTTL:
		return nil, fmt.Errorf("cimd: MaxTTL %s is over 24 hours", r.maxTTL)
	case r.backMin <= 0 || r.backMin > r.backMax:
		return nil, fmt.Errorf("cimd: BackoffMin %s must lie between 0 and BackoffMax %s", r.backMin, r.backMax)
	case r.maxEnt < 1 || r.maxDoc < 1 || r.maxDoc > safehttp.MaxBodyLimit ||
		r.limits.maxRedirectURIs < 1 || r.limits.maxURLLength < 1 || r.timeout < 0:
		return nil, errors.New("cimd: a size or time limit is out of range")
	}
	var err error
	if r.policy.allow, err = parseHostPatterns(cfg.AllowHosts); err != nil {
		return nil, err
	}
	if r.policy.deny, err = parseHostPatterns(cfg.DenyHosts); err != nil {
		return nil, err
	}
	if r.now == nil {
		r.now = time.Now
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	return r, nil
}

func orDefault[T int | int64 | time.Duration](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}

// Enabled reports whether client ID metadata documents are switched on, for the server's
// metadata (client_id_metadata_document_supported, CIMD §5).
func (r *Resolver) Enabled() bool { return !r.disabled }

// AllowListed reports whether host (a host name or IP literal, without port) is on the
// allow-list and not denied, for a badge on the consent page. It is false when the allow-list is
// empty.
func (r *Resolver) AllowListed(host string) bool {
	return r.policy.allowListed(normalizeHost(host))
}

// Resolve returns the client that clientID, a URL, describes. A cached document is returned
// without fetching while it is fresh; otherwise the document is fetched (one fetch however
// many callers ask at once), validated and cached. Every failure is an [*Error] saying which
// rule failed. A failed fetch must end the authorization request with an error page, never a
// redirect (requirements §5).
//
// The *Client returned is shared and immutable.
func (r *Resolver) Resolve(ctx context.Context, clientID string) (*Client, error) {
	if r.disabled {
		return nil, fail(clientID, RuleDisabled, "client ID metadata documents are switched off")
	}
	now := r.now()
	r.mu.RLock()
	if e := r.entries[clientID]; e != nil && e.client != nil && now.Before(e.client.expires) {
		c := e.client
		r.mu.RUnlock()
		return c, nil
	}
	r.mu.RUnlock()
	return r.resolveSlow(ctx, clientID, now)
}

func (r *Resolver) resolveSlow(ctx context.Context, clientID string, now time.Time) (*Client, error) {
	u, ferr := parseClientURL(clientID, r.limits.maxURLLength)
	if ferr != nil {
		return nil, ferr
	}
	switch r.policy.check(u.host) {
	case RuleHostDenied:
		return nil, fail(clientID, RuleHostDenied, "host %s is on the deny-list", u.host)
	case RuleHostNotAllowed:
		return nil, fail(clientID, RuleHostNotAllowed, "host %s is not on the allow-list", u.host)
	}
	if err := r.backingOff(clientID, now); err != nil {
		return nil, err
	}

	// The fetch is shared by everyone asking for this client_id now, so it must not die with
	// the first caller's request: it runs detached from the caller's cancellation, bounded by
	// the fetcher's own time limit, and each caller waits only as long as its own context lets it.
	ch := r.flights.DoChan(clientID, func() (any, error) {
		return r.fetch(context.WithoutCancel(ctx), clientID, u)
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return nil, res.Err
		}
		return res.Val.(*Client), nil
	case <-ctx.Done():
		e := fail(clientID, RuleCanceled, "gave up waiting for the document")
		e.Err = ctx.Err()
		return nil, e
	}
}

// backingOff returns a RuleRetryLater error while clientID is waiting after failures.
func (r *Resolver) backingOff(clientID string, now time.Time) *Error {
	r.mu.RLock()
	defer r.mu.RUnlock()
	e := r.entries[clientID]
	if e == nil || e.failures == 0 || !now.Before(e.retryAfter) {
		return nil
	}
	err := fail(clientID, RuleRetryLater, "%d failed fetches in a row; not fetched again before %s",
		e.failures, e.retryAfter.UTC().Format(time.RFC3339))
	err.RetryAfter = e.retryAfter
	return err
}

// fetch runs once per flight: fetch, validate, cache.
func (r *Resolver) fetch(ctx context.Context, clientID string, u clientURL) (*Client, error) {
	// A flight that ended just before this one began may have cached the document already.
	now := r.now()
	r.mu.RLock()
	if e := r.entries[clientID]; e != nil && e.client != nil && now.Before(e.client.expires) {
		c := e.client
		r.mu.RUnlock()
		return c, nil
	}
	r.mu.RUnlock()

	resp, err := r.fetcher.Get(ctx, clientID, safehttp.Options{
		JSON:         true,
		MaxBodyBytes: r.maxDoc,
		Timeout:      r.timeout,
	})
	now = r.now()
	if err != nil {
		e := fetchFailure(clientID, err)
		// Our own rate limit says nothing about the document; do not hold it against it.
		if e.Rule != RuleRateLimited {
			r.recordFailure(ctx, clientID, now, e)
		}
		return nil, e
	}
	c, perr := parseDocument(clientID, resp.Body, r.limits)
	if perr != nil {
		r.recordFailure(ctx, clientID, now, perr)
		return nil, perr
	}
	c.host = u.hostPort
	c.allowListed = r.policy.allowListed(u.host)
	c.fetchedAt = now
	c.expires = now.Add(cacheTTL(resp.Header, now, r.minTTL, r.maxTTL))

	if r.store(clientID, c, now) {
		r.log.InfoContext(ctx, "cimd: client metadata document changed", "client_id", clientID,
			"fingerprint", c.fingerprint)
		if r.onChange != nil {
			r.onChange(clientID)
		}
	}
	return c, nil
}

// fetchFailure names the rule a safehttp error broke.
func fetchFailure(clientID string, err error) *Error {
	rule := RuleFetchFailed
	switch {
	case errors.Is(err, safehttp.ErrBlockedAddress):
		rule = RuleAddressBlocked
	case errors.Is(err, safehttp.ErrRedirect):
		rule = RuleRedirect
	case errors.Is(err, safehttp.ErrStatus):
		rule = RuleHTTPStatus
	case errors.Is(err, safehttp.ErrContentType):
		rule = RuleContentType
	case errors.Is(err, safehttp.ErrTooLarge):
		rule = RuleTooLarge
	case errors.Is(err, safehttp.ErrTimeout):
		rule = RuleTimeout
	case errors.Is(err, safehttp.ErrRateLimited):
		rule = RuleRateLimited
	case errors.Is(err, safehttp.ErrBadURL):
		rule = RuleURLInvalid
	}
	e := fail(clientID, rule, "%s", cut(err.Error(), 300))
	e.Err = err
	return e
}

// store caches c and reports whether it replaces a document with a different fingerprint.
func (r *Resolver) store(clientID string, c *Client, now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.entries[clientID]
	if old == nil {
		r.makeRoom(now)
	}
	r.entries[clientID] = &entry{client: c}
	return old != nil && old.client != nil && old.client.fingerprint != c.fingerprint
}

// recordFailure counts a failed fetch and sets when to try again.
func (r *Resolver) recordFailure(ctx context.Context, clientID string, now time.Time, ferr *Error) {
	r.mu.Lock()
	e := r.entries[clientID]
	if e == nil {
		r.makeRoom(now)
		e = &entry{}
		r.entries[clientID] = e
	}
	if e.failures > 0 && now.Sub(e.retryAfter) > r.backMax {
		e.failures = 0 // quiet for long enough: start the backoff again
	}
	e.failures++
	wait := r.backMax
	if shift := e.failures - 1; shift < 32 && r.backMin<<shift > 0 && r.backMin<<shift < r.backMax {
		wait = r.backMin << shift
	}
	e.retryAfter = now.Add(wait)
	failures, retry := e.failures, e.retryAfter
	r.mu.Unlock()

	r.log.InfoContext(ctx, "cimd: client metadata document refused", "client_id", cut(clientID, 256),
		"rule", string(ferr.Rule), "detail", ferr.Detail, "failures", failures, "retry_after", retry)
}

// makeRoom keeps the cache within MaxEntries before an insertion. It first forgets what is no
// longer of use (expired documents and failures whose wait is long over), then, if the cache is
// still full, one entry chosen by Go's randomised map order. The caller holds r.mu.
func (r *Resolver) makeRoom(now time.Time) {
	if len(r.entries) < r.maxEnt {
		return
	}
	for id, e := range r.entries {
		stale := (e.client == nil || !now.Before(e.client.expires)) &&
			(e.failures == 0 || now.Sub(e.retryAfter) > r.backMax)
		if stale {
			delete(r.entries, id)
		}
	}
	for id := range r.entries {
		if len(r.entries) < r.maxEnt {
			break
		}
		delete(r.entries, id)
	}
}
