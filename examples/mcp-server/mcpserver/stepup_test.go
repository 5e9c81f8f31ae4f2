package mcpserver

import (
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcp-authz/mcp-authz/resource"
)

func TestScopesNeeded(t *testing.T) {
	toolScopes := map[string][]string{"admin_stats": {ScopeAdmin}, "both": {ScopeAdmin, "x"}}
	call := func(name string) string {
		return `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"` + name + `"}}`
	}
	for _, c := range []struct {
		name, body string
		want       []string
	}{
		{"admin tool", call("admin_stats"), []string{ScopeAdmin}},
		{"other tool", call("whoami"), nil},
		{"unknown tool", call("nope"), nil},
		{"other method", `{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"name":"admin_stats"}}`, nil},
		{"batch", " \n[" + call("whoami") + "," + call("both") + "," + call("admin_stats") + "]", []string{ScopeAdmin, "x"}},
		{"batch with junk", "[1," + call("admin_stats") + "]", []string{ScopeAdmin}},
		// The SDK matches member names exactly; so must this.
		{"name in another case", `{"method":"tools/call","params":{"name":"admin_stats","Name":"whoami"}}`, []string{ScopeAdmin}},
		{"method in another case", `{"Method":"tools/call","params":{"name":"admin_stats"}}`, nil},
		{"not JSON", `{"method":"tools/call",`, nil},
		{"empty", ``, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := scopesNeeded([]byte(c.body), toolScopes); !slices.Equal(got, c.want) {
				t.Errorf("got %v, want %v", got, c.want)
			}
		})
	}
}

func TestStepUpMiddleware(t *testing.T) {
	rs, err := resource.New(resource.Config{Resource: "http://localhost:9090/mcp", Issuer: "http://localhost:8080"})
	if err != nil {
		t.Fatal(err)
	}
	var seen string
	h := stepUp(rs, map[string][]string{"admin_stats": {ScopeAdmin}}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		seen = string(b)
	}))
	serve := func(method, body string, scopes ...string) *httptest.ResponseRecorder {
		seen = ""
		r := httptest.NewRequest(method, "http://localhost:9090/mcp", strings.NewReader(body))
		r = r.WithContext(resource.ContextWithToken(r.Context(), &resource.Token{Subject: "u", Scopes: scopes}))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	admin := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"admin_stats"}}`

	w := serve(http.MethodPost, admin, ScopeTools)
	want := `Bearer error="insufficient_scope", error_description="the token lacks a scope this request needs", ` +
		`resource_metadata="http://localhost:9090/.well-known/oauth-protected-resource/mcp", scope="mcp:tools mcp:admin"`
	if w.Code != http.StatusForbidden || w.Header().Get("WWW-Authenticate") != want || seen != "" {
		t.Errorf("without mcp:admin: %d %q, passed on %q", w.Code, w.Header().Get("WWW-Authenticate"), seen)
	}
	if w := serve(http.MethodPost, admin, ScopeTools, ScopeAdmin); w.Code != http.StatusOK || seen != admin {
		t.Errorf("with mcp:admin: %d, the next handler read %q", w.Code, seen)
	}
	if w := serve(http.MethodGet, "", ScopeTools); w.Code != http.StatusOK {
		t.Errorf("GET: %d", w.Code)
	}
	big := `{"method":"tools/call","params":{"name":"whoami","arguments":{"pad":"` + strings.Repeat("x", mcp.DefaultMaxRequestBodyBytes) + `"}}}`
	if w := serve(http.MethodPost, big, ScopeTools); w.Code != http.StatusRequestEntityTooLarge || seen != "" {
		t.Errorf("oversized body: %d", w.Code)
	}
}
