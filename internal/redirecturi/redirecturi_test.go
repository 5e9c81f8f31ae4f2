package redirecturi

import (
	"errors"
	"testing"
)

func TestCheck(t *testing.T) {
	good := []string{
		"https://app.example.com/callback",
		"https://app.example.com:8443/cb?tenant=a",
		"https://localhost/cb",
		"http://127.0.0.1/callback",
		"http://127.0.0.1:33418/callback",
		"http://[::1]/cb",
		"http://[::1]:8080/cb",
		"http://localhost:3000/oauth/callback",
		"http://localhost",
		"com.example.app:/oauth2redirect/example-provider",
		"com.example.app://callback",
		"app.vscode.dev:/cb",
	}
	for _, u := range good {
		if err := Check(u); err != nil {
			t.Errorf("Check(%q) = %v", u, err)
		}
	}
	bad := []string{
		"",
		"/callback",
		"//app.example.com/cb",
		"app.example.com/cb",
		"https://app.example.com/cb#frag",
		"https://app.example.com/cb#",
		"http://app.example.com/cb",
		"http://127.0.0.2/cb",
		"http://localhost.example.com/cb",
		"http://127.0.0.1.nip.io/cb",
		"http://[::2]/cb",
		"http://127.0.0.1:99999/cb",
		"http://127.0.0.1:/cb",
		"http://user@127.0.0.1/cb",
		"http://127.0.0.1@evil.example/cb",
		"https://user:pw@app.example.com/cb",
		"https:///cb",
		"https://app.example.com/c b",
		"https://app.example.com\\@evil.example/",
		"https://app.example.com/ü",
		"HTTPS://app.example.com/cb",
		"javascript:alert(1)",
		"data:text/html,hi",
		"file:///etc/passwd",
		"vbscript:x",
		"myapp://callback",
		"cursor://anysphere.cursor-retrieval/oauth/callback",
	}
	for _, u := range bad {
		if err := Check(u); !errors.Is(err, ErrInvalid) {
			t.Errorf("Check(%q) = %v, want ErrInvalid", u, err)
		}
	}
}

func TestMatch(t *testing.T) {
	registered := []string{
		"https://app.example.com/cb",
		"http://127.0.0.1/loop",
		"http://[::1]:9000/v6?x=1",
		"http://localhost:1234/local",
		"com.example.app:/cb",
	}
	cases := []struct {
		req  string
		want bool
	}{
		{"https://app.example.com/cb", true},
		{"https://app.example.com:443/cb", false},
		{"https://APP.example.com/cb", false},
		{"https://app.example.com/cb/", false},
		{"https://app.example.com/cb?x=1", false},
		{"https://app.example.com:8443/cb", false}, // no port relaxation off loopback
		{"http://127.0.0.1/loop", true},
		{"http://127.0.0.1:51234/loop", true},
		{"http://127.0.0.1:1/loop", true},
		{"http://127.0.0.1:51234/loop/", false},
		{"http://127.0.0.1:51234/loop?x", false},
		{"http://127.0.0.1:51234/loop#f", false},
		{"http://localhost:51234/loop", false}, // same port rule, different host
		{"http://[::1]/loop", false},
		{"http://127.0.0.1:99999/loop", false},
		{"http://127.0.0.1:80@evil.example/loop", false},
		{"http://127.0.0.1.evil.example:80/loop", false},
		{"http://[::1]/v6?x=1", true},
		{"http://[::1]:1/v6?x=1", true},
		{"http://[::1]:1/v6?x=2", false},
		{"http://[::1]:1/v6", false},
		{"http://localhost/local", true},
		{"http://localhost:9/local", true},
		{"http://LOCALHOST:9/local", false},
		{"com.example.app:/cb", true},
		{"com.example.app:/cb2", false},
		{"", false},
	}
	for _, c := range cases {
		if got := Match(registered, c.req); got != c.want {
			t.Errorf("Match(%q) = %v, want %v", c.req, got, c.want)
		}
	}
	if Match(nil, "http://127.0.0.1/loop") {
		t.Error("matched against nothing")
	}
}

func TestIsLoopback(t *testing.T) {
	for u, want := range map[string]bool{
		"http://127.0.0.1:5000/cb":   true,
		"http://[::1]/cb":            true,
		"http://localhost":           true,
		"https://localhost/cb":       false,
		"http://127.0.0.2/cb":        false,
		"http://localhost.evil/cb":   false,
		"http://localhost:80@evil/x": false,
	} {
		if got := IsLoopback(u); got != want {
			t.Errorf("IsLoopback(%q) = %v", u, got)
		}
	}
}
