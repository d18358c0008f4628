package retry

import (
	"math"
	"strings"
	"testing"
	"time"
)

func TestDelayBounds(t *testing.T) {
	const ms = time.Millisecond
	tests := []struct {
		name    string
		p       Policy
		attempt int
		lo, hi  time.Duration
	}{
		{"zero policy first retry", Policy{}, 1, 0, 100 * ms},
		{"zero policy third retry", Policy{}, 3, 0, 400 * ms},
		{"attempt below one counts as one", Policy{}, -5, 0, 100 * ms},
		{"full capped", Policy{BaseDelay: ms, MaxDelay: 50 * ms}, 30, 0, 50 * ms},
		{"equal", Policy{BaseDelay: 100 * ms, Jitter: JitterEqual}, 2, 100 * ms, 200 * ms},
		{"none exact", Policy{BaseDelay: 100 * ms, Jitter: JitterNone}, 3, 400 * ms, 400 * ms},
		{"none capped", Policy{BaseDelay: 100 * ms, MaxDelay: time.Second, Jitter: JitterNone}, 10, time.Second, time.Second},
		{"none huge attempt", Policy{Jitter: JitterNone}, math.MaxInt, DefaultMaxDelay, DefaultMaxDelay},
		{"base above max", Policy{BaseDelay: time.Hour, MaxDelay: time.Second, Jitter: JitterNone}, 1, time.Second, time.Second},
		{"decorrelated first", Policy{BaseDelay: 100 * ms, Jitter: JitterDecorrelated}, 1, 100 * ms, 300 * ms},
		{"decorrelated later", Policy{BaseDelay: 100 * ms, Jitter: JitterDecorrelated}, 4, 100 * ms, 1200 * ms},
		{"decorrelated capped", Policy{BaseDelay: 100 * ms, MaxDelay: 150 * ms, Jitter: JitterDecorrelated}, 50, 100 * ms, 150 * ms},
		{"max duration cap", Policy{BaseDelay: time.Duration(math.MaxInt64 / 2), MaxDelay: math.MaxInt64}, math.MaxInt, 0, math.MaxInt64},
		{"equal max duration", Policy{BaseDelay: math.MaxInt64, MaxDelay: math.MaxInt64, Jitter: JitterEqual}, 70, math.MaxInt64 / 2, math.MaxInt64},
		{"decorrelated max duration", Policy{BaseDelay: 1, MaxDelay: math.MaxInt64, Jitter: JitterDecorrelated}, 100, 1, math.MaxInt64},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for range 500 {
				got := tt.p.Delay(tt.attempt)
				if got < tt.lo || got > tt.hi {
					t.Fatalf("Delay(%d) = %v, want in [%v, %v]", tt.attempt, got, tt.lo, tt.hi)
				}
			}
		})
	}
}

// TestDelayIsJittered checks the random kinds really spread: a constant
// answer would pass the bounds test but defeat the purpose of jitter.
func TestDelayIsJittered(t *testing.T) {
	for _, j := range []Jitter{JitterFull, JitterEqual, JitterDecorrelated} {
		p := Policy{BaseDelay: time.Second, Jitter: j}
		seen := map[time.Duration]bool{}
		var sum time.Duration
		const n = 2000
		for range n {
			d := p.Delay(3)
			seen[d] = true
			sum += d
		}
		if len(seen) < n/2 {
			t.Errorf("%v: %d distinct delays in %d draws, want spread", j, len(seen), n)
		}
		mean := sum / n
		// Expected means: full 2s (uniform [0,4s]), equal 3s ([2s,4s]),
		// decorrelated 3.5s ([1s,6s]).
		want := map[Jitter]time.Duration{JitterFull: 2 * time.Second, JitterEqual: 3 * time.Second, JitterDecorrelated: 3500 * time.Millisecond}[j]
		if diff := mean - want; diff < -want/10 || diff > want/10 {
			t.Errorf("%v: mean delay %v, want about %v", j, mean, want)
		}
	}
}

func TestNextDelayDecorrelatedUsesPrevious(t *testing.T) {
	p := Policy{BaseDelay: 10 * time.Millisecond, MaxDelay: time.Minute, Jitter: JitterDecorrelated}
	for range 500 {
		got := p.nextDelay(2, time.Second)
		if got < 10*time.Millisecond || got > 3*time.Second {
			t.Fatalf("nextDelay(2, 1s) = %v, want in [10ms, 3s]", got)
		}
	}
	// Other kinds ignore prev.
	q := Policy{BaseDelay: time.Second, Jitter: JitterNone}
	if got := q.nextDelay(2, time.Hour); got != 2*time.Second {
		t.Errorf("JitterNone nextDelay(2, 1h) = %v, want 2s", got)
	}
}

func TestDelayAllocatesNothing(t *testing.T) {
	for _, j := range []Jitter{JitterFull, JitterEqual, JitterDecorrelated, JitterNone} {
		p := Policy{Jitter: j}
		if n := testing.AllocsPerRun(100, func() { _ = p.Delay(4) }); n != 0 {
			t.Errorf("%v: Delay allocates %v times, want 0", j, n)
		}
	}
}

func TestPolicyValidate(t *testing.T) {
	tests := []struct {
		p    Policy
		want string // substring; "" means valid
	}{
		{Policy{}, ""},
		{Policy{MaxAttempts: 1, BaseDelay: 1, MaxDelay: 1, AttemptTimeout: 1, Jitter: JitterNone}, ""},
		{Policy{MaxAttempts: -1}, "Policy.MaxAttempts is -1"},
		{Policy{BaseDelay: -1}, "Policy.BaseDelay is -1ns"},
		{Policy{MaxDelay: -time.Second}, "Policy.MaxDelay is -1s"},
		{Policy{AttemptTimeout: -time.Second}, "Policy.AttemptTimeout is -1s"},
		{Policy{Jitter: 9}, "Policy.Jitter is 9"},
	}
	for _, tt := range tests {
		err := tt.p.Validate()
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("Validate(%+v) = %v, want nil", tt.p, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("Validate(%+v) = %v, want error containing %q", tt.p, err, tt.want)
		}
	}
}

func TestJitterString(t *testing.T) {
	for j, want := range map[Jitter]string{JitterFull: "full", JitterEqual: "equal", JitterDecorrelated: "decorrelated", JitterNone: "none", 7: "Jitter(7)"} {
		if got := j.String(); got != want {
			t.Errorf("Jitter(%d).String() = %q, want %q", int(j), got, want)
		}
	}
}
