package main

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestOverloadStoryShedsTheExcessAndKeepsProbesFast runs the overload
// story as a real process with short phases: orders arrive at half the
// order path's capacity, then at three times it. While it is overloaded,
// every /livez answers 200 at once (probes are exempt, never shed), the
// limiter sheds normal requests with 503 and Retry-After, the service
// still serves about its capacity, and the orders it admits stay fast: the
// p99 of their time in the handler, read from the service's own
// orders_duration_seconds histogram over the phase, stays within four
// service times (without the limiter it climbs to seconds: see the README).
func TestOverloadStoryShedsTheExcessAndKeepsProbesFast(t *testing.T) {
	const (
		phase     = 5 * time.Second
		slots     = 4
		orderTime = 50 * time.Millisecond
	)
	base, _, logs := startService(t, "-demo-story", "overload", "-demo-phase", phase.String(),
		"-order-slots", strconv.Itoa(slots), "-order-time", orderTime.String())
	logs.find(t, 2*phase, `overload story: overload phase"`)
	if _, page := getAdmitted(t, base+"/"); !strings.Contains(page, "story <b>overload</b>") || !strings.Contains(page, `href="/metrics"`) {
		t.Errorf("the index does not name the overload story and where to watch it: %.400s", page)
	}
	_, before := get(t, base+"/metrics")

	var probes, slowest time.Duration
	var nProbes, shedSeen int
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(3 * phase)
wait:
	for {
		select {
		case line, ok := <-logs.lines:
			if !ok {
				t.Fatal("service log ended during the overload phase")
			}
			if strings.Contains(line, `overload story: overload phase done"`) {
				break wait
			}
		case <-tick.C:
			start := time.Now()
			code, body := get(t, base+"/livez")
			took := time.Since(start)
			if code != 200 || body != "ok" {
				t.Fatalf("/livez during the overload = %d %q, want 200 ok (probes are never shed)", code, body)
			}
			probes += took
			slowest = max(slowest, took)
			nProbes++
			if nProbes%8 == 0 && shedSeen == 0 { // now and then an order of our own, to see a refusal
				shedSeen += checkShedAnswer(t, base)
			}
		case <-deadline:
			t.Fatalf("the overload phase did not end within %v", 3*phase)
		}
	}
	_, after := get(t, base+"/metrics")
	t.Logf("/livez: %d probes during the overload, mean %v, slowest %v", nProbes, probes/time.Duration(max(nProbes, 1)), slowest)
	if slowest > time.Second {
		t.Errorf("slowest /livez took %v during the overload, want well under a second", slowest)
	}

	shed := metricSum(after, "opskit_overload_shed_total", `priority="normal"`) - metricSum(before, "opskit_overload_shed_total", `priority="normal"`)
	if shed <= 0 {
		t.Errorf("opskit_overload_shed_total rose by %v during the overload phase, want > 0", shed)
	}
	if strings.Contains(after, `opskit_overload_shed_total{`) && metricMatches(after, "opskit_overload_shed_total", `priority="exempt"`) {
		t.Errorf("/metrics has a shed series for exempt work: probes must never be shed")
	}
	if n := metricSum(after, "opskit_overload_admitted_total", `priority="exempt"`); n < float64(nProbes) {
		t.Errorf("exempt admitted %v, want at least the %d probes", n, nProbes)
	}

	p99, admitted := histogramQuantile(t, before, after, "orders_duration_seconds", 0.99)
	capacity := float64(slots) / orderTime.Seconds()
	t.Logf("overload phase: %v orders admitted (capacity %v), %v shed, p99 of admitted orders <= %vs", admitted, capacity*phase.Seconds(), shed, p99)
	if p99 > 4*orderTime.Seconds() {
		t.Errorf("p99 of admitted orders <= %vs during the overload, want within 4 service times (%v)", p99, 4*orderTime)
	}
	if admitted < 0.5*capacity*phase.Seconds() {
		t.Errorf("%v orders admitted during a %v overload of a %v/s service, want at least half its capacity", admitted, phase, capacity)
	}
}

// getAdmitted is get for a page the limiter may shed while the service is
// loaded: it honours a 503 from the limiter by asking again, as a client
// told Retry-After would (sooner: the test has its own deadline), for at
// most 20s.
func getAdmitted(t *testing.T, url string, header ...string) (int, string) {
	t.Helper()
	var code int
	var body string
	waitFor(t, "GET "+url+" to be admitted", func() bool {
		code, body = get(t, url, header...)
		return code != http.StatusServiceUnavailable || !strings.HasPrefix(body, "overload:")
	})
	return code, body
}

// checkShedAnswer places one order; if it is shed, the answer must be 503
// with Retry-After. It returns 1 when it saw a refusal.
func checkShedAnswer(t *testing.T, base string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+"/api/orders", strings.NewReader(`{"item":"pen","quantity":1}`))
	req.Header.Set("X-Tenant", "probe-tenant")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("order during the overload: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		return 0
	}
	if ra := resp.Header.Get("Retry-After"); ra == "" {
		t.Errorf("a shed order got 503 without Retry-After")
	}
	return 1
}

// metricMatches reports whether the exposition has a sample of name whose
// labels contain label.
func metricMatches(exposition, name, label string) bool {
	for _, line := range strings.Split(exposition, "\n") {
		if strings.HasPrefix(line, name+"{") && strings.Contains(line, label) {
			return true
		}
	}
	return false
}

// metricSum sums the samples of name whose labels contain label.
func metricSum(exposition, name, label string) float64 {
	var sum float64
	for _, line := range strings.Split(exposition, "\n") {
		if strings.HasPrefix(line, name+"{") && strings.Contains(line, label) {
			f := strings.Fields(line)
			v, _ := strconv.ParseFloat(f[len(f)-1], 64)
			sum += v
		}
	}
	return sum
}

// histogramQuantile reads histogram name's buckets from two expositions
// and returns the upper bound of the bucket that holds quantile q of the
// observations made between them, with how many there were.
func histogramQuantile(t *testing.T, before, after, name string, q float64) (le, count float64) {
	t.Helper()
	b, a := buckets(before, name), buckets(after, name)
	if len(a) == 0 {
		t.Fatalf("/metrics has no %s_bucket samples", name)
	}
	total := a[len(a)-1].n - lookup(b, a[len(a)-1].le)
	if total <= 0 {
		t.Fatalf("no %s observations between the two reads", name)
	}
	var seen strings.Builder
	for _, bk := range a {
		fmt.Fprintf(&seen, " le=%g:%g", bk.le, bk.n-lookup(b, bk.le))
	}
	t.Logf("%s between the reads:%s", name, seen.String())
	for _, bk := range a {
		if bk.n-lookup(b, bk.le) >= q*total {
			return bk.le, total
		}
	}
	return math.Inf(1), total
}

type bucket struct{ le, n float64 }

// buckets reads name's cumulative buckets, in the exposition's order
// (ascending le, +Inf last).
func buckets(exposition, name string) []bucket {
	var out []bucket
	for _, line := range strings.Split(exposition, "\n") {
		if !strings.HasPrefix(line, name+"_bucket{") {
			continue
		}
		i := strings.Index(line, `le="`)
		if i < 0 {
			continue
		}
		rest := line[i+4:]
		le, err := strconv.ParseFloat(rest[:strings.IndexByte(rest, '"')], 64)
		if err != nil {
			continue
		}
		f := strings.Fields(line)
		n, _ := strconv.ParseFloat(f[len(f)-1], 64)
		out = append(out, bucket{le, n})
	}
	return out
}

func lookup(bs []bucket, le float64) float64 {
	for _, b := range bs {
		if b.le == le {
			return b.n
		}
	}
	return 0
}
