package shedding

import (
	"context"
	"fmt"
	"io"
	"slices"
	"time"
)

// Plan is a whole comparison: every contender at every load, open loop and
// (when Closed) closed loop, in alternating rounds, with the unloaded
// latency measured in every round.
type Plan struct {
	Rounds           int
	Loads            []float64
	Closed           bool // add the closed-loop view
	Warmup, Duration time.Duration
	Slots            int
	Service          time.Duration
	Log              io.Writer // progress, one line per run; nil for none
}

// Cell is one contender at one load in one view, over every round.
type Cell struct {
	Closed  bool
	Load    float64
	Limiter string
	Rounds  []Result
}

// Report is what a Plan measured.
type Report struct {
	Plan     Plan
	Unloaded []Result // no limiter, half the capacity, full slots, per round
	Cells    []*Cell
}

// Execute runs p. Each round runs every load, and at each load every
// contender, in an order that turns by one each round so that none always
// follows the same neighbour.
func Execute(ctx context.Context, p Plan) (*Report, error) {
	rep := &Report{Plan: p}
	lims := Limiters()
	cells := map[string]*Cell{}
	cell := func(closed bool, load float64, name string) *Cell {
		k := fmt.Sprint(closed, load, name)
		if c, ok := cells[k]; ok {
			return c
		}
		c := &Cell{Closed: closed, Load: load, Limiter: name}
		cells[k] = c
		rep.Cells = append(rep.Cells, c)
		return c
	}
	views := []bool{false}
	if p.Closed {
		views = append(views, true)
	}
	for _, closed := range views {
		for _, load := range p.Loads {
			for _, l := range lims {
				cell(closed, load, l.Name)
			}
		}
	}
	svc, err := NewService(p.Slots, p.Service)
	if err != nil {
		return rep, err
	}
	base := Run{Slots: p.Slots, Service: p.Service, Warmup: p.Warmup, Duration: p.Duration}
	for round := range p.Rounds {
		u := base
		u.Load, u.Warmup = 0.5, min(p.Warmup, time.Second)
		res, err := Measure(ctx, svc, lims[0], u)
		if err != nil {
			return rep, err
		}
		rep.Unloaded = append(rep.Unloaded, res)
		logf(p.Log, "round %d: unloaded p99 %v\n", round+1, res.Percentile(99))
		for _, closed := range views {
			for _, load := range p.Loads {
				for i := range lims {
					l := lims[(i+round)%len(lims)]
					r := base
					r.Load, r.Closed, r.Halve = load, closed, true
					res, err := Measure(ctx, svc, l, r)
					if err != nil {
						return rep, err
					}
					cell(closed, load, l.Name).Rounds = append(cell(closed, load, l.Name).Rounds, res)
					logf(p.Log, "round %d: %s %.0fx %s: goodput %.1f%%, p99 %v, shed %d, failed %d, probes shed %d\n",
						round+1, view(closed), load, l.Name, 100*res.Goodput(), res.Percentile(99), res.Shed, res.Failed, res.ProbesShed)
				}
			}
		}
	}
	return rep, nil
}

func logf(w io.Writer, format string, args ...any) {
	if w != nil {
		fmt.Fprintf(w, format, args...)
	}
}

func view(closed bool) string {
	if closed {
		return "closed"
	}
	return "open"
}

// UnloadedP99 is the p99 of every unloaded round pooled.
func (r *Report) UnloadedP99() time.Duration { return Merge(r.Unloaded...).Percentile(99) }

// Goal is the goal for opskit at the highest open-loop load:
// goodput at least 90 % of the capacity and p99 at most twice the unloaded
// p99. It also reports whether any probe was refused, in any run.
func (r *Report) Goal() (goodput float64, p99ratio float64, probesShed int, met bool) {
	for _, c := range r.Cells {
		probesShed += Merge(c.Rounds...).ProbesShed
	}
	top := slices.Max(r.Plan.Loads)
	for _, c := range r.Cells {
		if !c.Closed && c.Load == top && c.Limiter == "opskit" {
			m := Merge(c.Rounds...)
			goodput = m.Goodput()
			p99ratio = float64(m.Percentile(99)) / float64(r.UnloadedP99())
		}
	}
	return goodput, p99ratio, probesShed, goodput >= 0.9 && p99ratio <= 2 && probesShed == 0
}

// spread formats the min–max of f over the rounds.
func spread(rs []Result, f func(Result) float64, format string) string {
	lo, hi := f(rs[0]), f(rs[0])
	for _, r := range rs[1:] {
		lo, hi = min(lo, f(r)), max(hi, f(r))
	}
	return fmt.Sprintf(format+"–"+format, lo, hi)
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d)/float64(time.Millisecond)) }

// WriteMarkdown writes the report as a section of RESULTS.md.
func (r *Report) WriteMarkdown(w io.Writer, env, command string) {
	p := r.Plan
	un := r.UnloadedP99()
	fmt.Fprintf(w, "## Overload, %s\n\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(w, "%s\n\n", env)
	fmt.Fprintf(w, "A simulated service: %d slots × %v of service time, so its capacity C is %.0f requests/s whatever the CPUs do; "+
		"requests wait for a slot in arrival order (the service's own queue, behind the limiter). "+
		"Each run: %v of warm-up (not counted), then %v measured, **with half the slots taken away in the middle** (C/2 for the second half; "+
		"goodput is good answers over what the service could serve in the measured time, C×%v/2 + C/2×%v/2). "+
		"A good answer is a 200 within the client's 1 s deadline; latencies are from the request's intended send time (open loop) to its answer, of good answers only. "+
		"Open loop: Poisson arrivals at the offered load × C. Closed loop: load × %d clients, each sending its next request on an answer, pausing %v after a refusal. "+
		"Beside the load, /livez is requested 20 times a second in every run. "+
		"Contenders: no limiter; opskit `overload.Limiter` with its defaults through `Limiter.Handler`; failsafe-go v0.9.8 `adaptivelimiter.NewWithDefaults` with `TryAcquirePermit` (refusing at once, no queueing), probes bypassing it. "+
		"Requests call the handler in process (no sockets), so that the shared cores are not what sheds. "+
		"%d rounds; each round measures the unloaded latency (no limiter, 0.5×C, all slots), then every load, and at each load every contender in an order that turns each round. Figures pool the rounds; spreads are min–max across rounds.\n\n",
		p.Slots, p.Service, float64(p.Slots)/p.Service.Seconds(), p.Warmup, p.Duration, p.Duration, p.Duration, p.Slots, p.Service, p.Rounds)
	fmt.Fprintf(w, "Unloaded p99: %s ms (rounds %s ms). Command: `%s`.\n\n", ms(un),
		spread(r.Unloaded, func(x Result) float64 { return float64(x.Percentile(99)) / 1e6 }, "%.1f"), command)
	fmt.Fprintln(w, "| view | offered | limiter | goodput (% of C) | goodput spread | p50 ms | p99 ms | p99 / unloaded p99 | p99 spread ms | shed | timed out | probes shed |")
	fmt.Fprintln(w, "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, c := range r.Cells {
		m := Merge(c.Rounds...)
		fmt.Fprintf(w, "| %s | %.0f× | %s | %.1f | %s | %s | %s | %.2f | %s | %d | %d | %d |\n",
			view(c.Closed), c.Load, c.Limiter, 100*m.Goodput(),
			spread(c.Rounds, func(x Result) float64 { return 100 * x.Goodput() }, "%.1f"),
			ms(m.Percentile(50)), ms(m.Percentile(99)), float64(m.Percentile(99))/float64(un),
			spread(c.Rounds, func(x Result) float64 { return float64(x.Percentile(99)) / 1e6 }, "%.1f"),
			m.Shed, m.Failed, m.ProbesShed)
	}
	g, ratio, probes, met := r.Goal()
	verdict := "met"
	if !met {
		verdict = "NOT met"
	}
	fmt.Fprintf(w, "\nGoal at %.0f× C, open loop, opskit: goodput %.1f%% of C (goal ≥ 90%%), p99 %.2f× the unloaded p99 (goal ≤ 2×), probes shed in all runs %d (goal 0): %s.\n",
		slices.Max(p.Loads), 100*g, ratio, probes, verdict)

}
