package oauth

import (
	"context"

	"github.com/mcp-authz/mcp-authz/internal/redirecturi"
	"net/url"
	"strings"
	"testing"
)

func TestCanonicalResource(t *testing.T) {
	same := [][2]string{
		{"https://MCP.Example.com/mcp", "https://mcp.example.com/mcp"},
		{"HTTPS://mcp.example.com:443/mcp", "https://mcp.example.com/mcp"},
		{"https://mcp.example.com", "https://mcp.example.com/"},
		{"http://localhost:80/x", "http://LOCALHOST/x"},
		{"http://[::1]:9090/mcp", "http://[::1]:9090/mcp"},
	}
	for _, p := range same {
		a, err1 := canonicalResource(p[0])
		b, err2 := canonicalResource(p[1])
		if err1 != nil || err2 != nil || a != b {
			t.Errorf("%s and %s should be one resource: %q %q %v %v", p[0], p[1], a, b, err1, err2)
		}
	}
	different := [][2]string{
		{"https://mcp.example.com/mcp", "https://mcp.example.com/mcp/"},
		{"https://mcp.example.com/MCP", "https://mcp.example.com/mcp"},
		{"https://mcp.example.com/mcp", "http://mcp.example.com/mcp"},
		{"https://mcp.example.com:8443/mcp", "https://mcp.example.com/mcp"},
	}
	for _, p := range different {
		a, _ := canonicalResource(p[0])
		b, _ := canonicalResource(p[1])
		if a == b {
			t.Errorf("%s and %s should differ", p[0], p[1])
		}
	}
	for _, bad := range []string{"", "/mcp", "mcp.example.com/mcp", "https://x/#f", "https://u:p@x/", "urn:x:y", strings.Repeat("a", 3000)} {
		if _, err := canonicalResource(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestMatchRedirectURI(t *testing.T) {
	reg := []string{"http://127.0.0.1/callback", "http://localhost/cb?x=1", "http://[::1]/callback", "https://app.example.com/cb", "com.example.app:/oauth"}
	cases := []struct {
		req   string
		ok    bool
		exact bool
	}{
		{"https://app.example.com/cb", true, true},
		{"com.example.app:/oauth", true, true},
		{"http://127.0.0.1/callback", true, true},
		{"http://127.0.0.1:8765/callback", true, false},
		{"http://localhost:1/cb?x=1", true, false},
		{"http://LOCALHOST:9999/cb?x=1", false, false}, // the loopback host is matched exactly
		{"http://[::1]:5000/callback", true, false},
		{"http://localhost:1/cb", false, false},               // query differs
		{"http://localhost:1/cb?x=1#f", false, false},         // fragment
		{"http://127.0.0.1:8765/callback/", false, false},     // path differs
		{"https://127.0.0.1:8765/callback", false, false},     // loopback rule is for http
		{"https://app.example.com:444/cb", false, false},      // no port relaxation elsewhere
		{"https://app.example.com/cb/", false, false},         // exact
		{"https://APP.example.com/cb", false, false},          // exact string comparison
		{"http://127.0.0.2:80/callback", false, false},        // registered host only
		{"http://evil@127.0.0.1:80/callback", false, false},   // userinfo
		{"http://localhost.evil.com:80/cb?x=1", false, false}, //
		{"", false, false},                                    // several registered
	}
	for _, c := range cases {
		_, exact, ok := matchRedirectURI(reg, c.req)
		if ok != c.ok || (ok && exact != c.exact) {
			t.Errorf("%q: ok %v exact %v, want %v %v", c.req, ok, exact, c.ok, c.exact)
		}
	}
	if uri, _, ok := matchRedirectURI([]string{"https://one.example/cb"}, ""); !ok || uri != "https://one.example/cb" {
		t.Errorf("the only registered URI is not used by default")
	}
}

func TestSecretHasher(t *testing.T) {
	secret, hash := NewClientSecret()
	if len(secret) < 43 || !strings.HasPrefix(hash, "sha256:") {
		t.Fatalf("secret %q hash %q", secret, hash)
	}
	h := secretHasher{}
	if err := h.Compare(context.Background(), []byte(hash), []byte(secret)); err != nil {
		t.Errorf("right secret refused: %v", err)
	}
	for _, wrong := range []string{"", secret + "x", strings.ToUpper(secret)} {
		if h.Compare(context.Background(), []byte(hash), []byte(wrong)) == nil {
			t.Errorf("wrong secret %q accepted", wrong)
		}
	}
	if h.Compare(context.Background(), []byte("$2a$10$bcrypt"), []byte(secret)) == nil {
		t.Error("a hash of another format accepted")
	}
}

func TestSplitScopesDefaultsAndOwnership(t *testing.T) {
	a := &Resource{URI: "https://a.example/mcp", Scopes: []Scope{{Name: "read"}, {Name: "write"}}, DefaultScopes: []string{"read"}}
	b := &Resource{URI: "https://b.example/mcp", Scopes: []Scope{{Name: "files"}}, DefaultScopes: []string{"files"}}
	req := &ConsentRequest{Resources: []*Resource{a, b}, Scopes: map[*Resource][]string{}}
	if err := splitScopes(req, nil); err != nil || strings.Join(req.AllScopes(), " ") != "read files" {
		t.Errorf("defaults: %v %v", err, req.AllScopes())
	}
	req = &ConsentRequest{Resources: []*Resource{a, b}, Scopes: map[*Resource][]string{}}
	if err := splitScopes(req, []string{"write", "offline_access"}); err != nil || strings.Join(req.AllScopes(), " ") != "write offline_access" {
		t.Errorf("explicit: %v %v", err, req.AllScopes())
	}
	req = &ConsentRequest{Resources: []*Resource{a}, Scopes: map[*Resource][]string{}}
	if err := splitScopes(req, []string{"files"}); err == nil {
		t.Error("a scope of an unrequested resource was accepted")
	}
}

func FuzzCanonicalResource(f *testing.F) {
	for _, s := range []string{"https://a.example/mcp", "http://[::1]:80/", "https://A:443", "%", "https://x/%zz"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		key, err := canonicalResource(s)
		if err != nil {
			return
		}
		// Canonical form is a fixed point: canonicalising it again changes nothing.
		again, err := canonicalResource(key)
		if err != nil || again != key {
			t.Errorf("%q → %q → %q (%v)", s, key, again, err)
		}
	})
}

func FuzzMatchRedirectURI(f *testing.F) {
	reg := []string{"http://127.0.0.1/callback", "https://app.example.com/cb"}
	for _, s := range []string{"http://127.0.0.1:1/callback", "https://app.example.com/cb", "http://[::1/", "http://localhost:0/callback"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		uri, exact, ok := matchRedirectURI(reg, s)
		if !ok {
			return
		}
		if exact && uri != s {
			t.Fatalf("exact match returned another URI")
		}
		if !exact {
			// Only the loopback rule relaxes matching, and only the port.
			u, err := url.Parse(s)
			if err != nil || u.Scheme != "http" || !redirecturi.IsLoopback(s) {
				t.Fatalf("%q matched loosely", s)
			}
		}
	})
}

func FuzzParseEchoedRequest(f *testing.F) {
	f.Add("client_id=a&resource=x&resource=y")
	f.Add("a=1&a=2")
	f.Add("%zz")
	f.Fuzz(func(t *testing.T, s string) {
		q, err := parseEchoedRequest(s)
		if err != nil {
			return
		}
		for k, v := range q {
			if len(v) > 1 && k != "resource" {
				t.Fatalf("duplicate %q accepted", k)
			}
		}
	})
}
