package safehttp

import (
	"net/http"
	"testing"

	"github.com/mcp-authz/mcp-authz/internal/safehttp/safehttptest"
)

// Short names for the shared test helpers.
type (
	target        = safehttptest.Target
	fakeResolver  = safehttptest.Resolver
	routingDialer = safehttptest.RoutingDialer
)

func newTarget(t testing.TB, h http.Handler) *target { return safehttptest.NewTarget(t, h) }

func mustClient(t testing.TB, cfg Config) *Client {
	t.Helper()
	c, err := NewClient(cfg)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	return c
}
