package httpx

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestFormTarget(t *testing.T) {
	for in, want := range map[string]string{
		"http://127.0.0.1:8765/callback":    "http://127.0.0.1:8765",
		"https://app.example.com/cb?x=1":    "https://app.example.com",
		"HTTPS://App.example.com/cb":        "https://App.example.com",
		"com.example.app:/oauth":            "com.example.app:",
		"":                                  "",
		"/relative":                         "",
		"https:///nohost":                   "",
		"https://a.example/x;script-src *":  "",
		"https://a.example/'unsafe-inline'": "",
		"https://a.example/\"x\"":           "",
	} {
		if got := FormTarget(in); got != want {
			t.Errorf("FormTarget(%q) = %q, want %q", in, got, want)
		}
	}
	h := http.Header{}
	SetPageHeaders(h, "", "http://127.0.0.1:8765")
	if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, "form-action 'self' http://127.0.0.1:8765;") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("CSP %q", csp)
	}
}

func TestParseFormRefusesDuplicatesAndOversize(t *testing.T) {
	cases := map[string]struct {
		method, query, body string
		ok                  bool
	}{
		"plain":                {"POST", "", "a=1&b=2", true},
		"repeatable resource":  {"POST", "", "resource=x&resource=y", true},
		"duplicate":            {"POST", "", "a=1&a=2", false},
		"duplicate over query": {"POST", "a=1", "a=2", false},
		"oversized body":       {"POST", "", "a=" + strings.Repeat("x", MaxFormBytes), false},
		"oversized query":      {"GET", "a=" + strings.Repeat("x", MaxQueryBytes), "", false},
		"malformed":            {"POST", "", "a=%zz", false},
	}
	for name, c := range cases {
		r := httptest.NewRequest(c.method, "/x?"+c.query, strings.NewReader(c.body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		err := ParseForm(httptest.NewRecorder(), r, "resource")
		if (err == nil) != c.ok {
			t.Errorf("%s: err %v", name, err)
		}
	}
}
