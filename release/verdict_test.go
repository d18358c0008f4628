package release_test

import (
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/opskit/opskit/release"
)

func TestCompareKnownTruth(t *testing.T) {
	tests := []struct {
		name                string
		baseline, candidate release.Counts
		p                   release.Policy
		want                release.Decision
	}{
		// Half the traffic each, 1 % against 3 %.
		{"3x regression", release.Counts{Good: 1980, Bad: 20}, release.Counts{Good: 1940, Bad: 60}, release.Policy{}, release.NoGo},
		{"alike", release.Counts{Good: 2970, Bad: 30}, release.Counts{Good: 2970, Bad: 30}, release.Policy{}, release.Go},
		{"better", release.Counts{Good: 1980, Bad: 20}, release.Counts{Good: 1998, Bad: 2}, release.Policy{}, release.Go},
		{"too few events", release.Counts{Good: 99, Bad: 1}, release.Counts{Good: 80, Bad: 20}, release.Policy{}, release.NotEnoughData},
		{"too few bad events", release.Counts{Good: 1000}, release.Counts{Good: 1000}, release.Policy{}, release.NotEnoughData},
		{"undecided", release.Counts{Good: 990, Bad: 10}, release.Counts{Good: 985, Bad: 15}, release.Policy{}, release.NotEnoughData},
		// A canary with a tenth of the traffic.
		{"canary 3x", release.Counts{Good: 29700, Bad: 300}, release.Counts{Good: 2910, Bad: 90}, release.Policy{}, release.NoGo},
		{"canary alike", release.Counts{Good: 29700, Bad: 300}, release.Counts{Good: 2970, Bad: 30}, release.Policy{}, release.Go},
		{"lower minimum", release.Counts{Good: 99, Bad: 1}, release.Counts{Good: 80, Bad: 20}, release.Policy{MinEvents: 100}, release.NoGo},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := release.Compare(tt.baseline, tt.candidate, tt.p)
			if err != nil {
				t.Fatal(err)
			}
			if v.Decision != tt.want {
				t.Errorf("got %s (%s), want %s", v.Decision, v.Reason, tt.want)
			}
			if v.Reason == "" || math.IsNaN(v.LogLikelihoodRatio) || math.IsInf(v.LogLikelihoodRatio, 0) {
				t.Errorf("got reason %q, evidence %v", v.Reason, v.LogLikelihoodRatio)
			}
		})
	}
}

func TestComparePolicyErrors(t *testing.T) {
	c := release.Counts{Good: 1000, Bad: 10}
	for _, tt := range []struct {
		p    release.Policy
		want string
	}{
		{release.Policy{Regression: 1}, "Policy.Regression 1"},
		{release.Policy{Regression: math.NaN()}, "Policy.Regression NaN"},
		{release.Policy{Regression: math.Inf(1)}, "Policy.Regression +Inf"},
		{release.Policy{FalseNoGo: 0.6}, "Policy.FalseNoGo 0.6"},
		{release.Policy{FalseGo: -0.1}, "Policy.FalseGo -0.1"},
	} {
		_, err := release.Compare(c, c, tt.p)
		if err == nil || !strings.HasPrefix(err.Error(), "release: "+tt.want) {
			t.Errorf("Compare with %+v: got %v, want an error starting %q", tt.p, err, "release: "+tt.want)
		}
	}
	if _, err := release.Compare(release.Counts{Good: math.MaxUint64, Bad: 1}, c, release.Policy{}); err == nil ||
		!strings.Contains(err.Error(), "overflow") {
		t.Errorf("got %v, want an overflow error", err)
	}
}

// stream is a release's events: each is bad with probability p, drawn as
// geometric gaps between bad events so that long runs cost little.
type stream struct {
	rng       *rand.Rand
	p         float64
	pos, next uint64 // events so far; index of the next bad one
}

func newStream(rng *rand.Rand, p float64) *stream {
	s := &stream{rng: rng, p: p}
	s.next = s.gap()
	return s
}

func (s *stream) gap() uint64 {
	return uint64(math.Floor(math.Log(1-s.rng.Float64()) / math.Log1p(-s.p)))
}

// take adds n events to c.
func (s *stream) take(n uint64, c *release.Counts) {
	bad := uint64(0)
	for s.next < s.pos+n {
		bad++
		s.next += 1 + s.gap()
	}
	s.pos += n
	c.Bad += bad
	c.Good += n - bad
}

type simCase struct {
	share       float64 // of the traffic the candidate takes
	ramp        bool    // the share grows from a tenth to share over the first 20 looks
	candidate   float64 // its error ratio; the baseline's is 1 %
	pipelines   int
	lookEvery   uint64 // candidate events between looks
	maxEvents   uint64 // candidate events before a pipeline gives up
	nogo, go_   int
	nogoEvents  []uint64 // candidate events at each NoGo
	undecidedAt int
}

// run simulates pipelines that call Compare after every lookEvery
// candidate events and stop at the first Go or NoGo.
func (c *simCase) run(t *testing.T, rng *rand.Rand) {
	t.Helper()
	baseEvery := func(look int) uint64 {
		share := c.share
		if c.ramp && look < 20 {
			share = 0.1 + (c.share-0.1)*float64(look)/20
		}
		return uint64(math.Round(float64(c.lookEvery) * (1 - share) / share))
	}
	for range c.pipelines {
		bs, cs := newStream(rng, 0.01), newStream(rng, c.candidate)
		var b, cand release.Counts
		decided := false
		for look := 0; cand.Total() < c.maxEvents && !decided; look++ {
			bs.take(baseEvery(look), &b)
			cs.take(c.lookEvery, &cand)
			v, err := release.Compare(b, cand, release.Policy{})
			if err != nil {
				t.Fatal(err)
			}
			switch v.Decision {
			case release.NoGo:
				c.nogo++
				c.nogoEvents = append(c.nogoEvents, cand.Total())
				decided = true
			case release.Go:
				c.go_++
				decided = true
			}
		}
		if !decided {
			c.undecidedAt++
		}
	}
}

// TestVerdictSimulation checks the promised error rates and power by
// simulating deploy pipelines that look again and again. Short: 400
// pipelines per case; OPSKIT_LONG=1: 10,000.
func TestVerdictSimulation(t *testing.T) {
	pipelines := 400
	if os.Getenv("OPSKIT_LONG") == "1" {
		pipelines = 10000
	}
	rng := rand.New(rand.NewPCG(18, 2026))
	for _, sc := range []struct {
		share float64
		ramp  bool
	}{{0.5, false}, {0.1, false}, {0.5, true}} {
		share := sc.share
		alike := &simCase{share: share, ramp: sc.ramp, candidate: 0.01, pipelines: pipelines, lookEvery: 50, maxEvents: 20000}
		worse := &simCase{share: share, ramp: sc.ramp, candidate: 0.03, pipelines: pipelines, lookEvery: 50, maxEvents: 20000}
		alike.run(t, rng)
		worse.run(t, rng)
		falseNoGo := float64(alike.nogo) / float64(pipelines)
		falseGo := float64(worse.go_) / float64(pipelines)
		power := float64(worse.nogo) / float64(pipelines)
		slices.Sort(worse.nogoEvents)
		p90 := uint64(math.MaxUint64)
		if i := int(math.Ceil(0.9*float64(pipelines))) - 1; i < len(worse.nogoEvents) {
			p90 = worse.nogoEvents[i]
		}
		t.Logf("candidate share %.0f %% (ramped up from 10 %%: %v), %d pipelines, a look every %d candidate events: false no-go %.2f %% (go %d, undecided %d), false go %.2f %%, power %.2f %%, 90 %% of 3x regressions stopped within %d candidate events",
			100*share, sc.ramp, pipelines, alike.lookEvery, 100*falseNoGo, alike.go_, alike.undecidedAt, 100*falseGo, 100*power, p90)
		if falseNoGo > 0.05 {
			t.Errorf("share %v ramp %v: false no-go rate %.4f, want at most 0.05", share, sc.ramp, falseNoGo)
		}
		if falseGo > 0.05 {
			t.Errorf("share %v ramp %v: false go rate %.4f, want at most 0.05", share, sc.ramp, falseGo)
		}
		if power < 0.9 {
			t.Errorf("share %v ramp %v: power %.4f, want at least 0.9", share, sc.ramp, power)
		}
	}
}
