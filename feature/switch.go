package feature

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode"

	"github.com/opskit/opskit/audit"
)

// SwitchAction is the audit action of turning a feature off or on, the
// action SwitchHandler asks the guard to allow, and the action of every
// audit record a switch writes.
const SwitchAction audit.Action = "feature.switch"

// SwitchedOffReason is the failure reason counted for every call that
// Enabled refuses.
const SwitchedOffReason = "switched off"

// MaxTrial is the largest share of calls a switched-off feature lets
// through to test recovery.
const MaxTrial = 0.5

// maxWhy bounds the free text of a switch.
const maxWhy = 500

// Switch is a request to turn a feature off or back on.
type Switch struct {
	On bool
	// Actor is who switches: a person, or "automation". Required.
	Actor string
	// Why is recorded in the audit trail and shown on reports (at most
	// 500 bytes, no control characters).
	Why string
	// Trial is the share of calls Enabled still lets through while the
	// feature is off, 0 to MaxTrial, so that recovery can be observed:
	// their outcomes (Use, Done, Fail) are the trial's results. Only with
	// On false.
	Trial float64
}

// SwitchState is a feature's switch: on unless switched off.
type SwitchState struct {
	On    bool      `json:"on"`
	Since time.Time `json:"since,omitzero"` // zero: never switched
	Actor string    `json:"actor,omitempty"`
	Why   string    `json:"why,omitempty"`
	Trial float64   `json:"trial,omitempty"`
	// TrialOK and TrialFailed count the outcomes recorded for the feature
	// since it was switched off (the trial calls Enabled let through, and
	// any use recorded without asking Enabled); zero while it is on.
	TrialOK     int64 `json:"trial_ok,omitempty"`
	TrialFailed int64 `json:"trial_failed,omitempty"`
	// Refused counts the calls Enabled refused since the switch (in this
	// process, or summed over the fleet in a report).
	Refused int64 `json:"refused,omitempty"`
}

// String is the sentence reports show: "switched off by automation at
// 10:02 UTC: orders.bulk failing (trial 10 %: 12 ok, 1 failed)".
func (s SwitchState) String() string {
	if s.Since.IsZero() {
		return "on"
	}
	state := "on"
	if !s.On {
		state = "off"
	}
	at := s.Since.UTC().Format("2006-01-02 15:04") + " UTC"
	out := "switched " + state + " by " + s.Actor + " at " + at
	if s.Why != "" {
		out += ": " + s.Why
	}
	if !s.On {
		var extra []string
		if s.Refused > 0 {
			extra = append(extra, strconv.FormatInt(s.Refused, 10)+" calls refused")
		}
		if s.Trial > 0 {
			extra = append(extra, fmt.Sprintf("trial %s: %d ok, %d failed", pctText(s.Trial*100), s.TrialOK, s.TrialFailed))
		}
		if len(extra) > 0 {
			out += " (" + strings.Join(extra, "; ") + ")"
		}
	}
	return out
}

// switchVal is a feature's switch as last set; guarded by Feature.swMu.
type switchVal struct {
	on           bool
	since        time.Time
	actor, why   string
	trial        float64
	trialOK      int64 // restored counts, added to the live ones
	trialFailed  int64
	refusedTotal int64
}

// offState is what the hot path sees while a feature is off.
type offState struct {
	trial   float64
	calls   atomic.Int64
	refused atomic.Int64 // calls refused since this switch
	ok      atomic.Int64 // outcomes recorded while off
	failed  atomic.Int64
}

// Enabled reports whether the feature is on. While it is on this is one
// atomic load (no allocation); record the outcome with Use, Done or Fail
// as usual. While it is switched off Enabled returns false and counts the
// call as a failed use with the reason SwitchedOffReason — so an objective
// fed through Track still sees refused requests as bad — except for the
// switch's trial share of calls, spread evenly, which return true: their
// outcomes are the trial's results (SwitchState.TrialOK, TrialFailed). A
// nil *Feature is always enabled.
func (f *Feature) Enabled(ctx context.Context) bool {
	if f == nil {
		return true
	}
	o := f.off.Load()
	if o == nil {
		return true
	}
	return f.refuse(ctx, o)
}

// refuse decides a call to a switched-off feature.
func (f *Feature) refuse(ctx context.Context, o *offState) bool {
	c := o.calls.Add(1)
	if o.trial > 0 && math.Floor(float64(c)*o.trial) != math.Floor(float64(c-1)*o.trial) {
		return true // the trial's share: evenly every 1/trial calls
	}
	f.record(ctx, 1, true, 0, true)
	o.refused.Add(1)
	f.refused.Add(1) // never reset, so no refusal is lost to a racing switch
	now := f.r.nowMin.Load()
	if f.refFirst.Load() == 0 {
		f.refFirst.CompareAndSwap(0, now)
	}
	for last := f.refLast.Load(); last < now && !f.refLast.CompareAndSwap(last, now); last = f.refLast.Load() {
	}
	return false
}

// Switch turns the feature off or back on. Every switch is first written
// to the registry's audit sink (WithAudit) as a SwitchAction record whose
// target is the feature's name; when there is no sink or it fails, the
// switch is not made and the error says so. Switching off again (to
// change the trial share or the reason) starts a new trial.
func (f *Feature) Switch(ctx context.Context, s Switch) error {
	if f == nil {
		return fmt.Errorf("%w: switch of a nil feature", ErrInvalid)
	}
	return f.doSwitch(ctx, s, f.r.audit, "feature", "")
}

func (s Switch) validate(name string) error {
	switch {
	case strings.TrimSpace(s.Actor) == "":
		return fmt.Errorf("%w: switch %q: actor is empty", ErrInvalid, name)
	case len(s.Actor) > maxNameLen || strings.IndexFunc(s.Actor, unicode.IsControl) >= 0:
		return fmt.Errorf("%w: switch %q: actor %.40q is too long or contains a control character", ErrInvalid, name, s.Actor)
	case len(s.Why) > maxWhy:
		return fmt.Errorf("%w: switch %q: why is %d bytes, want at most %d", ErrInvalid, name, len(s.Why), maxWhy)
	case strings.IndexFunc(s.Why, unicode.IsControl) >= 0:
		return fmt.Errorf("%w: switch %q: why %.40q contains a control character", ErrInvalid, name, s.Why)
	case math.IsNaN(s.Trial) || s.Trial < 0 || s.Trial > MaxTrial:
		return fmt.Errorf("%w: switch %q: trial %v, want 0 to %v", ErrInvalid, name, s.Trial, MaxTrial)
	case s.On && s.Trial != 0:
		return fmt.Errorf("%w: switch %q: trial %v given when switching on (a trial runs only while off)", ErrInvalid, name, s.Trial)
	}
	return nil
}

func (f *Feature) doSwitch(ctx context.Context, s Switch, sink audit.Sink, from, release string) error {
	if err := s.validate(f.name); err != nil {
		return err
	}
	if sink == nil {
		return fmt.Errorf("feature: switch %q not made: no audit sink (WithAudit), and nothing is switched unaudited", f.name)
	}
	r := f.r
	r.switchMu.Lock() // one switch at a time, so the trail's order is the order applied
	defer r.switchMu.Unlock()
	now := r.clock.Now()
	rec := audit.Record{Time: now, Actor: s.Actor, From: from, Action: SwitchAction, Target: f.name,
		Result: "ok", Detail: switchDetail(s), Release: release}
	if err := sink.Append(context.WithoutCancel(ctx), rec); err != nil {
		return fmt.Errorf("feature: switch %q not made: audit: %w", f.name, err)
	}
	f.apply(switchVal{on: s.On, since: now, actor: s.Actor, why: s.Why, trial: s.Trial})
	return nil
}

// switchDetail is the audit record's detail: "off (trial 10 %): why".
func switchDetail(s Switch) string {
	d := "on"
	if !s.On {
		d = "off"
		if s.Trial > 0 {
			d += " (trial " + pctText(s.Trial*100) + ")"
		}
	}
	if s.Why != "" {
		d += ": " + s.Why
	}
	return d
}

// apply makes v the feature's switch.
func (f *Feature) apply(v switchVal) { f.applyIf(v, false) }

// applyIf is apply; with onlyLater it does nothing unless v is later than
// the feature's switch (checked under the same lock, so a racing switch
// is never overwritten by an older one).
func (f *Feature) applyIf(v switchVal, onlyLater bool) {
	f.swMu.Lock()
	defer f.swMu.Unlock()
	if onlyLater && !v.since.After(f.sw.since) {
		return
	}
	f.sw = v
	if v.on {
		f.off.Store(nil)
		return
	}
	f.off.Store(&offState{trial: v.trial})
}

// Switched returns the feature's switch in this process.
func (f *Feature) Switched() SwitchState {
	if f == nil {
		return SwitchState{On: true}
	}
	f.swMu.Lock()
	defer f.swMu.Unlock()
	return f.switchStateLocked()
}

// switchStateLocked is the live switch with its counts. Requires swMu.
func (f *Feature) switchStateLocked() SwitchState {
	v := f.sw
	s := SwitchState{On: v.on || v.since.IsZero(), Since: v.since, Actor: v.actor, Why: v.why, Trial: v.trial,
		TrialOK: v.trialOK, TrialFailed: v.trialFailed, Refused: v.refusedTotal}
	if o := f.off.Load(); o != nil {
		s.TrialOK += o.ok.Load()
		s.TrialFailed += o.failed.Load()
		s.Refused += o.refused.Load()
	}
	return s
}

// refusedReason is the SwitchedOffReason of the calls this process
// refused, if any (restored reasons are in the table already).
func (f *Feature) refusedReason() (Reason, bool) {
	n := f.refused.Load()
	if n == 0 {
		return Reason{}, false
	}
	return Reason{Text: SwitchedOffReason, Count: n, First: minuteTime(f.refFirst.Load()), Last: minuteTime(f.refLast.Load())}, true
}

// restoreSwitch puts a saved switch back when it is later than the
// feature's own: at start from this instance's snapshot (withCounts: its
// trial results and refusals carry on), or when another replica switched
// (its counts stay in its own state, so the fleet sum counts them once).
func (f *Feature) restoreSwitch(s *SwitchState, withCounts bool) {
	if s == nil || s.Since.IsZero() {
		return
	}
	v := switchVal{on: s.On, since: s.Since, actor: s.Actor, why: s.Why, trial: s.Trial}
	if withCounts {
		v.trialOK, v.trialFailed, v.refusedTotal = s.TrialOK, s.TrialFailed, s.Refused
	}
	f.applyIf(v, true)
}

// SwitchHandler turns features off and on over HTTP behind g:
//
//	POST name=FEATURE&on=true|false&why=TEXT[&trial=0.1]
//
// Every POST must pass g.Allow for SwitchAction; the switch is audited
// (to the WithAudit sink, or else g.Sink) with the actor the guard
// authenticated, and is not made when the record cannot be written (500).
// A bad field is a 400 naming it. GET lists each feature's switch (name,
// on, since, actor, why, trial results) as JSON, also behind the guard.
func (r *Registry) SwitchHandler(g *audit.Guard) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		actor, ok := guarded(w, req, g, SwitchAction)
		if !ok {
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		if req.Method != http.MethodPost {
			writeJSON(w, r.switchList())
			return
		}
		s, f, err := r.parseSwitch(req.PostForm, actor)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		sink := r.audit
		if sink == nil {
			sink = g.Sink
		}
		if err := f.doSwitch(req.Context(), s, sink, req.RemoteAddr, g.Release); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		writeJSON(w, namedSwitch{Name: f.name, SwitchState: f.Switched()})
	})
}

// namedSwitch is one line of SwitchHandler's answers.
type namedSwitch struct {
	Name string `json:"name"`
	SwitchState
}

func (r *Registry) switchList() []namedSwitch {
	r.mu.Lock()
	fs := append([]*Feature(nil), r.features...)
	r.mu.Unlock()
	out := make([]namedSwitch, 0, len(fs))
	for _, f := range fs {
		out = append(out, namedSwitch{Name: f.name, SwitchState: f.Switched()})
	}
	return out
}

// parseSwitch reads SwitchHandler's form.
func (r *Registry) parseSwitch(form map[string][]string, actor string) (Switch, *Feature, error) {
	get := func(k string) string {
		if v := form[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	name := get("name")
	f, ok := r.Lookup(name)
	if !ok {
		return Switch{}, nil, fmt.Errorf("feature: bad parameter name: %.60q is not a declared feature", name)
	}
	s := Switch{Actor: actor, Why: get("why")}
	switch on := get("on"); on {
	case "true":
		s.On = true
	case "false":
	default:
		return Switch{}, nil, fmt.Errorf("feature: bad parameter on: %.20q, want true or false", on)
	}
	if t := get("trial"); t != "" {
		v, err := strconv.ParseFloat(t, 64)
		if err != nil {
			return Switch{}, nil, fmt.Errorf("feature: bad parameter trial: %.20q is not a number", t)
		}
		s.Trial = v
	}
	if err := s.validate(name); err != nil {
		return Switch{}, nil, fmt.Errorf("feature: bad parameter: %s", strings.TrimPrefix(err.Error(), ErrInvalid.Error()+": "))
	}
	return s, f, nil
}

// writeJSON answers v as indented JSON.
func writeJSON(w http.ResponseWriter, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		http.Error(w, "feature: render: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(append(b, '\n'))
}
