package overload

import (
	"fmt"
	"strings"
)

// Priority says how much a piece of work matters when the limiter must
// refuse some. Under overload, Background work is refused first, then
// Normal, then Critical; Exempt work is never refused and does not count
// against the limit (health probes and metric scrapes: refusing them would
// make a busy replica look dead and lose the very signal that shows the
// overload).
type Priority uint8

const (
	// Background is work nobody waits for: batch jobs, prefetches,
	// reports. It is refused first.
	Background Priority = iota
	// Normal is ordinary request traffic, the default.
	Normal
	// Critical is work the service exists for (checkout, login). It is
	// refused last.
	Critical
	// Exempt is never refused and not counted: probes and /metrics.
	Exempt

	numPriorities = 4
)

var priorityNames = [numPriorities]string{"background", "normal", "critical", "exempt"}

// String returns the priority's name: background, normal, critical or
// exempt.
func (p Priority) String() string {
	if p < numPriorities {
		return priorityNames[p]
	}
	return fmt.Sprintf("priority(%d)", uint8(p))
}

// ParsePriority reads a priority name as String writes it, ignoring case
// and surrounding spaces, for priorities that come from configuration or a
// trusted header.
func ParsePriority(s string) (Priority, error) {
	t := strings.TrimSpace(s)
	for i, n := range priorityNames {
		if strings.EqualFold(t, n) {
			return Priority(i), nil
		}
	}
	return Normal, fmt.Errorf("overload: unknown priority %q (want background, normal, critical or exempt)", s)
}
