package cimd

import (
	"strings"
	"testing"
)

func TestCheckURL(t *testing.T) {
	good := []string{
		"https://app.example.com/oauth/client-metadata.json",
		"https://vscode.dev/oauth/client-metadata.json",
		"https://App.Example.com/c",
		"https://example.com/",
		"https://example.com:8443/c.json",
		"https://127.0.0.1:8443/c.json",
		"https://[::1]:8443/c.json",
		"https://[2001:db8::1]/c.json",
		"https://example.com/a/b/c%20d.json",
		"https://example.com/a..b/.c/..d",
		"https://example.com/@user/client.json",
		"https://xn--bcher-kva.example/c",
	}
	for _, u := range good {
		if err := CheckURL(u); err != nil {
			t.Errorf("CheckURL(%q) = %v", u, err)
		}
	}

	bad := []struct {
		url  string
		rule Rule
	}{
		{"http://example.com/c.json", RuleURLScheme},
		{"HTTPS://example.com/c.json", RuleURLScheme},
		{"ftp://example.com/c.json", RuleURLScheme},
		{"example.com/c.json", RuleURLScheme},
		{"", RuleURLScheme},
		{"https://example.com/c.json#frag", RuleURLFragment},
		{"https://example.com/c.json#", RuleURLFragment},
		{"https://user:pass@example.com/c.json", RuleURLUserinfo},
		{"https://user@example.com/c.json", RuleURLUserinfo},
		{"https://@example.com/c.json", RuleURLUserinfo},
		{"https://example.com/a/../c.json", RuleURLDotSegment},
		{"https://example.com/./c.json", RuleURLDotSegment},
		{"https://example.com/a/..", RuleURLDotSegment},
		{"https://example.com/a/%2e%2e/c.json", RuleURLDotSegment},
		{"https://example.com/a/%2E/c.json", RuleURLDotSegment},
		{"https://example.com/a/.%2e/c.json", RuleURLDotSegment},
		{"https://example.com/c.json?x=1", RuleURLQuery},
		{"https://example.com/c.json?", RuleURLQuery},
		{"https://example.com", RuleURLPath},
		{"https://example.com?x", RuleURLPath},
		{"https:///c.json", RuleURLHost},
		{"https://example.com./c.json", RuleURLHost},
		{"https://127.1/c.json", RuleURLHost},
		{"https://2130706433/c.json", RuleURLHost},
		{"https://0x7f.0.0.1/c.json", RuleURLHost},
		{"https://exa_mple.com/c.json", RuleURLHost},
		{"https://-example.com/c.json", RuleURLHost},
		{"https://example.com:0/c.json", RuleURLHost},
		{"https://example.com:65536/c.json", RuleURLHost},
		{"https://example.com:/c.json", RuleURLHost},
		{"https://example.com:ab/c.json", RuleURLHost},
		{"https://[fe80::1%25eth0]/c.json", RuleURLHost},
		{"https://[::ffff:127.0.0.1/c.json", RuleURLHost},
		{"https://[127.0.0.1]/c.json", RuleURLHost},
		{"https://ex%61mple.com/c.json", RuleURLHost},
		{"https://example.com/c json", RuleURLInvalid},
		{"https://example.com/c\\..\\x", RuleURLInvalid},
		{"https://example.com/bücher", RuleURLInvalid},
		{"https://example.com/c\x00", RuleURLInvalid},
		{"https://example.com/%zz", RuleURLInvalid},
		{"https://example.com/" + strings.Repeat("a", 2048), RuleURLInvalid},
	}
	for _, c := range bad {
		err := CheckURL(c.url)
		if got := ruleOf(err); got != c.rule {
			t.Errorf("CheckURL(%q) = %v, want rule %s", c.url, err, c.rule)
		}
	}
}

func TestIsURL(t *testing.T) {
	for id, want := range map[string]bool{
		"https://example.com/c": true,
		"HTTPS://example.com/c": true,
		"http://example.com/c":  true,
		"https:":                false,
		"my-client":             false,
		"urn:example:client":    false,
		"":                      false,
	} {
		if got := IsURL(id); got != want {
			t.Errorf("IsURL(%q) = %v", id, got)
		}
	}
}

func TestHostPatterns(t *testing.T) {
	ps, err := parseHostPatterns([]string{"*.Example.com", "app.test", "[::1]", "192.0.2.7"})
	if err != nil {
		t.Fatal(err)
	}
	p := policy{allow: ps}
	for host, want := range map[string]bool{
		"a.example.com":   true,
		"a.b.example.com": true,
		"example.com":     false, // the wildcard does not include the apex
		"badexample.com":  false,
		"app.test":        true,
		"x.app.test":      false,
		"::1":             true,
		"192.0.2.7":       true,
	} {
		if got := p.check(host) == ""; got != want {
			t.Errorf("allow %s = %v", host, got)
		}
	}
	for _, bad := range []string{"*", "*.", "a*.example.com", "", "exa mple.com", "*.*.example.com", "example.com:443"} {
		if _, err := parseHostPatterns([]string{bad}); err == nil {
			t.Errorf("pattern %q accepted", bad)
		}
	}
	deny, _ := parseHostPatterns([]string{"evil.example.com"})
	p.deny = deny
	if p.check("evil.example.com") != RuleHostDenied {
		t.Error("deny does not win over allow")
	}
	if p.allowListed("evil.example.com") || !p.allowListed("good.example.com") {
		t.Error("allowListed")
	}
	if (&policy{}).allowListed("any.example") {
		t.Error("empty allow-list badges everything")
	}
}
