package report

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/opskit/opskit/clock"
	"github.com/opskit/opskit/internal/atomicfile"
	"github.com/opskit/opskit/internal/timer"
	"github.com/opskit/opskit/queue"
	"github.com/opskit/opskit/retry"
)

// Writer writes one report per week into a directory, in the three
// formats ("2026-W49.html", ".md", ".json"), once the week has ended; see
// the package documentation for the schedule and the catch-up after a
// restart.
type Writer struct {
	dir  string
	src  Sources
	cfg  config
	hook *retry.Retrier // nil without a webhook

	passMu  sync.Mutex // serializes passes
	stateMu sync.Mutex // serializes state updates (held while the file is written)

	mu      sync.Mutex // guards st, mark, timer, closed
	st      state
	mark    *queueMark  // the current week's start, in this run
	ended   *queueCount // the last week's count, in this run
	timer   clock.Timer
	closed  bool
	passing sync.WaitGroup // timer passes in flight

	ctx      context.Context // ends at Shutdown: sources, deliveries
	cancel   context.CancelFunc
	wake     chan struct{} // wakes the delivery goroutine
	hookOnce sync.Once     // closes hook once
	done     chan struct{} // closed when the delivery goroutine has returned
}

// queueMark is the queue's counters sampled when a week began, in this
// process run.
type queueMark struct {
	week  Week
	at    time.Time
	stats queue.Stats
}

// Settle is how long after a week ends its report is written: in a fleet,
// long enough for the other replicas' last counts to reach the store
// (slo.Monitor publishes them at each evaluation, every 10 seconds by
// default). The queue's counts then run from Settle after one week's start
// to Settle after its end, as the report says.
const Settle = time.Minute

// passTimeout bounds the sources' reads in one pass.
const passTimeout = 2 * time.Minute

// New returns a Writer of reports from src into dir (created 0700), and
// writes at once every week missed since the last report written there
// (at most WithCatchUp of them). It then writes each week when it ends.
// Shutdown stops it.
func New(dir string, src Sources, opts ...Option) (*Writer, error) {
	var cfg config
	for _, o := range opts {
		o.apply(&cfg)
	}
	cfg.clock = timer.Or(cfg.clock)
	if cfg.loc == nil {
		cfg.loc = time.UTC
	}
	if cfg.log == nil {
		cfg.log = slog.Default()
	}
	switch {
	case dir == "":
		return nil, errors.New("report: New: dir is empty")
	case cfg.catchUp == 0:
		cfg.catchUp = DefaultCatchUp
	case cfg.catchUp < 1 || cfg.catchUp > MaxCatchUp:
		return nil, fmt.Errorf("report: WithCatchUp(%d): want 1 to %d", cfg.catchUp, MaxCatchUp)
	}
	w := &Writer{dir: dir, src: src, cfg: cfg, wake: make(chan struct{}, 1), done: make(chan struct{})}
	if cfg.hook != nil {
		r, err := newHook(cfg.hook, cfg.clock)
		if err != nil {
			return nil, err
		}
		w.hook = r
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		w.closeHook()
		return nil, fmt.Errorf("report: %w", err)
	}
	st, err := loadState(dir, cfg.clock.Now())
	if err != nil {
		w.closeHook()
		return nil, err
	}
	if err := saveState(dir, st); err != nil { // a directory we cannot write is an error now, not next week
		w.closeHook()
		return nil, err
	}
	w.st = st
	w.ctx, w.cancel = context.WithCancel(context.Background())
	go w.deliverLoop()
	w.pass()
	return w, nil
}

func newHook(h *Webhook, c clock.Clock) (*retry.Retrier, error) {
	u, err := url.Parse(h.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("report: Webhook.URL %s: want an http or https URL", quote(h.URL))
	}
	if h.Timeout < 0 {
		return nil, fmt.Errorf("report: Webhook.Timeout %v: want >= 0", h.Timeout)
	}
	if h.Timeout == 0 {
		h.Timeout = 5 * time.Minute
	}
	if h.Client == nil {
		h.Client = &http.Client{Timeout: 30 * time.Second}
	}
	if h.Policy.MaxAttempts == 0 {
		h.Policy.MaxAttempts = 5
	}
	if h.Policy.BaseDelay == 0 {
		h.Policy.BaseDelay = time.Second
	}
	if h.Policy.MaxDelay == 0 {
		h.Policy.MaxDelay = time.Minute
	}
	r, err := retry.New(h.Policy, retry.WithClock(c), retry.WithBudget(nil), retry.WithName("report-webhook"))
	if err != nil {
		return nil, fmt.Errorf("report: Webhook.Policy: %w", err)
	}
	return r, nil
}

func (w *Writer) closeHook() {
	if w.hook != nil {
		_ = w.hook.Close()
	}
}

// tick is the timer's call: one pass, unless shutting down.
func (w *Writer) tick() {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return
	}
	w.passing.Add(1)
	w.mu.Unlock()
	defer w.passing.Done()
	w.pass()
}

// pass writes every week due, samples the queue, wakes the delivery and
// arms the timer for the next pass.
func (w *Writer) pass() {
	w.passMu.Lock()
	defer w.passMu.Unlock()
	now := w.cfg.clock.Now()
	current := WeekOf(now.In(w.cfg.loc)) // the queue's sample now starts its count
	settled := WeekOf(now.Add(-Settle).In(w.cfg.loc))
	next := settled.End(w.cfg.loc).Add(Settle) // the weeks before settled are due
	ctx, cancel := timer.WithTimeout(w.ctx, w.cfg.clock, passTimeout)
	defer cancel()

	// The queue's counters at the week's edge: the end of the week(s) due,
	// and the start of the current one.
	var sample *queueMark
	if w.src.Queue != nil {
		if st, err := w.src.Queue.Stats(ctx); err == nil {
			sample = &queueMark{week: current, at: now, stats: st}
		}
	}
	w.mu.Lock()
	if w.mark == nil || w.mark.week != current {
		// The first pass of a new week closes the last one's count.
		if m := w.mark; m != nil && sample != nil && m.week.Next() == current {
			w.ended = &queueCount{week: m.week, from: m.at, to: now, start: m.stats, end: sample.stats}
		}
		w.mark = sample
	}
	ended := w.ended
	w.mu.Unlock()

	if w.cfg.leader != nil && !w.cfg.leader() {
		w.schedule(now, minTime(next, now.Add(leaderRecheck)))
		return
	}
	failed := false
	for _, wk := range w.due(settled) {
		var qc *queueCount
		if ended != nil && ended.week == wk {
			qc = ended
		}
		if err := w.write(ctx, wk, now, qc); err != nil {
			w.cfg.log.Error("report: writing the weekly report", "week", wk.String(), "err", err)
			failed = true
			break
		}
	}
	w.mu.Lock()
	pending := len(w.st.Pending) > 0 && w.hook != nil
	w.mu.Unlock()
	if pending {
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
	at := next
	if failed {
		at = minTime(next, now.Add(recheck))
	}
	w.schedule(now, at)
}

// due lists the weeks to write now, oldest first: every week before
// current after the last written (or from the week of the first start),
// at most catchUp of the newest.
func (w *Writer) due(current Week) []Week {
	w.mu.Lock()
	st := w.st
	w.mu.Unlock()
	first := WeekOf(st.Since.In(w.cfg.loc))
	if st.Last != "" {
		last, _ := ParseWeek(st.Last) // checked when loaded
		first = last.Next()
	}
	var out []Week
	wk := current.Prev()
	for !wk.Before(first) && len(out) < w.cfg.catchUp {
		out = append(out, wk)
		wk = wk.Prev()
	}
	if !wk.Before(first) {
		w.cfg.log.Warn("report: skipping missed weeks beyond the catch-up bound", "from", first.String(), "to", wk.String(),
			"catch_up", w.cfg.catchUp)
	}
	slices.Reverse(out)
	return out
}

// write builds week wk's report, writes its three files and records it.
func (w *Writer) write(ctx context.Context, wk Week, now time.Time, qc *queueCount) error {
	rep, err := build(ctx, w.src, wk, w.cfg.loc, now, qc)
	if err != nil {
		return err
	}
	for _, f := range []Format{JSON, Markdown, HTML} { // JSON first: the webhook sends it
		err := atomicfile.WriteFunc(filepath.Join(w.dir, wk.String()+f.ext()), 0o600, func(out io.Writer) error {
			return rep.Write(out, f)
		})
		if err != nil {
			return fmt.Errorf("report: %w", err)
		}
	}
	return w.update(func(st *state) {
		st.Last = wk.String()
		if w.hook != nil {
			st.Pending = append(st.Pending, st.Last)
			if n := len(st.Pending) - maxPending; n > 0 {
				w.cfg.log.Warn("report: dropping undelivered weeks from the webhook's queue", "weeks", st.Pending[:n])
				st.Pending = st.Pending[n:]
			}
		}
	})
}

// update applies change to a copy of the state, saves it, and makes it the
// state; a pass and a delivery update it one at a time.
func (w *Writer) update(change func(*state)) error {
	w.stateMu.Lock()
	defer w.stateMu.Unlock()
	w.mu.Lock()
	st := w.st
	w.mu.Unlock()
	st.Pending = slices.Clone(st.Pending)
	change(&st)
	if err := saveState(w.dir, st); err != nil {
		return err
	}
	w.mu.Lock()
	w.st = st
	w.mu.Unlock()
	return nil
}

// schedule arms the timer for a pass at at (never under mu: a fake
// clock runs a call due at once on the caller's goroutine).
func (w *Writer) schedule(now, at time.Time) {
	t := w.cfg.clock.AfterFunc(max(at.Sub(now), time.Second), w.tick)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		t.Stop()
		return
	}
	if w.timer != nil {
		w.timer.Stop()
	}
	w.timer = t
}

// deliverLoop posts the pending weeks to the webhook, oldest first, when
// woken; after a failure it waits an hour and tries again.
func (w *Writer) deliverLoop() {
	defer close(w.done)
	if w.hook == nil {
		return
	}
	for {
		select {
		case <-w.ctx.Done():
			return
		case <-w.wake:
		}
		for {
			w.mu.Lock()
			if len(w.st.Pending) == 0 {
				w.mu.Unlock()
				break
			}
			name := w.st.Pending[0]
			w.mu.Unlock()
			wk, _ := ParseWeek(name) // checked when queued
			err := w.deliver(wk)
			if err == nil {
				err = w.delivered(name)
			}
			if w.ctx.Err() != nil {
				return
			}
			if w.cfg.onDeliver != nil {
				w.cfg.onDeliver(wk, err)
			}
			if err != nil {
				w.cfg.log.Warn("report: webhook delivery failed; trying again in an hour", "week", name, "err", err)
				if timer.Sleep(w.ctx, w.cfg.clock, recheck) != nil {
					return
				}
			}
		}
	}
}

// delivered takes name off the pending list and saves the state.
func (w *Writer) delivered(name string) error {
	return w.update(func(st *state) {
		st.Pending = slices.DeleteFunc(st.Pending, func(p string) bool { return p == name })
	})
}

// deliver POSTs week wk's JSON file to the webhook, with retries, within
// the webhook's timeout.
func (w *Writer) deliver(wk Week) error {
	body, err := os.ReadFile(filepath.Join(w.dir, wk.String()+JSON.ext()))
	if err != nil {
		return fmt.Errorf("report: webhook: %w", err)
	}
	h := w.cfg.hook
	ctx, cancel := timer.WithTimeout(w.ctx, w.cfg.clock, h.Timeout)
	defer cancel()
	err = w.hook.Do(ctx, func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.URL, bytes.NewReader(body))
		if err != nil {
			return retry.Permanent(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", "opskit-report-"+wk.String())
		resp, err := h.Client.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		switch {
		case resp.StatusCode >= 200 && resp.StatusCode < 300:
			return nil
		case resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
			return fmt.Errorf("report: webhook answered %s", resp.Status)
		}
		return retry.Permanent(fmt.Errorf("report: webhook answered %s", resp.Status))
	})
	if err != nil {
		return fmt.Errorf("report: webhook delivery of %s: %w", wk, err)
	}
	return nil
}

// Shutdown stops the schedule and the webhook delivery and waits for a
// pass or a delivery in flight, but not past ctx: then it returns an
// error saying what was still running (call it again to wait longer).
// Reports already written stay; a delivery cut short is tried again by the
// next Writer.
func (w *Writer) Shutdown(ctx context.Context) error {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		if w.timer != nil {
			w.timer.Stop()
		}
	}
	w.mu.Unlock()
	w.cancel()
	stopped := make(chan struct{})
	go func() {
		w.passing.Wait()
		<-w.done
		close(stopped)
	}()
	select {
	case <-stopped:
		w.hookOnce.Do(w.closeHook)
		return nil
	case <-ctx.Done():
		return fmt.Errorf("report: Shutdown: a pass or a webhook delivery still running: %w", ctx.Err())
	}
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
