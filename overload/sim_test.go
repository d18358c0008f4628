package overload

import (
	"container/heap"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/opskit/opskit/clock"
)

// sim is a discrete-event model of a service behind a Limiter, on the
// fake clock: slots pieces of work run at once, each for service; the
// rest wait in a FIFO queue (the service's own queue, behind the
// limiter). Arrivals are Poisson at rate per second, their priorities
// drawn from mix. Nothing sleeps: the clock jumps from event to event.
type sim struct {
	t       *testing.T
	l       *Limiter
	clock   *clock.Fake
	rng     *rand.Rand
	slots   int
	service time.Duration
	rate    float64
	mix     []Priority // priorities of arrivals, drawn uniformly

	now     time.Time
	clock0  time.Time
	next    time.Time // next arrival
	running endHeap
	queue   []job

	stats simStats

	// noise, when set, adds to each service time an exponential delay of
	// this mean, and every second stalls the whole service for stall.
	noise, stall time.Duration
}

type job struct {
	arrived time.Time
	p       Priority
	permit  Permit
	ends    time.Time
}

type simStats struct {
	admitted, shed [numPriorities]int
	latencies      []time.Duration
	limits         []int // the limit at each arrival
}

func (s *simStats) p99() time.Duration {
	if len(s.latencies) == 0 {
		return 0
	}
	lat := slices.Clone(s.latencies)
	slices.Sort(lat)
	return lat[len(lat)*99/100]
}

type endHeap []job

func (h endHeap) Len() int           { return len(h) }
func (h endHeap) Less(i, j int) bool { return h[i].ends.Before(h[j].ends) }
func (h endHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *endHeap) Push(x any)        { *h = append(*h, x.(job)) }
func (h *endHeap) Pop() any {
	old := *h
	j := old[len(old)-1]
	*h = old[:len(old)-1]
	return j
}

func newSim(t *testing.T, l *Limiter, fc *clock.Fake, slots int, service time.Duration) *sim {
	return &sim{t: t, l: l, clock: fc, rng: rand.New(rand.NewPCG(1, 2)), slots: slots, service: service,
		mix: []Priority{Normal}, now: fc.Now(), clock0: fc.Now(), next: fc.Now()}
}

// capacity is the service's throughput per second.
func (s *sim) capacity() float64 { return float64(s.slots) / s.service.Seconds() }

// run simulates d and returns what happened in it.
func (s *sim) run(d time.Duration) simStats {
	s.stats = simStats{}
	end := s.now.Add(d)
	for {
		at := s.next
		if len(s.running) > 0 && s.running[0].ends.Before(at) {
			at = s.running[0].ends
		}
		if at.After(end) {
			s.advance(end)
			return s.stats
		}
		s.advance(at)
		if len(s.running) > 0 && !s.running[0].ends.After(at) {
			j := heap.Pop(&s.running).(job)
			j.permit.Release()
			if j.p != Exempt {
				s.stats.latencies = append(s.stats.latencies, at.Sub(j.arrived))
			}
			s.startQueued()
			continue
		}
		s.arrive()
	}
}

func (s *sim) advance(to time.Time) {
	if d := to.Sub(s.now); d > 0 {
		s.clock.Advance(d)
		s.now = to
	}
}

func (s *sim) startQueued() {
	for len(s.queue) > 0 && len(s.running) < s.slots {
		j := s.queue[0]
		s.queue = s.queue[1:]
		d := s.service
		if s.noise > 0 {
			d += time.Duration(s.rng.ExpFloat64() * float64(s.noise))
		}
		if s.stall > 0 {
			// a stall of the whole machine at the start of each second
			if into := s.now.Sub(s.clock0) % time.Second; into < s.stall {
				d += s.stall - into
			}
		}
		j.ends = s.now.Add(d)
		heap.Push(&s.running, j)
	}
}

func (s *sim) arrive() {
	p := s.mix[s.rng.IntN(len(s.mix))]
	s.stats.limits = append(s.stats.limits, s.l.Limit())
	permit, ok := s.l.Acquire(p)
	if ok {
		s.stats.admitted[p]++
		if p == Exempt {
			// probes answer at once, beside the service's slots
		} else {
			s.queue = append(s.queue, job{arrived: s.now, p: p, permit: permit})
			s.startQueued()
		}
	} else {
		s.stats.shed[p]++
	}
	gap := time.Duration(s.rng.ExpFloat64() / s.rate * float64(time.Second))
	s.next = s.now.Add(max(gap, time.Nanosecond))
}

func (st simStats) goodput(d time.Duration) float64 {
	return float64(len(st.latencies)) / d.Seconds()
}

func (st simStats) meanLimit() float64 {
	sum := 0
	for _, l := range st.limits {
		sum += l
	}
	return float64(sum) / float64(max(1, len(st.limits)))
}

// The service has 32 slots of 25ms (1280/s). Offered three times that,
// the limit settles near the slots (enough to keep them busy, not so far
// above that latency doubles); when half the slots go away it falls, and
// when they come back and the load passes it recovers.
func TestLimitFallsWhenLatencyRisesAndRecovers(t *testing.T) {
	l, fc := newTestLimiter(t)
	s := newSim(t, l, fc, 32, 25*time.Millisecond)
	c := s.capacity()

	s.rate = 0.5 * c
	s.run(2 * time.Second) // the first probe, and the limit growing from its initial value
	unloaded := s.run(3 * time.Second)
	if sum(unloaded.shed[:]) != 0 {
		t.Fatalf("shed %v at half the capacity", unloaded.shed)
	}

	s.rate = 3 * c
	s.run(time.Second) // converging
	full := s.run(4 * time.Second)
	t.Logf("3x, 32 slots: goodput %.0f/s of %.0f, p99 %v, mean limit %.1f", full.goodput(4*time.Second), c, full.p99(), full.meanLimit())
	if g := full.goodput(4 * time.Second); g < 0.95*c {
		t.Errorf("goodput %.0f/s at 3x, want at least 95%% of %.0f", g, c)
	}
	if p99 := full.p99(); p99 > 2*25*time.Millisecond {
		t.Errorf("p99 %v at 3x, want at most twice the 25ms service time", p99)
	}
	highLimit := full.meanLimit()

	s.slots = 16
	s.run(time.Second)
	half := s.run(3 * time.Second)
	t.Logf("3x, 16 slots: goodput %.0f/s of %.0f, p99 %v, mean limit %.1f", half.goodput(3*time.Second), c/2, half.p99(), half.meanLimit())
	if half.meanLimit() > 0.7*highLimit {
		t.Errorf("mean limit %.1f with half the slots, want it well below %.1f", half.meanLimit(), highLimit)
	}
	if g := half.goodput(3 * time.Second); g < 0.95*c/2 {
		t.Errorf("goodput %.0f/s with half the slots, want at least 95%% of %.0f", g, c/2)
	}
	if p99 := half.p99(); p99 > 2*25*time.Millisecond {
		t.Errorf("p99 %v with half the slots, want at most 50ms", p99)
	}

	s.slots = 32
	s.rate = 0.9 * c
	s.run(2 * time.Second)
	back := s.run(3 * time.Second)
	t.Logf("0.9x, 32 slots again: goodput %.0f/s, p99 %v, mean limit %.1f, shed %v", back.goodput(3*time.Second), back.p99(), back.meanLimit(), back.shed)
	if back.meanLimit() < 32 {
		t.Errorf("mean limit %.1f after the slots came back, want at least the 32 slots", back.meanLimit())
	}
	if shed := sum(back.shed[:]); shed > len(back.latencies)/100 {
		t.Errorf("still shedding %d of %d at 0.9x after recovery", shed, len(back.latencies))
	}
}

func sum(xs []int) int {
	n := 0
	for _, x := range xs {
		n += x
	}
	return n
}

// Under three times the capacity, with a third of the traffic in each
// class and probes besides, Background is shed most, Normal less,
// Critical least, and probes never.
func TestPrioritiesShedInOrderAndProbesNever(t *testing.T) {
	l, fc := newTestLimiter(t)
	s := newSim(t, l, fc, 32, 25*time.Millisecond)
	s.mix = []Priority{Background, Normal, Critical, Exempt}
	s.rate = 4 * s.capacity() // three times the capacity, plus as much again in probes
	s.run(time.Second)
	st := s.run(4 * time.Second)
	t.Logf("admitted %v, shed %v", st.admitted, st.shed)
	if st.shed[Exempt] != 0 || l.Shed(Exempt) != 0 {
		t.Fatalf("shed %d probes", st.shed[Exempt])
	}
	frac := func(p Priority) float64 { return float64(st.shed[p]) / float64(st.shed[p]+st.admitted[p]) }
	if !(frac(Background) > frac(Normal) && frac(Normal) > frac(Critical)) {
		t.Errorf("shed fractions background %.2f, normal %.2f, critical %.2f: want strictly falling",
			frac(Background), frac(Normal), frac(Critical))
	}
	if frac(Background) < 0.9 {
		t.Errorf("background shed fraction %.2f; want it to take most of the refusals", frac(Background))
	}
}

// With noisy service times (an exponential extra of 4ms mean) and a 40ms
// stall of the whole service every second, the limiter keeps goodput near
// what the noisy service can do (32 slots / 29ms, less the stalls: about
// 1060/s) and the p99 within twice the unloaded p99.
func TestNoisyServiceAtThreeTimesCapacity(t *testing.T) {
	l, fc := newTestLimiter(t)
	s := newSim(t, l, fc, 32, 25*time.Millisecond)
	s.noise, s.stall = 4*time.Millisecond, 40*time.Millisecond
	c := s.capacity()
	s.rate = 0.5 * c
	s.run(2 * time.Second)
	un := s.run(4 * time.Second)
	s.rate = 3 * c
	s.run(time.Second)
	full := s.run(4 * time.Second)
	t.Logf("unloaded p99 %v; 3x: goodput %.0f/s, p99 %v, mean limit %.1f", un.p99(), full.goodput(4*time.Second), full.p99(), full.meanLimit())
	if g := full.goodput(4 * time.Second); g < 0.95*1060 {
		t.Errorf("goodput %.0f/s, want at least 95%% of about 1060", g)
	}
	if full.p99() > 2*un.p99() {
		t.Errorf("p99 %v, want at most twice the unloaded %v", full.p99(), un.p99())
	}
}

// A stall (every piece of work takes 20 times longer for two seconds,
// as when the machine is starved) drives the limit to its minimum and the
// baseline up; once the stall is over, the limit is back within a second
// and the service runs at capacity again.
func TestRecoversAfterAStall(t *testing.T) {
	l, fc := newTestLimiter(t)
	s := newSim(t, l, fc, 32, 25*time.Millisecond)
	s.rate = 3 * s.capacity()
	s.run(2 * time.Second)
	s.service = 500 * time.Millisecond
	s.run(2 * time.Second)
	s.service = 25 * time.Millisecond
	s.run(time.Second)
	st := s.run(3 * time.Second)
	t.Logf("after the stall: goodput %.0f/s of 1280, p99 %v, mean limit %.1f", st.goodput(3*time.Second), st.p99(), st.meanLimit())
	if g := st.goodput(3 * time.Second); g < 0.95*1280 {
		t.Errorf("goodput %.0f/s a second after the stall ended, want at least 95%% of 1280", g)
	}
}
