package cimd

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/mcp-authz/mcp-authz/internal/safehttp"
	"github.com/mcp-authz/mcp-authz/internal/safehttp/safehttptest"
)

func TestResolveHappyPath(t *testing.T) {
	h := newDocHost(t)
	id := h.serveDoc("/oauth/client.json", nil, map[string]string{"Cache-Control": "max-age=600"})
	clk := newClock()
	r, _ := newResolver(t, h, Config{Now: clk.Now}, safehttp.Config{})

	c, err := r.Resolve(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if c.ID() != id || c.Name() != "Example MCP Client" || c.Host() != h.Addr() || c.AllowListed() {
		t.Errorf("client: id=%q name=%q host=%q allowListed=%v", c.ID(), c.Name(), c.Host(), c.AllowListed())
	}
	if !c.FetchedAt().Equal(clk.Now()) || !c.Expires().Equal(clk.Now().Add(10*time.Minute)) {
		t.Errorf("times: %s %s", c.FetchedAt(), c.Expires())
	}
	for uri, want := range map[string]bool{
		"http://127.0.0.1/callback":                  true,
		"http://127.0.0.1:49152/callback":            true,
		"http://localhost:49152/callback":            false,
		"https://app.example.com/oauth/callback":     true,
		"https://app.example.com:444/oauth/callback": false,
		"https://app.example.com/oauth/callback?x":   false,
	} {
		if got := c.MatchRedirectURI(uri); got != want {
			t.Errorf("MatchRedirectURI(%q) = %v", uri, got)
		}
	}
	// Accessors hand out copies: the cached client cannot be changed through them.
	c.RedirectURIs()[0] = "https://evil.example/cb"
	c.GrantTypes()[0] = "password"
	if c.RedirectURIs()[0] != "http://127.0.0.1/callback" || c.GrantTypes()[0] != "authorization_code" {
		t.Error("accessor exposed the cached slice")
	}
	if !r.Enabled() {
		t.Error("Enabled() = false")
	}
}

// TestHostileClientIDs is the table of hostile client_ids. Each is refused with its own rule.
// Those that involve an address are set up so that, were the address let through, the
// connection would land on a counted local target; the target must see none.
func TestHostileClientIDs(t *testing.T) {
	h := newDocHost(t)
	tg := safehttptest.NewTarget(t, nil) // where any connection that must not happen would land
	_, port, _ := net.SplitHostPort(h.Addr())
	base := h.URL

	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	oversized := strings.Repeat(" ", DefaultMaxDocumentBytes) + "{}"
	mux := map[string]reply{
		"/redirect-internal": {status: http.StatusFound, header: map[string]string{"Location": "https://metadata.internal/latest/meta-data/"}},
		"/301":               {status: 301, header: map[string]string{"Location": base + "/ok"}},
		"/307":               {status: 307, header: map[string]string{"Location": base + "/ok"}},
		"/308":               {status: 308, header: map[string]string{"Location": base + "/ok"}},
		"/404":               {status: 404, body: `{"error":"not found"}`},
		"/500":               {status: 500, body: `{}`},
		"/204":               {status: 204},
		"/oversized":         {body: oversized},
		"/never":             {wait: release},
		"/html":              {ctype: "text/html", body: "<html></html>"},
		"/no-type":           {ctype: "application/octet-stream", body: "{}"},
		"/not-json":          {body: "<html>hello</html>"},
		"/array":             {body: `[]`},
		"/endless":           {fn: endless},
	}
	for p, rep := range mux {
		h.set(p, rep)
	}
	h.serveDoc("/mismatch", func(d map[string]any) { d["client_id"] = "https://evil.example.com/client.json" }, nil)
	h.serveDoc("/secret-method", func(d map[string]any) { d["token_endpoint_auth_method"] = "client_secret_basic" }, nil)
	h.serveDoc("/secret-field", func(d map[string]any) { d["client_secret"] = "hunter2" }, nil)

	cases := []struct {
		name      string
		id        string
		rule      Rule
		noConnect bool // neither the document host nor the target may see a connection
	}{
		// URL rules: nothing is fetched at all.
		{"http scheme", "http://" + h.Addr() + "/ok", RuleURLScheme, true},
		{"fragment", base + "/ok#x", RuleURLFragment, true},
		{"userinfo", "https://user:pw@" + h.Addr() + "/ok", RuleURLUserinfo, true},
		{"dot segment", base + "/a/../ok", RuleURLDotSegment, true},
		{"encoded dot segment", base + "/a/%2e%2e/ok", RuleURLDotSegment, true},
		{"query", base + "/ok?x=1", RuleURLQuery, true},
		{"no path", base, RuleURLPath, true},

		// Addresses: names that resolve to special-use addresses, and literals.
		{"public-looking name to 127.0.0.1", "https://client.example.com/c.json", RuleAddressBlocked, true},
		{"name to 10.0.0.1", "https://ten.example.com/c.json", RuleAddressBlocked, true},
		{"name to 169.254.169.254", "https://metadata.example.com/c.json", RuleAddressBlocked, true},
		{"name to ::1", "https://v6.example.com/c.json", RuleAddressBlocked, true},
		{"name to fd00::1", "https://ula.example.com/c.json", RuleAddressBlocked, true},
		{"name to IPv4-mapped 192.168.0.1", "https://mapped.example.com/c.json", RuleAddressBlocked, true},
		{"name to NAT64 10.0.0.1", "https://nat64.example.com/c.json", RuleAddressBlocked, true},
		{"name to 100.64.0.1 and a public address", "https://mixed.example.com/c.json", RuleAddressBlocked, true},
		{"literal 10.1.2.3", "https://10.1.2.3/c.json", RuleAddressBlocked, true},
		{"literal ::ffff:127.0.0.1", "https://[::ffff:127.0.0.1]/c.json", RuleAddressBlocked, true},
		{"literal loopback on the document host's port", "https://127.0.0.2:" + port + "/ok", RuleAddressBlocked, true},

		// Fetch rules, against the document host (a test host).
		{"redirect to an internal address", base + "/redirect-internal", RuleRedirect, false},
		{"301", base + "/301", RuleRedirect, false},
		{"307", base + "/307", RuleRedirect, false},
		{"308", base + "/308", RuleRedirect, false},
		{"404", base + "/404", RuleHTTPStatus, false},
		{"500", base + "/500", RuleHTTPStatus, false},
		{"204", base + "/204", RuleHTTPStatus, false},
		{"oversized body", base + "/oversized", RuleTooLarge, false},
		{"endless body", base + "/endless", RuleTooLarge, false},
		{"never answers", base + "/never", RuleTimeout, false},
		{"html content type", base + "/html", RuleContentType, false},
		{"octet-stream content type", base + "/no-type", RuleContentType, false},
		{"non-JSON body", base + "/not-json", RuleNotJSON, false},
		{"JSON array", base + "/array", RuleNotJSON, false},

		// Document rules.
		{"client_id mismatch", base + "/mismatch", RuleClientIDMismatch, false},
		{"client_secret_basic", base + "/secret-method", RuleAuthMethodForbidden, false},
		{"client_secret field", base + "/secret-field", RuleClientSecret, false},
	}

	addr := netip.MustParseAddr
	resolver := safehttptest.Resolver{
		"client.example.com":   {addr("127.0.0.1")},
		"ten.example.com":      {addr("10.0.0.1")},
		"metadata.example.com": {addr("169.254.169.254")},
		"v6.example.com":       {addr("::1")},
		"ula.example.com":      {addr("fd00::1")},
		"mapped.example.com":   {addr("::ffff:192.168.0.1")},
		"nat64.example.com":    {addr("64:ff9b::a00:1")},
		"mixed.example.com":    {addr("8.8.8.8"), addr("100.64.0.1")},
		"metadata.internal":    {addr("169.254.169.254")},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dialer := &safehttptest.RoutingDialer{Routes: map[string]string{h.Addr(): h.Addr()}, Fallback: tg.Addr()}
			r, _ := newResolver(t, h, Config{}, safehttp.Config{
				Timeout:  300 * time.Millisecond,
				Resolver: resolver,
				Dialer:   dialer,
			})
			hostBefore := h.Accepted()
			_, err := r.Resolve(context.Background(), c.id)
			if got := ruleOf(err); got != c.rule {
				t.Fatalf("Resolve(%q) = %v, want rule %s", c.id, err, c.rule)
			}
			if c.noConnect {
				if d := h.Accepted() - hostBefore; d != 0 {
					t.Errorf("document host accepted %d connections", d)
				}
				for _, a := range dialer.Asked() {
					t.Errorf("dialer asked for %s", a)
				}
			}
			if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "<html>") {
				t.Errorf("error repeats the response: %v", err)
			}
		})
	}
	if n := tg.Accepted(); n != 0 {
		t.Fatalf("target accepted %d connections, want 0", n)
	}
}

// The memory spent on an endless document stays bounded.
func TestEndlessDocumentBoundedMemory(t *testing.T) {
	h := newDocHost(t)
	r, _ := newResolver(t, h, Config{}, safehttp.Config{})
	var allocs []uint64
	for i := range 3 {
		id := h.set("/endless-"+itoa(i), reply{fn: endless})
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err := r.Resolve(context.Background(), id)
		runtime.ReadMemStats(&after)
		if ruleOf(err) != RuleTooLarge {
			t.Fatalf("Resolve = %v", err)
		}
		allocs = append(allocs, after.TotalAlloc-before.TotalAlloc)
	}
	for _, a := range allocs {
		if a > 4<<20 {
			t.Errorf("allocated %d bytes for one endless document", a)
		}
	}
}

func TestResolveDisabledAndPolicy(t *testing.T) {
	h := newDocHost(t)
	id := h.serveDoc("/c.json", nil, nil)

	off, f := newResolver(t, h, Config{Disabled: true}, safehttp.Config{})
	if _, err := off.Resolve(context.Background(), id); ruleOf(err) != RuleDisabled {
		t.Errorf("disabled: %v", err)
	}
	if off.Enabled() || f.n.Load() != 0 {
		t.Error("disabled resolver fetched or says enabled")
	}

	// example.com resolves to the document host, whose certificate is valid for example.com.
	_, port, _ := net.SplitHostPort(h.Addr())
	scfg := safehttp.Config{
		TestHosts: []string{"example.com:443", "www.example.com:443"},
		Resolver: safehttptest.Resolver{
			"example.com":     {netip.MustParseAddr("127.0.0.1")},
			"www.example.com": {netip.MustParseAddr("127.0.0.1")},
		},
		Dialer: &safehttptest.RoutingDialer{Fallback: "127.0.0.1:" + port},
	}
	h.serveDoc("/named.json", func(d map[string]any) { d["client_id"] = "https://example.com/named.json" }, nil)

	allow, _ := newResolver(t, h, Config{AllowHosts: []string{"example.com", "*.apps.example"}, DenyHosts: []string{"*.example.com"}}, scfg)
	c, err := allow.Resolve(context.Background(), "https://example.com/named.json")
	if err != nil {
		t.Fatal(err)
	}
	if !c.AllowListed() || c.Host() != "example.com" || !allow.AllowListed("Example.COM") || allow.AllowListed("www.example.com") {
		t.Errorf("allow-list badge: %v %q", c.AllowListed(), c.Host())
	}
	if _, err := allow.Resolve(context.Background(), "https://www.example.com/named.json"); ruleOf(err) != RuleHostDenied {
		t.Errorf("deny wins: %v", err)
	}
	if _, err := allow.Resolve(context.Background(), id); ruleOf(err) != RuleHostNotAllowed {
		t.Errorf("not on allow-list: %v", err)
	}

	for _, cfg := range []Config{
		{AllowHosts: []string{"*"}},
		{DenyHosts: []string{"a b"}},
		{MinTTL: time.Hour, MaxTTL: time.Minute},
		{MaxTTL: 25 * time.Hour},
		{BackoffMin: time.Hour, BackoffMax: time.Minute},
		{MaxDocumentBytes: safehttp.MaxBodyLimit + 1},
		{MaxEntries: -1},
	} {
		if _, err := NewResolver(f, cfg); err == nil {
			t.Errorf("NewResolver(%+v) accepted", cfg)
		}
	}
	if _, err := NewResolver(nil, Config{}); err == nil {
		t.Error("nil fetcher accepted")
	}
}

func TestCacheLifetime(t *testing.T) {
	cases := []struct {
		name   string
		header map[string]string
		want   time.Duration
	}{
		{"max-age honoured", map[string]string{"Cache-Control": "public, max-age=3600"}, time.Hour},
		{"max-age minus Age", map[string]string{"Cache-Control": "max-age=3600", "Age": "600"}, 50 * time.Minute},
		{"max-age clamped up", map[string]string{"Cache-Control": "max-age=10"}, DefaultMinTTL},
		{"max-age clamped down", map[string]string{"Cache-Control": "max-age=31536000"}, DefaultMaxTTL},
		{"max-age enormous", map[string]string{"Cache-Control": "max-age=99999999999999999"}, DefaultMaxTTL},
		{"max-age invalid", map[string]string{"Cache-Control": "max-age=soon"}, DefaultMinTTL},
		{"no-store", map[string]string{"Cache-Control": "no-store, max-age=3600"}, DefaultMinTTL},
		{"no-cache", map[string]string{"Cache-Control": "no-cache"}, DefaultMinTTL},
		{"Expires", map[string]string{"Expires": time.Now().Add(2 * time.Hour).UTC().Format(http.TimeFormat)}, 2 * time.Hour},
		{"Expires invalid", map[string]string{"Expires": "0"}, DefaultMinTTL},
		{"max-age beats Expires", map[string]string{"Cache-Control": "max-age=1800", "Expires": time.Now().Add(2 * time.Hour).UTC().Format(http.TimeFormat)}, 30 * time.Minute},
		{"no headers", nil, DefaultMinTTL},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newDocHost(t)
			id := h.serveDoc("/c.json", nil, c.header)
			clk := newClock()
			r, f := newResolver(t, h, Config{Now: clk.Now}, safehttp.Config{})
			first, err := r.Resolve(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			got := first.Expires().Sub(first.FetchedAt())
			if d := got - c.want; d < -2*time.Second || d > 2*time.Second { // Expires has second resolution
				t.Fatalf("lifetime %s, want %s", got, c.want)
			}
			clk.Advance(got - time.Second)
			if again, err := r.Resolve(context.Background(), id); err != nil || again != first {
				t.Fatalf("not served from cache before expiry: %v", err)
			}
			if f.n.Load() != 1 {
				t.Fatalf("%d fetches before expiry", f.n.Load())
			}
			clk.Advance(2 * time.Second)
			if again, err := r.Resolve(context.Background(), id); err != nil || again == first {
				t.Fatalf("not re-fetched after expiry: %v", err)
			}
			if f.n.Load() != 2 {
				t.Fatalf("%d fetches after expiry", f.n.Load())
			}
		})
	}
}

func TestConfiguredTTLBounds(t *testing.T) {
	h := newDocHost(t)
	id := h.serveDoc("/c.json", nil, map[string]string{"Cache-Control": "max-age=60"})
	hi := h.serveDoc("/hi.json", nil, map[string]string{"Cache-Control": "max-age=86400"})
	clk := newClock()
	r, _ := newResolver(t, h, Config{Now: clk.Now, MinTTL: 2 * time.Minute, MaxTTL: time.Hour}, safehttp.Config{})
	c, _ := r.Resolve(context.Background(), id)
	c2, _ := r.Resolve(context.Background(), hi)
	if c.Expires().Sub(c.FetchedAt()) != 2*time.Minute || c2.Expires().Sub(c2.FetchedAt()) != time.Hour {
		t.Errorf("bounds: %s %s", c.Expires().Sub(c.FetchedAt()), c2.Expires().Sub(c2.FetchedAt()))
	}
}

// Failures are never cached: a fixed document is used as soon as the backoff allows, and the
// backoff doubles, is bounded, and starts over after a quiet spell.
func TestFailuresAndBackoff(t *testing.T) {
	h := newDocHost(t)
	id := h.set("/c.json", reply{status: 500})
	clk := newClock()
	r, f := newResolver(t, h, Config{Now: clk.Now, BackoffMin: time.Second, BackoffMax: 8 * time.Second}, safehttp.Config{})
	ctx := context.Background()

	wantWaits := []time.Duration{1, 2, 4, 8, 8}
	for i, w := range wantWaits {
		start := clk.Now()
		if _, err := r.Resolve(ctx, id); ruleOf(err) != RuleHTTPStatus {
			t.Fatalf("failure %d: %v", i, err)
		}
		_, err := r.Resolve(ctx, id)
		var e *Error
		if !errors.As(err, &e) || e.Rule != RuleRetryLater || !e.RetryAfter.Equal(start.Add(w*time.Second)) {
			t.Fatalf("after failure %d: %v, want retry after %s", i, err, w*time.Second)
		}
		clk.Advance(w * time.Second)
	}
	if f.n.Load() != int64(len(wantWaits)) {
		t.Fatalf("%d fetches, want %d (none during backoff)", f.n.Load(), len(wantWaits))
	}

	// Fixed: used at once once the wait is over, not remembered as an error.
	h.serveDoc("/c.json", nil, nil)
	if _, err := r.Resolve(ctx, id); err != nil {
		t.Fatalf("fixed document: %v", err)
	}

	// Invalid documents are failures too, and are not cached either.
	bad := h.serveDoc("/bad.json", func(d map[string]any) { delete(d, "client_name") }, nil)
	if _, err := r.Resolve(ctx, bad); ruleOf(err) != RuleClientNameMissing {
		t.Fatal(err)
	}
	h.serveDoc("/bad.json", nil, nil)
	clk.Advance(time.Second)
	if _, err := r.Resolve(ctx, bad); err != nil {
		t.Fatalf("fixed document: %v", err)
	}

	// After a long quiet spell the backoff starts over.
	flaky := h.set("/flaky.json", reply{status: 503})
	for range 4 {
		_, _ = r.Resolve(ctx, flaky)
		clk.Advance(8 * time.Second)
	}
	clk.Advance(time.Minute)
	start := clk.Now()
	_, _ = r.Resolve(ctx, flaky)
	_, err := r.Resolve(ctx, flaky)
	var e *Error
	if !errors.As(err, &e) || !e.RetryAfter.Equal(start.Add(time.Second)) {
		t.Fatalf("backoff did not start over: %v", err)
	}
}

func TestOnChange(t *testing.T) {
	h := newDocHost(t)
	id := h.serveDoc("/c.json", nil, nil)
	clk := newClock()
	var mu sync.Mutex
	var changed []string
	r, _ := newResolver(t, h, Config{Now: clk.Now, OnChange: func(id string) {
		mu.Lock()
		defer mu.Unlock()
		changed = append(changed, id)
	}}, safehttp.Config{})
	ctx := context.Background()
	calls := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(changed)
	}
	refetch := func() *Client {
		t.Helper()
		clk.Advance(DefaultMinTTL)
		c, err := r.Resolve(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}

	first, _ := r.Resolve(ctx, id)
	if calls() != 0 {
		t.Fatal("first fetch reported as a change")
	}
	refetch()
	if calls() != 0 {
		t.Fatal("unchanged document reported as a change")
	}
	h.serveDoc("/c.json", func(d map[string]any) { d["client_name"] = "Renamed" }, nil)
	refetch()
	if calls() != 0 {
		t.Fatal("a new name is not a security-relevant change")
	}
	h.serveDoc("/c.json", func(d map[string]any) {
		d["redirect_uris"] = []any{"https://attacker.example/cb"}
	}, nil)
	second := refetch()
	if calls() != 1 || changed[0] != id || second.Fingerprint() == first.Fingerprint() {
		t.Fatalf("redirect URI change: %v", changed)
	}
	h.serveDoc("/c.json", func(d map[string]any) {
		d["redirect_uris"] = []any{"https://attacker.example/cb"}
		d["jwks_uri"] = "https://attacker.example/jwks"
	}, nil)
	refetch()
	if calls() != 2 {
		t.Fatalf("key change: %v", changed)
	}

	// A failed fetch in between does not make the next good one look new.
	h.set("/c.json", reply{status: 500})
	clk.Advance(DefaultMinTTL)
	if _, err := r.Resolve(ctx, id); err == nil {
		t.Fatal("500 accepted")
	}
	h.serveDoc("/c.json", nil, nil)
	refetch()
	if calls() != 3 {
		t.Fatalf("change across a failure: %v", changed)
	}
}

// N concurrent resolutions of one client_id make one fetch and get the same *Client.
func TestSingleflight(t *testing.T) {
	h := newDocHost(t)
	release := make(chan struct{})
	id := h.URL + "/slow.json"
	h.set("/slow.json", reply{doc: validDoc(id), wait: release})
	r, f := newResolver(t, h, Config{}, safehttp.Config{})

	const n = 50
	var wg sync.WaitGroup
	results := make([]*Client, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = r.Resolve(context.Background(), id)
		}()
	}
	time.Sleep(100 * time.Millisecond) // let them all queue behind the one fetch
	close(release)
	wg.Wait()
	for i := range n {
		if errs[i] != nil || results[i] != results[0] {
			t.Fatalf("caller %d: %v", i, errs[i])
		}
	}
	if got := f.n.Load(); got != 1 {
		t.Fatalf("%d fetches for %d concurrent callers, want 1", got, n)
	}
	if h.hits.Load() != 1 {
		t.Fatalf("document host saw %d requests", h.hits.Load())
	}
}

// A caller that gives up does not cancel the fetch others are waiting for.
func TestWaiterCancellation(t *testing.T) {
	h := newDocHost(t)
	release := make(chan struct{})
	id := h.URL + "/slow.json"
	h.set("/slow.json", reply{doc: validDoc(id), wait: release})
	r, f := newResolver(t, h, Config{}, safehttp.Config{})

	patient := make(chan error, 1)
	go func() {
		_, err := r.Resolve(context.Background(), id)
		patient <- err
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := r.Resolve(ctx, id)
	var e *Error
	if !errors.As(err, &e) || e.Rule != RuleCanceled || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("impatient caller: %v", err)
	}
	close(release)
	if err := <-patient; err != nil {
		t.Fatalf("patient caller: %v", err)
	}
	if f.n.Load() != 1 {
		t.Fatalf("%d fetches", f.n.Load())
	}
}

// Outbound fetches per host are rate limited, and the limit is not held against a document.
func TestResolveRateLimit(t *testing.T) {
	h := newDocHost(t)
	clk := newClock()
	r, _ := newResolver(t, h, Config{Now: clk.Now}, safehttp.Config{
		HostRate: rate.Every(time.Minute), HostBurst: 2, Now: clk.Now,
	})
	ctx := context.Background()
	for i := range 2 {
		if _, err := r.Resolve(ctx, h.serveDoc("/c"+itoa(i), nil, nil)); err != nil {
			t.Fatal(err)
		}
	}
	third := h.serveDoc("/c2", nil, nil)
	hits := h.hits.Load()
	if _, err := r.Resolve(ctx, third); ruleOf(err) != RuleRateLimited {
		t.Fatalf("third fetch: %v", err)
	}
	if h.hits.Load() != hits {
		t.Fatal("a rate-limited fetch reached the host")
	}
	clk.Advance(time.Minute)
	if _, err := r.Resolve(ctx, third); err != nil {
		t.Fatalf("after the bucket refilled: %v (a rate limit must not start a backoff)", err)
	}
}

func TestCacheBounded(t *testing.T) {
	h := newDocHost(t)
	clk := newClock()
	r, _ := newResolver(t, h, Config{Now: clk.Now, MaxEntries: 3}, safehttp.Config{})
	ctx := context.Background()
	for i := range 10 {
		if _, err := r.Resolve(ctx, h.serveDoc("/c"+itoa(i), nil, nil)); err != nil {
			t.Fatal(err)
		}
		_, _ = r.Resolve(ctx, h.URL+"/missing"+itoa(i))
	}
	r.mu.RLock()
	n := len(r.entries)
	r.mu.RUnlock()
	if n > 3 {
		t.Fatalf("%d entries, bound 3", n)
	}
}
