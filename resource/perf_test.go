package resource

import (
	"testing"
	"time"
)

// TestSpeed holds the package to its performance budget, measured as BenchmarkVerifyVsECDSA
// does: a token seen for the first time costs at most 10% more than its ES256 signature
// check; a token seen again costs under 2µs.
func TestSpeed(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("timing needs a full, uninstrumented run")
	}
	f, as := newBenchFixture(t)
	const n = 400 // 50 batches: about 60 ms

	first := compare(n, f.baseline(t), f.firstSeen(t, as))
	cached := compare(n, f.baseline(t), f.cached(t, as))
	t.Logf("ES256 %.0f ns; first-seen Verify %.0f ns (%.3f×); cached Verify %.0f ns", first.base, first.subject, first.ratio, cached.subject)
	if r := first; r.ratio > 1.10 {
		t.Errorf("first-seen Verify costs %.3f× an ES256 verification (%.0f ns vs %.0f ns), budget 1.10×", r.ratio, r.subject, r.base)
	}
	if r := cached; r.subject > float64(2*time.Microsecond) {
		t.Errorf("cached Verify costs %.0f ns, budget 2000 ns", r.subject)
	}
}
