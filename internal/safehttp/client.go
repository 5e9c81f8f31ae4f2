package safehttp

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"golang.org/x/time/rate"
)

// Defaults and ceilings. The defaults follow CIMD-01 §4 (documents are small; 5 KB is the
// recommended limit) and the "never hang" requirement.
const (
	DefaultTimeout      = 5 * time.Second
	DefaultMaxBodyBytes = 5 << 10
	// MaxBodyLimit is the largest body any caller may ask for.
	MaxBodyLimit = 1 << 20
	// DefaultHostRate and DefaultHostBurst shape each host's token bucket: a burst of 20, then
	// two requests a second.
	DefaultHostRate  = rate.Limit(2)
	DefaultHostBurst = 20
	// DefaultMaxHosts bounds the number of hosts with a token bucket.
	DefaultMaxHosts = 10000
	// maxHeaderBytes bounds the response header block.
	maxHeaderBytes = 16 << 10
)

// Config configures a [Client]. The zero value is a safe client with the defaults above.
type Config struct {
	// Timeout bounds one fetch from start to end: DNS, connect, TLS handshake, response headers
	// and body. Zero means DefaultTimeout. [Options.Timeout] may shorten it, never lengthen it.
	Timeout time.Duration
	// MaxBodyBytes is the body limit used when [Options.MaxBodyBytes] is zero. Zero means
	// DefaultMaxBodyBytes. At most MaxBodyLimit.
	MaxBodyBytes int64

	// HostRate and HostBurst shape the token bucket of each host. Zero means the defaults;
	// rate.Inf switches the limit off (for benchmarks).
	HostRate  rate.Limit
	HostBurst int
	// MaxHosts bounds how many hosts have a bucket at once. Zero means DefaultMaxHosts.
	MaxHosts int

	// TestHosts lists "host:port" pairs that may resolve to, or be, special-use addresses: a
	// local httptest.NewTLSServer in tests, a document host on the developer's machine. Off by
	// default; every entry weakens the SSRF protection for that host, so the caller should log
	// the list loudly at start. Only the address check is lifted: redirects, status, size and
	// time rules still apply.
	TestHosts []string
	// TestRootCAs, if set, is the root pool used to verify test hosts (and only them), e.g.
	// a pool holding httptest.Server.Certificate().
	TestRootCAs *x509.CertPool

	// UserAgent is sent with every request. Empty means "mcp-authz".
	UserAgent string

	// Resolver resolves host names; nil means net.DefaultResolver. Tests inject one so that a
	// name can "resolve" to any address; the address check still runs on whatever it returns.
	Resolver Resolver
	// Dialer opens connections to addresses that passed the check; nil means a net.Dialer that
	// checks the socket address once more. Tests inject one to count or redirect connections.
	Dialer Dialer

	// Now is the clock of the rate limiter; nil means time.Now.
	Now func() time.Time
	// Logger receives the warning about TestHosts; nil means no logging.
	Logger *slog.Logger
}

// Options say what one fetch accepts. The zero value takes the client's limits and any
// content type.
type Options struct {
	// MaxBodyBytes is the body limit for this fetch; zero means the client's. At most
	// MaxBodyLimit. A body over the limit is an error ([ErrTooLarge]), never truncated.
	MaxBodyBytes int64
	// Timeout shortens the client's time limit for this fetch; zero, or a value above the
	// client's, means the client's.
	Timeout time.Duration
	// JSON requires the response media type to be application/json or application/*+json
	// (RFC 6839 §3.1), and sends "Accept: application/json" unless Accept is set.
	JSON bool
	// Accept is sent as the Accept header.
	Accept string
}

// Response is a fetched document. Its status was 200.
type Response struct {
	URL    string
	Header http.Header
	Body   []byte
}

// Client fetches from URLs that an attacker may have chosen. It is safe for concurrent use.
type Client struct {
	timeout      time.Duration
	maxBody      int64
	userAgent    string
	now          func() time.Time
	hosts        *hostLimiter
	testHosts    map[string]struct{}
	testRoots    *x509.CertPool
	resolver     Resolver
	customDialer Dialer

	transport *http.Transport
	http      *http.Client
}

// NewClient returns a client for cfg, or an error if cfg is out of bounds.
func NewClient(cfg Config) (*Client, error) {
	c := &Client{
		timeout:      cfg.Timeout,
		maxBody:      cfg.MaxBodyBytes,
		userAgent:    cfg.UserAgent,
		now:          cfg.Now,
		testHosts:    make(map[string]struct{}),
		testRoots:    cfg.TestRootCAs,
		resolver:     cfg.Resolver,
		customDialer: cfg.Dialer,
	}
	if c.timeout == 0 {
		c.timeout = DefaultTimeout
	}
	if c.timeout < 0 {
		return nil, fmt.Errorf("safehttp: negative Timeout %s", c.timeout)
	}
	if c.maxBody == 0 {
		c.maxBody = DefaultMaxBodyBytes
	}
	if c.maxBody < 0 || c.maxBody > MaxBodyLimit {
		return nil, fmt.Errorf("safehttp: MaxBodyBytes %d outside 1..%d", c.maxBody, MaxBodyLimit)
	}
	if c.userAgent == "" {
		c.userAgent = "mcp-authz"
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.resolver == nil {
		c.resolver = net.DefaultResolver
	}
	limit, burst, maxHosts := cfg.HostRate, cfg.HostBurst, cfg.MaxHosts
	if limit == 0 {
		limit = DefaultHostRate
	}
	if burst == 0 {
		burst = DefaultHostBurst
	}
	if maxHosts == 0 {
		maxHosts = DefaultMaxHosts
	}
	if limit < 0 || burst < 0 || maxHosts < 0 {
		return nil, errors.New("safehttp: negative rate limit setting")
	}
	c.hosts = newHostLimiter(limit, burst, maxHosts)

	for _, hp := range cfg.TestHosts {
		host, port, err := net.SplitHostPort(hp)
		if err != nil || host == "" || port == "" {
			return nil, fmt.Errorf("safehttp: test host %q is not host:port", hp)
		}
		c.testHosts[hostPortKey(host, port)] = struct{}{}
	}
	if len(c.testHosts) > 0 && cfg.Logger != nil {
		cfg.Logger.Warn("safehttp: test hosts may resolve to loopback and private addresses; never use this in production",
			"test_hosts", c.TestHosts(), "extra_root_cas", cfg.TestRootCAs != nil)
	}

	c.transport = &http.Transport{
		// Never a proxy, least of all one named by the environment: a proxy would make the
		// connection for us, to an address we never checked.
		Proxy:          nil,
		DialContext:    c.dial,
		DialTLSContext: c.dialTLS,
		// No ResponseHeaderTimeout: each fetch's context carries its time limit (Get) and
		// HTTPClient sets Client.Timeout. A second timer of the same length raced the context's
		// on a busy machine and won, and its error did not say ErrTimeout.
		MaxResponseHeaderBytes: maxHeaderBytes,
		// Bodies are counted as they arrive on the wire; no transparent decompression.
		DisableCompression:  true,
		MaxIdleConns:        64,
		MaxIdleConnsPerHost: 2,
		IdleConnTimeout:     30 * time.Second,
	}
	c.http = &http.Client{Transport: c.transport, CheckRedirect: noRedirect}
	return c, nil
}

// noRedirect stops the client at the first response, so that a 3xx reaches the caller as it is.
// CIMD-01 §4: redirects are not followed.
func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// TestHosts returns the configured test hosts, for the caller's start-up log.
func (c *Client) TestHosts() []string {
	hs := make([]string, 0, len(c.testHosts))
	for h := range c.testHosts {
		hs = append(hs, h)
	}
	slices.Sort(hs)
	return hs
}

// Get fetches rawURL and returns its body. It fails unless the URL is https, every address
// involved is public (or the host is a test host), the status is 200, the media type is
// acceptable, and the body fits the limit within the time limit.
func (c *Client) Get(ctx context.Context, rawURL string, opts Options) (*Response, error) {
	u, err := checkURL(rawURL)
	if err != nil {
		return nil, err
	}
	limit, timeout, err := c.limits(opts)
	if err != nil {
		return nil, err
	}
	if !c.hosts.allow(u.Hostname(), c.now()) {
		return nil, fmt.Errorf("%w: %s", ErrRateLimited, u.Hostname())
	}

	ctx, cancel := context.WithTimeoutCause(ctx, timeout, ErrTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadURL, err)
	}
	req.Header.Set("User-Agent", c.userAgent)
	switch {
	case opts.Accept != "":
		req.Header.Set("Accept", opts.Accept)
	case opts.JSON:
		req.Header.Set("Accept", "application/json")
	}

	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fetchError(ctx, timeout, err)
	}
	defer resp.Body.Close()

	if resp.StatusCode != http.StatusOK {
		se := &StatusError{Code: resp.StatusCode}
		if resp.StatusCode >= 300 && resp.StatusCode < 400 {
			se.Location = excerpt(resp.Header.Get("Location"), 200)
		}
		return nil, se
	}
	if opts.JSON {
		if err := checkJSONType(resp.Header.Get("Content-Type")); err != nil {
			return nil, err
		}
	}
	if resp.ContentLength > limit {
		return nil, fmt.Errorf("%w: Content-Length %d exceeds %d bytes", ErrTooLarge, resp.ContentLength, limit)
	}
	body, err := readAtMost(resp.Body, limit)
	if err == nil && ctx.Err() != nil {
		// When the deadline cuts a body short the transport does not always say so: a read
		// racing the cancellation can end in a clean EOF. A body is only whole if it was
		// finished in time.
		err = ctx.Err()
	}
	if err != nil {
		return nil, fetchError(ctx, timeout, err)
	}
	return &Response{URL: u.String(), Header: resp.Header, Body: body}, nil
}

// limits resolves the body and time limits of one fetch.
func (c *Client) limits(opts Options) (int64, time.Duration, error) {
	limit := opts.MaxBodyBytes
	if limit == 0 {
		limit = c.maxBody
	}
	if limit < 0 || limit > MaxBodyLimit {
		return 0, 0, fmt.Errorf("safehttp: MaxBodyBytes %d outside 1..%d", limit, MaxBodyLimit)
	}
	timeout := c.timeout
	if opts.Timeout > 0 && opts.Timeout < timeout {
		timeout = opts.Timeout
	}
	return limit, timeout, nil
}

// checkURL accepts absolute https URLs with a host and no userinfo.
func checkURL(rawURL string) (*url.URL, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadURL, err)
	}
	switch {
	case u.Scheme != "https":
		return nil, fmt.Errorf("%w: scheme %q is not https", ErrBadURL, excerpt(u.Scheme, 20))
	case u.Hostname() == "":
		return nil, fmt.Errorf("%w: no host", ErrBadURL)
	case u.User != nil:
		return nil, fmt.Errorf("%w: userinfo in URL", ErrBadURL)
	}
	return u, nil
}

// checkJSONType accepts application/json and application/*+json with any parameters.
func checkJSONType(ct string) error {
	mt, _, err := mime.ParseMediaType(ct)
	if err == nil && (mt == "application/json" || strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json")) {
		return nil
	}
	return fmt.Errorf("%w: %q, want application/json", ErrContentType, excerpt(ct, 100))
}

// readAtMost reads all of r if it is at most limit bytes, and fails with ErrTooLarge as soon as
// it is longer, having read at most limit+1 bytes.
func readAtMost(r io.Reader, limit int64) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(body)) > limit {
		return nil, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, limit)
	}
	return body, nil
}

// fetchError turns the expiry of the fetch's own time limit into ErrTimeout; the caller's own
// cancellation stays what it was.
func fetchError(ctx context.Context, timeout time.Duration, err error) error {
	if errors.Is(err, ErrTimeout) {
		return err
	}
	if errors.Is(context.Cause(ctx), ErrTimeout) {
		return fmt.Errorf("%w (%s): %w", ErrTimeout, timeout, err)
	}
	return err
}

// HTTPClient returns an *http.Client for libraries that need one (OIDC discovery, an OAuth2
// token exchange). It shares this client's transport and rules: https only, checked addresses,
// no proxy, redirects returned rather than followed, the rate limit, a Timeout covering the
// whole exchange, and response bodies that fail with ErrTooLarge past the client's body limit.
// It does not check status or content type; the library does.
func (c *Client) HTTPClient() *http.Client {
	return &http.Client{
		Transport:     &roundTripper{c: c},
		CheckRedirect: noRedirect,
		Timeout:       c.timeout,
	}
}

type roundTripper struct{ c *Client }

func (rt *roundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	if _, err := checkURL(req.URL.String()); err != nil {
		return nil, err
	}
	if !rt.c.hosts.allow(req.URL.Hostname(), rt.c.now()) {
		return nil, fmt.Errorf("%w: %s", ErrRateLimited, req.URL.Hostname())
	}
	resp, err := rt.c.transport.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if resp.ContentLength > rt.c.maxBody {
		_ = resp.Body.Close()
		return nil, fmt.Errorf("%w: Content-Length %d exceeds %d bytes", ErrTooLarge, resp.ContentLength, rt.c.maxBody)
	}
	resp.Body = &limitedBody{ctx: req.Context(), rc: resp.Body, left: rt.c.maxBody}
	return resp, nil
}

// limitedBody fails with ErrTooLarge once more than its limit has been read, and refuses to
// end in a clean EOF once the request's context is done (see Get: a body cut short by the
// deadline can otherwise look complete).
type limitedBody struct {
	ctx  context.Context
	rc   io.ReadCloser
	left int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left < 0 {
		return 0, ErrTooLarge
	}
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	if b.left < 0 {
		return n + int(b.left), ErrTooLarge
	}
	if err == io.EOF && b.ctx.Err() != nil {
		if errors.Is(b.ctx.Err(), context.DeadlineExceeded) {
			return n, fmt.Errorf("%w: body cut short: %w", ErrTimeout, b.ctx.Err())
		}
		return n, b.ctx.Err()
	}
	return n, err
}

func (b *limitedBody) Close() error { return b.rc.Close() }
