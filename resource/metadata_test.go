package resource

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
)

func TestMetadataIsServedAtBothWellKnownPaths(t *testing.T) {
	v, err := New(Config{
		Resource:              testResource,
		Issuer:                "https://auth.example.com",
		ScopesSupported:       []string{"tools:read", "tools:write"},
		ResourceName:          "Example MCP server",
		ResourceDocumentation: "https://mcp.example.com/docs",
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := v.MetadataURL(), "https://mcp.example.com/.well-known/oauth-protected-resource/mcp"; got != want {
		t.Errorf("MetadataURL() = %s, want %s", got, want)
	}
	wantPaths := []string{"/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource"}
	if got := v.MetadataPaths(); !slices.Equal(got, wantPaths) {
		t.Errorf("MetadataPaths() = %q, want %q", got, wantPaths)
	}

	mux := http.NewServeMux()
	for _, p := range v.MetadataPaths() {
		mux.Handle(p, v.MetadataHandler())
	}
	srv := httptest.NewServer(mux)
	defer srv.Close()

	for _, p := range wantPaths {
		resp, err := srv.Client().Get(srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" ||
			resp.Header.Get("Access-Control-Allow-Origin") != "*" {
			t.Errorf("GET %s: %s, headers %v", p, resp.Status, resp.Header)
		}
		var doc map[string]any
		if err := json.Unmarshal(body, &doc); err != nil {
			t.Fatalf("GET %s: %v", p, err)
		}
		want := map[string]any{
			"resource":                 testResource,
			"authorization_servers":    []any{"https://auth.example.com"},
			"scopes_supported":         []any{"tools:read", "tools:write"},
			"bearer_methods_supported": []any{"header"},
			"resource_name":            "Example MCP server",
			"resource_documentation":   "https://mcp.example.com/docs",
		}
		if got, _ := json.Marshal(doc); string(got) != mustJSON(t, want) {
			t.Errorf("GET %s:\n got %s\nwant %s", p, got, mustJSON(t, want))
		}
	}

	resp, err := srv.Client().Post(srv.URL+wantPaths[0], "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %s", resp.Status)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestMetadataLocation(t *testing.T) {
	tests := []struct {
		resource string
		url      string
		paths    []string
	}{
		{"https://mcp.example.com", "https://mcp.example.com/.well-known/oauth-protected-resource",
			[]string{"/.well-known/oauth-protected-resource"}},
		{"https://mcp.example.com/", "https://mcp.example.com/.well-known/oauth-protected-resource",
			[]string{"/.well-known/oauth-protected-resource"}},
		{"https://mcp.example.com:8443/public/mcp/", "https://mcp.example.com:8443/.well-known/oauth-protected-resource/public/mcp/",
			[]string{"/.well-known/oauth-protected-resource/public/mcp/", "/.well-known/oauth-protected-resource"}},
		{"http://localhost:3000/mcp", "http://localhost:3000/.well-known/oauth-protected-resource/mcp",
			[]string{"/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource"}},
	}
	for _, tt := range tests {
		v, err := New(Config{Resource: tt.resource, Issuer: "https://auth.example.com"})
		if err != nil {
			t.Fatal(err)
		}
		if v.MetadataURL() != tt.url || !slices.Equal(v.MetadataPaths(), tt.paths) {
			t.Errorf("%s: MetadataURL %s, paths %q; want %s, %q", tt.resource, v.MetadataURL(), v.MetadataPaths(), tt.url, tt.paths)
		}
	}
}
