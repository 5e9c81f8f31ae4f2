package consent

import (
	"strings"
	"testing"
	"time"
)

func TestPasswordHashing(t *testing.T) {
	hash, err := HashPassword("s3cret pass")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(hash, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("hash %q is not PHC argon2id with our parameters", hash)
	}
	if ok, err := VerifyPassword(hash, "s3cret pass"); !ok || err != nil {
		t.Errorf("right password: %v %v", ok, err)
	}
	for _, wrong := range []string{"", "s3cret pas", "S3cret pass", strings.Repeat("x", MaxPasswordLength+1)} {
		if ok, _ := VerifyPassword(hash, wrong); ok {
			t.Errorf("wrong password %.20q accepted", wrong)
		}
	}
	if h2, _ := HashPassword("s3cret pass"); h2 == hash {
		t.Error("two hashes of one password are equal: no salt")
	}
	if _, err := HashPassword(strings.Repeat("x", MaxPasswordLength+1)); err == nil {
		t.Error("oversized password hashed")
	}
	parts := strings.Split(hash, "$")
	for name, bad := range map[string]string{
		"bcrypt":           "$2a$10$abcdefghijklmnopqrstuv",
		"huge memory":      strings.Join(append(parts[:3:3], "m=4194304,t=2,p=1", parts[4], parts[5]), "$"),
		"zero time":        strings.Join(append(parts[:3:3], "m=19456,t=0,p=1", parts[4], parts[5]), "$"),
		"bad salt":         strings.Join(append(parts[:4:4], "!!", parts[5]), "$"),
		"truncated":        strings.Join(parts[:4], "$"),
		"version mismatch": strings.Replace(hash, "v=19", "v=16", 1),
	} {
		if ok, err := VerifyPassword(bad, "s3cret pass"); ok || err == nil {
			t.Errorf("%s: ok %v err %v", name, ok, err)
		}
	}
}

func TestFailureLimiter(t *testing.T) {
	now := time.Unix(1000, 0)
	l := newFailureLimiter(3, time.Minute, func() time.Time { return now })
	for i := 0; i < 3; i++ {
		if b, _ := l.Blocked("user:a", "addr:1"); b {
			t.Fatalf("blocked after %d failures", i)
		}
		l.Fail("user:a", "addr:1")
	}
	if b, wait := l.Blocked("user:a"); !b || wait != time.Minute {
		t.Errorf("account not blocked after 3 failures (%v %v)", b, wait)
	}
	if b, _ := l.Blocked("user:other", "addr:1"); !b {
		t.Error("address not blocked for another account")
	}
	if b, _ := l.Blocked("user:other", "addr:2"); b {
		t.Error("an unrelated account and address are blocked")
	}
	now = now.Add(time.Minute)
	if b, _ := l.Blocked("user:a", "addr:1"); b {
		t.Error("still blocked after the window")
	}
	l.Fail("user:b")
	l.Reset("user:b")
	if len(l.entries) != 0 {
		t.Errorf("entries left: %v", l.entries)
	}
	small := newFailureLimiter(1, time.Hour, func() time.Time { return now })
	small.maxEntries = 10
	for i := 0; i < 100; i++ {
		small.Fail(strings.Repeat("k", i+1))
	}
	if len(small.entries) > 10 {
		t.Errorf("limiter grew to %d entries, bound is 10", len(small.entries))
	}
}
