package health

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"testing"
	"time"
)

// referenceJSON is the body as encoding/json writes it: the reference
// appendJSON must match byte for byte.
func referenceJSON(rep *report, details bool) []byte {
	type jsonCheck struct {
		Status string `json:"status"`
		Time   string `json:"time,omitempty"`
		Output string `json:"output,omitempty"`
	}
	type jsonReport struct {
		Status string                 `json:"status"`
		Checks map[string][]jsonCheck `json:"checks,omitempty"`
		Notes  []string               `json:"notes,omitempty"`
	}
	out := jsonReport{Status: jsonStatus(rep.status), Checks: map[string][]jsonCheck{}}
	for i := range rep.items {
		it := &rep.items[i]
		if it.excluded {
			continue
		}
		jc := jsonCheck{Status: jsonStatus(it.status)}
		if it.res != nil && !it.res.end.IsZero() {
			jc.Time = it.res.end.UTC().Format(time.RFC3339Nano)
		}
		if details && it.status != StatusPass {
			jc.Output = reason(it, true)
		}
		out.Checks[it.name] = []jsonCheck{jc}
	}
	rep.unmatched(func(name string, gate bool) {
		if gate {
			out.Notes = append(out.Notes, "gate "+strconv.Quote(name)+" cannot be excluded")
		} else {
			out.Notes = append(out.Notes, "no check named "+strconv.Quote(name)+" to exclude")
		}
	})
	var buf bytes.Buffer
	_ = json.NewEncoder(&buf).Encode(&out)
	return buf.Bytes()
}

// FuzzJSON builds reports from fuzzed names, reasons and times and checks
// that the hand-written JSON is what encoding/json writes.
func FuzzJSON(f *testing.F) {
	f.Add("db", "connection refused", int64(1700000000123456789), uint8(0b1011), "nothing")
	f.Add("a.b:c", "<script>&\"\\\x00\xff\u2028", int64(0), uint8(0xff), "shutdown")
	f.Add("", "", int64(-1), uint8(0), "")
	f.Fuzz(func(t *testing.T, name, why string, nanos int64, bits uint8, exclude string) {
		var end time.Time
		if nanos > 0 {
			end = time.Unix(0, nanos).In(time.FixedZone("X", 3600))
		}
		failed := &result{err: errors.New(why), end: end}
		passed := &result{end: end}
		crit, soft := &entry{check: Check{Name: "crit"}}, &entry{check: Check{Name: "soft", NonCritical: true}}
		items := []item{
			{name: gateShutdown, res: &result{err: ErrShuttingDown}},
			{name: "crit", entry: crit, res: failed, excluded: bits&1 != 0},
			{name: name + "x", entry: soft, res: passed},
			{name: "soft", entry: soft, res: failed},
			{name: "zz", entry: crit, excluded: bits&2 != 0},
		}
		if bits&4 != 0 {
			items = items[1:]
		}
		excludes := []string{}
		if exclude != "" {
			excludes = append(excludes, exclude)
		}
		rep := report{items: items, excludes: excludes}
		if bits&8 != 0 && len(excludes) > 0 {
			rep.matched = 1
		}
		rep.status = summarize(rep.items)
		for _, details := range []bool{false, true} {
			got, want := appendJSON(nil, &rep, details), referenceJSON(&rep, details)
			if !bytes.Equal(got, want) {
				t.Fatalf("details=%v:\ngot  %s\nwant %s", details, got, want)
			}
		}
	})
}
