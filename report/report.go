package report

import (
	"time"

	"github.com/opskit/opskit/release"
)

// Report is one week of the service's own records. Its JSON field names
// are stable. Every figure comes from the source its section's doc names;
// a section whose source is nil has Status NotConfigured, one whose source
// failed has Status Failed and says why in Note (its figures are then
// those read before the failure).
type Report struct {
	Week      string    `json:"week"` // ISO week, e.g. "2026-W49"
	From      time.Time `json:"from"` // Monday 00:00 in Location
	To        time.Time `json:"to"`   // the next Monday 00:00, or Generated while the week runs
	Location  string    `json:"location"`
	Complete  bool      `json:"complete"` // false: the week was still running at Generated
	Generated time.Time `json:"generated"`
	// Release is what the process that made the report runs.
	Release     release.Info       `json:"release,omitzero"`
	Compliance  ComplianceSection  `json:"compliance"`
	Incidents   IncidentSection    `json:"incidents"`
	Noise       NoiseSection       `json:"noise"`
	Maintenance MaintenanceSection `json:"maintenance"`
	Releases    ReleaseSection     `json:"releases"`
	Queue       QueueSection       `json:"queue"`
	Features    FeatureSection     `json:"features"`
}

// Status says whether a section holds figures.
type Status string

// The statuses of a section.
const (
	OK            Status = "ok"
	NotConfigured Status = "not configured" // its source is nil
	Failed        Status = "failed"         // its source returned an error (Note)
)

// Section is the state every section starts with.
type Section struct {
	Status Status `json:"status"`
	Note   string `json:"note,omitempty"` // why it failed, or what a figure does not cover
}

// ComplianceSection is each objective's compliance over the week and over
// its period ending with the week, from Sources.Objectives (slo.Monitor's
// Status for the objectives, Range for the counts).
type ComplianceSection struct {
	Section
	Objectives []ObjectiveLine `json:"objectives"`
}

// ObjectiveLine is one objective's compliance.
type ObjectiveLine struct {
	Name          string        `json:"name"`
	Target        float64       `json:"target"`
	Period        time.Duration `json:"-"`
	PeriodSeconds float64       `json:"period_seconds"`
	Week          Window        `json:"week"`
	PeriodToDate  Window        `json:"period"` // the period ending where the week ends
	Error         string        `json:"error,omitempty"`
}

// Window is an objective's events over [From, To), from slo.Monitor.Range.
type Window struct {
	From   time.Time `json:"from"`
	To     time.Time `json:"to"`
	Events int64     `json:"events"`
	Bad    int64     `json:"bad"`
	// Compliance is the share of good events, (Events-Bad)/Events; nil
	// without events.
	Compliance *float64 `json:"compliance"`
	// Met: no more bad events than the target allows (true without events).
	Met bool `json:"met"`
	// Allowed is the bad events the target allows: Events*(1-Target).
	Allowed float64 `json:"allowed"`
	// BudgetSpent is Bad/Allowed: 1 spent the whole error budget of these
	// events, above 1 overspent it; 0 without bad events.
	BudgetSpent float64 `json:"budget_spent"`
	// Resolution is the bucket width summed (slo.RangeStatus): From and To
	// are the asked edges rounded out to it.
	Resolution        time.Duration `json:"-"`
	ResolutionSeconds float64       `json:"resolution_seconds"`
}

// IncidentSection is the incidents that overlap the week, from
// Sources.Incidents: opened in it, resolved in it, or open across it.
type IncidentSection struct {
	Section
	Opened    int `json:"opened"`      // started in the week
	Resolved  int `json:"resolved"`    // resolved in the week
	OpenAtEnd int `json:"open_at_end"` // still open where the week ends
	// TimeToResolve summarises Resolved-Started of the incidents resolved
	// in the week: the mean and the longest; zero when none resolved.
	MeanTimeToResolve        time.Duration  `json:"-"`
	MeanTimeToResolveSeconds float64        `json:"mean_time_to_resolve_seconds"`
	MaxTimeToResolve         time.Duration  `json:"-"`
	MaxTimeToResolveSeconds  float64        `json:"max_time_to_resolve_seconds"`
	List                     []IncidentLine `json:"list"` // oldest start first
}

// IncidentLine is one incident.
type IncidentLine struct {
	ID        string    `json:"id"`
	Objective string    `json:"objective"`
	Severity  string    `json:"severity"`
	Started   time.Time `json:"started"`
	Resolved  time.Time `json:"resolved,omitzero"` // zero while open
	// Duration is Resolved-Started, or how long it had been open where the
	// week ends.
	Duration        time.Duration `json:"-"`
	DurationSeconds float64       `json:"duration_seconds"`
	// TimeToAck is Ack-Started when someone acknowledged it.
	TimeToAck        time.Duration `json:"-"`
	TimeToAckSeconds float64       `json:"time_to_ack_seconds,omitempty"`
	AckedBy          string        `json:"acked_by,omitempty"`
	Pages            int           `json:"pages"`
	Tickets          int           `json:"tickets"`
	BudgetExhausted  bool          `json:"budget_exhausted,omitempty"`
	Release          string        `json:"release,omitempty"` // the release id it opened under
}

// NoiseSection is the notifications sent, from the incidents opened in the
// week (an episode sends at most one page and one ticket, counted in the
// week it opened).
type NoiseSection struct {
	Section
	Pages       int         `json:"pages"`
	Tickets     int         `json:"tickets"`
	ByObjective []NoiseLine `json:"by_objective"` // most pages first
}

// NoiseLine is one objective's notifications.
type NoiseLine struct {
	Objective string `json:"objective"`
	Incidents int    `json:"incidents"`
	Pages     int    `json:"pages"`
	Tickets   int    `json:"tickets"`
}

// MaintenanceSection is what operators (and automation) did, from the
// audit trail (Sources.Audit). Reads (actions ending in ".read") are only
// counted; every other action is listed, up to MaxListed.
type MaintenanceSection struct {
	Section
	Actions  int           `json:"actions"` // records that are not reads
	OK       int           `json:"ok"`
	Denied   int           `json:"denied"`
	Failed   int           `json:"failed"` // neither ok nor denied: the result is the error
	Reads    int           `json:"reads"`
	ByAction []ActionCount `json:"by_action"` // every action, most frequent first
	List     []ActionLine  `json:"list"`      // oldest first
	Omitted  int           `json:"omitted"`   // actions past MaxListed
}

// MaxListed bounds the actions a report lists one by one.
const MaxListed = 200

// ActionCount is how often one action was performed in the week.
type ActionCount struct {
	Action string `json:"action"`
	Count  int    `json:"count"`
	OK     int    `json:"ok"`
	Denied int    `json:"denied"`
	Failed int    `json:"failed"`
}

// ActionLine is one audit record.
type ActionLine struct {
	Time    time.Time `json:"time"`
	Actor   string    `json:"actor"`
	Action  string    `json:"action"`
	Target  string    `json:"target,omitempty"`
	Result  string    `json:"result"`
	Detail  string    `json:"detail,omitempty"`
	Release string    `json:"release,omitempty"`
}

// QueueSection is the retry queue, from Sources.Queue (its Stats). Its
// counters (accepted, delivered, ...) count from the moment the queue was
// opened, so the week's figures are the difference of two samples the
// Writer takes at the week's edges in one process run: Counted says
// whether it had both, and CountedFrom when the first was taken (the
// week's start, or later when the process started during the week). A
// report made without such samples shows the queue as it was at
// SampledAt only.
type QueueSection struct {
	Section
	Counted      bool      `json:"counted"`
	CountedFrom  time.Time `json:"counted_from,omitzero"`
	CountedTo    time.Time `json:"counted_to,omitzero"`
	Accepted     int64     `json:"accepted"`      // enqueued
	Delivered    int64     `json:"delivered"`     // acknowledged by the consumer
	Retried      int64     `json:"retried"`       // delivered again after a failure (nacks)
	DeadLettered int64     `json:"dead_lettered"` // moved to the dead letters
	// The queue as it was at SampledAt.
	SampledAt        time.Time     `json:"sampled_at,omitzero"`
	Depth            int           `json:"depth"`
	DeadHeld         int           `json:"dead_held"`
	OldestAge        time.Duration `json:"-"`
	OldestAgeSeconds float64       `json:"oldest_age_seconds"`
}

// FeatureSection is feature usage, from Sources.Features (its Report with
// Sources.FeaturePolicy, Days and End set to the week's). The registry counts
// per UTC day: From and To (UTC midnights, To exclusive) are the 7 whole UTC
// days ending at the last UTC midnight at or before the week's end — the
// week itself in a UTC report — or, while the week runs, its UTC days up to
// today. Note says how they differ from the week, when they do.
type FeatureSection struct {
	Section
	From      time.Time `json:"from,omitzero"`
	To        time.Time `json:"to,omitzero"`
	Headline  string    `json:"headline"`
	Declared  int       `json:"declared"`
	Used      int       `json:"used"`
	NeverUsed []string  `json:"never_used"`
	Rarely    []string  `json:"rarely_used"`
	Failing   []Failing `json:"failing"`
	// Changes is the features whose uses changed most against the
	// previous period (by the absolute difference), at most MaxChanges.
	Changes []Change `json:"biggest_changes"`
}

// MaxChanges bounds FeatureSection.Changes.
const MaxChanges = 5

// Failing is a failing feature, as the feature report says it.
type Failing struct {
	Name     string  `json:"name"`
	Summary  string  `json:"summary"`
	Failures int64   `json:"failures"`
	Ratio    float64 `json:"ratio"`
}

// Change is one feature's uses in the period and the one before.
type Change struct {
	Name     string   `json:"name"`
	Uses     int64    `json:"uses"`
	PrevUses int64    `json:"previous_uses"`
	Change   *float64 `json:"change"` // (Uses-PrevUses)/PrevUses; nil when PrevUses is 0
}
