package tokenkey

import (
	"encoding/base64"
	"sort"
	"strings"
	"testing"
	"time"
)

func jwt(payload string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"ES256"}`)) + "." + enc([]byte(payload)) + "." + enc([]byte("signature"))
}

func TestNewIDSortsByTime(t *testing.T) {
	base := time.UnixMilli(1_790_000_000_000)
	var ids []string
	for i := range 300 {
		// Steps across every hex digit of the time part, including carries.
		ids = append(ids, newID(base.Add(time.Duration(i*i*i)*time.Millisecond)))
	}
	if !sort.StringsAreSorted(ids) {
		t.Fatal("IDs made later do not sort later")
	}
	seen := map[string]bool{}
	for range 1000 {
		id := NewID()
		if len(id) != 28 || seen[id] {
			t.Fatalf("NewID = %q (length %d, seen before %v)", id, len(id), seen[id])
		}
		seen[id] = true
	}
}

func TestOf(t *testing.T) {
	id := NewID()
	tok := jwt(`{"iss":"https://as.example","jti":"` + id + `"}`)
	if got, want := Of(tok), For(id, tok); got != want {
		t.Fatalf("Of = %q, want For(jti, token) = %q", got, want)
	}
	if !strings.HasPrefix(Of(tok), id+".") {
		t.Fatalf("Of = %q, want the jti in front", Of(tok))
	}
	// Altering the payload, even keeping the jti, changes the key.
	other := jwt(`{"iss":"https://as.example","jti":"` + id + `","scope":"admin"}`)
	if Of(other) == Of(tok) {
		t.Fatal("two tokens with one jti share a key")
	}
	for name, tok := range map[string]string{
		"empty":         "",
		"one part":      "abc",
		"two parts":     "a.b",
		"bad base64":    "a.!!!.c",
		"not JSON":      jwt(`not json`),
		"no jti":        jwt(`{"iss":"x"}`),
		"jti not text":  jwt(`{"jti":42}`),
		"empty jti":     jwt(`{"jti":""}`),
		"jti too long":  jwt(`{"jti":"` + strings.Repeat("a", MaxIDLength+1) + `"}`),
		"refresh token": "ory_rt_abc.def",
	} {
		if k := Of(tok); strings.Contains(k, ".") {
			t.Errorf("%s: Of = %q, a key a stored token could have", name, k)
		}
	}
}

func FuzzOf(f *testing.F) {
	f.Add(jwt(`{"jti":"0190a1b2c3d4AAAAAAAAAAAAAAAA"}`))
	f.Add("a.b.c")
	f.Fuzz(func(t *testing.T, tok string) {
		k := Of(tok)
		if jti, ok := jtiOf(tok); ok {
			if k != For(jti, tok) {
				t.Fatalf("Of = %q, want %q", k, For(jti, tok))
			}
		} else if strings.Contains(k, ".") {
			t.Fatalf("Of(%q) = %q for a token without a jti", tok, k)
		}
	})
}
