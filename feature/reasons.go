package feature

import (
	"context"
	"encoding/hex"
	"slices"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"go.opentelemetry.io/otel/trace"

	"github.com/opskit/opskit/internal/redact"
)

// The bounds of a feature's failure reasons.
const (
	// MaxReasons is how many distinct reasons a feature keeps; a new reason
	// past it replaces the one seen least recently.
	MaxReasons = 16
	// MaxReasonLen is the longest normalised reason, in bytes.
	MaxReasonLen = 160
	// maxTraces is how many recent trace ids a reason keeps.
	maxTraces = 3
)

// Reason is one distinct failure reason of a feature.
type Reason struct {
	Text     string    `json:"text"` // normalised: see FailWith
	Count    int64     `json:"count"`
	First    time.Time `json:"first_seen"`
	Last     time.Time `json:"last_seen"`
	TraceIDs []string  `json:"trace_ids,omitempty"` // the most recent first, from the OpenTelemetry span in the context
}

// reasonTable is a feature's bounded set of reasons.
type reasonTable struct {
	mu      sync.Mutex
	entries []reasonEntry
}

type reasonEntry struct {
	text        string
	count       int64
	first, last int64 // Unix seconds
	traces      [maxTraces]trace.TraceID
	ntraces     int
}

// FailWith counts one failed use, as Fail, and records why: reason is
// normalised (credentials in URLs and password= pairs masked, every
// whitespace-separated word containing a digit replaced by '#', so ids,
// counts and addresses do not make distinct reasons; whitespace collapsed;
// cut to MaxReasonLen bytes) and counted in the feature's table of at most
// MaxReasons reasons with its first and last time and, when ctx carries an
// OpenTelemetry span, its trace id. Do not put raw tenant ids in reasons:
// the support view shows them.
//
// Cost (BenchmarkFeatureFailWith in the benchmarks module): Fail plus one
// lock of the feature's reason table and a pass over the reason — about
// 15 to 40 times Fail (0.6–1.3 µs for a 55-byte reason on a loaded 2-core
// host where an atomic add took 26 ns); no allocation for a reason already
// in the table, one (the new reason's text) otherwise.
func (f *Feature) FailWith(ctx context.Context, reason string) {
	if f == nil {
		return
	}
	f.record(ctx, 1, true, 0, false)
	var buf [MaxReasonLen]byte
	text := normalizeReason(buf[:0], reason)
	var tid trace.TraceID
	if ctx != nil {
		if sc := trace.SpanContextFromContext(ctx); sc.HasTraceID() {
			tid = sc.TraceID()
		}
	}
	f.reasons.add(text, f.r.clock.Now().Unix(), tid)
}

// normalizeReason appends the normalised reason to b (at most
// MaxReasonLen bytes, cut at a rune boundary).
func normalizeReason(b []byte, s string) []byte {
	s = redact.Text(s)
	for len(s) > 0 {
		// Skip whitespace and control characters.
		r, n := utf8.DecodeRuneInString(s)
		if unicode.IsSpace(r) || unicode.IsControl(r) || r == utf8.RuneError {
			s = s[n:]
			continue
		}
		end := 0
		digit := false
		for end < len(s) {
			r, n := utf8.DecodeRuneInString(s[end:])
			if unicode.IsSpace(r) || unicode.IsControl(r) || r == utf8.RuneError {
				break
			}
			digit = digit || unicode.IsDigit(r)
			end += n
		}
		word := s[:end]
		s = s[end:]
		if digit {
			word = "#"
		}
		if len(b) > 0 {
			if len(b)+1 > MaxReasonLen {
				break
			}
			b = append(b, ' ')
		}
		for _, r := range word {
			if len(b)+utf8.RuneLen(r) > MaxReasonLen {
				return b
			}
			b = utf8.AppendRune(b, r)
		}
	}
	return b
}

func (t *reasonTable) add(text []byte, now int64, tid trace.TraceID) {
	t.mu.Lock()
	defer t.mu.Unlock()
	i := -1
	for j := range t.entries {
		if t.entries[j].text == string(text) {
			i = j
			break
		}
	}
	if i < 0 {
		e := reasonEntry{text: string(text), first: now}
		if len(t.entries) < MaxReasons {
			t.entries = append(t.entries, e)
			i = len(t.entries) - 1
		} else {
			i = 0
			for j := range t.entries {
				if t.entries[j].last < t.entries[i].last {
					i = j
				}
			}
			t.entries[i] = e
		}
	}
	e := &t.entries[i]
	e.count++
	e.last = max(e.last, now)
	if tid.IsValid() && (e.ntraces == 0 || e.traces[0] != tid) {
		copy(e.traces[1:], e.traces[:maxTraces-1])
		e.traces[0] = tid
		e.ntraces = min(e.ntraces+1, maxTraces)
	}
}

// list returns the reasons, most frequent first.
func (t *reasonTable) list() []Reason {
	t.mu.Lock()
	out := make([]Reason, 0, len(t.entries))
	for _, e := range t.entries {
		r := Reason{Text: e.text, Count: e.count, First: time.Unix(e.first, 0).UTC(), Last: time.Unix(e.last, 0).UTC()}
		for _, id := range e.traces[:e.ntraces] {
			r.TraceIDs = append(r.TraceIDs, hex.EncodeToString(id[:]))
		}
		out = append(out, r)
	}
	t.mu.Unlock()
	sortReasons(out)
	return out
}

// merge adds restored reasons to the table (counts summed, times widened),
// keeping the bound.
func (t *reasonTable) merge(rs []Reason) {
	if len(rs) == 0 {
		return
	}
	cur := t.list()
	merged := mergeReasons(cur, rs)
	t.mu.Lock()
	defer t.mu.Unlock()
	t.entries = t.entries[:0]
	for _, r := range merged {
		e := reasonEntry{text: r.Text, count: r.Count, first: r.First.Unix(), last: r.Last.Unix()}
		for _, s := range r.TraceIDs {
			var id trace.TraceID
			if b, err := hex.DecodeString(s); err == nil && len(b) == len(id) && e.ntraces < maxTraces {
				copy(id[:], b)
				e.traces[e.ntraces] = id
				e.ntraces++
			}
		}
		t.entries = append(t.entries, e)
	}
}

// mergeReasons merges two reason lists by text and keeps the MaxReasons
// most recently seen, most frequent first.
func mergeReasons(a, b []Reason) []Reason {
	if len(b) == 0 {
		return a
	}
	out := slices.Clone(a)
	for _, r := range b {
		i := slices.IndexFunc(out, func(o Reason) bool { return o.Text == r.Text })
		if i < 0 {
			out = append(out, r)
			continue
		}
		o := &out[i]
		o.Count += r.Count
		if r.First.Before(o.First) {
			o.First = r.First
		}
		if r.Last.After(o.Last) {
			o.Last = r.Last
			o.TraceIDs = append(slices.Clone(r.TraceIDs), o.TraceIDs...)
		} else {
			o.TraceIDs = append(o.TraceIDs, r.TraceIDs...)
		}
		o.TraceIDs = slices.Compact(o.TraceIDs)
		if len(o.TraceIDs) > maxTraces {
			o.TraceIDs = o.TraceIDs[:maxTraces]
		}
	}
	if len(out) > MaxReasons {
		slices.SortStableFunc(out, func(x, y Reason) int { return y.Last.Compare(x.Last) })
		out = out[:MaxReasons]
	}
	sortReasons(out)
	return out
}

func sortReasons(rs []Reason) {
	slices.SortStableFunc(rs, func(x, y Reason) int {
		if x.Count != y.Count {
			if x.Count > y.Count {
				return -1
			}
			return 1
		}
		return y.Last.Compare(x.Last)
	})
}
