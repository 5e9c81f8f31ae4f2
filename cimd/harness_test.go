package cimd

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/mcp-authz/mcp-authz/internal/safehttp"
	"github.com/mcp-authz/mcp-authz/internal/safehttp/safehttptest"
)

// reply is what the document host answers for one path.
type reply struct {
	status int               // 0 means 200
	ctype  string            // "" means application/json
	body   string            // the body, or
	doc    map[string]any    // a document to encode
	header map[string]string // extra headers
	wait   <-chan struct{}   // if set, wait for it (or the request's end) before answering
	fn     http.HandlerFunc  // if set, it answers instead
}

// docHost is a local HTTPS server of client metadata documents, allowed as a test host.
type docHost struct {
	*safehttptest.Target
	hits atomic.Int64

	mu      sync.Mutex
	replies map[string]reply
	// fallback, if set, answers paths without a reply.
	fallback http.HandlerFunc
}

func newDocHost(t testing.TB) *docHost {
	h := &docHost{replies: make(map[string]reply)}
	h.Target = safehttptest.NewTarget(t, http.HandlerFunc(h.serve))
	return h
}

func (h *docHost) serve(w http.ResponseWriter, r *http.Request) {
	h.hits.Add(1)
	h.mu.Lock()
	rep, ok := h.replies[r.URL.Path]
	h.mu.Unlock()
	if !ok {
		if fb := h.fallbackHandler(); fb != nil {
			fb(w, r)
			return
		}
		http.NotFound(w, r)
		return
	}
	if rep.fn != nil {
		rep.fn(w, r)
		return
	}
	if rep.wait != nil {
		select {
		case <-rep.wait:
		case <-r.Context().Done():
			return
		}
	}
	body := []byte(rep.body)
	if rep.doc != nil {
		body, _ = json.Marshal(rep.doc)
	}
	ct := rep.ctype
	if ct == "" {
		ct = "application/json"
	}
	w.Header().Set("Content-Type", ct)
	for k, v := range rep.header {
		w.Header().Set(k, v)
	}
	if rep.status != 0 {
		w.WriteHeader(rep.status)
	}
	_, _ = w.Write(body)
}

func (h *docHost) fallbackHandler() http.HandlerFunc {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.fallback
}

// echoDocs makes every path without a reply serve a valid document whose client_id is its URL.
func (h *docHost) echoDocs() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.fallback = func(w http.ResponseWriter, r *http.Request) {
		body, _ := json.Marshal(validDoc(h.URL + r.URL.Path))
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}
}

// set makes path answer rep, and returns the client_id URL for path.
func (h *docHost) set(path string, rep reply) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.replies[path] = rep
	return h.URL + path
}

// serveDoc serves a valid document at path, built by validDoc and changed by edit, and returns
// its client_id.
func (h *docHost) serveDoc(path string, edit func(map[string]any), header map[string]string) string {
	id := h.URL + path
	d := validDoc(id)
	if edit != nil {
		edit(d)
	}
	h.set(path, reply{doc: d, header: header})
	return id
}

// validDoc is a minimal valid public-client document.
func validDoc(id string) map[string]any {
	return map[string]any{
		"client_id":                  id,
		"client_name":                "Example MCP Client",
		"redirect_uris":              []any{"http://127.0.0.1/callback", "https://app.example.com/oauth/callback"},
		"token_endpoint_auth_method": "none",
		"grant_types":                []any{"authorization_code", "refresh_token"},
		"response_types":             []any{"code"},
		"client_uri":                 "https://app.example.com/",
		"logo_uri":                   "https://app.example.com/logo.png",
		"scope":                      "mcp:tools offline_access",
	}
}

// clock is a controllable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// countingFetcher counts the fetches that reach safehttp.
type countingFetcher struct {
	Fetcher
	n atomic.Int64
}

func (f *countingFetcher) Get(ctx context.Context, url string, opts safehttp.Options) (*safehttp.Response, error) {
	f.n.Add(1)
	return f.Fetcher.Get(ctx, url, opts)
}

// newResolver builds a resolver fetching from h as a test host, with no outbound rate limit
// unless scfg sets one, and counting fetches.
func newResolver(t testing.TB, h *docHost, cfg Config, scfg safehttp.Config) (*Resolver, *countingFetcher) {
	t.Helper()
	if h != nil {
		scfg.TestHosts = append(scfg.TestHosts, h.Addr())
		scfg.TestRootCAs = h.Roots()
	}
	if scfg.HostRate == 0 {
		scfg.HostRate = rate.Inf
	}
	sc, err := safehttp.NewClient(scfg)
	if err != nil {
		t.Fatal(err)
	}
	f := &countingFetcher{Fetcher: sc}
	r, err := NewResolver(f, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r, f
}

// ruleOf returns the Rule of a *Error, or "".
func ruleOf(err error) Rule {
	var e *Error
	if errors.As(err, &e) {
		return e.Rule
	}
	return ""
}

// endless writes JSON-typed bytes until the client goes away.
func endless(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	chunk := make([]byte, 4096)
	for i := range chunk {
		chunk[i] = ' '
	}
	_, _ = io.WriteString(w, "[")
	for r.Context().Err() == nil {
		if _, err := w.Write(chunk); err != nil {
			return
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
