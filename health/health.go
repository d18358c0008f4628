package health

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// DefaultTimeout is the timeout of a check whose Timeout is zero. It matches
// the default timeoutSeconds of a Kubernetes probe.
const DefaultTimeout = time.Second

// staleIntervals is how many intervals a background result may age before it
// counts as failed: a loop that stopped producing results cannot stay green.
const staleIntervals = 3

// Probe is a set of the Kubernetes probes a check belongs to.
type Probe uint8

// The probes. A check may belong to any combination, e.g. Liveness|Readiness.
const (
	Startup Probe = 1 << iota
	Liveness
	Readiness

	// AllProbes is every probe; /healthz reports every check whatever its probes.
	AllProbes = Startup | Liveness | Readiness
)

// String names the probe set as its endpoints: "livez", "readyz|startupz".
func (p Probe) String() string {
	if p == 0 {
		return "none"
	}
	var parts []string
	for _, q := range [...]Probe{Startup, Liveness, Readiness} {
		if p&q != 0 {
			parts = append(parts, q.endpoint())
		}
	}
	if rest := p &^ AllProbes; rest != 0 {
		parts = append(parts, fmt.Sprintf("Probe(%#x)", uint8(rest)))
	}
	return strings.Join(parts, "|")
}

// endpoint is the path segment of a single probe; AllProbes is healthz.
func (p Probe) endpoint() string {
	switch p {
	case Startup:
		return "startupz"
	case Liveness:
		return "livez"
	case Readiness:
		return "readyz"
	default:
		return "healthz"
	}
}

// Status is the state of a check or of a probe, in the vocabulary of the
// application/health+json draft, plus Unknown for "no result yet".
type Status uint8

// The statuses, from best to worst. Unknown answers 503 like Fail.
const (
	StatusUnknown Status = iota
	StatusPass
	StatusWarn
	StatusFail
)

// String returns "unknown", "pass", "warn" or "fail".
func (s Status) String() string {
	switch s {
	case StatusPass:
		return "pass"
	case StatusWarn:
		return "warn"
	case StatusFail:
		return "fail"
	default:
		return "unknown"
	}
}

// Healthy reports whether the status answers 200 (pass or warn).
func (s Status) Healthy() bool { return s == StatusPass || s == StatusWarn }

// Check describes one check. The zero values of the optional fields are the
// documented defaults.
type Check struct {
	// Name identifies the check in paths (/readyz/NAME), ?exclude= and
	// metrics. Required: letters, digits and "-_.:" only.
	Name string
	// Func reports a problem by returning an error. It must honour ctx; if
	// it does not, the probe still answers at Timeout and the run counts as
	// failed. A panic is recovered and reported as a failure. Required.
	Func func(ctx context.Context) error
	// Timeout bounds one run. Zero means DefaultTimeout.
	Timeout time.Duration
	// Interval, when positive, runs the check in the background every
	// Interval after Start, and probes serve the latest result. A result
	// older than 3 intervals plus Timeout counts as failed. Zero runs the
	// check when a probe asks, sharing one run among concurrent probes.
	Interval time.Duration
	// NonCritical makes a failure a warn (the probe still answers 200).
	NonCritical bool
	// Probes the check belongs to. Zero means Readiness.
	Probes Probe
}

// Errors callers branch on. Every error the package returns or reports
// matches one of these with errors.Is where it applies.
var (
	ErrInvalid      = errors.New("health: invalid check")
	ErrDuplicate    = errors.New("health: duplicate check name")
	ErrNotFound     = errors.New("health: no such check")
	ErrClosed       = errors.New("health: checker closed")
	ErrTimeout      = errors.New("health: check timed out")
	ErrNoResult     = errors.New("health: no result yet")
	ErrStale        = errors.New("health: result is stale")
	ErrNotStarted   = errors.New("health: startup checks have not passed yet")
	ErrShuttingDown = errors.New("health: shutting down")
)

// PanicError is the failure of a check that panicked.
type PanicError struct {
	Check string
	Value any
}

func (e *PanicError) Error() string {
	return fmt.Sprintf("health: check %q panicked: %v", e.Check, e.Value)
}

// Unwrap returns the panic value when it is an error.
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}

// StatusChange is what listeners receive when a check's status changes.
type StatusChange struct {
	Check    string
	Old, New Status
	Err      error         // the failure, nil on pass
	Duration time.Duration // how long the run that caused the change took
	Time     time.Time     // when that run ended
}

// normalize checks c and fills its defaults.
func (c Check) normalize() (Check, error) {
	if !validName(c.Name) {
		return c, fmt.Errorf("%w: Name %q must be 1-128 letters, digits or \"-_.:\"", ErrInvalid, c.Name)
	}
	if c.Func == nil {
		return c, fmt.Errorf("%w %q: Func is nil", ErrInvalid, c.Name)
	}
	if c.Timeout < 0 {
		return c, fmt.Errorf("%w %q: Timeout %v is negative", ErrInvalid, c.Name, c.Timeout)
	}
	if c.Interval < 0 {
		return c, fmt.Errorf("%w %q: Interval %v is negative", ErrInvalid, c.Name, c.Interval)
	}
	if c.Probes&^AllProbes != 0 {
		return c, fmt.Errorf("%w %q: Probes %#x has unknown bits", ErrInvalid, c.Name, uint8(c.Probes))
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Probes == 0 {
		c.Probes = Readiness
	}
	return c, nil
}

func validName(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		switch {
		case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9':
		case b == '-', b == '_', b == '.', b == ':':
		default:
			return false
		}
	}
	return true
}
