package keys

import (
	"testing"
	"time"

	"github.com/mcp-authz/mcp-authz/storage"
)

func TestSchedule(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	rec := func(id string, at time.Duration) storage.SigningKey {
		return storage.SigningKey{ID: id, Algorithm: Algorithm, CreatedAt: t0.Add(at)}
	}
	opts := Options{Retention: 10 * time.Minute, ReloadInterval: time.Minute}
	delayed := opts
	delayed.ActivationDelay = 2 * time.Minute

	type want struct {
		signing, published bool
		superseded         time.Duration // from t0; -1 for none
	}
	for _, tc := range []struct {
		name string
		recs []storage.SigningKey // newest first
		now  time.Duration
		opts Options
		want []want
	}{
		{"one key", []storage.SigningKey{rec("a", 0)}, time.Hour, opts,
			[]want{{true, true, -1}}},
		{"rotated, old still published", []storage.SigningKey{rec("b", time.Hour), rec("a", 0)},
			time.Hour + 5*time.Minute, opts,
			[]want{{true, true, -1}, {false, true, time.Hour}}},
		{"just before retention plus reload interval", []storage.SigningKey{rec("b", time.Hour), rec("a", 0)},
			time.Hour + 11*time.Minute - time.Nanosecond, opts,
			[]want{{true, true, -1}, {false, true, time.Hour}}},
		{"retention plus reload interval passed", []storage.SigningKey{rec("b", time.Hour), rec("a", 0)},
			time.Hour + 11*time.Minute, opts,
			[]want{{true, true, -1}, {false, false, time.Hour}}},
		{"three keys, the oldest retired first",
			[]storage.SigningKey{rec("c", 2*time.Hour), rec("b", time.Hour+30*time.Minute), rec("a", 0)},
			2*time.Hour + time.Minute, opts,
			[]want{{true, true, -1}, {false, true, 2 * time.Hour}, {false, false, time.Hour + 30*time.Minute}}},
		{"no delay: a key dated ahead signs", []storage.SigningKey{rec("b", time.Hour), rec("a", 0)},
			time.Hour - time.Second, opts,
			[]want{{true, true, -1}, {false, true, time.Hour}}},
		{"delayed: new key published, old one still signs", []storage.SigningKey{rec("b", time.Hour), rec("a", 0)},
			time.Hour + time.Minute, delayed,
			[]want{{false, true, -1}, {true, true, time.Hour + 2*time.Minute}}},
		{"delayed: new key signs after the delay", []storage.SigningKey{rec("b", time.Hour), rec("a", 0)},
			time.Hour + 2*time.Minute, delayed,
			[]want{{true, true, -1}, {false, true, time.Hour + 2*time.Minute}}},
		{"delayed: a first key signs at once", []storage.SigningKey{rec("a", 0)}, 0, delayed,
			[]want{{true, true, -1}}},
		{"delayed: two first keys, the older signs", []storage.SigningKey{rec("b", time.Second), rec("a", 0)},
			time.Second, delayed,
			[]want{{false, true, -1}, {true, true, time.Second + 2*time.Minute}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := schedule(tc.recs, t0.Add(tc.now), tc.opts)
			if len(got) != len(tc.want) {
				t.Fatalf("got %d infos, want %d", len(got), len(tc.want))
			}
			for i, w := range tc.want {
				g := got[i]
				if g.ID != tc.recs[i].ID || g.Signing != w.signing || g.Published != w.published {
					t.Errorf("key %s: signing %v published %v, want %v %v", g.ID, g.Signing, g.Published, w.signing, w.published)
				}
				wantSup := time.Time{}
				if w.superseded >= 0 {
					wantSup = t0.Add(w.superseded)
				}
				if !g.SupersededAt.Equal(wantSup) {
					t.Errorf("key %s: superseded at %v, want %v", g.ID, g.SupersededAt, wantSup)
				}
			}
		})
	}
}

func TestSameType(t *testing.T) {
	for _, tc := range []struct {
		got, want string
		ok        bool
	}{
		{"at+jwt", "at+jwt", true},
		{"application/at+jwt", "at+jwt", true},
		{"AT+JWT", "at+jwt", true},
		{"JWT", "at+jwt", false},
		{"", "at+jwt", false},
		{"", "", true},
		{"application/", "", false},
	} {
		if sameType(tc.got, tc.want) != tc.ok {
			t.Errorf("sameType(%q, %q) = %v", tc.got, tc.want, !tc.ok)
		}
	}
}
